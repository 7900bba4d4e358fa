// Chooses how to answer one filtered query from the filter's exact
// cardinality. The choice is a starting point: the adaptive traversal
// (acorn.h) can still change mode, or fall back to an exact scan, per query.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace fanns {

// exact: every passing row scored on its float row.
// scan:  every passing row scored on its code, the best scan_depth() scored
//        again on their float rows (rows stored as codes, and more than
//        kScanRowsPerDepth * scan_depth() passing: below that, preparing the
//        query and rescoring cost about what scoring every row exactly does;
//        measured on 384-d rows).
enum class Plan : std::int8_t { graph = 0, filtered = 1, acorn = 2, exact = 3, empty = 4, scan = 5 };

inline const char* plan_name(Plan p) {
    switch (p) {
        case Plan::graph: return "graph";
        case Plan::filtered: return "filtered";
        case Plan::acorn: return "acorn";
        case Plan::exact: return "exact";
        case Plan::empty: return "empty";
        case Plan::scan: return "scan";
    }
    return "unknown";
}

struct PlannerParams {
    // Scan the passing ids exactly when at most this many pass.
    std::size_t exact_threshold = 2000;
    // Below this fraction of passing rows, traverse in two-hop mode from the start.
    double two_hop_selectivity = 0.4;
    // Gated traversal switches to two-hop when fewer than this fraction of the
    // nodes it scores pass.
    double switch_pass_rate = 0.3;
    // A traversal may score at most this multiple of the passing rows before
    // the query is finished by an exact scan.
    double budget_factor = 1.0;
    // Two-hop traversal needs a connected passing subgraph: below this many
    // expected passing nodes within two hops of a node, scan exactly instead.
    double min_two_hop_degree = 32.0;
    // Passing candidates scored per expansion in two-hop mode (0: M0).
    std::size_t max_collect = 0;
};

// Candidates a scan on codes keeps to rescore: ef, and never fewer than 2k,
// so that a small ef still leaves the codes' ranking some slack.
inline std::size_t scan_depth(std::size_t ef, std::size_t k) { return std::max(ef, 2 * k); }
constexpr std::size_t kScanRowsPerDepth = 4;

// What the plan depends on besides the planner's knobs.
struct PlanInput {
    std::size_t n;        // rows in the index
    std::size_t passing;  // rows passing the filter (n when unfiltered)
    bool filtered;
    std::size_t degree;   // level-0 links per node
    std::size_t depth;    // scan_depth(ef, k)
    bool coded;           // rows stored as 8-bit codes
};

inline Plan choose_plan(const PlanInput& in, const PlannerParams& p) {
    if (in.n == 0 || in.passing == 0) return Plan::empty;
    if (!in.filtered || in.passing >= in.n) return Plan::graph;
    const double selectivity = double(in.passing) / double(in.n);
    const bool scan = in.passing <= p.exact_threshold ||
                      selectivity * double(in.degree) * double(in.degree) < p.min_two_hop_degree;
    if (scan) return in.coded && in.passing > kScanRowsPerDepth * in.depth ? Plan::scan : Plan::exact;
    return selectivity < p.two_hop_selectivity ? Plan::acorn : Plan::filtered;
}

}  // namespace fanns
