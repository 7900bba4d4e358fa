"""faiss ``IndexHNSWFlat`` with the same graph parameters; filtered workloads search with
``SearchParametersHNSW(sel=IDSelectorBitmap(...))``, one call per group of queries sharing a
filter, on one OpenMP thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fanns.bench.machine import usable_cores
from fanns.bench.methods.base import BuildParams, Method, unit_rows
from fanns.bench.workloads import FilterGroup, QueryFilters

METRICS = ("l2", "ip", "cosine")


class FaissMethod(Method):
    """HNSW from faiss (cosine = inner product over normalised vectors).

    Example:
        >>> x = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
        >>> m = FaissMethod()
        >>> m.build(x, None, "l2", BuildParams(M=8, ef_construction=50, threads=1))
        >>> m.search(x[:2], 1, 20, QueryFilters(200, 2)).ravel().tolist()
        [0, 1]
    """

    name: ClassVar[str] = "faiss"
    requires: ClassVar[tuple[str, ...]] = ("faiss",)

    def __init__(self) -> None:
        super().__init__()
        self._index: Any = None
        self._metric = "l2"

    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        import faiss

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        if metric == "cosine":
            data = unit_rows(data)
        kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(int(data.shape[1]), int(params.M), kind)
        index.hnsw.efConstruction = int(params.ef_construction)
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(params.threads if params.threads > 0 else usable_cores())
        try:
            index.add(data)
        finally:
            faiss.omp_set_num_threads(previous)
        self._index = index
        self._metric = metric

    def memory_bytes(self) -> int | None:
        if self._index is None:
            return None
        import faiss

        return int(faiss.serialize_index(self._index).nbytes)

    def _params(self, ef: int, group: FilterGroup) -> Any:
        import faiss

        if group.mask is None:
            return faiss.SearchParametersHNSW(efSearch=ef)
        prepared = group.cache.get("faiss")
        if prepared is None:
            bits = group.packed_bits
            selector = faiss.IDSelectorBitmap(int(bits.size), faiss.swig_ptr(bits))
            prepared = group.cache["faiss"] = (bits, selector)
        params = faiss.SearchParametersHNSW(sel=prepared[1], efSearch=ef)
        return params

    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        import faiss

        if self._index is None:
            raise RuntimeError("build() must run before search()")
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self._metric == "cosine":
            q = unit_rows(q)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        previous = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            for group in filters.groups:
                if group.mask is not None and group.count == 0:
                    continue
                params = self._params(int(sweep_value), group)
                _, labels = self._index.search(q[group.queries], k, params=params)
                out[group.queries] = labels
        finally:
            faiss.omp_set_num_threads(previous)
        return out

    def close(self) -> None:
        self._index = None
        super().close()
