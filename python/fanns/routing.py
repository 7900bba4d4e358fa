"""Which distinct filters of a search go to the range graph.

A filter is routed when it is, or has as a top-level conjunct, a range on the
index's range attribute, and the range graph is the cheaper path: more rows
pass than an exact scan handles well, and the range is narrow enough that a
traversal gated by it on the main graph would score many rows in vain. The
rest of the filter travels along as a bitset predicate: the compiled bitset of
the whole filter, which equals the rest inside the range.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanns.filters import Expr, PreparedFilters, find_range


@dataclass(frozen=True)
class RangeRoute:
    """Bounds of one routed filter and whether a rest predicate remains."""

    lo: int | float | None
    hi: int | float | None
    lo_inclusive: bool
    hi_inclusive: bool
    has_rest: bool
    in_range: int


# Ranges passing more than this fraction of the rows stay on the main graph,
# where gated traversal is already cheap.
MAX_RANGE_FRACTION = 0.6


def route_ranges(
    prepared: PreparedFilters, range_graph, attribute: str, store, n: int, exact_threshold: int
) -> dict[int, RangeRoute]:
    """Map distinct-filter index -> route, for the filters the range graph should answer."""
    routes: dict[int, RangeRoute] = {}
    if range_graph is None:
        return routes
    for j, expr in enumerate(prepared.expressions):
        if not isinstance(expr, Expr) or int(prepared.counts[j]) <= exact_threshold:
            continue
        found = find_range(expr, attribute, store=store)
        if found is None:
            continue
        lo, hi, lo_inclusive, hi_inclusive, rest = found
        in_range = range_graph.count(lo, hi, lo_inclusive=lo_inclusive, hi_inclusive=hi_inclusive)
        if in_range > MAX_RANGE_FRACTION * n:
            continue
        routes[j] = RangeRoute(lo, hi, lo_inclusive, hi_inclusive, rest is not None, in_range)
    return routes
