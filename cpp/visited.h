// Visited sets for graph traversal: one tag per node, cleared in O(1) by
// bumping an epoch, and pooled so concurrent searches rarely allocate.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "huge_pages.h"
#include "scratch_pool.h"

namespace fanns {

class VisitedTable {
public:
    explicit VisitedTable(std::size_t capacity) : tags_(capacity, 0) {}

    // Starts a new traversal; the table must cover `size` ids.
    void begin(std::size_t size) {
        if (tags_.size() < size) tags_.resize(size, 0);
        if (++epoch_ == 0) {  // wrapped: old tags could collide with the new epoch
            std::fill(tags_.begin(), tags_.end(), 0);
            epoch_ = 1;
        }
    }
    bool contains(std::uint32_t id) const { return tags_[id] == epoch_; }
    void insert(std::uint32_t id) { tags_[id] = epoch_; }
    // Marks `id` and says whether it was new.
    bool try_insert(std::uint32_t id) {
        if (tags_[id] == epoch_) return false;
        tags_[id] = epoch_;
        return true;
    }
    const std::uint16_t* tag_address(std::uint32_t id) const { return tags_.data() + id; }
    std::size_t memory_bytes() const { return tags_.capacity() * sizeof(std::uint16_t); }

private:
    LargeVector<std::uint16_t> tags_;
    std::uint16_t epoch_ = 0;
};

// Visited tables shared by the searches of one graph (scratch_pool.h).
class VisitedPool {
public:
    using Lease = ScratchPool<VisitedTable>::Lease;

    // A table ready for a traversal over `size` ids.
    Lease acquire(std::size_t size) {
        Lease lease = pool_.lease([size] { return std::make_unique<VisitedTable>(size); });
        lease->begin(size);
        return lease;
    }

    std::size_t memory_bytes() const {
        return pool_.idle_bytes([](const VisitedTable& t) { return t.memory_bytes(); });
    }
    std::size_t idle() const { return pool_.idle(); }
    void clear() { pool_.clear(); }

private:
    ScratchPool<VisitedTable> pool_;
};

}  // namespace fanns
