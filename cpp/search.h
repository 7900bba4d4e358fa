// Batched k-NN search over an HNSW graph, one filter (or none) per query.
//
// Each query is answered by one plan, reported back per query:
//   graph     plain HNSW traversal (no filter, or every row passes)
//   filtered  traversal with the predicate gating the results
//   acorn     two-hop predicate-aware traversal (acorn.h)
//   exact     SIMD scan over the passing ids on their float rows
//   scan      the same scan on 8-bit codes or f16 rows, the best ef scored
//             again exactly
//   empty     nothing passes the filter
// planner.h picks the starting plan; the traversal may change it per query.
// When the rows are stored as codes or f16 rows, traversals compare those
// and score their best candidates again on the float rows: every returned
// distance is exact.
#pragma once

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "bitset.h"
#include "acorn.h"
#include "exact.h"
#include "hnsw.h"
#include "parallel.h"
#include "planner.h"
#include "store/scorers.h"
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

// The bytes a distance reads in `store`, for the cost model.
inline RowBytes row_bytes(const RowStore& store) {
    if (store.coded() || store.halved()) return RowBytes::encoded(store.dim(), store.scanned_row_bytes());
    return RowBytes::of(store.dim(), false);
}

// What the planner needs to know of a query on `graph`: k and ef clamped as
// search clamps them (k to the rows, ef between k and the rows).
// `sharing`: queries of the batch with this filter. Only scans on 8-bit
// codes read each row once for a group (the tile kernels); f16 and float
// scans are priced as a query alone.
inline PlanInput plan_input(const Hnsw& graph, std::size_t passing, bool filtered, std::size_t ef, std::size_t k,
                            std::size_t sharing = 1) {
    const std::size_t n = graph.size();
    k = std::min(k, n);
    ef = std::min(std::max(ef, k), std::max<std::size_t>(n, 1));
    const std::size_t tiled = graph.store().coded() ? sharing : 1;
    return PlanInput{n, passing, filtered, graph.params().M0, ef, k, row_bytes(graph.store()), tiled};
}

class HnswSearcher {
public:
    explicit HnswSearcher(const Hnsw& graph) : graph_(graph) {}

    void run(const BatchRequest& request, const BatchOutput& out) const {
        const std::size_t n = graph_.size();
        const BatchRequest req = checked(request);
        // Starting plan per query; scanned queries are grouped by filter (a
        // filter's plan depends only on its count, so one plan per group).
        std::vector<std::vector<std::uint32_t>> scan_groups(req.filters.size());
        std::vector<Plan> scan_plan(req.filters.size(), Plan::exact);
        std::vector<Task> tasks;
        // Queries per filter: a filter's plan depends on how many share it.
        std::vector<std::size_t> sharing(req.filters.size(), 0);
        for (std::size_t qi = 0; qi < req.nq; ++qi) {
            if (filter_of(req, qi) >= 0) ++sharing[std::size_t(filter_of(req, qi))];
        }
        std::vector<Plan> filter_plan(req.filters.size());
        for (std::size_t f = 0; f < req.filters.size(); ++f) filter_plan[f] = plan_for(req, int(f), sharing[f]);
        const Plan unfiltered = plan_for(req, -1);
        for (std::size_t qi = 0; qi < req.nq; ++qi) {
            const int f = filter_of(req, qi);
            const Plan plan = f >= 0 ? filter_plan[std::size_t(f)] : unfiltered;
            if (plan == Plan::exact || plan == Plan::scan) {
                scan_groups[std::size_t(f)].push_back(static_cast<std::uint32_t>(qi));
                scan_plan[std::size_t(f)] = plan;
            } else {
                tasks.push_back({f, {static_cast<std::uint32_t>(qi)}, plan});
            }
        }
        std::vector<std::vector<std::uint32_t>> passing(req.filters.size());
        for (std::size_t f = 0; f < scan_groups.size(); ++f) {
            const auto& group = scan_groups[f];
            if (group.empty()) continue;
            passing[f] = passing_ids(req.filters[f].bits, n);
            for (std::size_t i = 0; i < group.size(); i += kGroup) {
                Task t{int(f), {}, scan_plan[f]};
                t.queries.assign(group.begin() + i, group.begin() + std::min(group.size(), i + kGroup));
                tasks.push_back(std::move(t));
            }
        }
        std::vector<Scratch> scratch(std::min(resolve_threads(req.threads), std::max<std::size_t>(1, tasks.size())));
        parallel_for(tasks.size(), req.threads, 1, [&](std::size_t ti, std::size_t worker) {
            const Task& t = tasks[ti];
            if (t.plan == Plan::exact) answer_exact_group(req, t, passing[std::size_t(t.filter)], scratch[worker], out);
            else if (t.plan == Plan::scan) answer_scan_group(req, t, passing[std::size_t(t.filter)], scratch[worker], out);
            else answer_one(req, t.queries[0], t.plan, scratch[worker], out);
        });
    }

    // The starting plan of a query with filter f (-1: none) that `sharing`
    // queries of the batch have.
    Plan plan_for(const BatchRequest& req, int f, std::size_t sharing = 1) const {
        const std::size_t n = graph_.size();
        const std::size_t passing = f >= 0 ? req.filters[std::size_t(f)].count : n;
        return choose_plan(plan_input(graph_, passing, f >= 0, req.ef, req.k, sharing), req.planner);
    }

private:
    static constexpr std::size_t kGroup = kScanGroup;
    static constexpr std::size_t kScanBlock = 64;  // passing rows per block of an f16 scan
    static constexpr std::size_t kTileRows = 256;  // passing rows per tile of a code scan

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

    // k and ef clamped to the rows there are: more is padding, and no heap
    // is sized by it.
    std::size_t k_of(const BatchRequest& req) const { return std::min(req.k, graph_.size()); }
    std::size_t ef_of(const BatchRequest& req) const {
        return std::min(std::max(req.ef, k_of(req)), std::max<std::size_t>(graph_.size(), 1));
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
        std::vector<ScanSelection> selections;
        QuantizedRows::Query code;
        std::vector<QuantizedRows::Query> codes;
        HalfRows::Query half;
        std::vector<HalfRows::Query> halves;
        std::vector<float> rescore_distances;
        std::vector<std::uint32_t> rescore_ids;
        std::vector<std::int8_t> tile_bytes;
        std::vector<std::int32_t> tile_sums;
        std::vector<float> tile_scores;
        std::vector<std::uint32_t> tile_outliers;
    };

    static int filter_of(const BatchRequest& req, std::size_t qi) {
        return req.query_filter ? req.query_filter[qi] : -1;
    }

    const float* query(const BatchRequest& req, std::size_t qi) const { return req.queries + qi * graph_.dim(); }

    ExactScanner scanner() const {
        return ExactScanner(graph_.vectors(), graph_.dim(), graph_.metric(), simd::active_kernels(),
                            graph_.store().row_stride());
    }

    // Moves the candidates of s.results (scored on codes) into s.results
    // again, rescored on the float rows, keeping the best k.
    void rescore_results(const float* q, std::size_t k, Scratch& s) const {
        s.results.sorted_into(s.sorted);
        s.results.reset(k);
        rescore(graph_.store(), q, s.sorted, s.results, s.rescore_distances, s.rescore_ids);
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
            s.heaps[i].reset(k_of(req));
        }
        scanner().scan_group(qs.data(), qs.size(), ids, s.heaps.data());
        for (std::size_t i = 0; i < t.queries.size(); ++i) emit(s.heaps[i], s.sorted, req, t.queries[i], Plan::exact, out);
    }

    // Queries sharing a filter, scored on codes (or f16 rows) a block of passing rows at a
    // time (each block read once for the group while it is in cache); each
    // query's best scan_depth() by code are scored again on the float rows.
    void answer_scan_group(const BatchRequest& req, const Task& t, const std::vector<std::uint32_t>& ids,
                           Scratch& s, const BatchOutput& out) const {
        scan_on_codes(req, t.queries.data(), t.queries.size(), ids, s);
        for (std::size_t i = 0; i < t.queries.size(); ++i) emit(s.heaps[i], s.sorted, req, t.queries[i], Plan::scan, out);
    }

    // Scores the rows `ids` on codes (or f16 rows) for the queries `queries`
    // (positions in the batch), a block of rows at a time for all of them,
    // and leaves each query's k best, scored again on the float rows, in
    // s.heaps[i].
    void scan_on_codes(const BatchRequest& req, const std::uint32_t* queries, std::size_t count,
                       const std::vector<std::uint32_t>& ids, Scratch& s) const {
        const RowStore& store = graph_.store();
        const std::size_t depth = scan_depth(ef_of(req), k_of(req));
        const bool halved = store.halved();
        s.heaps.resize(count);
        s.selections.resize(count);
        if (halved) s.halves.resize(count);
        else s.codes.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            if (halved) store.halves().prepare(query(req, queries[i]), s.halves[i]);
            else store.codes().prepare(query(req, queries[i]), s.codes[i]);
            s.selections[i].reset(depth);
        }
        if (halved) {
            float scores[kScanBlock];
            for (std::size_t start = 0; start < ids.size(); start += kScanBlock) {
                const std::size_t len = std::min(kScanBlock, ids.size() - start);
                const std::uint32_t* block = ids.data() + start;
                // The first query brings the block in (its kernel fetches rows
                // ahead); the others find it in cache.
                for (std::size_t i = 0; i < count; ++i) {
                    HalfScorer(store, s.halves[i], query(req, queries[i])).batch(block, len, scores);
                    s.selections[i].admit(block, scores, len);
                }
            }
        } else {
            // Codes a tile at a time: each row is read once and scored for
            // every query of the group while it is in registers.
            const QuantizedRows& codes = store.codes();
            codes.pack(s.codes.data(), count, s.tile_bytes);
            s.tile_scores.resize(count * kTileRows);
            for (std::size_t start = 0; start < ids.size(); start += kTileRows) {
                const std::size_t len = std::min(kTileRows, ids.size() - start);
                const std::uint32_t* block = ids.data() + start;
                codes.distances_tile(s.codes.data(), s.tile_bytes, count, block, len, s.tile_scores.data(),
                                     s.tile_sums, s.tile_outliers);
                for (std::size_t i = 0; i < count; ++i) {
                    float* scores = s.tile_scores.data() + i * len;
                    if (!s.tile_outliers.empty()) {
                        const FloatScorer exact(store, query(req, queries[i]));
                        for (std::uint32_t j : s.tile_outliers) scores[j] = exact(block[j]);
                    }
                    s.selections[i].admit(block, scores, len);
                }
            }
        }
        for (std::size_t i = 0; i < count; ++i) {
            s.selections[i].sorted_into(s.sorted);
            s.heaps[i].reset(k_of(req));
            rescore(store, query(req, queries[i]), s.sorted, s.heaps[i], s.rescore_distances, s.rescore_ids);
        }
    }

    void answer_one(const BatchRequest& req, std::size_t qi, Plan plan, Scratch& s, const BatchOutput& out) const {
        const float* q = query(req, qi);
        s.results.reset(k_of(req));
        if (plan != Plan::empty) {
            const RowStore& store = graph_.store();
            if (store.coded()) {
                store.codes().prepare(q, s.code);
                plan = traverse(req, qi, plan, CodeScorer(store, s.code, q), s);
            } else if (store.halved()) {
                store.halves().prepare(q, s.half);
                plan = traverse(req, qi, plan, HalfScorer(store, s.half, q), s);
            } else {
                plan = traverse(req, qi, plan, FloatScorer(store, q), s);
            }
        }
        emit(s.results, s.sorted, req, qi, plan, out);
    }

    // Graph search for one query with `score`; leaves the k best, scored
    // exactly, in s.results and returns the plan that answered.
    template <class Scorer>
    Plan traverse(const BatchRequest& req, std::size_t qi, Plan plan, const Scorer& score, Scratch& s) const {
        const std::size_t n = graph_.size();
        const std::size_t k = k_of(req);
        const std::size_t ef = ef_of(req);
        const int f = filter_of(req, qi);
        const float* q = query(req, qi);
        auto lease = graph_.visited_pool().acquire(n);
        const std::uint32_t entry = graph_.descend(score);
        if (plan == Plan::graph) {
            graph_.search_level0(score, entry, ef, AcceptAll{}, *lease, s.queue, s.results);
        } else {
            const QueryFilter& filter = req.filters[std::size_t(f)];
            AdaptiveParams ap;
            ap.start_two_hop = plan == Plan::acorn;
            ap.switch_pass_rate = req.planner.switch_pass_rate;
            ap.max_collect = req.planner.max_collect;
            ap.budget = static_cast<std::size_t>(req.planner.budget_factor * double(filter.count)) + 256;
            const TraversalOutcome outcome = adaptive_search(graph_, score, entry, ef, k, AcceptBitset{filter.bits},
                                                             ap, *lease, s.queue, s.results);
            if (outcome == TraversalOutcome::exhausted) return finish_by_scan(req, qi, filter, s);
            plan = outcome == TraversalOutcome::two_hop ? Plan::acorn : Plan::filtered;
        }
        if (Scorer::approximate) rescore_results(q, k, s);
        return plan;
    }

    // Answers a query whose traversal ran over budget by a scan of the
    // passing rows: on codes (or f16 rows), then rescoring, where the cost model says that
    // reads less; else exactly. Leaves the k best in s.results.
    Plan finish_by_scan(const BatchRequest& req, std::size_t qi, const QueryFilter& filter, Scratch& s) const {
        const RowStore& store = graph_.store();
        const std::size_t n = graph_.size();
        const RowBytes rows = row_bytes(store);
        if (cheaper_scan(double(filter.count), scan_depth(ef_of(req), k_of(req)), rows) != Plan::scan) {
            s.results.reset(k_of(req));
            scanner().scan(query(req, qi), filter.bits, n, s.results);
            return Plan::exact;
        }
        const auto position = static_cast<std::uint32_t>(qi);
        scan_on_codes(req, &position, 1, passing_ids(filter.bits, n), s);
        std::swap(s.results, s.heaps[0]);
        return Plan::scan;
    }

    const Hnsw& graph_;
};

}  // namespace fanns
