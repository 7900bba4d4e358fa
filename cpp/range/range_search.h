// Batched k-NN search over a range graph: each query has its own position
// range [lo, hi) and optionally a predicate (bitset over original row ids)
// that gates which rows may be returned.
//
// Plans, reported per query:
//   range  improvised traversal. A visited point's neighbours are gathered
//          from the root depth down: at a depth whose segment around the
//          point only partly overlaps the range, the links that land inside
//          the range are taken; the first depth whose segment lies entirely
//          inside the range contributes all its links and ends the walk.
//          The walk also ends once `max_links` neighbours are gathered.
//          Entry points are those of the largest segments of the range's
//          canonical cover (evenly spaced rows when no segment fits inside
//          the range). If the reachable rows run out before ef results are
//          held, the walk resumes from the next unvisited row of the range,
//          so a range no wider than ef is searched exhaustively. Points
//          failing the predicate are traversed but never returned.
//   exact  scan of the range on the float rows: narrow ranges, predicates
//          passing few rows in the range (estimated from a sample), scans
//          where codes would not save reads (choose_range_plan in
//          planner.h), or a traversal that found fewer than k rows; with
//          encoded rows, also a scan that met no more than ef passing rows
//          (all of them were scored again exactly).
//   scan   scan of the range on the encoded rows (8-bit codes, or the
//          store's f16 rows; range_graph.h): the ef best by encoding are
//          scored again on the float rows.
//   empty  nothing in the range passes.
// With encoded rows the traversal also runs on the encoding, and its ef
// results are scored again on the float rows: every returned distance is
// exact.
// Each query is answered by one thread with its own scratch space, so the
// results do not depend on the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "bitset.h"
#include "parallel.h"
#include "planner.h"
#include "range/range_graph.h"
#include "range/range_scan.h"
#include "range/segment_layout.h"
#include "topk.h"
#include "validate.h"
#include "visited.h"

namespace fanns::range {

// What the planner needs to know of a query on a range graph.
inline RangePlanInput range_plan_input(const RangeGraph& g, std::size_t width, bool predicate, double passing,
                                       std::size_t ef, std::size_t k) {
    const RowBytes rows = g.encoding() == RangeEncoding::floats ? RowBytes::of(g.dim(), false)
                                                                 : RowBytes::encoded(g.dim(), g.scanned_row_bytes());
    return RangePlanInput{width, predicate, passing, g.params().M, ef, k, rows};
}

struct RangeSearchParams {
    std::size_t k = 10;
    std::size_t ef = 64;
    std::size_t exact_threshold = kAutoThreshold;  // see PlannerParams::exact_threshold
    std::size_t max_links = 32;          // neighbours gathered per expanded point
    std::size_t entry_points = 4;        // cover segments that seed the traversal
    std::size_t threads = 0;
};

struct RangeQueries {
    const float* vectors = nullptr;       // nq x dim
    std::size_t nq = 0;
    const std::uint64_t* lo = nullptr;    // per query, sorted positions
    const std::uint64_t* hi = nullptr;
    const BitsetView* filters = nullptr;  // per query; words == nullptr: no predicate (may be null)
};

struct RangeOutput {
    std::int64_t* ids;     // nq x k original row ids, -1 padded
    float* distances;      // nq x k, +inf padded
    std::int8_t* plans;    // nq
};

// Predicate over sorted positions that reads a bitset over original ids.
struct PositionFilter {
    static constexpr bool filters = true;
    BitsetView bits;
    const std::uint32_t* order;
    bool operator()(std::uint32_t position) const { return bits.test(order[position]); }
};

struct PositionAll {
    static constexpr bool filters = false;
    bool operator()(std::uint32_t) const { return true; }
};

class RangeSearcher {
public:
    explicit RangeSearcher(const RangeGraph& graph) : g_(graph) {}

    void run(const RangeQueries& q, const RangeSearchParams& params, const RangeOutput& out) const {
        check_result_size(q.nq, params.k, g_.size());
        check_rows(q.vectors, q.nq, g_.dim(), "queries");
        std::vector<Scratch> scratch(std::min(resolve_threads(params.threads), std::max<std::size_t>(q.nq, 1)));
        for (auto& s : scratch) s.scanner = std::make_unique<RangeScanner>(g_.rows(), g_.order(), g_.dim(), g_.metric(), g_.row_stride());
        parallel_for(q.nq, params.threads, 1, [&](std::size_t i, std::size_t w) {
            const BitsetView bits = q.filters ? q.filters[i] : BitsetView{};
            std::size_t lo = std::min<std::uint64_t>(q.lo[i], g_.size());
            std::size_t hi = std::min<std::uint64_t>(q.hi[i], g_.size());
            if (hi < lo) hi = lo;
            const float* query = q.vectors + i * g_.dim();
            Plan plan;
            if (bits.words != nullptr) {
                plan = answer(query, lo, hi, PositionFilter{bits, g_.order()}, params, scratch[w]);
            } else {
                plan = answer(query, lo, hi, PositionAll{}, params, scratch[w]);
            }
            if (scratch[w].sorted.empty()) plan = Plan::empty;
            emit(scratch[w], params.k, out.ids + i * params.k, out.distances + i * params.k);
            out.plans[i] = static_cast<std::int8_t>(plan);
        });
    }

private:
    struct Scratch {
        CandidateQueue queue;
        ResultHeap results;
        std::vector<Candidate> sorted;
        std::vector<Segment> cover;
        std::vector<std::uint32_t> fresh;
        std::unique_ptr<RangeScanner> scanner;
        QuantizedRows::Query code;
        HalfRows::Query half;
    };

    // Scorers of a position: operator() the distance, row() and bytes()
    // where its row lies, for prefetching (a traversal fetches at most
    // kAhead bytes of a row ahead, a scan all of it).
    // Distances on the float rows.
    struct FloatScorer {
        static constexpr std::size_t kAhead = 192;
        static constexpr bool approximate = false;
        const RangeGraph& g;
        Distance dist;
        const float* query;
        float operator()(std::uint32_t p) const { return dist(query, g.vector(p)); }
        const char* row(std::uint32_t p) const { return reinterpret_cast<const char*>(g.vector(p)); }
        std::size_t bytes() const { return 4 * g.dim(); }
    };

    // Distances on the 8-bit codes; rows marked as outliers are scored on
    // their float rows.
    struct CodeScorer {
        static constexpr std::size_t kAhead = 512;
        static constexpr bool approximate = true;
        const QuantizedRows& codes;
        const QuantizedRows::Query& query;
        FloatScorer exact;
        float operator()(std::uint32_t p) const {
            const float d = codes.distance(query, exact.g.code_row(p));
            return d == d ? d : exact(p);
        }
        const char* row(std::uint32_t p) const { return reinterpret_cast<const char*>(codes.row(exact.g.code_row(p))); }
        std::size_t bytes() const { return codes.stride(); }
    };

    // Distances on the store's f16 rows (row order, reached through the
    // graph's order); rows held as NaN, and every row for a query the f16
    // scale cannot take, are scored on their float rows.
    struct HalfScorer {
        static constexpr std::size_t kAhead = 512;
        static constexpr bool approximate = true;
        const HalfRows& halves;
        const HalfRows::Query& query;
        FloatScorer exact;
        float operator()(std::uint32_t p) const {
            if (!query.usable) return exact(p);
            const float d = halves.distance(query, exact.g.row_id(p));
            return d == d ? d : exact(p);
        }
        const char* row(std::uint32_t p) const { return reinterpret_cast<const char*>(halves.row(exact.g.row_id(p))); }
        std::size_t bytes() const { return 2 * halves.dim(); }
    };

    // Fetches the first `limit` bytes of position p's row ahead of use.
    template <class Scorer>
    static void prefetch(const Scorer& score, std::uint32_t p, std::size_t limit) {
        const char* row = score.row(p);
        const std::size_t bytes = std::min(score.bytes(), limit);
        for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b);
    }

    // Fraction of [lo, hi) passing `pred`: counted when the range is narrow,
    // else estimated from kSample positions spread by the golden-ratio
    // sequence (evenly spaced positions would alias with a predicate that
    // repeats with the same period).
    template <class Pred>
    static double pass_rate(std::size_t lo, std::size_t hi, const Pred& pred) {
        const std::size_t width = hi - lo;
        if (width == 0) return 0.0;
        std::size_t passing = 0;
        if (width <= kCountedWidth) {
            for (std::size_t p = lo; p < hi; ++p) passing += pred(static_cast<std::uint32_t>(p)) ? 1 : 0;
            return double(passing) / double(width);
        }
        constexpr double kGolden = 0.6180339887498949;
        double u = 0.5;
        for (std::size_t j = 0; j < kSample; ++j) {
            u += kGolden;
            u -= std::floor(u);
            const auto offset = std::min(static_cast<std::size_t>(u * double(width)), width - 1);
            passing += pred(static_cast<std::uint32_t>(lo + offset)) ? 1 : 0;
        }
        return double(passing) / double(kSample);
    }

    // The plan the planner picks for [lo, hi): with a predicate, the passing
    // rows are estimated from a sample (at least one, so that a sample that
    // met none still leads to a scan, never to "empty").
    template <class Pred>
    Plan plan_of(std::size_t lo, std::size_t hi, const Pred& pred, const RangeSearchParams& params) const {
        const std::size_t width = hi - lo;
        const double passing = Pred::filters ? std::max(pass_rate(lo, hi, pred) * double(width), 1.0) : double(width);
        PlannerParams planner;
        planner.exact_threshold = params.exact_threshold;
        return choose_range_plan(range_plan_input(g_, width, Pred::filters, passing, params.ef, params.k), planner);
    }

    template <class Pred>
    Plan answer(const float* query, std::size_t lo, std::size_t hi, const Pred& pred, const RangeSearchParams& params,
                Scratch& s) const {
        s.sorted.clear();
        if (lo >= hi) return Plan::empty;
        const Plan plan = plan_of(lo, hi, pred, params);
        const FloatScorer on_floats{g_, g_.distance(), query};
        if (plan != Plan::exact) {
            switch (g_.encoding()) {
                case RangeEncoding::codes:
                    g_.codes().prepare(query, s.code);
                    return answer_on(CodeScorer{g_.codes(), s.code, on_floats}, plan, query, lo, hi, pred, params, s);
                case RangeEncoding::halves:
                    g_.halves().prepare(query, s.half);
                    return answer_on(HalfScorer{g_.halves(), s.half, on_floats}, plan, query, lo, hi, pred, params, s);
                case RangeEncoding::floats:
                    return answer_on(on_floats, plan, query, lo, hi, pred, params, s);
            }
        }
        return scan_exactly(query, lo, hi, pred, params.k, s);
    }

    // Runs `plan` scoring on `score`; an approximate scorer's candidates are
    // scored again on the float rows.
    template <class Scorer, class Pred>
    Plan answer_on(const Scorer& score, Plan plan, const float* query, std::size_t lo, std::size_t hi,
                   const Pred& pred, const RangeSearchParams& params, Scratch& s) const {
        const std::size_t width = hi - lo;
        // No heap needs to hold more rows than the range has.
        const std::size_t k = std::min(params.k, width);
        const std::size_t ef = std::max(std::min(params.ef, width), k);
        if (plan == Plan::range) {
            traverse(score, lo, hi, ef, pred, params, s);
            if (s.results.size() >= k) {
                if constexpr (Scorer::approximate) {
                    rescore(query, k, s);
                } else {
                    s.results.sorted_into(s.sorted);
                }
                return Plan::range;
            }
        } else if (plan == Plan::scan && Scorer::approximate) {
            s.results.reset(ef);
            const std::size_t met = scan_encoded(score, lo, hi, pred, s);
            rescore(query, k, s);
            return met <= ef ? Plan::exact : Plan::scan;
        }
        return scan_exactly(query, lo, hi, pred, params.k, s);
    }

    template <class Pred>
    Plan scan_exactly(const float* query, std::size_t lo, std::size_t hi, const Pred& pred, std::size_t k,
                      Scratch& s) const {
        s.results.reset(std::min(k, hi - lo));
        s.scanner->scan(query, lo, hi, pred, s.results);
        s.results.sorted_into(s.sorted);
        return Plan::exact;
    }

    // Offers every position of [lo, hi) passing `pred` to s.results by its
    // encoded distance; returns how many passed.
    template <class Scorer, class Pred>
    std::size_t scan_encoded(const Scorer& score, std::size_t lo, std::size_t hi, const Pred& pred,
                             Scratch& s) const {
        std::size_t met = 0;
        for (std::size_t p = lo; p < hi; ++p) {
            const auto position = static_cast<std::uint32_t>(p);
            if (p + kScanAhead < hi) prefetch(score, static_cast<std::uint32_t>(p + kScanAhead), score.bytes());
            if constexpr (Pred::filters) {
                if (!pred(position)) continue;
            }
            ++met;
            const float d = score(position);
            if (s.results.admits(d)) s.results.push({d, position});
        }
        return met;
    }

    // Scores the candidates in s.results again on the float rows and keeps
    // the k best in s.sorted.
    void rescore(const float* query, std::size_t k, Scratch& s) const {
        s.results.sorted_into(s.sorted);
        s.results.reset(k);
        s.scanner->rescore(query, s.sorted, s.results);
        s.results.sorted_into(s.sorted);
    }

    template <class Scorer, class Pred>
    void traverse(const Scorer& score, std::size_t lo, std::size_t hi, std::size_t ef, const Pred& pred,
                  const RangeSearchParams& params, Scratch& s) const {
        const SegmentLayout& layout = g_.layout();
        auto lease = g_.visited_pool().acquire(g_.size());
        VisitedTable& visited = *lease;
        s.queue.clear();
        s.results.reset(ef);
        auto enter = [&](std::uint32_t p) {
            if (!visited.try_insert(p)) return;
            const Candidate c{score(p), p};
            s.queue.push(c);
            if (pred(p)) s.results.push(c);
        };
        layout.cover(lo, hi, s.cover);
        std::stable_sort(s.cover.begin(), s.cover.end(),
                         [](const Segment& a, const Segment& b) { return a.size() > b.size(); });
        const std::size_t wanted = std::max<std::size_t>(params.entry_points, 1);
        const std::size_t entries = std::min(s.cover.size(), wanted);
        for (std::size_t j = 0; j < entries; ++j) enter(g_.entry(s.cover[j].depth, s.cover[j].index));
        if (entries == 0) {
            for (std::size_t j = 0; j < wanted; ++j) {
                enter(static_cast<std::uint32_t>(lo + (2 * j + 1) * (hi - lo) / (2 * wanted)));
            }
        }
        std::size_t restart = lo;  // next position to try when the reachable part is exhausted

        const std::size_t depths = layout.depths();
        const std::size_t cap = std::max<std::size_t>(params.max_links, 1);
        s.fresh.resize(depths * g_.params().M + 1);
        for (;;) {
            if (s.queue.empty()) {
                // The links inside this range did not reach every row and the
                // results are not full yet: continue from an unvisited row.
                if (s.results.full()) break;
                while (restart < hi && visited.contains(static_cast<std::uint32_t>(restart))) ++restart;
                if (restart == hi) break;
                enter(static_cast<std::uint32_t>(restart));
                continue;
            }
            const Candidate current = s.queue.top();
            if (s.results.full() && current.distance > s.results.worst()) break;
            s.queue.pop();
            const std::size_t p = current.id;
            std::size_t n_fresh = 0, gathered = 0;
            for (std::size_t d = 0; d < depths && gathered < cap; ++d) {
                const std::size_t w = layout.width(d);
                const std::size_t begin = p / w * w;
                const bool covered = lo <= begin && begin + w <= hi;
                const std::uint32_t* sl = g_.slot(p, d);
                // A slot holds at most M links, each inside its segment; links
                // read in place unchecked (restore) are held to that here.
                const std::uint32_t count = std::min<std::uint32_t>(sl[0], std::uint32_t(g_.params().M));
                for (std::uint32_t j = 0; j < count; ++j) {
                    const std::uint32_t v = sl[1 + j];
                    if (v < lo || v >= hi) continue;
                    ++gathered;
                    if (visited.try_insert(v)) s.fresh[n_fresh++] = v;
                }
                if (covered) break;
            }
            if (n_fresh > 0) prefetch(score, s.fresh[0], Scorer::kAhead);
            for (std::size_t j = 0; j < n_fresh; ++j) {
                if (j + 1 < n_fresh) prefetch(score, s.fresh[j + 1], Scorer::kAhead);
                const std::uint32_t v = s.fresh[j];
                const float dv = score(v);
                if (s.results.admits(dv)) {
                    s.queue.push({dv, v});
                    if (pred(v)) s.results.push({dv, v});
                }
            }
        }
    }

    // Writes the first k of s.sorted as original ids, ordered by (distance, id).
    void emit(Scratch& s, std::size_t k, std::int64_t* ids, float* dists) const {
        for (Candidate& c : s.sorted) c.id = g_.row_id(c.id);
        std::sort(s.sorted.begin(), s.sorted.end(), closer);
        const std::size_t found = std::min(s.sorted.size(), k);
        for (std::size_t j = 0; j < found; ++j) {
            ids[j] = s.sorted[j].id;
            dists[j] = s.sorted[j].distance;
        }
        for (std::size_t j = found; j < k; ++j) {
            ids[j] = -1;
            dists[j] = std::numeric_limits<float>::infinity();
        }
    }

    static constexpr std::size_t kSample = 512;
    static constexpr std::size_t kCountedWidth = 8 * kSample;  // ranges this narrow are counted
    static constexpr std::size_t kScanAhead = 4;  // encoded rows fetched ahead of a scan

    const RangeGraph& g_;
};

}  // namespace fanns::range
