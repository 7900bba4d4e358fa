// An optional k-nearest-neighbour graph over the documents (by inner product).
// After the inverted-index search, the neighbours of the documents found are
// scored too: near-duplicates of good results are usually good results, which
// recovers documents that static pruning or block skipping missed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sparse/forward_index.h"
#include "topk.h"
#include "visited.h"

namespace fanns::sparse {

class KnnGraph {
public:
    static constexpr std::uint32_t kNone = 0xffffffffu;

    KnnGraph() = default;

    // neighbours: n_docs * degree ids, best first, padded with kNone.
    KnnGraph(std::size_t degree, std::vector<std::uint32_t> neighbours, std::size_t n_docs)
        : degree_(degree), neighbours_(std::move(neighbours)) {
        if (neighbours_.size() != degree_ * n_docs) throw std::invalid_argument("knn graph: wrong size");
        for (std::uint32_t id : neighbours_) {
            if (id != kNone && id >= n_docs) throw std::invalid_argument("knn graph: neighbour id out of range");
        }
    }

    bool empty() const { return degree_ == 0; }
    std::size_t degree() const { return degree_; }
    const std::uint32_t* neighbours_of(std::uint32_t doc) const { return neighbours_.data() + doc * degree_; }
    const std::vector<std::uint32_t>& neighbours() const { return neighbours_; }
    std::size_t memory_bytes() const { return neighbours_.size() * sizeof(std::uint32_t); }

private:
    std::size_t degree_ = 0;
    std::vector<std::uint32_t> neighbours_;
};

// Scores the unvisited neighbours (passing `accept`) of the current results;
// returns how many documents it scored.
template <class Predicate>
std::size_t refine_with_neighbours(const KnnGraph& graph, const ForwardIndex& forward, const float* dense_query,
                            const std::uint64_t* query_terms, const Predicate& accept, VisitedTable& visited, ScoreHeap& top,
                            std::vector<std::uint32_t>& seeds) {
    if (graph.empty()) return 0;
    std::size_t scored = 0;
    seeds.clear();
    for (const Candidate& d : top.items()) seeds.push_back(d.id);
    for (std::uint32_t seed : seeds) {
        const std::uint32_t* nb = graph.neighbours_of(seed);
        for (std::size_t j = 0; j < graph.degree(); ++j) {
            const std::uint32_t doc = nb[j];
            if (doc == KnnGraph::kNone) break;
            if (!visited.try_insert(doc)) continue;
            if (Predicate::filters && !accept(doc)) continue;
            const float score = forward.score(dense_query, query_terms, doc);
            ++scored;
            if (score > 0.0f) top.push(Candidate{score, doc});
        }
    }
    return scored;
}

}  // namespace fanns::sparse
