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
#include "validate.h"

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

    void run(const BatchRequest& request, const BatchOutput& out) const {
        const std::size_t n = graph_.size();
        const BatchRequest req = checked(request);
        // Starting plan per query; exact queries are grouped by filter.
        std::vector<std::vector<std::uint32_t>> exact_groups(req.filters.size());
        std::vector<Task> tasks;
        for (std::size_t qi = 0; qi < req.nq; ++qi) {
            const int f = filter_of(req, qi);
            const std::size_t passing = f >= 0 ? req.filters[std::size_t(f)].count : n;
            const Plan plan = choose_plan(n, passing, f >= 0, graph_.params().M0, req.planner);
            if (plan == Plan::exact) exact_groups[std::size_t(f)].push_back(static_cast<std::uint32_t>(qi));
            else tasks.push_back({f, {static_cast<std::uint32_t>(qi)}, plan});
        }
        std::vector<std::vector<std::uint32_t>> passing(req.filters.size());
        for (std::size_t f = 0; f < exact_groups.size(); ++f) {
            const auto& group = exact_groups[f];
            if (group.empty()) continue;
            passing[f] = passing_ids(req.filters[f].bits, n);
            for (std::size_t i = 0; i < group.size(); i += kGroup) {
                Task t{int(f), {}, Plan::exact};
                t.queries.assign(group.begin() + i, group.begin() + std::min(group.size(), i + kGroup));
                tasks.push_back(std::move(t));
            }
        }
        std::vector<Scratch> scratch(std::min(resolve_threads(req.threads), std::max<std::size_t>(1, tasks.size())));
        parallel_for(tasks.size(), req.threads, 1, [&](std::size_t ti, std::size_t worker) {
            const Task& t = tasks[ti];
            if (t.plan == Plan::exact) answer_exact_group(req, t, passing[std::size_t(t.filter)], scratch[worker], out);
            else answer_one(req, t.queries[0], t.plan, scratch[worker], out);
        });
    }

private:
    static constexpr std::size_t kGroup = 16;

    // The request with every argument the search relies on checked, and each
    // filter's count recounted from its bits.
    BatchRequest checked(const BatchRequest& request) const {
        check_planner(request.planner, Hnsw::kMaxSlot);
        check_result_size(request.nq, request.k, graph_.size());
        check_rows(request.queries, request.nq, graph_.dim(), "queries");
        BatchRequest req = request;
        for (QueryFilter& f : req.filters) {
            if (f.bits.words == nullptr || f.bits.size != graph_.size()) {
                throw std::invalid_argument("a filter bitset does not cover every row");
            }
            f.count = checked_filter_count(f.bits, graph_.size());
        }
        return req;
    }

    struct Task {
        int filter;
        std::vector<std::uint32_t> queries;
        Plan plan;
    };

    struct Scratch {
        CandidateQueue queue;
        ResultHeap results;
        std::vector<Candidate> sorted;
        std::vector<ResultHeap> heaps;
    };

    static int filter_of(const BatchRequest& req, std::size_t qi) {
        return req.query_filter ? req.query_filter[qi] : -1;
    }

    const float* query(const BatchRequest& req, std::size_t qi) const { return req.queries + qi * graph_.dim(); }

    ExactScanner scanner() const {
        return ExactScanner(graph_.vectors(), graph_.dim(), graph_.metric(), simd::active_kernels());
    }

    static void emit(ResultHeap& results, std::vector<Candidate>& sorted, const BatchRequest& req, std::size_t qi,
                     Plan plan, const BatchOutput& out) {
        results.sorted_into(sorted);
        std::int64_t* ids = out.ids + qi * req.k;
        float* dists = out.distances + qi * req.k;
        const std::size_t found = std::min(sorted.size(), req.k);
        for (std::size_t j = 0; j < found; ++j) {
            ids[j] = sorted[j].id;
            dists[j] = sorted[j].distance;
        }
        for (std::size_t j = found; j < req.k; ++j) {
            ids[j] = -1;
            dists[j] = std::numeric_limits<float>::infinity();
        }
        out.plans[qi] = static_cast<std::int8_t>(plan);
    }

    void answer_exact_group(const BatchRequest& req, const Task& t, const std::vector<std::uint32_t>& ids,
                            Scratch& s, const BatchOutput& out) const {
        std::vector<const float*> qs(t.queries.size());
        s.heaps.resize(t.queries.size());
        for (std::size_t i = 0; i < t.queries.size(); ++i) {
            qs[i] = query(req, t.queries[i]);
            s.heaps[i].reset(std::min(req.k, graph_.size()));
        }
        scanner().scan_group(qs.data(), qs.size(), ids, s.heaps.data());
        for (std::size_t i = 0; i < t.queries.size(); ++i) emit(s.heaps[i], s.sorted, req, t.queries[i], Plan::exact, out);
    }

    void answer_one(const BatchRequest& req, std::size_t qi, Plan plan, Scratch& s, const BatchOutput& out) const {
        const std::size_t n = graph_.size();
        const std::size_t k = std::min(req.k, n);  // more is padding: no heap of that size
        const std::size_t ef = std::min(std::max(req.ef, k), std::max<std::size_t>(n, 1));
        const int f = filter_of(req, qi);
        const QueryFilter* filter = f >= 0 ? &req.filters[std::size_t(f)] : nullptr;
        const float* q = query(req, qi);
        s.results.reset(k);
        if (plan != Plan::empty) {
            const Distance dist = graph_.distance();
            auto lease = graph_.visited_pool().acquire(n);
            const std::uint32_t entry = graph_.descend(q, dist);
            if (plan == Plan::graph) {
                graph_.search_level0(q, entry, ef, AcceptAll{}, dist, *lease, s.queue, s.results);
            } else {
                AdaptiveParams ap;
                ap.start_two_hop = plan == Plan::acorn;
                ap.switch_pass_rate = req.planner.switch_pass_rate;
                ap.max_collect = req.planner.max_collect;
                ap.budget = static_cast<std::size_t>(req.planner.budget_factor * double(filter->count)) + 256;
                const TraversalOutcome outcome = adaptive_search(graph_, q, entry, ef, k, AcceptBitset{filter->bits},
                                                                 ap, dist, *lease, s.queue, s.results);
                plan = outcome == TraversalOutcome::exhausted ? Plan::exact
                       : outcome == TraversalOutcome::two_hop ? Plan::acorn
                                                               : Plan::filtered;
                if (plan == Plan::exact) {
                    s.results.reset(k);
                    scanner().scan(q, filter->bits, n, s.results);
                }
            }
        }
        emit(s.results, s.sorted, req, qi, plan, out);
    }

    const Hnsw& graph_;
};

}  // namespace fanns
