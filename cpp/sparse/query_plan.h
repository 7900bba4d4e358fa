// Per-query choice between the blocked traversal and plain accumulation over
// the same pruned lists, by a cost model in units of one accumulated posting.
//
// accumulate: every posting of the chosen lists is added into an accumulator
//   (a random access), the touched documents are ranked, and `rerank` of them
//   are scored through the forward index.
// blocks: every block of the chosen lists has its summary evaluated (a heap
//   entry plus one operation per summary entry), then documents of the
//   visited blocks are scored. How many is not known before the traversal;
//   it is estimated as a share of the chosen postings, set high so that
//   blocks are chosen only when clearly cheaper. A filter does not lower the
//   estimate: under a filter the traversal relaxes heap_factor and visits
//   more blocks, and measured as slow as unfiltered (5 % pass rate, BM25:
//   2,560 QPS blocked against 8,730 accumulated).
//
// Calibration (one thread, per query, bench/sparse.md): accumulation costs
// about 12-15 ns per posting, a summary entry about 3 ns, a scored document
// about 0.1 us plus 2 ns per forward-index entry. The share of the chosen
// postings the blocked traversal scores at heap_factor 0.6 has a median of
// 0.08 (BM25 arxiv-mini), 0.29 (Zipf) and 0.55 (SPLADE-like), and is higher
// for queries with short lists; it cannot be told before the traversal, so the
// model assumes 0.6. With lower shares (0.1-0.25) it sent up to 56 % of the
// Zipf queries to the blocked traversal and was up to 52 % slower overall than
// accumulating every query; the fastest per-query choice (known only after
// running both) would have saved at most 7 %.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "sparse/accumulate_search.h"
#include "sparse/sparse_search.h"

namespace fanns::sparse {

// Cost-model constants, in units of one accumulated posting (12-15 ns).
struct PlanCostModel {
    double per_posting = 1.0;          // accumulate: add, then rank the touched documents
    double per_block = 1.0;            // blocks: heap push and pop of a block
    double per_summary_entry = 0.2;    // blocks: one summary entry
    double per_scored_document = 7.0;  // both: reaching a document's row (mostly a cache miss)
    double per_scored_entry = 0.13;    // both: one forward-index entry of a scored document
    double scored_share = 0.6;         // blocks: share of the chosen postings scored
};

struct PlanCosts {
    double accumulate = 0.0;
    double blocks = 0.0;
};

// Estimated costs of both plans for the loaded query, whose chosen terms are
// in scratch.order().
inline PlanCosts estimate_plan_costs(const IndexView& index, const SearchParams& params, QueryScratch& scratch,
                                     const PlanCostModel& model = PlanCostModel()) {
    const BlockedPostingLists& lists = *index.lists;
    const BlockSummaries& summaries = *index.summaries;
    const auto& terms = scratch.terms();
    double postings = 0.0, blocks = 0.0, entries = 0.0;
    for (std::uint32_t position : scratch.order()) {
        const std::uint32_t term = terms[position];
        const std::uint64_t first = lists.first_block(term);
        const std::uint64_t last = lists.end_block(term);
        postings += static_cast<double>(lists.list_length(term));
        blocks += static_cast<double>(last - first);
        if (last - first > 1) {
            entries += static_cast<double>(summaries.block_offsets()[last] - summaries.block_offsets()[first]);
        }
    }
    const ForwardIndex& forward = *index.forward;
    const double row = static_cast<double>(forward.nnz()) / static_cast<double>(std::max<std::size_t>(1, forward.size()));
    const double per_document = model.per_scored_document + model.per_scored_entry * row;
    const double rerank = std::min(postings, static_cast<double>(rerank_count(params)));
    PlanCosts c;
    c.accumulate = postings * model.per_posting + rerank * per_document;
    const double scored = std::min(postings, std::max(static_cast<double>(params.k), model.scored_share * postings));
    c.blocks = blocks * model.per_block + entries * model.per_summary_entry + scored * per_document;
    return c;
}

// The plan to run for the loaded query (chosen terms in scratch.order()).
inline QueryPlan choose_plan(const IndexView& index, const SearchParams& params, QueryScratch& scratch) {
    if (params.plan != QueryPlan::automatic) return params.plan;
    if (params.heap_factor <= 0.0f) return QueryPlan::blocks;  // exhaustive: both are exact; keep one
    const PlanCosts c = estimate_plan_costs(index, params, scratch);
    return c.accumulate <= c.blocks ? QueryPlan::accumulate : QueryPlan::blocks;
}

}  // namespace fanns::sparse
