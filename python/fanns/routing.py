"""Which distinct filters of a search go to the range graph.

A filter is a candidate when it is, or has as a top-level conjunct, a range
on the index's range attribute. This module finds the range (its sorted
positions in the range graph) and asks the planner (``route_to_range`` in
``cpp/planner.h``, through ``HnswIndex.routes_to_range``) whether the range
graph answers it; :meth:`fanns.Index.explain` asks through the same call.
The planner's rule, in short: the range graph answers when it reads fewer
bytes than the main graph would (each graph's own plan: scan or traversal;
a pure range also costs the main graph its bitset). A routed pure range is never compiled
into a bitset; a routed range with other conjuncts carries the compiled
bitset of the whole filter (which equals the rest inside the range) as its
predicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fanns.filters import Expr, PreparedFilters, compile_groups, find_range, group_filters


@dataclass(frozen=True)
class RangeRoute:
    """Sorted positions ``[start, stop)`` of a routed filter's range, and whether
    other conjuncts remain to be checked as a predicate."""

    start: int
    stop: int
    has_rest: bool

    @property
    def in_range(self) -> int:
        """Rows whose key lies in the range."""
        return self.stop - self.start


@dataclass(frozen=True)
class RoutedFilters:
    """The compiled filters of a batch and the ones the range graph answers.

    Pure ranges that are routed are not compiled (their bitset is ``None``).
    """

    prepared: PreparedFilters
    routes: dict[int, RangeRoute]

    def routed_queries(self) -> np.ndarray:
        """Boolean mask of the queries answered by the range graph."""
        if not self.routes:
            return np.zeros(len(self.prepared.query_filter), dtype=bool)
        return np.isin(self.prepared.query_filter, np.fromiter(self.routes, dtype=np.int64))


# ``decide(widths, predicate, passing)``: the planner's answer per candidate
# (uint64 rows in each range, bool other conjuncts remain, uint64 rows
# passing the whole filter), a bool array.
RouteDecision = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def route_filters(
    filter: Any,
    store,
    n: int,
    nq: int,
    *,
    range_graph=None,
    attribute: str | None = None,
    decide: RouteDecision | None = None,
) -> RoutedFilters:
    """Group and compile the filters of ``nq`` queries over ``n`` rows, and
    route to the range graph the ones the planner (``decide``) sends there.

    Pure ranges are decided before compiling (a routed one is never
    compiled); ranges with other conjuncts after, from their passing rows.

    Example:
        >>> routed = route_filters(None, None, 10, 2)
        >>> routed.routes, routed.prepared.query_filter.tolist()
        ({}, [-1, -1])
    """
    groups = group_filters(filter, n, nq)
    candidates: dict[int, RangeRoute] = {}
    if range_graph is not None and attribute is not None and decide is not None:
        candidates = _range_candidates(groups.distinct, range_graph, attribute, store)
    pure = [j for j, route in candidates.items() if not route.has_rest]
    routed_pure = _ask(decide, [candidates[j] for j in pure], None)
    pure_routes = {j: candidates[j] for j, yes in zip(pure, routed_pure) if yes}
    prepared = compile_groups(groups, store, n, skip=set(pure_routes))
    rest = [j for j, route in candidates.items() if route.has_rest]
    passing = [int(prepared.counts[j]) for j in rest]
    routed_rest = _ask(decide, [candidates[j] for j in rest], passing)
    routes = dict(pure_routes)
    routes.update((j, candidates[j]) for j, yes in zip(rest, routed_rest) if yes)
    return RoutedFilters(prepared=prepared, routes=dict(sorted(routes.items())))


def _ask(decide: RouteDecision | None, routes: list[RangeRoute], passing: list[int] | None) -> list[bool]:
    """The planner's answer for each of ``routes`` (``passing``: rows passing
    each whole filter; None for pure ranges)."""
    if not routes or decide is None:
        return []
    widths = np.array([route.in_range for route in routes], dtype=np.uint64)
    predicate = np.array([route.has_rest for route in routes], dtype=bool)
    counts = widths if passing is None else np.array(passing, dtype=np.uint64)
    return np.asarray(decide(widths, predicate, counts), dtype=bool).tolist()


def _range_candidates(distinct: list[Any], range_graph, attribute: str, store) -> dict[int, RangeRoute]:
    """Distinct filters holding a range on ``attribute``, with its positions."""
    found: dict[tuple[bool, bool], list[tuple[int, Any, Any, bool]]] = {}
    for j, expr in enumerate(distinct):
        if not isinstance(expr, Expr):
            continue
        hit = find_range(expr, attribute, store=store)
        if hit is None:
            continue
        lo, hi, lo_inclusive, hi_inclusive, rest = hit
        if lo != lo or hi != hi:
            continue  # NaN: left to the compiler, which knows what NaN matches
        found.setdefault((lo_inclusive, hi_inclusive), []).append((j, lo, hi, rest is not None))
    candidates: dict[int, RangeRoute] = {}
    # One vectorised lookup per combination of inclusive ends.
    for (lo_inclusive, hi_inclusive), items in found.items():
        start, stop = range_graph.positions(
            [lo for _, lo, _, _ in items],
            [hi for _, _, hi, _ in items],
            lo_inclusive=lo_inclusive,
            hi_inclusive=hi_inclusive,
        )
        for (j, _, _, has_rest), a, b in zip(items, start.tolist(), stop.tolist()):
            candidates[j] = RangeRoute(int(a), int(b), has_rest)
    return candidates
