"""Pre-filter search as a user would write it in NumPy: for each group of queries sharing a
filter, the passing rows are gathered once and scored with one float32 BLAS product per block
of queries (``|x|^2 - 2 q.x``, or ``-q.x``); ``argpartition`` keeps each query's ``2k + 8``
best and a sort by (score, id) the first ``k`` (ties by id, as the exact peer breaks them).
No exact re-ranking, unlike ``bruteforce``: its distances carry float32 rounding, so its
recall can fall just short of 1. One point per workload."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fanns.bench.methods.base import BuildParams  # noqa: F401 (doctest)
from fanns.bench.methods.bruteforce import BruteForceMethod
from fanns.bench.workloads import FilterGroup, QueryFilters  # noqa: F401 (doctest)


class PrefilterMethod(BruteForceMethod):
    """One BLAS product over the passing rows per filter (blocks of queries), no re-ranking.

    Example:
        >>> x = np.eye(3, dtype=np.float32)
        >>> m = PrefilterMethod()
        >>> m.build(x, None, "l2", BuildParams())
        >>> m.search(x[:1], 2, None, QueryFilters(3, 1)).tolist()
        [[0, 1]]
    """

    name: ClassVar[str] = "prefilter"
    query_block: ClassVar[int] = 256

    def _best(
        self, q: np.ndarray, base: np.ndarray, norms: np.ndarray, rows: np.ndarray | None, k: int
    ) -> np.ndarray:
        count = base.shape[0]
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        if count == 0:
            return out
        scores = self._scores(q, base, norms)
        # A few more than k, as the exact peer keeps, so that rows tied at
        # the k-th place go by smaller id (argpartition keeps any of them).
        cand = self._smallest(scores, min(count, 2 * k + 8))
        ids = cand if rows is None else rows[cand]
        take = min(k, count)
        out[:, :take] = self._first(ids, np.take_along_axis(scores, cand, axis=1), take)
        return out

    def _search_group(self, q: np.ndarray, group: FilterGroup, k: int, out: np.ndarray) -> None:
        # The passing rows gathered once for the whole group, not once per block.
        rows = group.ids
        base = self._vectors if rows is None else self._vectors[rows]
        norms = self._norms if rows is None else self._norms[rows]
        members = group.queries
        for start in range(0, members.size, self.query_block):
            block = members[start : start + self.query_block]
            out[block] = self._best(q[block], base, norms, rows, k)
