// Batched k-NN search over an HNSW graph, one filter (or none) per query.
//
// Each query is answered by one plan, reported back per query:
//   graph     plain HNSW traversal (no filter, or every row passes)
//   filtered  traversal with the predicate gating the results
//   acorn     two-hop predicate-aware traversal (acorn.h)
//   exact     SIMD scan over the passing ids
//   empty     nothing passes the filter
// planner.h picks the starting plan; the traversal may change it per query.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "bitset.h"
#include "acorn.h"
#include "exact.h"
#include "hnsw.h"
#include "parallel.h"
#include "planner.h"

namespace fanns {

struct QueryFilter {
    BitsetView bits;     // words == nullptr: no filter
    std::size_t count;   // number of passing ids
};

struct BatchRequest {
    const float* queries = nullptr;
    std::size_t nq = 0;
    std::size_t k = 10;
    std::size_t ef = 64;
    std::size_t threads = 0;
    std::vector<QueryFilter> filters;      // distinct filters
    const std::int32_t* query_filter = nullptr;  // per query: index into filters, -1 none
    PlannerParams planner;
};

struct BatchOutput {
    std::int64_t* ids;       // nq * k
    float* distances;        // nq * k
    std::int8_t* plans;      // nq
};

class HnswSearcher {
public:
    explicit HnswSearcher(const Hnsw& graph) : graph_(graph) {}

    void run(const BatchRequest& req, const BatchOutput& out) const {
        const std::size_t dim = graph_.dim();
        std::vector<Scratch> scratch(resolve_threads(req.threads));
        parallel_for(req.nq, req.threads, 4, [&](std::size_t qi, std::size_t worker) {
            const int f = req.query_filter ? req.query_filter[qi] : -1;
            const QueryFilter* filter = f >= 0 ? &req.filters[std::size_t(f)] : nullptr;
            answer(req.queries + qi * dim, req, filter, scratch[worker], out.ids + qi * req.k,
                   out.distances + qi * req.k, out.plans + qi);
        });
    }

private:
    struct Scratch {
        CandidateQueue queue;
        ResultHeap results;
        std::vector<Candidate> sorted;
    };

    void answer(const float* q, const BatchRequest& req, const QueryFilter* filter, Scratch& s,
                std::int64_t* ids, float* dists, std::int8_t* plan) const {
        const std::size_t n = graph_.size();
        const std::size_t ef = std::max(req.ef, req.k);
        const std::size_t passing = filter ? filter->count : n;
        Plan chosen = choose_plan(n, passing, filter != nullptr, graph_.params().M0, req.planner);
        s.sorted.clear();
        if (chosen == Plan::graph || chosen == Plan::filtered || chosen == Plan::acorn) {
            const Distance dist = graph_.distance();
            auto lease = graph_.visited_pool().acquire(n);
            const std::uint32_t entry = graph_.descend(q, dist);
            if (chosen == Plan::graph) {
                graph_.search_level0(q, entry, ef, AcceptAll{}, dist, *lease, s.queue, s.results);
            } else {
                AdaptiveParams ap;
                ap.start_two_hop = chosen == Plan::acorn;
                ap.switch_pass_rate = req.planner.switch_pass_rate;
                ap.budget = static_cast<std::size_t>(req.planner.budget_factor * double(passing)) + 256;
                const TraversalOutcome outcome = adaptive_search(graph_, q, entry, ef, req.k, AcceptBitset{filter->bits},
                                                                 ap, dist, *lease, s.queue, s.results);
                chosen = outcome == TraversalOutcome::exhausted ? Plan::exact
                         : outcome == TraversalOutcome::two_hop ? Plan::acorn
                                                                 : Plan::filtered;
            }
        }
        if (chosen == Plan::exact) {
            ExactScanner scanner(graph_.vectors(), graph_.dim(), graph_.metric(), simd::active_kernels());
            s.results.reset(req.k);
            scanner.scan(q, filter ? filter->bits : BitsetView{}, n, s.results);
        }
        if (chosen != Plan::empty) s.results.sorted_into(s.sorted);
        const std::size_t found = std::min(s.sorted.size(), req.k);
        for (std::size_t j = 0; j < found; ++j) {
            ids[j] = s.sorted[j].id;
            dists[j] = s.sorted[j].distance;
        }
        for (std::size_t j = found; j < req.k; ++j) {
            ids[j] = -1;
            dists[j] = std::numeric_limits<float>::infinity();
        }
        *plan = static_cast<std::int8_t>(chosen);
    }

    const Hnsw& graph_;
};

}  // namespace fanns
