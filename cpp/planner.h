// The one planner: how to answer a query, on the main graph, on a range graph
// or on a sparse index, from the filter's cardinality and a cost model
// counted in bytes read. explain() and search call the same functions.
//
// The plans start a query; the adaptive traversal (acorn.h) can still change
// mode, or fall back to a scan of the passing rows, per query.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace fanns {

// Dense plans:
// graph:      plain traversal (no filter, or every row passes)
// filtered:   traversal gated by the filter
// acorn:      two-hop traversal through failing neighbours
// exact:      every passing row scored exactly (a sparse index: on its forward row)
// scan:       every passing row scored on its code (or f16 row), the best
//             scan_depth() scored again on their float rows
// empty:      nothing passes
// range:      traversal of a range graph inside the range
// Sparse plans (besides exact and empty):
// blocks:     blocked traversal of the chosen terms' pruned lists, led by
//             the blocks' summaries
// accumulate: every posting of the chosen terms' pruned lists accumulated,
//             the best accumulators scored exactly (under a filter: and the
//             answer certified exact)
// full:       a filtered answer that could not be certified, completed over
//             the full lists of every query term
enum class Plan : std::int8_t {
    graph = 0, filtered = 1, acorn = 2, exact = 3, empty = 4, scan = 5, range = 6,
    blocks = 7, accumulate = 8, full = 9
};
constexpr int kPlanCount = 10;

inline const char* plan_name(Plan p) {
    switch (p) {
        case Plan::graph: return "graph";
        case Plan::filtered: return "filtered";
        case Plan::acorn: return "acorn";
        case Plan::exact: return "exact";
        case Plan::empty: return "empty";
        case Plan::scan: return "scan";
        case Plan::range: return "range";
        case Plan::blocks: return "blocks";
        case Plan::accumulate: return "accumulate";
        case Plan::full: return "full";
    }
    return "unknown";
}

// exact_threshold's default: let the cost model decide.
constexpr std::size_t kAutoThreshold = std::numeric_limits<std::size_t>::max();

struct PlannerParams {
    // Filters passing at most this many rows (on a range graph: ranges of at
    // most this many rows, or predicates passing at most this many rows in
    // the range) are scanned instead of traversed. kAutoThreshold: where the
    // cost model says a scan reads no more than a traversal.
    std::size_t exact_threshold = kAutoThreshold;
    // Below this fraction of passing rows, traverse in two-hop mode from the start.
    double two_hop_selectivity = 0.4;
    // Gated traversal switches to two-hop when fewer than this fraction of the
    // nodes it scores pass.
    double switch_pass_rate = 0.3;
    // A traversal may score at most this multiple of the passing rows before
    // the query is finished by a scan of the passing rows (cheaper_scan).
    double budget_factor = 1.0;
    // Two-hop traversal needs a connected passing subgraph: below this many
    // expected passing nodes within two hops of a node, scan exactly instead.
    double min_two_hop_degree = 32.0;
    // Passing candidates scored per expansion in two-hop mode (0: M0).
    std::size_t max_collect = 0;
    // Price a scan by queries of one call sharing a filter as read once for
    // the group (scan_row_weight). Off: each query is planned as if alone,
    // so its plan, and its answer, do not depend on the rest of its batch.
    bool group_scans = true;
};

// ---------------------------------------------------------------- cost model
// Bytes a distance reads: a float row is 4 * dim bytes, a code row (see
// quantized_rows.h) dim rounded up to 4 plus one float term, an f16 row
// (store/half_rows.h) 2 * dim bytes. `codes` holds the encoded row's bytes,
// whichever encoding the store keeps. The constants
// below were measured on arxiv-mini (50k rows, 384-d, and lifted to 4096-d;
// bench/README.md); they are ratios of work, so they carry across dimensions.
struct RowBytes {
    double floats = 0;
    double codes = 0;
    bool coded = false;

    static RowBytes of(std::size_t dim, bool coded) {
        return {4.0 * double(dim), double((dim + 3) / 4 * 4 + 4), coded};
    }
    // Rows kept in an encoding that reads `encoded` bytes per row.
    static RowBytes encoded(std::size_t dim, double encoded) { return {4.0 * double(dim), encoded, true}; }
    // What a traversal or a scan reads per row: the encoding when the store keeps one.
    double scanned() const { return coded ? codes : floats; }
};

// A filtered traversal at ef scores about this many rows per (ef x links per node).
constexpr double kTraversalRowsPerLink = 4.0;
// A float row read to rescore a candidate (a random gather, then a sort)
// costs this many times a byte read by a scan.
constexpr double kRescoreWeight = 3.0;
// A range-graph traversal at ef reads about what a sequential scan of this
// many float rows per ef does, whatever the encoding (its cost is mostly
// following links, not reading rows).
constexpr double kRangeTraversalFloatRows = 16.0;

// Queries sharing a filter are scanned together, up to this many at a time:
// each passing row is read once for the group and scored for all of them
// (search.h), so a row costs a query of a group less than a query alone,
// whose scan waits on memory for every row. Per query, a group's row costs
// this share of a lone query's, plus the lone cost split over the group:
// measured on sq8 codes at 384 dimensions, 28 against 95 ns a row for
// groups of 16, and traversal against scan crossing where the weight says
// (5-40 % of 50,000 rows passing, ef 10-160).
constexpr std::size_t kScanGroup = 16;
constexpr double kScanComputeShare = 0.25;

// What scanning a row costs a query that shares its filter with `sharing`
// queries of its batch (itself included), relative to a query alone.
inline double scan_row_weight(std::size_t sharing) {
    const double group = double(std::clamp<std::size_t>(sharing, 1, kScanGroup));
    return kScanComputeShare + (1.0 - kScanComputeShare) / group;
}

// Bytes of a scan that a range-graph traversal at ef reads, inside a range
// where `rate` of the rows pass (1 without a predicate): it expands about
// ef / rate points. Its scan cut (range_scan_threshold) and the routing
// between graphs (route_to_range) both count it.
inline double range_traversal_bytes(std::size_t ef, double rate, const RowBytes& rows) {
    return kRangeTraversalFloatRows * double(ef) * rows.floats / rate;
}

// Candidates a scan on codes keeps to rescore: ef, and never fewer than 2k,
// so that a small ef still leaves the codes' ranking some slack.
inline std::size_t scan_depth(std::size_t ef, std::size_t k) { return std::max(ef, 2 * k); }

// Bytes read by a filtered traversal of the main graph.
inline double traversal_bytes(std::size_t ef, std::size_t degree, const RowBytes& rows) {
    return kTraversalRowsPerLink * double(ef) * double(degree) * rows.scanned();
}

// Bytes read by scoring `passing` rows on their float rows.
inline double exact_bytes(double passing, const RowBytes& rows) { return passing * rows.floats; }

// Bytes read by scoring `passing` rows on codes and rescoring `depth` of them.
inline double code_scan_bytes(double passing, std::size_t depth, const RowBytes& rows) {
    return passing * rows.codes + kRescoreWeight * double(std::min<double>(passing, double(depth))) * rows.floats;
}

// The cheaper scan of `passing` rows: on codes (then rescoring) or exact.
inline Plan cheaper_scan(double passing, std::size_t depth, const RowBytes& rows) {
    if (!rows.coded || double(depth) >= passing) return Plan::exact;
    return code_scan_bytes(passing, depth, rows) < exact_bytes(passing, rows) ? Plan::scan : Plan::exact;
}

// ------------------------------------------------------------ the main graph
struct PlanInput {
    std::size_t n;        // rows in the index
    std::size_t passing;  // rows passing the filter (n when unfiltered)
    bool filtered;
    std::size_t degree;   // level-0 links per node
    std::size_t ef;       // candidate list size (>= k)
    std::size_t k;
    RowBytes rows;
    std::size_t sharing = 1;  // queries of the batch with this filter scanned together (1 unless tiled)
};

// A row count from a byte ratio, saturated (a ratio past the largest count,
// or not a number, is no count a filter can exceed).
inline std::size_t row_count(double rows) {
    if (!(rows < 1.8e19)) return std::numeric_limits<std::size_t>::max();
    return rows <= 0.0 ? 0 : static_cast<std::size_t>(rows);
}

// Largest number of passing rows scanned rather than traversed.
inline std::size_t scan_threshold(const PlanInput& in, const PlannerParams& p) {
    if (p.exact_threshold != kAutoThreshold) return p.exact_threshold;
    // A scan of one passing row by a query alone reads what one row scored
    // by a traversal does; by a group, less (scan_row_weight).
    const double weight = scan_row_weight(p.group_scans ? in.sharing : 1);
    return row_count(traversal_bytes(in.ef, in.degree, in.rows) / (in.rows.scanned() * weight));
}

inline Plan choose_plan(const PlanInput& in, const PlannerParams& p) {
    if (in.n == 0 || in.passing == 0) return Plan::empty;
    if (!in.filtered || in.passing >= in.n) return Plan::graph;
    const double selectivity = double(in.passing) / double(in.n);
    const bool scan = in.passing <= scan_threshold(in, p) ||
                      selectivity * double(in.degree) * double(in.degree) < p.min_two_hop_degree;
    if (scan) return cheaper_scan(double(in.passing), scan_depth(in.ef, in.k), in.rows);
    return selectivity < p.two_hop_selectivity ? Plan::acorn : Plan::filtered;
}

// ------------------------------------------------------------ a range graph
struct RangePlanInput {
    std::size_t width;      // rows in the range
    bool predicate;         // other conjuncts than the range
    double passing;         // rows of the range passing them (width without a predicate; search
                            // estimates it from a sample, explain() counts it)
    std::size_t degree;     // links per node and depth (M)
    std::size_t ef;         // candidate list size, raised to k
    std::size_t k;
    RowBytes rows;
};

// Widest range, or most passing rows, scanned rather than traversed.
inline std::size_t range_scan_threshold(std::size_t ef, const RowBytes& rows, const PlannerParams& p) {
    if (p.exact_threshold != kAutoThreshold) return p.exact_threshold;
    return row_count(range_traversal_bytes(ef, 1.0, rows) / rows.scanned());
}

inline Plan choose_range_plan(const RangePlanInput& in, const PlannerParams& p) {
    if (in.width == 0 || in.passing <= 0.0) return Plan::empty;
    // No heap needs to hold more rows than the range has.
    const std::size_t k = std::min(in.k, in.width);
    const std::size_t ef = std::max(std::min(in.ef, in.width), k);
    const std::size_t threshold = range_scan_threshold(std::max(in.ef, in.k), in.rows, p);
    bool scanned = in.width <= threshold;
    if (!scanned && in.predicate) {
        // A traversal gated by the predicate expands about ef / rate points,
        // each scoring about `degree` rows.
        const double rate = in.passing / double(in.width);
        scanned = in.passing <= double(threshold) || in.passing <= double(ef * in.degree) / rate;
    }
    if (!scanned) return Plan::range;
    // A scan on codes keeps the ef best and scores them again.
    return cheaper_scan(in.passing, ef, in.rows);
}


// ------------------------------------------- main graph or range graph
// Which graph answers a filter that is, or has as a top-level conjunct, a
// range on the range graph's attribute. Search (fanns/routing.py) and
// explain() ask route_to_range for every such distinct filter.
struct RangeRouteInput {
    std::size_t n;           // rows in the index
    std::size_t width;       // rows whose key lies in the range
    bool predicate;          // other conjuncts than the range remain
    std::size_t passing;     // rows passing the whole filter (width without a predicate)
    RowBytes range_rows;     // what the range graph reads per row (its encoding, or floats)
    std::size_t range_degree;  // the range graph's links per node and depth (M)
    bool range_gathers;      // it reads rows through its key order (the store's encoding, or float
                             // rows), not codes of its own laid out in key order
};

// The constants below compare the two graphs in bytes of a sequential scan
// (the currency of scan_threshold and range_scan_threshold). They were
// fitted on arxiv-mini, pure ranges of 2-95% of the rows forced onto each
// graph, ef 10-160, sq8 and f32 at 384-d and sq8 at 4096-d
// (bench/README.md, "Range routing in the planner"; bench/range_routing.py
// sweep).
//
// A gated traversal of the main graph reads, per (ef x link) and per
// passing fraction, about what a scan of this many rows does. It is a
// third of kTraversalRowsPerLink, which places the main graph's own cut
// between scan and traversal and is left as tuned there: at 4096-d that cut
// scans ranges a traversal answers 3-4x faster (the sweep's main-graph
// scans at 35-80% of the rows), so routing counts the traversal at what it
// measured. With kRangeTraversalFloatRows for the range graph's traversal
// this puts the cut between the traversals at 62% of the rows when both
// graphs read sq8 codes (the default), higher at small ef (the bitset
// below); the measured crossings lay at 50-95% of the rows by ef, at 384-d
// and 4096-d. The range traversal is counted in float rows whatever it
// reads (its cost is mostly following links), the main graph's in rows of
// its encoding, so the cut moves with the encoding: past every width when
// both read f16 rows (1.25) or float rows (2.5), where every traversed range
// goes to the range graph. Those encodings were not swept; a check at
// 20k x 128 found the range graph as fast or faster at 95% of the rows on
// each of them.
constexpr double kGatedTraversalRowsPerLink = 1.25;
// Bytes per row of the index that a pure range costs the main graph before
// it traverses or scans: its bitset over all n rows is compiled (0.04-0.13
// ms per filter at 50,000 rows), which the range graph never does. It moves
// the cut up at small ef (at ef 10 every width was faster on the range
// graph at 384-d) and weighs nothing at 4096-d.
constexpr double kRangeBitsetBytesPerRow = 4.0;
// A scan of a range whose rows are read through the key order (a gather:
// the store's codes or f16 rows, or float rows) costs this many times a
// scan of the same rows by the main graph: measured 1.2-1.9x at 384-d and
// 1.1-2.5x at 4096-d where both graphs scanned. Codes of its own (under
// "f32" by default) lie in key order and are read as one block.
constexpr double kRangeGatherWeight = 1.5;

// Bytes the main graph reads to answer the filter: the plan choose_plan
// takes for its passing rows; a gated traversal reads about n / passing
// times an unfiltered one (it holds only passing rows and scores every
// neighbour to find them). A pure range also pays its bitset.
inline double main_route_bytes(const RangeRouteInput& in, const PlanInput& main, const PlannerParams& p) {
    PlanInput m = main;
    m.n = in.n;
    m.passing = in.passing;
    m.filtered = true;
    double bytes = 0.0;
    const double passing = double(in.passing);
    switch (choose_plan(m, p)) {
        case Plan::empty: break;
        case Plan::exact: bytes = exact_bytes(passing, m.rows); break;
        case Plan::scan: bytes = code_scan_bytes(passing, scan_depth(m.ef, m.k), m.rows); break;
        default:
            bytes = kGatedTraversalRowsPerLink * double(m.ef) * double(m.degree) * m.rows.scanned() * double(in.n) /
                    passing;
            break;
    }
    if (!in.predicate) bytes += kRangeBitsetBytesPerRow * double(in.n);
    return bytes;
}

// Bytes the range graph reads to answer it: the plan choose_range_plan takes.
inline double range_route_bytes(const RangeRouteInput& in, const PlanInput& main, const PlannerParams& p) {
    const RangePlanInput r{in.width, in.predicate, double(in.passing), in.range_degree, main.ef, main.k, in.range_rows};
    const std::size_t k = std::min(main.k, in.width);
    const std::size_t ef = std::max(std::min(main.ef, in.width), k);
    const double passing = double(in.passing);
    const double gather = in.range_gathers ? kRangeGatherWeight : 1.0;
    switch (choose_range_plan(r, p)) {
        case Plan::empty: return 0.0;
        case Plan::exact: return gather * exact_bytes(passing, in.range_rows);
        case Plan::scan: return gather * code_scan_bytes(passing, ef, in.range_rows);
        default: return range_traversal_bytes(std::max(main.ef, main.k), passing / double(in.width), in.range_rows);
    }
}

// True: the range graph answers the filter, when it reads fewer bytes than
// the main graph would (range_route_bytes against main_route_bytes, each
// side counting the plan its own planner takes). In effect, with both
// graphs on one encoding:
//  * a range wider than about 60% of the rows stays on the main graph, whose
//    gated traversal is then cheap; narrower, the range graph traverses it
//    for less - until the range is narrow enough for either graph to scan;
//  * a pure range also costs the main graph its bitset, which keeps wide
//    ranges on the range graph at a small ef or on a large index of short rows;
//  * when both scan, the main graph's scan reads the passing rows in row
//    order, the range graph's gathers them (kRangeGatherWeight): narrow
//    ranges stay on the main graph unless the range graph keeps rows of its
//    own, or the range is so narrow that the bitset outweighs the gather;
//  * under storage "f32" the range graph reads its 8-bit codes and the main
//    graph float rows: the range graph answers every width.
inline bool route_to_range(const RangeRouteInput& in, const PlanInput& main, const PlannerParams& p) {
    if (in.n == 0 || in.width == 0) return !in.predicate;
    if (in.predicate && in.passing == 0) return false;
    return range_route_bytes(in, main, p) < main_route_bytes(in, main, p);
}

// ------------------------------------------------------------ a sparse index
// A sparse index reads postings (a u32 document and a u8 code, in list
// order), block summaries ((u16 term, u8 code) entries) and forward rows
// ((u32 term, f16 weight) entries). Its costs are counted in the same unit as
// the dense plans, a byte read in order; what is not a byte read in order is
// weighted by what it costs in such bytes. Measured on one thread of this
// project's machine (bench/sparse.md, BM25 of arxiv-mini, Zipf and SPLADE-like
// sets, 20k-50k documents): a forward entry scored against the query costs
// about 2-3 ns and reading a byte in order about 0.3 ns, so:
//   * an accumulated posting, 12-15 ns, is 45 bytes: 5 read, 40 for the
//     random update of its document's accumulator;
//   * an entry scored against the query (a forward entry, or a summary
//     entry, 3 ns) is 9 bytes: the entry and the query's weight looked up;
//   * reaching a random document's row (a cache miss, then a heap push), about
//     0.1 us, is 315 bytes; a passing row reached in id order, 180;
//   * a block visited by the blocked traversal (a heap push and pop) is 45;
//   * a posting of a filtered completion is 22 bytes (read and its filter bit
//     tested), a passing one 68 more (two accumulators updated).
constexpr double kAccumulatedPostingBytes = 45.0;
constexpr double kScoredEntryBytes = 9.0;
constexpr double kRandomDocumentBytes = 315.0;
constexpr double kDocumentInOrderBytes = 180.0;
constexpr double kVisitedBlockBytes = 45.0;
constexpr double kFilteredPostingBytes = 22.0;
constexpr double kPassingPostingBytes = 68.0;
// The blocked traversal scores a share of the chosen postings that cannot be
// told before it runs: its median was 0.08 (BM25), 0.29 (Zipf) and 0.55
// (SPLADE-like) at heap_factor 0.6, higher for short lists. The model assumes
// 0.6, so that blocks are chosen only when clearly cheaper: with shares of
// 0.1-0.25 it sent up to 56 % of the Zipf queries to the traversal and was up
// to 52 % slower than accumulating every query.
constexpr double kBlockScoredShare = 0.6;

// One sparse query over its chosen terms' pruned lists.
struct SparsePlanInput {
    double postings = 0;         // kept postings of the chosen terms
    double blocks = 0;           // blocks of those lists
    double summary_entries = 0;  // summary entries of blocks in lists of more than one block
    double rerank = 0;           // accumulators scored exactly (at most the postings)
    std::size_t k = 10;
    double row_entries = 0;      // forward entries a document has, on average
    double remaining = 0;        // filtered: postings a completion over the full lists adds
};

// Bytes to score one document found at random.
inline double sparse_document_bytes(double row_entries) {
    return kRandomDocumentBytes + kScoredEntryBytes * row_entries;
}

// Accumulating the chosen lists, then scoring the best accumulators.
inline double sparse_accumulate_bytes(const SparsePlanInput& in) {
    return in.postings * kAccumulatedPostingBytes + in.rerank * sparse_document_bytes(in.row_entries);
}

// The blocked traversal: every block's summary, then a share of the postings scored.
inline double sparse_blocks_bytes(const SparsePlanInput& in) {
    const double scored = std::min(in.postings, std::max(double(in.k), kBlockScoredShare * in.postings));
    return in.blocks * kVisitedBlockBytes + in.summary_entries * kScoredEntryBytes +
           scored * sparse_document_bytes(in.row_entries);
}

// Plan::accumulate or Plan::blocks for an unfiltered query (or a filtered
// one whose plan was forced).
inline Plan choose_sparse_plan(const SparsePlanInput& in) {
    return sparse_accumulate_bytes(in) <= sparse_blocks_bytes(in) ? Plan::accumulate : Plan::blocks;
}

// Scoring every passing document's row, in id order.
inline double sparse_rows_bytes(double passing, double row_entries) {
    return passing * (kDocumentInOrderBytes + kScoredEntryBytes * row_entries);
}

// A filtered query's accumulation over the passing documents of its chosen
// lists (`pass_rate` of them pass), then scoring the best passing accumulators.
inline double sparse_filtered_bytes(const SparsePlanInput& in, double pass_rate) {
    return in.postings * (kFilteredPostingBytes + pass_rate * kPassingPostingBytes) +
           std::min(in.rerank, in.postings * pass_rate) * sparse_document_bytes(in.row_entries);
}

// The share of filtered accumulations expected to fail their certificate
// and be completed, given the passing documents the chosen lists are expected
// to hold (`met` = postings x pass rate). Measured on BM25 arxiv-mini with
// filters drawn independently of the queries (bench/sparse.md, "The sparse
// plans in the one planner"): 83 %, 75 %, 61 % and 39 % of queries failed at
// met / k = 5.5, 11, 22 and 55; the fit is 1.1 - 0.18 ln(met / k). Filters
// correlated with the query fail less (15-30 %), anti-correlated ones more
// (85-97 %); the planner cannot tell them apart before accumulating.
inline double sparse_certificate_failure(double met, std::size_t k) {
    if (met <= double(k)) return 1.0;
    return std::clamp(1.1 - 0.18 * std::log(met / double(k)), 0.0, 1.0);
}

// Completing an uncertified filtered answer over the full lists: `remaining`
// postings not yet accumulated, then `rerank` documents scored in bound order.
inline double sparse_lists_bytes(double remaining, double pass_rate, double rerank, double row_entries) {
    return remaining * (kFilteredPostingBytes + pass_rate * kPassingPostingBytes) +
           rerank * sparse_document_bytes(row_entries);
}

// A filtered query passing `passing` of `n` documents: Plan::exact (score the
// passing rows) or Plan::accumulate (accumulate, certify, complete if the
// certificate fails). `exact_threshold` keeps the one meaning it has for the
// dense plans: filters passing at most that many documents are scanned;
// kAutoThreshold lets the model decide: accumulation is expected to read its
// own bytes plus, for the share of queries whose certificate fails, the
// cheaper completion (the passing rows, or the rest of the full lists); the
// scan is taken when it reads no more. A query whose lists hold everything
// (no cut postings, every term chosen) is always certified. `completes`
// false: a forced plan, never certified nor completed, so no completion is
// counted (and the blocked traversal is priced as accumulation).
inline Plan choose_sparse_filtered_plan(const SparsePlanInput& in, double passing, double n,
                                        std::size_t exact_threshold, bool completes = true) {
    if (passing <= 0) return Plan::empty;
    if (exact_threshold != kAutoThreshold) return passing <= double(exact_threshold) ? Plan::exact : Plan::accumulate;
    const double pass_rate = passing / std::max(1.0, n);
    const double rows = sparse_rows_bytes(passing, in.row_entries);
    const double lists = sparse_lists_bytes(in.remaining, pass_rate, in.rerank, in.row_entries);
    const double failing =
        !completes || in.remaining <= 0 ? 0.0 : sparse_certificate_failure(in.postings * pass_rate, in.k);
    return rows <= sparse_filtered_bytes(in, pass_rate) + failing * std::min(rows, lists) ? Plan::exact
                                                                                          : Plan::accumulate;
}

// How to complete an uncertified filtered answer: Plan::exact (the passing
// rows) or Plan::full (the rest of the full lists).
inline Plan choose_sparse_completion(double rows_bytes, double lists_bytes, bool allow_rows) {
    return allow_rows && rows_bytes <= lists_bytes ? Plan::exact : Plan::full;
}

}  // namespace fanns
