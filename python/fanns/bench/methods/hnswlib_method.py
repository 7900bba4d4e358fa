"""hnswlib: the same graph parameters; filtered workloads pass a Python callable as
``filter=`` to ``knn_query`` (one call per group of queries sharing a filter)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fanns.bench.methods.base import BuildParams, Method
from fanns.bench.workloads import FilterGroup, QueryFilters

_SPACES = {"l2": "l2", "ip": "ip", "cosine": "cosine"}


class HnswlibMethod(Method):
    """HNSW from the hnswlib package, queried with ``set_num_threads(1)``.

    hnswlib raises when it cannot return ``k`` results for every query of a call (the filter
    passes too few rows, or the search finds too few); such calls are retried query by query
    with the largest ``k`` that succeeds, and the retries count in the measured time.

    Example:
        >>> x = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
        >>> m = HnswlibMethod()
        >>> m.build(x, None, "l2", BuildParams(M=8, ef_construction=50, threads=1))
        >>> m.search(x[:2], 1, 20, QueryFilters(200, 2)).ravel().tolist()
        [0, 1]
    """

    name: ClassVar[str] = "hnswlib"
    requires: ClassVar[tuple[str, ...]] = ("hnswlib",)

    def __init__(self) -> None:
        super().__init__()
        self._index: Any = None
        self._n = 0

    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        import hnswlib

        if metric not in _SPACES:
            raise ValueError(f"metric must be one of {tuple(_SPACES)}, got {metric!r}")
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = data.shape
        index = hnswlib.Index(space=_SPACES[metric], dim=int(dim))
        index.init_index(
            max_elements=max(1, n),
            M=params.M,
            ef_construction=params.ef_construction,
            random_seed=params.seed,
        )
        index.add_items(data, np.arange(n), num_threads=params.threads or -1)
        self._index = index
        self._n = n

    def _query(self, q: np.ndarray, k: int, accept: Any) -> np.ndarray:
        labels, _ = self._index.knn_query(q, k=k, num_threads=1, filter=accept)
        return np.asarray(labels, dtype=np.int64)

    def _query_most(self, q: np.ndarray, k: int, accept: Any) -> np.ndarray:
        """One query, the largest ``kk <= k`` hnswlib can fill (binary search)."""
        best = np.empty(0, dtype=np.int64)
        lo, hi = 1, k
        while lo <= hi:
            mid = (lo + hi) // 2
            try:
                best = self._query(q, mid, accept)[0]
                lo = mid + 1
            except RuntimeError:
                hi = mid - 1
        return best

    def _search_group(self, q: np.ndarray, k: int, group: FilterGroup) -> np.ndarray:
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        if group.mask is None:
            accept, available = None, self._n
        else:
            accept = group.cache.get("hnswlib")
            if accept is None:
                accept = group.cache["hnswlib"] = group.mask.tolist().__getitem__
            available = group.count
        kk = min(k, available)
        if kk == 0:
            return out
        try:
            out[:, :kk] = self._query(q, kk, accept)
        except RuntimeError:
            for i in range(q.shape[0]):
                row = self._query_most(q[i : i + 1], kk, accept)
                out[i, : row.size] = row
        return out

    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        if self._index is None:
            raise RuntimeError("build() must run before search()")
        q = np.ascontiguousarray(queries, dtype=np.float32)
        self._index.set_ef(int(sweep_value))
        self._index.set_num_threads(1)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        for group in filters.groups:
            out[group.queries] = self._search_group(q[group.queries], k, group)
        return out

    def close(self) -> None:
        self._index = None
        super().close()
