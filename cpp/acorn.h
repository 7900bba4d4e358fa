// Predicate-aware traversal of an HNSW graph, after ACORN (Patel et al.,
// SIGMOD 2024), adapting per query.
//
// The loop starts in one of two modes and can switch once:
//   gated    every neighbour is scored and traversed; only passing nodes enter
//            the results (cheap when most rows pass);
//   two-hop  only passing nodes are scored; a neighbour that fails the
//            predicate is looked through: its own passing neighbours are
//            collected instead (ACORN-1 expansion on the ordinary graph).
// Gated mode watches the pass rate among the nodes it scores and switches to
// two-hop when the query's neighbourhood turns out to be mostly filtered out,
// whatever the filter's global selectivity said. Both modes spend against a
// budget of distance computations; a query that exceeds it, or whose
// traversal runs dry before k passing rows are found, is finished by an exact
// scan of the passing rows, so it never costs much more than that scan. So
// does a two-hop traversal whose queue runs dry: it saw only an island.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bitset.h"
#include "exact.h"
#include "hnsw.h"
#include "topk.h"
#include "visited.h"

namespace fanns {

struct AdaptiveParams {
    bool start_two_hop = false;   // begin in two-hop mode
    double switch_pass_rate = 0.3;  // gated mode switches below this local pass rate
    std::size_t min_observed = 48;  // nodes scored before the pass rate is trusted
    std::size_t budget = 0;         // max distance computations (0: unlimited)
    std::size_t max_collect = 0;    // passing candidates kept per expansion in two-hop mode (0: M0)
};

enum class TraversalOutcome { gated, two_hop, exhausted };

// Runs the traversal into `results` (capacity ef). Returns how it ended:
// `exhausted` means the caller should answer with a scan of the passing rows instead.
template <class Pred, class Scorer>
TraversalOutcome adaptive_search(const Hnsw& g, const Scorer& score, std::uint32_t entry, std::size_t ef,
                                 std::size_t k, const Pred& pred, const AdaptiveParams& p,
                                 VisitedTable& visited, CandidateQueue& queue, ResultHeap& results) {
    queue.clear();
    results.reset(ef);
    bool two_hop = p.start_two_hop;
    std::size_t scored = 0, scored_passing = 0;
    const std::size_t max_collect = std::min<std::size_t>(p.max_collect ? p.max_collect : g.params().M0, Hnsw::kMaxSlot);
    std::uint32_t fresh[Hnsw::kMaxSlot];
    float scores[Hnsw::kMaxSlot];

    const float d0 = score(entry);
    ++scored;
    visited.insert(entry);
    queue.push({d0, entry});
    if (pred(entry)) {
        results.push({d0, entry});
        ++scored_passing;
    }
    bool converged = false;
    while (!queue.empty()) {
        const Candidate current = queue.top();
        if (results.full() && current.distance > results.worst()) {
            converged = true;
            break;
        }
        queue.pop();
        std::size_t count;
        const std::uint32_t* nbrs = g.neighbours0(current.id, &count);
        std::size_t n_fresh = 0;
        if (!two_hop) {
            for (std::size_t j = 0; j < count; ++j) {
                if (g.linked(nbrs[j]) && visited.try_insert(nbrs[j])) fresh[n_fresh++] = nbrs[j];
            }
        } else {
            // Passing neighbours first, then passing neighbours of failing ones.
            for (std::size_t j = 0; j < count && n_fresh < max_collect; ++j) {
                const std::uint32_t v = nbrs[j];
                if (g.linked(v) && pred(v) && visited.try_insert(v)) fresh[n_fresh++] = v;
            }
            for (std::size_t j = 0; j < count && n_fresh < max_collect; ++j) {
                const std::uint32_t v = nbrs[j];
                if (!g.linked(v) || pred(v)) continue;
                std::size_t count2;
                const std::uint32_t* second = g.neighbours0(v, &count2);
                for (std::size_t t = 0; t < count2 && n_fresh < max_collect; ++t) {
                    const std::uint32_t u = second[t];
                    if (g.linked(u) && pred(u) && visited.try_insert(u)) fresh[n_fresh++] = u;
                }
            }
        }
        score.batch(fresh, n_fresh, scores);
        for (std::size_t j = 0; j < n_fresh; ++j) {
            const std::uint32_t v = fresh[j];
            const float d = scores[j];
            const bool passes = two_hop || pred(v);
            scored_passing += passes;
            if (results.admits(d)) {
                queue.push({d, v});
                if (passes) results.push({d, v});
            }
        }
        scored += n_fresh;
        if (p.budget && scored > p.budget) return TraversalOutcome::exhausted;
        if (!two_hop && scored >= p.min_observed &&
            double(scored_passing) < p.switch_pass_rate * double(scored)) {
            two_hop = true;
        }
    }
    // A two-hop traversal that ran dry explored only an island of the passing
    // rows: the nearest ones may lie elsewhere.
    if (results.size() < k || (two_hop && !converged)) return TraversalOutcome::exhausted;
    return two_hop ? TraversalOutcome::two_hop : TraversalOutcome::gated;
}

}  // namespace fanns
