"""The sharded search result, the shard error, and the merge of per-shard answers.

Why each shard returns its own top-k (k' = k)
    A row among the global k nearest is among the k nearest of its own shard:
    fewer than k rows of the whole index, hence fewer than k rows of its shard,
    are nearer to the query than it is (ties ordered by global id). So the
    union of the shards' top-k lists holds the global top-k, and merging them
    by (distance, global id) gives exactly what one index over all rows would
    return with exact plans. A shard where fewer than k rows pass returns those
    it has, padded with -1 / inf (its k' is then its passing count).
    With approximate (graph) plans each shard's list is approximate in the same
    way a single index's is, and searching every shard at the same ``ef`` looks
    at more candidates in total than one index does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fanns import _core
from fanns.result import SearchResult

__all__ = ["ShardError", "ShardedSearchResult", "merge_shard_results"]

_PLAN_NAMES = list(_core.PLAN_NAMES)


class ShardError(RuntimeError):
    """A shard's actor died or could not be restarted; ``shard`` is its number."""

    def __init__(self, shard: int, message: str) -> None:
        super().__init__(f"shard {shard}: {message}")
        self.shard = shard


@dataclass(frozen=True, repr=False)
class ShardedSearchResult(SearchResult):
    """A :class:`fanns.SearchResult` (``ids`` are global ids) with where it came from.

    Attributes:
        shard_plans: array (nq, shards) of str: each shard's plan for each
            query, ``""`` where the shard was not asked (statistics proved that
            no row of it passes the query's filter, or it failed).
        shards_answered: shard numbers whose rows the result covers: those that
            answered and those skipped because no row of theirs could pass.
        shards_failed: shard numbers that failed (only ever non-empty with
            ``allow_partial=True``); their rows are missing from the result.

    ``plans`` holds, per query, the plan most of the asked shards used
    (``"empty"`` only when every one of them found nothing to search).
    """

    shard_plans: np.ndarray = None  # type: ignore[assignment]
    shards_answered: tuple = ()
    shards_failed: tuple = ()

    @property
    def complete(self) -> bool:
        """Whether every shard's rows are covered by the result."""
        return not self.shards_failed


def merge_shard_results(
    parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]],
    nq: int,
    k: int,
    shards: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge per-shard answers into the global top-k.

    ``parts[s] = (ids, distances, plans, rows)``: shard ``s`` answered the
    queries ``rows`` (all when None) with global ``ids`` and ``distances`` of
    shape (len(rows), k). Returns ``(ids, distances, plans, shard_plans)``,
    ordered by distance, then global id; -1 / inf pad missing places.

    Example:
        >>> a = (np.array([[4, -1]]), np.array([[0.5, np.inf]], "f4"), np.array(["exact"]), None)
        >>> b = (np.array([[2, 9]]), np.array([[0.5, 0.7]], "f4"), np.array(["exact"]), None)
        >>> merge_shard_results({0: a, 1: b}, nq=1, k=2, shards=2)[0].tolist()
        [[2, 4]]
    """
    all_ids = np.full((nq, max(len(parts), 1) * k), -1, dtype=np.int64)
    all_distances = np.full(all_ids.shape, np.inf, dtype=np.float32)
    shard_plans = np.full((nq, shards), "", dtype="<U8")
    for slot, (shard, (ids, distances, plans, rows)) in enumerate(sorted(parts.items())):
        where = slice(None) if rows is None else rows
        columns = slice(slot * k, (slot + 1) * k)
        all_ids[where, columns] = ids
        all_distances[where, columns] = distances
        shard_plans[where, shard] = plans
    # Padding sorts last: inf distance, and an id above every real one.
    tie = np.where(all_ids >= 0, all_ids, np.iinfo(np.int64).max)
    order = np.lexsort((tie, all_distances), axis=-1)[:, :k]
    ids = np.take_along_axis(all_ids, order, axis=1)
    distances = np.take_along_axis(all_distances, order, axis=1)
    return ids, distances, _majority_plan(shard_plans), shard_plans


def _majority_plan(shard_plans: np.ndarray) -> np.ndarray:
    """Per query, the plan most shards used; ``"empty"`` counts only when nothing else does."""
    nq = shard_plans.shape[0]
    names = [name for name in _PLAN_NAMES if name != "empty"]
    if nq == 0:
        return np.empty(0, dtype="<U8")
    counts = np.stack([(shard_plans == name).sum(axis=1) for name in names], axis=1)
    best = np.array(names, dtype="<U8")[np.argmax(counts, axis=1)]
    return np.where(counts.max(axis=1) > 0, best, "empty")
