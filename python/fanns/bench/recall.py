"""Recall@k against exact ground truth whose rows may be shorter than k."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_per_query(ids: np.ndarray, ground_truth: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Recall@k of every query.

    Row ``i`` of ``ids`` holds the returned ids (``-1`` = no result); ``ground_truth[i]`` holds
    the exact neighbours, best first, possibly fewer than ``k`` (few rows pass the filter).
    Recall is the share of the first ``min(k, len(ground_truth[i]))`` true neighbours found.
    A query with no true neighbour scores 1.0 when nothing valid is returned, else 0.0.

    Example:
        >>> ids = np.array([[3, 1, -1], [-1, -1, -1]])
        >>> recall_per_query(ids, [np.array([1, 2]), np.array([], dtype=np.int32)], 3)
        array([0.5, 1. ])
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"ids must be 2-D (nq, k), got shape {ids.shape}")
    if len(ground_truth) != ids.shape[0]:
        raise ValueError(
            f"ground truth has {len(ground_truth)} rows but ids has {ids.shape[0]} queries"
        )
    out = np.empty(ids.shape[0], dtype=np.float64)
    for i, truth in enumerate(ground_truth):
        row = ids[i, :k]
        found = np.unique(row[row >= 0])
        expected = np.unique(np.asarray(truth)[:k])
        if expected.size == 0:
            out[i] = 1.0 if found.size == 0 else 0.0
        else:
            out[i] = np.intersect1d(found, expected, assume_unique=True).size / expected.size
    return out


def mean_recall(ids: np.ndarray, ground_truth: Sequence[np.ndarray], k: int) -> float:
    """Mean of :func:`recall_per_query` (1.0 for an empty query set).

    Example:
        >>> mean_recall(np.array([[0, 1]]), [np.array([1, 5])], 2)
        0.5
    """
    per_query = recall_per_query(ids, ground_truth, k)
    return float(per_query.mean()) if per_query.size else 1.0
