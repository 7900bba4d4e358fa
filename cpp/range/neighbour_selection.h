// Diversity-pruned neighbour selection for the elemental graphs.
//
// From candidates sorted nearest first, a candidate is kept only if it is
// closer to the base point than to every neighbour already kept (the
// relative-neighbourhood rule of HNSW/NSG). Pruned candidates are set aside;
// the list is topped up from them, nearest first, to at least `min_fill`
// links, so that a graph whose links are later cut by a range keeps some
// redundancy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "metric.h"
#include "topk.h"

namespace fanns::range {

class NeighbourSelector {
public:
    // `vector_of(id)` gives the vector of a candidate id.
    template <class VectorOf>
    void select(const std::vector<Candidate>& sorted, std::size_t max_links, std::size_t min_fill,
                const Distance& dist, VectorOf&& vector_of, std::vector<Candidate>& kept) {
        kept.clear();
        pruned_.clear();
        for (const Candidate& c : sorted) {
            if (kept.size() >= max_links) break;
            const float* cv = vector_of(c.id);
            bool diverse = true;
            for (const Candidate& k : kept) {
                if (dist(cv, vector_of(k.id)) < c.distance) {
                    diverse = false;
                    break;
                }
            }
            if (diverse) {
                kept.push_back(c);
            } else if (pruned_.size() < max_links) {
                pruned_.push_back(c);
            }
        }
        const std::size_t fill = std::min(min_fill, max_links);
        for (std::size_t j = 0; j < pruned_.size() && kept.size() < fill; ++j) kept.push_back(pruned_[j]);
    }

private:
    std::vector<Candidate> pruned_;
};

// Sorts nearest first (ties by id) and drops repeated ids.
inline void sort_unique(std::vector<Candidate>& candidates) {
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    candidates.erase(std::unique(candidates.begin(), candidates.end(),
                                 [](const Candidate& a, const Candidate& b) { return a.id == b.id; }),
                     candidates.end());
    std::sort(candidates.begin(), candidates.end(), closer);
}

}  // namespace fanns::range
