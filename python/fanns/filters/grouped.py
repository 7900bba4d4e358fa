"""Searching a batch whose queries carry many distinct filters, a group of
filters at a time.

A search compiles each distinct filter of its batch into a bitset of
``ceil(n / 64)`` words before the engine runs. With one filter per query
that is ``n / 8`` bytes a query: 10,000 distinct filters over 2.7M rows
would hold 3.4 GB of bitsets at once. :func:`search_in_groups` splits such a
batch so that the distinct filters of each part compile into at most
:data:`FILTER_MEMORY_BUDGET` bytes, searches the parts one after another and
puts the answers back in query order. A part holds every query of each of its
filters, and a query's answer depends on its batch only through the queries
that share its filter (``Planner.group_scans``), so the result equals the
ungrouped search's.
Batches within the budget (every batch with one shared filter, and any batch
over small sets) take the ordinary path untouched. On an index with deleted
rows a group's bitsets are ANDed with the live rows into copies, so a group
briefly holds up to twice the budget.

>>> filters_per_group(2_735_264)
392
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from fanns.filters.batches import _looks_like_mask, group_filters

#: Bytes of compiled filter bitsets one search may hold at once (a part of a
#: batch compiles at most this much; a single filter may exceed it).
FILTER_MEMORY_BUDGET = 128 * 2**20


def filters_per_group(n: int, budget: int | None = None) -> int:
    """How many distinct filters over ``n`` rows fit in ``budget`` bytes of
    bitsets (:data:`FILTER_MEMORY_BUDGET` by default); at least one."""
    budget = FILTER_MEMORY_BUDGET if budget is None else budget
    bitset_bytes = max(8, (int(n) + 63) // 64 * 8)
    return max(1, int(budget) // bitset_bytes)


def query_groups(filter: Any, n: int, nq: int, per_group: int) -> list[np.ndarray] | None:
    """The query rows of each part of the batch, or ``None`` when the batch's
    distinct filters fit in one part (the common case: checked without
    looking at the filters when the list is no longer than ``per_group``).

    Parts follow the order in which distinct filters first appear;
    unfiltered queries go with the first part.
    """
    per_query = (isinstance(filter, (list, tuple)) and not _looks_like_mask(filter)) or (
        isinstance(filter, np.ndarray) and filter.dtype == object
    )
    if not per_query or len(filter) != nq or nq <= per_group:
        return None
    groups = group_filters(filter, n, nq)
    if len(groups.distinct) <= per_group:
        return None
    part = np.maximum(groups.query_filter, 0) // per_group
    order = np.argsort(part, kind="stable")
    bounds = np.flatnonzero(np.diff(part[order])) + 1
    return np.split(order, bounds)


def search_in_groups(
    search: Callable[[Any, Any], Any],
    queries: np.ndarray,
    filter: Any,
    n: int,
    *,
    budget: int | None = None,
) -> Any:
    """``search(queries, filter)``, run a part of the batch at a time when its
    distinct filters would compile into more than ``budget`` bytes.

    ``queries`` is the checked ``(nq, dim)`` matrix; ``search`` returns a
    result dataclass whose fields are arrays with one row per query.

    Example:
        >>> result = search_in_groups(run, q, [fanns.field("a") == i for i in range(len(q))], n)  # doctest: +SKIP
    """
    nq = queries.shape[0]
    parts = query_groups(filter, n, nq, filters_per_group(n, budget))
    if parts is None:
        return search(queries, filter)
    results = []
    for rows in parts:
        if isinstance(filter, np.ndarray):
            subset = filter[rows]
        else:
            subset = [filter[i] for i in rows.tolist()]
        results.append(search(queries[rows], subset))
    return _merge(results, parts, nq)


def _merge(results: list, parts: list[np.ndarray], nq: int) -> Any:
    """One result of ``nq`` rows from the results of the parts (rows ``parts[i]``)."""
    first = results[0]
    merged = {}
    for field in dataclasses.fields(first):
        pieces = [getattr(r, field.name) for r in results]
        out = np.empty((nq, *pieces[0].shape[1:]), dtype=np.result_type(*pieces))
        for rows, piece in zip(parts, pieces):
            out[rows] = piece
        merged[field.name] = out
    return type(first)(**merged)
