// Per-query scorers over a RowStore: what graph traversals and scans call
// for the distance from the query to a row. Search loops are templates over
// the scorer, so the choice of encoding is made once per query, not per row.
//
//   FloatScorer  exact distances on the float rows
//   CodeScorer   approximate distances on 8-bit codes (rows marked as
//                outliers are scored on their float rows); callers score
//                their best candidates again with rescore()
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "metric.h"
#include "store/row_store.h"
#include "topk.h"

namespace fanns {

struct FloatScorer {
    static constexpr bool approximate = false;
    const RowStore& store;
    Distance dist;
    const float* query;

    FloatScorer(const RowStore& s, const float* q)
        : store(s), dist(s.metric(), s.dim(), simd::active_kernels()), query(q) {}

    float operator()(std::uint32_t id) const { return dist(query, store.row(id)); }
    void prefetch(std::uint32_t id) const {
        const char* p = reinterpret_cast<const char*>(store.row(id));
        const std::size_t bytes = std::min<std::size_t>(store.dim() * sizeof(float), kPrefetchBytes);
        for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
    }
    static constexpr std::size_t kPrefetchBytes = 1024;
};

struct CodeScorer {
    static constexpr bool approximate = true;
    const QuantizedRows& codes;
    const QuantizedRows::Query& prepared;
    FloatScorer exact;

    // `prepared` must have been filled by codes.prepare(query, prepared).
    CodeScorer(const RowStore& s, const QuantizedRows::Query& p, const float* q)
        : codes(s.codes()), prepared(p), exact(s, q) {}

    float operator()(std::uint32_t id) const {
        const float d = codes.distance(prepared, id);
        return d == d ? d : exact(id);
    }
    void prefetch(std::uint32_t id) const {
        const char* p = reinterpret_cast<const char*>(codes.row(id));
        const std::size_t bytes = std::min<std::size_t>(codes.stride(), kPrefetchBytes);
        for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
    }
    static constexpr std::size_t kPrefetchBytes = 1024;
};

// Scores `candidates` (any order) again on the float rows and keeps the best
// results.capacity() of them in `results`; `scratch` is reused between calls.
inline void rescore(const RowStore& store, const float* query, const std::vector<Candidate>& candidates,
                    ResultHeap& results, std::vector<float>& scratch_distances,
                    std::vector<std::uint32_t>& scratch_ids) {
    const std::size_t count = candidates.size();
    if (count == 0) return;
    const simd::Kernels& k = simd::active_kernels();
    const bool similarity = store.metric() != Metric::l2;
    scratch_ids.resize(count);
    scratch_distances.resize(count);
    for (std::size_t j = 0; j < count; ++j) scratch_ids[j] = candidates[j].id;
    (similarity ? k.dot_ids : k.l2sq_ids)(query, store.rows(), scratch_ids.data(), count, store.dim(),
                                          scratch_distances.data());
    for (std::size_t j = 0; j < count; ++j) {
        const float d = similarity ? 1.0f - scratch_distances[j] : scratch_distances[j];
        if (results.admits(d)) results.push({d, scratch_ids[j]});
    }
}

}  // namespace fanns
