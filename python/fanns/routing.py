"""Which distinct filters of a search go to the range graph.

A filter is routed when it is, or has as a top-level conjunct, a range on the
index's range attribute, and the range graph is the cheaper path:

* a pure range (no other conjunct) always goes there unless it is wide, since
  the range graph reads its rows as one contiguous block: a narrow range is
  scanned exactly, a wider one traversed, and no bitset is ever compiled;
* a range with other conjuncts goes there when more rows pass than an exact
  scan handles well; the rest of the filter travels along as a bitset
  predicate (the compiled bitset of the whole filter, which equals the rest
  inside the range).

Ranges holding more than ``MAX_RANGE_FRACTION`` of the rows stay on the main
graph, where a traversal gated by them is already cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# Ranges passing more than this fraction of the rows stay on the main graph.
MAX_RANGE_FRACTION = 0.6


def route_filters(
    filter: Any,
    store,
    n: int,
    nq: int,
    *,
    range_graph=None,
    attribute: str | None = None,
    exact_threshold: int = 0,
) -> RoutedFilters:
    """Group and compile the filters of ``nq`` queries over ``n`` rows, and pick
    the ones the range graph should answer (see the module docstring).

    Example:
        >>> routed = route_filters(None, None, 10, 2)
        >>> routed.routes, routed.prepared.query_filter.tolist()
        ({}, [-1, -1])
    """
    groups = group_filters(filter, n, nq)
    candidates: dict[int, RangeRoute] = {}
    if range_graph is not None and attribute is not None:
        candidates = _range_candidates(groups.distinct, range_graph, attribute, store, n)
    pure = {j for j, route in candidates.items() if not route.has_rest}
    prepared = compile_groups(groups, store, n, skip=pure)
    routes = {
        j: route
        for j, route in candidates.items()
        if not route.has_rest or int(prepared.counts[j]) > exact_threshold
    }
    return RoutedFilters(prepared=prepared, routes=routes)


def _range_candidates(
    distinct: list[Any], range_graph, attribute: str, store, n: int
) -> dict[int, RangeRoute]:
    """Distinct filters holding a range on ``attribute`` no wider than the limit."""
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
    limit = MAX_RANGE_FRACTION * n
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
            if b - a <= limit:
                candidates[j] = RangeRoute(int(a), int(b), has_rest)
    return candidates
