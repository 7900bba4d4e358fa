// Chooses how to answer one filtered query from the filter's exact
// cardinality. The choice is a starting point: the adaptive traversal
// (acorn.h) can still change mode, or fall back to an exact scan, per query.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fanns {

enum class Plan : std::int8_t { graph = 0, filtered = 1, acorn = 2, exact = 3, empty = 4 };

inline const char* plan_name(Plan p) {
    switch (p) {
        case Plan::graph: return "graph";
        case Plan::filtered: return "filtered";
        case Plan::acorn: return "acorn";
        case Plan::exact: return "exact";
        case Plan::empty: return "empty";
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

inline Plan choose_plan(std::size_t n, std::size_t passing, bool filtered, std::size_t degree,
                        const PlannerParams& p) {
    if (n == 0 || passing == 0) return Plan::empty;
    if (!filtered || passing >= n) return Plan::graph;
    if (passing <= p.exact_threshold) return Plan::exact;
    const double selectivity = double(passing) / double(n);
    if (selectivity * double(degree) * double(degree) < p.min_two_hop_degree) return Plan::exact;
    return selectivity < p.two_hop_selectivity ? Plan::acorn : Plan::filtered;
}

}  // namespace fanns
