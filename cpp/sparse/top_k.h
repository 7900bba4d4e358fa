// The k best (score, id) pairs seen so far, larger scores first and, on equal
// scores, smaller ids first: a bounded heap whose root is the worst kept pair.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace fanns::sparse {

struct ScoredDoc {
    float score;
    std::uint32_t id;
};

inline bool ranks_before(const ScoredDoc& a, const ScoredDoc& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

class TopK {
public:
    void reset(std::size_t k) {
        k_ = k;
        heap_.clear();
        heap_.reserve(k);
    }

    std::size_t size() const { return heap_.size(); }
    bool full() const { return heap_.size() >= k_; }
    // Score to beat once full.
    float threshold() const { return heap_.front().score; }

    void push(float score, std::uint32_t id) {
        const ScoredDoc d{score, id};
        if (heap_.size() < k_) {
            heap_.push_back(d);
            std::push_heap(heap_.begin(), heap_.end(), ranks_before);
        } else if (k_ > 0 && ranks_before(d, heap_.front())) {
            std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
            heap_.back() = d;
            std::push_heap(heap_.begin(), heap_.end(), ranks_before);
        }
    }

    // Current members in any order.
    const std::vector<ScoredDoc>& members() const { return heap_; }

    // Writes the kept pairs best first, padding with id -1 / score -inf.
    void write_sorted(std::int64_t* ids, float* scores) {
        std::sort(heap_.begin(), heap_.end(), ranks_before);
        for (std::size_t i = 0; i < k_; ++i) {
            if (i < heap_.size()) {
                ids[i] = heap_[i].id;
                scores[i] = heap_[i].score;
            } else {
                ids[i] = -1;
                scores[i] = -std::numeric_limits<float>::infinity();
            }
        }
    }

private:
    std::size_t k_ = 0;
    std::vector<ScoredDoc> heap_;
};

}  // namespace fanns::sparse
