// What the one planner (planner.h) needs to know of a sparse query over its
// chosen terms' pruned lists, read from the index: postings, blocks and
// summary entries of those lists, documents rescored, the forward rows' mean
// length. The plans and their costs are the planner's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "planner.h"
#include "sparse/accumulate_search.h"
#include "sparse/sparse_search.h"
#include "sparse/tail_lists.h"

namespace fanns::sparse {

// Forward entries a document has, on average.
inline double mean_row_entries(const ForwardIndex& forward) {
    return static_cast<double>(forward.nnz()) / static_cast<double>(std::max<std::size_t>(1, forward.size()));
}

// The planner's input for the loaded query, whose chosen terms are in scratch.order().
inline SparsePlanInput plan_input(const IndexView& index, const SearchParams& params, QueryScratch& scratch) {
    const BlockedPostingLists& lists = *index.lists;
    const BlockSummaries& summaries = *index.summaries;
    const auto& terms = scratch.terms();
    SparsePlanInput in;
    for (std::uint32_t position : scratch.order()) {
        const std::uint32_t term = terms[position];
        const std::uint64_t first = lists.first_block(term);
        const std::uint64_t last = lists.end_block(term);
        in.postings += static_cast<double>(lists.list_length(term));
        in.blocks += static_cast<double>(last - first);
        if (last - first > 1) {
            in.summary_entries +=
                static_cast<double>(summaries.block_offsets()[last] - summaries.block_offsets()[first]);
        }
    }
    in.rerank = std::min(in.postings, static_cast<double>(rerank_count(params)));
    in.k = params.k;
    in.row_entries = mean_row_entries(*index.forward);
    return in;
}

// Postings a completion over the full lists would still accumulate for the
// loaded query: the cut postings of every query term, and the kept postings
// of the terms not chosen.
inline double completion_postings(const BlockedPostingLists& lists, const TailLists& tails, QueryScratch& scratch) {
    const auto& terms = scratch.terms();
    const auto& order = scratch.order();
    double remaining = 0.0;
    for (std::size_t i = 0; i < terms.size(); ++i) {
        const bool chosen = std::find(order.begin(), order.end(), static_cast<std::uint32_t>(i)) != order.end();
        remaining += static_cast<double>(tails.length(terms[i]) + (chosen ? 0 : lists.list_length(terms[i])));
    }
    return remaining;
}

// Plan::blocks or Plan::accumulate for the loaded query (chosen terms in
// scratch.order()): the forced plan, or the planner's choice.
inline Plan choose_plan(const IndexView& index, const SearchParams& params, QueryScratch& scratch) {
    if (params.plan == QueryPlan::blocks) return Plan::blocks;
    if (params.plan == QueryPlan::accumulate) return Plan::accumulate;
    if (params.heap_factor <= 0.0f) return Plan::blocks;  // exhaustive: both are exact; keep one
    return choose_sparse_plan(plan_input(index, params, scratch));
}

}  // namespace fanns::sparse
