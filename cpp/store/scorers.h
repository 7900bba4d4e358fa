// Per-query scorers over a RowStore: what graph traversals and scans call
// for the distance from the query to a row, one row or a batch of rows (one
// kernel call that fetches rows ahead). Search loops are templates over the
// scorer, so the choice of encoding is made once per query, not per row.
//
//   FloatScorer  exact distances on the float rows
//   CodeScorer   approximate distances on 8-bit codes (rows marked as
//                outliers are scored on their float rows); callers score
//                their best candidates again with rescore()
//   HalfScorer   nearly exact distances on f16 rows (rows held as NaN, and
//                every row for a query the f16 scale cannot take, are
//                scored on their float rows); rescored like codes
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "metric.h"
#include "store/row_store.h"
#include "topk.h"

namespace fanns {

constexpr std::size_t kRescoreBatch = 4;  // float rows rescored between two stop tests
constexpr std::size_t kErrorSample = 8;   // coded rows rescored before rescoring may stop

struct FloatScorer {
    static constexpr bool approximate = false;
    const RowStore& store;
    Distance dist;
    simd::IdsKernel ids_kernel;
    const float* query;

    FloatScorer(const RowStore& s, const float* q)
        : store(s),
          dist(s.metric(), s.dim(), simd::active_kernels()),
          ids_kernel(dist.similarity ? simd::active_kernels().dot_ids : simd::active_kernels().l2sq_ids),
          query(q) {}

    float operator()(std::uint32_t id) const { return dist(query, store.row(id)); }
    // Distances to `count` rows at once (one kernel call, rows fetched ahead).
    void batch(const std::uint32_t* ids, std::size_t count, float* out) const {
        ids_kernel(query, store.rows(), ids, count, store.dim(), store.row_stride(), out);
        if (dist.similarity) {
            for (std::size_t j = 0; j < count; ++j) out[j] = 1.0f - out[j];
        }
    }
};

// Rows an encoding holds as NaN (outliers, rows past the f16 range) come out
// of its batch kernel as NaN: they are scored again on their float rows.
template <class Exact>
inline void score_nan_rows_exactly(const Exact& exact, const std::uint32_t* ids, std::size_t count, float* out) {
    for (std::size_t j = 0; j < count; ++j) {
        if (out[j] != out[j]) out[j] = exact(ids[j]);
    }
}

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
    void batch(const std::uint32_t* ids, std::size_t count, float* out) const {
        codes.distances(prepared, ids, count, out);
        score_nan_rows_exactly(exact, ids, count, out);
    }
};

struct HalfScorer {
    static constexpr bool approximate = true;
    const HalfRows& halves;
    const HalfRows::Query& prepared;
    FloatScorer exact;

    // `prepared` must have been filled by halves.prepare(query, prepared).
    HalfScorer(const RowStore& s, const HalfRows::Query& p, const float* q)
        : halves(s.halves()), prepared(p), exact(s, q) {}

    float operator()(std::uint32_t id) const {
        if (!prepared.usable) return exact(id);
        const float d = halves.distance(prepared, id);
        return d == d ? d : exact(id);
    }
    void batch(const std::uint32_t* ids, std::size_t count, float* out) const {
        if (!prepared.usable) {
            exact.batch(ids, count, out);
            return;
        }
        halves.distances(prepared, ids, count, out);
        score_nan_rows_exactly(exact, ids, count, out);
    }
};

// Scores `candidates` again on the float rows and keeps the best
// results.capacity() of them in `results`; the scratch vectors are reused
// between calls.
//
// `candidates` come best first by their code (or f16) distance. Once `results` is
// full and at least kErrorSample coded rows were rescored, a candidate whose
// code distance exceeds the worst kept exact distance by more than three
// times the largest code error seen so far is unlikely to enter, and neither
// is any after it: rescoring stops there. Rows scored on their float rows
// already (outliers, see quantized_rows.h) tell nothing of the codes' error
// and are not counted. The float rows are the costly part (a 4096-d row is
// 16 KiB), so most queries rescore a few rows more than k.
inline void rescore(const RowStore& store, const float* query, const std::vector<Candidate>& candidates,
                    ResultHeap& results, std::vector<float>& scratch_distances,
                    std::vector<std::uint32_t>& scratch_ids) {
    const std::size_t count = candidates.size();
    if (count == 0) return;
    const simd::Kernels& k = simd::active_kernels();
    const simd::IdsKernel kernel = store.metric() != Metric::l2 ? k.dot_ids : k.l2sq_ids;
    const bool similarity = store.metric() != Metric::l2;
    scratch_ids.resize(count);
    scratch_distances.resize(count);
    for (std::size_t j = 0; j < count; ++j) scratch_ids[j] = candidates[j].id;
    float largest_error = 0.0f;
    std::size_t sampled = 0, done = 0;
    while (done < count) {
        if (results.full() && sampled >= kErrorSample &&
            candidates[done].distance > results.worst() + 3.0f * largest_error) {
            break;
        }
        // Rows in small batches: the kernel fetches ahead within one, and
        // the stop test runs between them.
        const std::size_t batch = std::min(count - done, kRescoreBatch);
        kernel(query, store.rows(), scratch_ids.data() + done, batch, store.dim(), store.row_stride(),
               scratch_distances.data() + done);
        for (std::size_t j = done; j < done + batch; ++j) {
            const float d = similarity ? 1.0f - scratch_distances[j] : scratch_distances[j];
            if (d != candidates[j].distance) {  // scored on its code, not on its float row
                largest_error = std::max(largest_error, std::fabs(d - candidates[j].distance));
                ++sampled;
            }
            if (results.admits(d)) results.push({d, scratch_ids[j]});
        }
        done += batch;
    }
}

}  // namespace fanns
