// Query processing by accumulation over the same pruned posting lists the
// blocked traversal uses, without their summaries. Term-at-a-time: for the
// query's `query_cut` most promising terms, every kept posting adds
// q_t * (its quantised weight) to a per-document accumulator; the `rerank`
// best accumulators among the documents the predicate accepts are then scored
// exactly with the forward index. The posting weights are the u8 codes of the
// blocked lists (rounded up, at most list_max / 255 above the true weight), so
// accumulation only ranks candidates; every returned score is exact.
// heap_factor = 0 rescores every accumulated document, so with unpruned lists
// and every query term the result is exact.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "sparse/forward_index.h"
#include "sparse/knn_graph.h"
#include "sparse/posting_lists.h"
#include "sparse/sparse_search.h"
#include "topk.h"
#include "visited.h"

namespace fanns::sparse {

// Accumulators rescored exactly per query: `rerank`, at least k; 0 means 10 * k.
inline std::size_t rerank_count(const SearchParams& params) {
    const std::size_t wanted = params.rerank == 0 ? 10 * params.k : params.rerank;
    return std::max(wanted, params.k);
}

// Scores exactly the `rerank` best accumulators among the touched documents
// (the first n_touched of scratch.touched()) that `accept` passes (every one
// when heap_factor is 0), resetting every touched accumulator, then refines
// with the k-NN graph.
template <class Predicate>
void rescore_accumulated(const IndexView& index, const SearchParams& params, const Predicate& accept,
                         QueryScratch& scratch, std::size_t n_touched) {
    const ForwardIndex& forward = *index.forward;
    ScoreHeap& top = scratch.top();
    VisitedTable& visited = scratch.visited();
    float* acc = scratch.accumulator(forward.size());
    const std::uint32_t* touched = scratch.touched().data();
    top.reset(params.k);
    visited.begin(forward.size());
    std::vector<Candidate>& candidates = scratch.candidates();
    candidates.clear();
    for (std::size_t i = 0; i < n_touched; ++i) {
        const std::uint32_t doc = touched[i];
        if (!Predicate::filters || accept(doc)) candidates.push_back(Candidate{acc[doc], doc});
        acc[doc] = 0.0f;
    }
    const std::size_t keep = params.heap_factor <= 0.0f ? candidates.size() : rerank_count(params);
    if (candidates.size() > keep) {
        std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                         LargerFirst());
        candidates.resize(keep);
    }
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    const std::size_t n = candidates.size();
    for (std::size_t i = 0; i < n; ++i) forward.prefetch_start(candidates[i].id);
    for (std::size_t i = 0; i < n; ++i) {
        if (i + 1 < n) forward.prefetch(candidates[i + 1].id);
        const std::uint32_t doc = candidates[i].id;
        visited.insert(doc);
        const float score = forward.score(dense, present, doc);
        if (score > 0.0f) top.push(Candidate{score, doc});
    }
    scratch.scored += n;
    if (params.use_knn && index.knn != nullptr) {
        scratch.scored += refine_with_neighbours(*index.knn, forward, dense, present, accept, visited, top,
                                                 scratch.seeds());
    }
}

// Approximate top-k of the loaded query by accumulation; expects
// scratch.order() to hold the chosen query terms (choose_query_terms).
template <class Predicate>
void search_accumulate(const IndexView& index, const SearchParams& params, const Predicate& accept,
                       QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    const BlockedPostingLists& lists = *index.lists;
    float* acc = scratch.accumulator(forward.size());
    const auto& terms = scratch.terms();
    const auto& weights = scratch.weights();
    std::uint64_t total = 0;
    for (std::uint32_t position : scratch.order()) total += lists.list_length(terms[position]);
    // Room for every posting, so a document is appended without a branch and
    // kept only when its accumulator was still zero (the buffer only grows).
    std::vector<std::uint32_t>& buffer = scratch.touched();
    if (buffer.size() < total) buffer.resize(total);
    std::uint32_t* touched = buffer.data();
    std::size_t n_touched = 0;
    const std::uint32_t* docs = lists.docs().data();
    const std::uint8_t* codes = lists.codes().data();
    for (std::uint32_t position : scratch.order()) {
        const std::uint32_t term = terms[position];
        // At least the smallest normal float, so that an accumulator is non-zero
        // once touched (a zero marks an untouched document).
        const float scale = std::max(weights[position] * lists.code_step(term), std::numeric_limits<float>::min());
        const std::uint64_t begin = lists.posting_begin(term);
        const std::uint64_t end = lists.posting_end(term);
        for (std::uint64_t j = begin; j < end; ++j) {
            const std::uint32_t doc = docs[j];
            const float before = acc[doc];
            touched[n_touched] = doc;
            n_touched += before == 0.0f ? 1 : 0;
            acc[doc] = before + scale * static_cast<float>(codes[j]);
        }
    }
    rescore_accumulated(index, params, accept, scratch, n_touched);
}

}  // namespace fanns::sparse
