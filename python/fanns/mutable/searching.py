"""Searching a snapshot of segments: each segment answers with its own plans
(deleted rows masked, see ``tombstones.py``), rows become external ids, and
the per-segment top-k lists merge by exact distance."""

from __future__ import annotations

from typing import Any

import numpy as np

from fanns._validation import as_count, as_matrix, check_result_count
from fanns.filters import Expr
from fanns.mutable.collection import Snapshot
from fanns.result import SearchResult


def check_expression_filters(filter: Any) -> None:
    """Row bitmaps and masks name rows, which only mean ids in a plain index:
    any other index takes filter expressions (or None)."""
    items = filter if isinstance(filter, (list, tuple)) else [filter]
    if isinstance(filter, np.ndarray) and filter.dtype == object:
        items = list(filter)
    for item in items:
        if item is not None and not isinstance(item, Expr):
            raise TypeError(
                "an index with external ids, added or deleted rows takes filter expressions "
                "(fanns.field(...)); bitmaps and masks of row numbers apply only to an index "
                "built with the default ids and never changed"
            )


def _largest(snap: Snapshot) -> int:
    return int(np.argmax([s.live_count for s in snap.segments]))


def search_snapshot(
    snap: Snapshot, dim: int, queries, k, *, ef, filter, threads, exact_threshold, planner=None
) -> SearchResult:
    """The k nearest live rows of ``snap`` to each query, as external ids."""
    options = dict(ef=ef, filter=filter, threads=threads, exact_threshold=exact_threshold, planner=planner)
    if snap.plain:
        return snap.segments[0].core.search(queries, k, **options)
    check_expression_filters(filter)
    k = as_count(k, "k", minimum=1)
    q = as_matrix(queries, "queries", dim=dim, allow_1d=True)
    nq = q.shape[0]
    check_result_count(nq, k, snap.live_count)
    segments = [s for s in snap.segments if s.live_count > 0]
    if not segments:
        # nothing to search, but the arguments are checked as any search checks them
        as_count(ef, "ef", minimum=1, allow_none=True)
        as_count(threads, "threads", minimum=0, maximum=4096)
        from fanns.index import Index

        Index._planner(exact_threshold, planner)
        empty = np.full(nq, "empty", dtype="<U8")
        return SearchResult(
            ids=np.full((nq, k), -1, dtype=np.int64),
            distances=np.full((nq, k), np.inf, dtype=np.float32),
            plans=empty,
        )
    all_ids, all_distances, plans = [], [], None
    largest = max(range(len(segments)), key=lambda s: segments[s].live_count)
    for s, segment in enumerate(segments):
        result = segment.core.search(q, min(k, segment.n), **options)
        all_ids.append(segment.external(result.ids))
        all_distances.append(result.distances)
        if s == largest:
            plans = result.plans
    ids = np.concatenate(all_ids, axis=1)
    distances = np.concatenate(all_distances, axis=1)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_distances = np.full((nq, k), np.inf, dtype=np.float32)
    width = order.shape[1]
    out_ids[:, :width] = np.take_along_axis(ids, order, axis=1)
    out_distances[:, :width] = np.take_along_axis(distances, order, axis=1)
    return SearchResult(ids=out_ids, distances=out_distances, plans=plans)


def explain_snapshot(snap: Snapshot, filter, *, k, ef, exact_threshold, planner=None, queries=1) -> dict:
    """explain() over segments: the largest segment's plan, live passing rows
    summed over segments, and one entry per segment under ``"segments"``."""
    options = dict(k=k, ef=ef, exact_threshold=exact_threshold, planner=planner, queries=queries)
    if snap.plain:
        return snap.segments[0].core.explain(filter, **options)
    check_expression_filters(filter)
    if not snap.segments:
        as_count(k, "k", minimum=1)
        as_count(queries, "queries", minimum=1)
        return {
            "plan": "empty",
            "passing": 0,
            "n": 0,
            "selectivity": 0.0,
            "filter": None if filter is None else repr(filter),
            "exact_threshold": None,
            "range_graph": False,
            "segments": [],
        }
    parts = []
    for segment in snap.segments:
        part = segment.core.explain(filter, **options)
        part["n"] = segment.live_count
        part["selectivity"] = part["passing"] / part["n"]
        part["deleted"] = segment.n - segment.live_count
        parts.append(part)
    main = dict(parts[_largest(snap)])
    main.pop("deleted")
    passing = sum(p["passing"] for p in parts)
    n = snap.live_count
    main.update(
        passing=passing,
        n=n,
        selectivity=passing / n if n else 0.0,
        filter=None if filter is None else repr(filter),
        segments=parts,
    )
    return main
