"""Deleted rows folded into a search's filters.

A segment with deleted rows hands the engine, for every query, a filter that
passes only live rows: each compiled filter's bitset ANDed with the live
bitset (and counted again, so the planner sees the live passing rows), the
live bitset itself for unfiltered queries, and for a pure range the range
graph answers, the live bitset as the predicate checked inside the range.
Every plan (exact, scan, gated and two-hop traversal, plain traversal, range
graph) already skips rows a filter rejects, so none returns a deleted row,
and the graph keeps deleted rows as stepping stones. A segment with no
deleted row passes its filters through unchanged (the unfiltered fast path).
"""

from __future__ import annotations

import numpy as np

from fanns.filters import PreparedFilters
from fanns.mutable.segment import LiveRows, _popcount
from fanns.routing import RangeRoute, RoutedFilters


def mask_deleted(routed: RoutedFilters, live: LiveRows) -> RoutedFilters:
    """``routed`` with every query's filter restricted to the ``live`` rows.

    Example:
        >>> from fanns.routing import route_filters
        >>> routed = mask_deleted(route_filters(None, None, 3, 1), LiveRows.from_mask([1, 0, 1]))
        >>> routed.prepared.counts.tolist(), routed.prepared.query_filter.tolist()
        ([2], [0])
    """
    ranges = {}
    for j, route in routed.routes.items():
        if routed.prepared.bitsets[j] is None:
            inside = live.key_order[route.start : route.stop]
            ranges[j] = int(np.count_nonzero(live.mask[inside]))
    routes = {j: RangeRoute(r.start, r.stop, True) for j, r in routed.routes.items()}
    return RoutedFilters(prepared=mask_prepared(routed.prepared, live, ranges), routes=routes)


def mask_prepared(
    prepared: PreparedFilters, live: LiveRows, ranges: dict[int, int] | None = None
) -> PreparedFilters:
    """``prepared`` with every query's filter restricted to the ``live`` rows.
    ``ranges`` gives, for filters left uncompiled because the range graph
    answers them, the live rows inside their range: inside the range the
    whole filter is "live", so the live bitset is their predicate."""
    bitsets: list[np.ndarray | None] = []
    counts: list[int] = []
    for j, bitset in enumerate(prepared.bitsets):
        if bitset is None:
            bitsets.append(live.words)
            counts.append(ranges[j])
        else:
            both = np.bitwise_and(bitset, live.words)
            bitsets.append(both)
            counts.append(_popcount(both))
    expressions = list(prepared.expressions)
    query_filter = prepared.query_filter
    unfiltered = query_filter < 0
    if unfiltered.any():
        query_filter = np.where(unfiltered, len(bitsets), query_filter).astype(np.int32)
        bitsets.append(live.words)
        counts.append(live.count)
        expressions.append(None)
    return PreparedFilters(
        bitsets=bitsets,
        query_filter=query_filter,
        counts=np.array(counts, dtype=np.int64),
        expressions=expressions,
    )
