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
// On a large collection (over 262,144 documents) the accumulator is not one
// n-sized array hit at random (it outgrows the caches, and the cost per
// posting grew with n) but a cache-sized window, the postings scattered by
// document-id window first (accumulate_windowed); the sums and the answer are
// the same.
#pragma once

#include <algorithm>
#include <atomic>
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

// Documents per accumulator window when the collection is larger: 2^16
// floats (256 KiB) stay in half of a Zen 1 core's L2 while a window is summed.
constexpr std::size_t kAccumulatorWindow = std::size_t{1} << 16;
// Collections up to this many documents keep one accumulator (1 MiB): the
// scatter pass costs more than it saves while the array is about L2-sized
// (SPLADE-like, one thread: 100k documents 1.1-2x faster dense, 300k about
// even, 1M 2-3.5x faster windowed; bench/sparse.md).
constexpr std::size_t kDenseAccumulatorDocs = std::size_t{1} << 18;

// How a query's postings were accumulated: into one n-sized array (dense), or
// scattered by document-id window first and summed a window at a time.
enum class AccumulatorPath : std::uint8_t { dense = 0, windowed = 1 };

// Queries accumulated by each path since the process started (tests assert
// the path taken).
inline std::atomic<std::uint64_t> accumulator_path_counts[2] = {};

// log2 of the documents per window for a collection of n documents, or 0
// when one dense accumulator is used. `window` is
// SearchParams::accumulator_window, rounded down to a power of two (at least
// 2): dense when n fits one window. 0: dense up to kDenseAccumulatorDocs,
// else windows of kAccumulatorWindow.
inline unsigned accumulator_window_shift(std::size_t n, std::size_t window) {
    if (window == 0) {
        if (n <= kDenseAccumulatorDocs) return 0;
        window = kAccumulatorWindow;
    }
    unsigned shift = 0;
    while (shift < 31 && (std::size_t{2} << shift) <= window) ++shift;
    return n > (std::size_t{1} << shift) ? std::max(shift, 1u) : 0u;
}

// Offers the touched documents (acc indexed by doc - base, first n_touched of
// `touched`, also relative to base) that `accept` passes to `shortlist` with
// their accumulators, resetting every touched accumulator. The shortlist is
// a bounded heap: it keeps the best by accumulator, ties to the smaller id,
// whatever the order they come in, and most documents are turned away by one
// comparison with its worst.
template <class Predicate>
void collect_touched(float* acc, const std::uint32_t* touched, std::size_t n_touched, std::uint32_t base,
                     const Predicate& accept, ScoreHeap& shortlist) {
    for (std::size_t i = 0; i < n_touched; ++i) {
        const std::uint32_t local = touched[i];
        const std::uint32_t doc = base + local;
        if (!Predicate::filters || accept(doc)) shortlist.push(Candidate{acc[local], doc});
        acc[local] = 0.0f;
    }
}

// At least the smallest normal float, so that an accumulator is non-zero once
// touched (a zero marks an untouched document).
inline float posting_scale(const BlockedPostingLists& lists, std::uint32_t term, float weight) {
    return std::max(weight * lists.code_step(term), std::numeric_limits<float>::min());
}

// Postings of the lists of the chosen terms (scratch.order()).
inline std::uint64_t chosen_postings(const BlockedPostingLists& lists, QueryScratch& scratch) {
    std::uint64_t total = 0;
    for (std::uint32_t position : scratch.order()) total += lists.list_length(scratch.terms()[position]);
    return total;
}

// fn(j, scale) for every posting j of the query's chosen lists, list by list
// in scratch.order(); `scale` turns the posting's 8-bit code into q_t * w.
// Both accumulations visit postings in this one order, so a document's terms
// are summed in the same order by either.
template <class Fn>
inline void for_each_chosen_posting(const BlockedPostingLists& lists, QueryScratch& scratch, Fn&& fn) {
    const auto& terms = scratch.terms();
    const auto& weights = scratch.weights();
    for (std::uint32_t position : scratch.order()) {
        const std::uint32_t term = terms[position];
        const float scale = posting_scale(lists, term, weights[position]);
        const std::uint64_t end = lists.posting_end(term);
        for (std::uint64_t j = lists.posting_begin(term); j < end; ++j) fn(j, scale);
    }
}

// acc[slot] += value, appending `slot` to `touched` when it was still zero
// (without a branch: the buffer has room for every posting).
inline void add_to_accumulator(float* acc, std::uint32_t* touched, std::size_t& n_touched, std::uint32_t slot,
                               float value) {
    const float before = acc[slot];
    touched[n_touched] = slot;
    n_touched += before == 0.0f ? 1 : 0;
    acc[slot] = before + value;
}

// One n-sized accumulator: every posting adds into acc[doc] (random access
// over n floats). Offers the touched documents to scratch.shortlist().
template <class Predicate>
void accumulate_dense(const IndexView& index, const Predicate& accept, QueryScratch& scratch, std::uint64_t total) {
    const BlockedPostingLists& lists = *index.lists;
    float* acc = scratch.accumulator(index.forward->size());
    // Room for every posting (the buffer only grows).
    std::vector<std::uint32_t>& buffer = scratch.touched();
    if (buffer.size() < total) buffer.resize(total);
    std::uint32_t* touched = buffer.data();
    std::size_t n_touched = 0;
    const std::uint32_t* docs = lists.docs().data();
    const std::uint8_t* codes = lists.codes().data();
    for_each_chosen_posting(lists, scratch, [&](std::uint64_t j, float scale) {
        add_to_accumulator(acc, touched, n_touched, docs[j], scale * static_cast<float>(codes[j]));
    });
    collect_touched(acc, touched, n_touched, 0, accept, scratch.shortlist());
}

// The same sums by document-id window: the postings (document, q_t * code)
// are first scattered to their window in order, then each window is summed in
// an accumulator of 2^shift floats that stays in cache, so the cost does not
// grow with n. A document's terms are added in the same order as by
// accumulate_dense, so every accumulator is bit-identical. Offers the
// touched documents to scratch.shortlist(), window by window.
template <class Predicate>
void accumulate_windowed(const IndexView& index, const Predicate& accept, QueryScratch& scratch, unsigned shift) {
    const BlockedPostingLists& lists = *index.lists;
    const std::uint32_t* docs = lists.docs().data();
    const std::uint8_t* codes = lists.codes().data();
    const std::size_t n_windows = ((index.forward->size() - 1) >> shift) + 1;
    // ends[w]: first the count of window w - 1, then (prefix sums) where
    // window w starts; the scatter advances it to where window w ends.
    std::vector<std::size_t>& ends = scratch.window_ends();
    ends.assign(n_windows + 1, 0);
    for_each_chosen_posting(lists, scratch, [&](std::uint64_t j, float) { ++ends[(docs[j] >> shift) + 1]; });
    for (std::size_t w = 0; w < n_windows; ++w) ends[w + 1] += ends[w];
    const std::size_t total = ends[n_windows];
    std::vector<WindowPosting>& scattered = scratch.window_postings();
    if (scattered.size() < total) scattered.resize(total);
    WindowPosting* out = scattered.data();
    for_each_chosen_posting(lists, scratch, [&](std::uint64_t j, float scale) {
        const std::uint32_t doc = docs[j];
        out[ends[doc >> shift]++] = WindowPosting{doc, scale * static_cast<float>(codes[j])};
    });
    std::vector<std::uint32_t>& buffer = scratch.touched();
    if (buffer.size() < total) buffer.resize(total);
    std::uint32_t* touched = buffer.data();
    float* acc = scratch.accumulator(std::size_t{1} << shift);
    ScoreHeap& shortlist = scratch.shortlist();
    std::size_t begin = 0;
    for (std::size_t w = 0; w < n_windows; ++w) {
        const auto base = static_cast<std::uint32_t>(w << shift);
        const std::size_t end = ends[w];
        std::size_t n_touched = 0;
        for (std::size_t p = begin; p < end; ++p) {
            add_to_accumulator(acc, touched, n_touched, out[p].doc - base, out[p].value);
        }
        collect_touched(acc, touched, n_touched, base, accept, shortlist);
        begin = end;
    }
}

// Scores exactly the documents of scratch.shortlist(), then refines with the
// k-NN graph.
template <class Predicate>
void rescore_candidates(const IndexView& index, const SearchParams& params, const Predicate& accept,
                        QueryScratch& scratch) {
    const ForwardIndex& forward = *index.forward;
    ScoreHeap& top = scratch.top();
    VisitedTable& visited = scratch.visited();
    top.reset(params.k);
    visited.begin(forward.size());
    const std::vector<Candidate>& candidates = scratch.shortlist().items();
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
// scratch.order() to hold the chosen query terms (choose_query_terms). The
// `rerank` best touched documents that `accept` passes (every one when
// heap_factor is 0) are rescored; which they are does not depend on the path,
// and neither does the answer.
template <class Predicate>
void search_accumulate(const IndexView& index, const SearchParams& params, const Predicate& accept,
                       QueryScratch& scratch) {
    const std::uint64_t total = chosen_postings(*index.lists, scratch);
    const std::size_t n = index.forward->size();
    // Every touched document when heap_factor is 0: at most one per posting or document.
    const std::size_t touched_at_most = static_cast<std::size_t>(std::min<std::uint64_t>(total, n));
    scratch.shortlist().reset(params.heap_factor <= 0.0f ? touched_at_most : rerank_count(params));
    // Windows only for queries with at most one posting per document: the
    // scattered postings (8 bytes each) then take at most twice the dense
    // array, and a query with more postings hits most of the array's lines
    // anyway (an unpruned index queried with every term, say).
    const unsigned shift = total <= n ? accumulator_window_shift(n, params.accumulator_window) : 0u;
    const AccumulatorPath path = shift == 0 ? AccumulatorPath::dense : AccumulatorPath::windowed;
    if (path == AccumulatorPath::dense) accumulate_dense(index, accept, scratch, total);
    else accumulate_windowed(index, accept, scratch, shift);
    accumulator_path_counts[static_cast<std::size_t>(path)].fetch_add(1, std::memory_order_relaxed);
    rescore_candidates(index, params, accept, scratch);
}

}  // namespace fanns::sparse
