// Filtered queries under the automatic plan: accumulate over the pruned
// lists, certify the answer, and complete it over the passing documents when
// the certificate fails.
//
// Certificate. After accumulating the kept lists of the chosen terms C and
// rescoring the best passing accumulators exactly, every passing document d
// that was not rescored has
//   score(d) <= e(d) + U,  U = sum_{t in C} q_t cut(t) + sum_{t not in C} q_t max(t),
//   e(d) = sum_{t in C, d in kept(t)} q_t (code_{d,t} * step_t - cut(t))
// (e(d) = 0 if d was never met): for a term of C, d's weight is either at
// most its posting code (codes round up) or, d being absent from the kept
// list, at most the largest cut weight; a term outside C contributes at most
// q_t times its largest weight. So with E = max(0, the largest e(d) among
// passing documents not rescored), no such document scores above U + E; when
// the k-th rescored score reaches that, the top-k is exact. (Kept weights are
// at least the cut ones, so e(d) is small where pruning kept many similar
// weights, and U + E is close to U.)
// A filter that removes what the kept lists hold (one anti-correlated with
// the query) leaves the k-th score far below the bound, and the query is
// completed in one of two ways, whichever the planner (planner.h) expects to
// read fewer bytes:
//
// * rows: score every passing document's forward row (search_exact);
// * lists: accumulate the full lists (kept postings by their codes, cut
//   postings by their f16 weights, TailLists) of every query term, passing
//   documents only, then rescore by decreasing accumulator until the next
//   accumulator (an upper bound of the score) is below the k-th score.
// Both are exact (float sums aside).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "bitset.h"
#include "planner.h"
#include "sparse/accumulate_search.h"
#include "sparse/forward_index.h"
#include "sparse/posting_lists.h"
#include "sparse/query_plan.h"
#include "sparse/sparse_search.h"
#include "sparse/tail_lists.h"
#include "topk.h"

namespace fanns::sparse {

// Relative slack on the bounds, for float sums in different orders.
constexpr float kBoundSlack = 1e-4f;


// U above: the bound on the part of a passing document's score that the
// accumulation over scratch.order()'s kept lists cannot see.
inline float unseen_bound(const BlockedPostingLists& lists, const TailLists& tails, QueryScratch& scratch) {
    const auto& terms = scratch.terms();
    const auto& weights = scratch.weights();
    const auto& order = scratch.order();
    float bound = 0.0f;
    for (std::size_t i = 0; i < terms.size(); ++i) {
        const bool chosen = std::find(order.begin(), order.end(), static_cast<std::uint32_t>(i)) != order.end();
        bound += weights[i] * (chosen ? tails.cut(terms[i]) : lists.list_max(terms[i]));
    }
    return bound;
}

// Which completion; `automatic` by the cost model (the others for tests and
// calibration).
enum class Completion : std::uint8_t { automatic = 0, rows = 1, lists = 2 };

// Filtered top-k of the loaded query, its terms chosen (choose_query_terms),
// under the automatic plan (bitset `bits` passing `passing` documents):
// accumulate the passing documents of the chosen terms' kept lists, rescore
// the best, certify, and complete when the certificate fails. `allow_rows`
// false leaves only the lists completion. `get_tails()` gives the TailLists
// (built on first use). Returns how the answer was found: Plan::accumulate
// (certified), Plan::exact (completed over the passing rows) or Plan::full
// (completed over the full lists).
template <class GetTails>
Plan search_filtered(const IndexView& index, const GetTails& get_tails, const SearchParams& params,
                     const BitsetView& bits, std::size_t passing, bool allow_rows, Completion completion,
                     QueryScratch& scratch) {
    const TailLists& tails = get_tails();
    const ForwardIndex& forward = *index.forward;
    const BlockedPostingLists& lists = *index.lists;
    const auto& terms = scratch.terms();
    const auto& weights = scratch.weights();
    const auto& order = scratch.order();
    auto chosen = [&](std::size_t i) {
        return std::find(order.begin(), order.end(), static_cast<std::uint32_t>(i)) != order.end();
    };
    std::uint64_t total = 0;
    for (std::uint32_t t : terms) total += lists.list_length(t) + tails.length(t);
    // Room for every posting: a document is appended without a branch and kept
    // only when its accumulator was still zero.
    std::vector<std::uint32_t>& buffer = scratch.touched();
    if (buffer.size() < total) buffer.resize(total);
    std::uint32_t* touched = buffer.data();
    std::size_t n_touched = 0;
    constexpr float kTiny = std::numeric_limits<float>::min();  // a touched accumulator is never 0
    // Between a few and nearly all passing, whether a posting passes is not
    // predictable: rejected postings then go to a spare accumulator (slot n)
    // instead of a branch.
    const double pass_rate = static_cast<double>(passing) / static_cast<double>(std::max<std::size_t>(1, forward.size()));
    const bool branchless = pass_rate > 0.03 && pass_rate < 0.97;
    const auto spare = static_cast<std::uint32_t>(forward.size());
    // Two accumulators per document: [2d] the score estimate (codes, rounded
    // up), [2d + 1] its excess over the cut weights of the lists d is in,
    // e(d) = sum_{t in C, d in kept(t)} q_t (code * step - cut(t)), so that
    // e(d) + U bounds d's score (U: unseen_bound).
    float* acc = scratch.accumulator(2 * (forward.size() + 1));
    auto add = [&](const std::uint32_t* docs, std::uint64_t begin, std::uint64_t end, auto value, float cut_part) {
        if (branchless) {
            for (std::uint64_t j = begin; j < end; ++j) {
                const std::uint32_t doc = docs[j];
                const bool ok = bits.test(doc);
                float* slot = acc + 2 * static_cast<std::size_t>(ok ? doc : spare);
                const float before = slot[0];
                const float v = value(j);
                touched[n_touched] = doc;
                n_touched += static_cast<std::size_t>(ok & (before == 0.0f));
                slot[0] = before + v;
                slot[1] += v - cut_part;
            }
            acc[2 * static_cast<std::size_t>(spare)] = 0.0f;
            acc[2 * static_cast<std::size_t>(spare) + 1] = 0.0f;
        } else {
            for (std::uint64_t j = begin; j < end; ++j) {
                const std::uint32_t doc = docs[j];
                if (!bits.test(doc)) continue;
                float* slot = acc + 2 * static_cast<std::size_t>(doc);
                const float before = slot[0];
                const float v = value(j);
                touched[n_touched] = doc;
                n_touched += before == 0.0f ? 1 : 0;
                slot[0] = before + v;
                slot[1] += v - cut_part;
            }
        }
    };
    const std::uint32_t* kept = lists.docs().data();
    const std::uint8_t* codes = lists.codes().data();
    auto add_kept = [&](std::size_t i) {
        const std::uint32_t term = terms[i];
        const float scale = std::max(weights[i] * lists.code_step(term), kTiny);
        add(kept, lists.posting_begin(term), lists.posting_end(term),
            [&](std::uint64_t j) { return scale * static_cast<float>(codes[j]); }, weights[i] * tails.cut(term));
    };
    auto add_tail = [&](std::size_t i) {  // (the excess is no longer used then)
        const std::uint32_t term = terms[i];
        const float w = weights[i];
        const std::uint16_t* values = tails.values();
        add(tails.docs(), tails.begin(term), tails.end(term),
            [&](std::uint64_t j) { return std::max(w * half_to_float(values[j]), kTiny); }, 0.0f);
    };
    auto reset = [&] {
        for (std::size_t i = 0; i < n_touched; ++i) {
            acc[2 * static_cast<std::size_t>(touched[i])] = 0.0f;
            acc[2 * static_cast<std::size_t>(touched[i]) + 1] = 0.0f;
        }
    };
    for (std::uint32_t position : order) add_kept(position);

    // Rescore the best passing accumulators exactly.
    ScoreHeap& top = scratch.top();
    VisitedTable& visited = scratch.visited();
    top.reset(params.k);
    visited.begin(forward.size());
    const float* dense = scratch.dense();
    const std::uint64_t* present = scratch.present();
    std::vector<Candidate>& candidates = scratch.candidates();
    candidates.clear();
    for (std::size_t i = 0; i < n_touched; ++i) {
        candidates.push_back(Candidate{acc[2 * static_cast<std::size_t>(touched[i])], touched[i]});
    }
    const std::size_t keep = std::min(candidates.size(),
                                      params.heap_factor <= 0.0f ? candidates.size() : rerank_count(params));
    if (candidates.size() > keep) {
        std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                         LargerFirst());
    }
    auto rescore = [&](std::size_t begin, std::size_t end, bool stop_below) {
        for (std::size_t i = begin; i < end; ++i) forward.prefetch_start(candidates[i].id);
        for (std::size_t i = begin; i < end; ++i) {
            if (stop_below && top.full() && candidates[i].distance * (1.0f + kBoundSlack) < top.worst()) return false;
            const std::uint32_t doc = candidates[i].id;
            if (i + 1 < end) forward.prefetch(candidates[i + 1].id);
            if (!visited.try_insert(doc)) continue;
            const float score = forward.score(dense, present, doc);
            ++scratch.scored;
            if (score > 0.0f) top.push(Candidate{score, doc});
        }
        return true;
    };
    rescore(0, keep, false);

    // What completing would cost, in bytes (planner.h).
    const double remaining = completion_postings(lists, tails, scratch);
    const double row = mean_row_entries(forward);
    const double per_rescored = sparse_document_bytes(row);
    const double rows_cost = sparse_rows_bytes(static_cast<double>(passing), row);
    const double lists_cost = sparse_lists_bytes(remaining, pass_rate, static_cast<double>(rerank_count(params)), row);
    const Plan cheaper = choose_sparse_completion(rows_cost, lists_cost, allow_rows);
    const double complete_cost = cheaper == Plan::exact ? rows_cost : lists_cost;

    // Certify: no passing document left out can score above the k-th. Unseen
    // ones are bounded by U; a seen one not rescored by e(d) + U, and those
    // whose bound is still above the k-th score are rescored in decreasing
    // order of it when rescoring them all is expected to cost less than
    // completing the query.
    const float unseen = unseen_bound(lists, tails, scratch);
    bool certified = unseen <= 0.0f || (top.full() && top.worst() >= unseen * (1.0f + kBoundSlack));
    if (certified && candidates.size() > keep) {
        const float worst = top.full() ? top.worst() : 0.0f;
        std::size_t open = keep;
        for (std::size_t i = keep; i < candidates.size(); ++i) {
            const float bound = acc[2 * static_cast<std::size_t>(candidates[i].id) + 1] + unseen;
            if (bound * (1.0f + kBoundSlack) > worst || !top.full()) candidates[open++] = Candidate{bound, candidates[i].id};
        }
        candidates.resize(open);
        if (static_cast<double>(open - keep) * per_rescored > complete_cost) {
            certified = false;
        } else {
            std::sort(candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(), LargerFirst());
            rescore(keep, open, true);
            // Certified if every open bound is now below the k-th score.
            certified = top.full() || open == keep;
            if (!top.full()) {
                for (std::size_t i = keep; i < open; ++i) certified &= visited.contains(candidates[i].id);
            }
        }
    }
    if (completion == Completion::automatic && certified) {
        reset();
        return Plan::accumulate;
    }

    // Complete: the passing rows, or the rest of the full lists.
    const bool rows = completion == Completion::rows || (completion == Completion::automatic && cheaper == Plan::exact);
    if (rows) {
        reset();
        search_exact(index, params, bits, scratch);
        return Plan::exact;
    }
    for (std::size_t i = 0; i < terms.size(); ++i) {
        if (!chosen(i)) add_kept(i);
        add_tail(i);
    }
    // Every accumulator now bounds its document's score from above (codes
    // round up): rescore in decreasing order until the next bound is below the
    // k-th score, skipping documents already scored. Documents whose bound is
    // below the k-th score found so far are never candidates.
    const float floor = top.full() ? top.worst() / (1.0f + kBoundSlack) : 0.0f;
    candidates.clear();
    for (std::size_t i = 0; i < n_touched; ++i) {
        float* slot = acc + 2 * static_cast<std::size_t>(touched[i]);
        if (slot[0] >= floor) candidates.push_back(Candidate{slot[0], touched[i]});
        slot[0] = 0.0f;
        slot[1] = 0.0f;
    }
    const std::size_t batch = rerank_count(params);
    for (std::size_t begin = 0; begin < candidates.size(); begin += batch) {
        const std::size_t end = std::min(candidates.size(), begin + batch);
        auto first = candidates.begin() + static_cast<std::ptrdiff_t>(begin);
        auto last = candidates.begin() + static_cast<std::ptrdiff_t>(end);
        if (end < candidates.size()) std::nth_element(first, last, candidates.end(), LargerFirst());
        std::sort(first, last, LargerFirst());
        if (!rescore(begin, end, true)) break;
    }
    return Plan::full;
}

}  // namespace fanns::sparse
