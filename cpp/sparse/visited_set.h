// Which documents a query has already scored: one tag per document, cleared
// in O(1) per query by moving to a new epoch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fanns::sparse {

class VisitedSet {
public:
    explicit VisitedSet(std::size_t n) : tags_(n, 0) {}

    void next_query() {
        if (++epoch_ == 0) {
            std::fill(tags_.begin(), tags_.end(), 0u);
            epoch_ = 1;
        }
    }

    // Marks `id`; true if it was not yet marked in this query.
    bool insert(std::uint32_t id) {
        if (tags_[id] == epoch_) return false;
        tags_[id] = epoch_;
        return true;
    }

    bool contains(std::uint32_t id) const { return tags_[id] == epoch_; }

private:
    std::vector<std::uint32_t> tags_;
    std::uint32_t epoch_ = 0;
};

}  // namespace fanns::sparse
