"""Exact pre-filtering: score the passing rows with one BLAS product per block of queries and
keep the best ``k`` (re-ranked in float64, ties by id). Selective filters gather their rows
first; filters passing more than ``gather_below`` of the rows score every row and drop the
others (cheaper than copying most of the data). One point per workload."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fanns.bench.blas import limit_blas_threads
from fanns.bench.methods.base import BuildParams, Method, unit_rows
from fanns.bench.workloads import FilterGroup, QueryFilters

if TYPE_CHECKING:
    from fanns.bench.config import BenchConfig

METRICS = ("l2", "ip", "cosine")


class BruteForceMethod(Method):
    """Exact search over the rows that pass each query's filter.

    Example:
        >>> x = np.eye(3, dtype=np.float32)
        >>> m = BruteForceMethod()
        >>> m.build(x, None, "l2", BuildParams())
        >>> m.search(x[:1], 2, None, QueryFilters(3, 1)).tolist()
        [[0, 1]]
    """

    name: ClassVar[str] = "bruteforce"
    sweep_param: ClassVar[str | None] = None
    query_block: ClassVar[int] = 128
    gather_below: ClassVar[float] = 0.3

    def __init__(self) -> None:
        super().__init__()
        self._vectors: np.ndarray | None = None
        self._norms: np.ndarray | None = None
        self._metric = "l2"

    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        base = np.ascontiguousarray(vectors, dtype=np.float32)
        if metric == "cosine":
            base = unit_rows(base)
        self._vectors = base
        self._norms = np.einsum("ij,ij->i", base, base, dtype=np.float32)
        self._metric = metric

    def sweep_values(self, config: BenchConfig) -> list[Any]:
        return [None]

    def memory_bytes(self) -> int | None:
        if self._vectors is None or self._norms is None:
            return None
        return int(self._vectors.nbytes + self._norms.nbytes)

    def _topk(self, q: np.ndarray, group: FilterGroup, k: int) -> np.ndarray:
        rows = group.ids
        count = self._vectors.shape[0] if rows is None else int(rows.size)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        if count == 0:
            return out
        keep = min(count, 2 * k + 8)
        dense = rows is None or (
            count > self.gather_below * self._vectors.shape[0] and count > keep
        )
        base = self._vectors if dense else self._vectors[rows]
        norms = self._norms if dense else self._norms[rows]
        scores = self._scores(q, base, norms)
        if dense and rows is not None:
            scores[:, ~group.mask] = np.inf
            rows = None
        cand = self._smallest(scores, keep)
        gathered = base[cand].astype(np.float64)
        q64 = q.astype(np.float64)
        if self._metric == "l2":
            exact = ((gathered - q64[:, None, :]) ** 2).sum(axis=2)
        else:
            exact = 1.0 - np.einsum("bkd,bd->bk", gathered, q64)
        ids = cand if rows is None else rows[cand]
        take = min(k, count)
        out[:, :take] = self._first(ids, exact, take)
        return out

    def _scores(self, q: np.ndarray, base: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Scores of ``q`` against ``base``, smaller nearer: ``|x|^2 - 2 q.x``, or ``-q.x``."""
        dots = q @ base.T
        return norms[None, :] - 2.0 * dots if self._metric == "l2" else -dots

    @staticmethod
    def _smallest(scores: np.ndarray, keep: int) -> np.ndarray:
        """Columns of each row's ``keep`` smallest scores, in no order (all when they fit)."""
        if keep < scores.shape[1]:
            return np.argpartition(scores, keep - 1, axis=1)[:, :keep]
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape)

    @staticmethod
    def _first(ids: np.ndarray, key: np.ndarray, take: int) -> np.ndarray:
        """Each row's ``take`` ids of smallest ``key``, ties by smaller id."""
        order = np.lexsort((ids, key), axis=1)[:, :take]
        return np.take_along_axis(ids, order, axis=1)

    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        if self._vectors is None:
            raise RuntimeError("build() must run before search()")
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self._metric == "cosine":
            q = unit_rows(q)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        with limit_blas_threads(1):
            for group in filters.groups:
                self._search_group(q, group, k, out)
        return out

    def _search_group(self, q: np.ndarray, group: FilterGroup, k: int, out: np.ndarray) -> None:
        """Fill the rows of ``out`` of the queries sharing ``group``'s filter."""
        members = group.queries
        for start in range(0, members.size, self.query_block):
            block = members[start : start + self.query_block]
            out[block] = self._topk(q[block], group, k)
