"""Search results: arrays in, arrays out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class BatchResult:
    """What every batch result shares: ``len`` is the number of queries, and the
    ``repr`` counts how the queries were answered (``plans``)."""

    ids: np.ndarray
    plans: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __repr__(self) -> str:
        nq, k = self.ids.shape
        kinds, counts = np.unique(self.plans, return_counts=True)
        plans = ", ".join(f"{kind}={count}" for kind, count in zip(kinds, counts))
        return f"{type(self).__name__}(nq={nq}, k={k}, plans: {plans or 'none'})"


@dataclass(frozen=True, repr=False)
class SearchResult(BatchResult):
    """The answer to a batch of k-NN queries.

    Attributes:
        ids: int64 array (nq, k) of row ids, nearest first; -1 pads rows where
            fewer than k rows pass the filter.
        distances: float32 array (nq, k), sorted ascending (smaller is closer);
            ``inf`` where ``ids`` is -1. For ``metric="l2"`` the squared
            Euclidean distance, for ``"ip"`` ``1 - <q, x>``, for ``"cosine"``
            ``1 - cos(q, x)``.
        plans: array (nq,) of str naming how each query was answered:
            ``"graph"`` (plain HNSW), ``"filtered"`` (HNSW, filter checked in
            the loop), ``"acorn"`` (predicate-aware traversal), ``"range"``
            (range graph), ``"exact"`` (scan over the passing rows),
            ``"scan"`` (range graph's scan on 8-bit codes, the best ef scored
            again exactly) or ``"empty"`` (nothing passes).

    A result unpacks as ``ids, distances = index.search(...)``.
    """

    ids: np.ndarray
    distances: np.ndarray
    plans: np.ndarray

    def __iter__(self):
        yield self.ids
        yield self.distances
