// Visited sets for graph traversal: one tag per node, cleared in O(1) by
// bumping an epoch, and pooled so concurrent searches never allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

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
    std::vector<std::uint16_t> tags_;
    std::uint16_t epoch_ = 0;
};

class VisitedPool {
public:
    class Lease {
    public:
        Lease(VisitedPool* pool, std::unique_ptr<VisitedTable> table)
            : pool_(pool), table_(std::move(table)) {}
        Lease(Lease&&) = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease() {
            if (table_) pool_->give_back(std::move(table_));
        }
        VisitedTable& operator*() { return *table_; }
        VisitedTable* operator->() { return table_.get(); }

    private:
        VisitedPool* pool_;
        std::unique_ptr<VisitedTable> table_;
    };

    // A table ready for a traversal over `size` ids.
    Lease acquire(std::size_t size) {
        std::unique_ptr<VisitedTable> table;
        {
            std::lock_guard<std::mutex> guard(mutex_);
            if (!free_.empty()) {
                table = std::move(free_.back());
                free_.pop_back();
            }
        }
        if (!table) table = std::make_unique<VisitedTable>(size);
        table->begin(size);
        return Lease(this, std::move(table));
    }

    std::size_t memory_bytes() const {
        std::lock_guard<std::mutex> guard(mutex_);
        std::size_t total = 0;
        for (const auto& t : free_) total += t->memory_bytes();
        return total;
    }

    void clear() {
        std::lock_guard<std::mutex> guard(mutex_);
        free_.clear();
    }

private:
    void give_back(std::unique_ptr<VisitedTable> table) {
        std::lock_guard<std::mutex> guard(mutex_);
        free_.push_back(std::move(table));
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<VisitedTable>> free_;
};

}  // namespace fanns
