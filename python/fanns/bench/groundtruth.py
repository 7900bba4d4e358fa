"""Exact ground truth for a workload: the dataset's own when it fits, else computed once with
``fanns.datasets.exact_knn`` and cached in the output directory."""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fanns.bench.files import atomic_path
from fanns.bench.workloads import BenchWorkload

CACHE_VERSION = 1


def data_fingerprint(vectors: np.ndarray, queries: np.ndarray, *, sample: int = 4096) -> str:
    """Hex digest identifying the base vectors (shape, dtype and ``sample`` evenly spaced
    rows, so memory-mapped data is not read in full) and the queries (in full).

    Example:
        >>> x = np.zeros((2, 3), np.float32)
        >>> data_fingerprint(x, x) == data_fingerprint(x.copy(), x)
        True
    """
    h = hashlib.blake2b(digest_size=16)
    n = int(vectors.shape[0])
    rows = np.unique(np.linspace(0, n - 1, num=min(n, sample)).astype(np.int64)) if n else []
    for array in (np.asarray(vectors)[rows], queries):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(memoryview(array).cast("B"))
    h.update(f"{vectors.dtype.str}{tuple(vectors.shape)}".encode())
    return h.hexdigest()


def given_truth_usable(rows: Sequence[np.ndarray] | None, k: int, metric: str, n: int) -> bool:
    """Whether ground truth shipped with the dataset answers top-``k`` queries here.

    It was computed for squared L2, so it serves only that metric; it must reach depth ``k``
    (some row has ``k`` ids: shorter rows then mean fewer rows pass) and hold valid ids.
    """
    if rows is None or metric != "l2":
        return False
    if not rows:
        return True
    if max(len(r) for r in rows) < k:
        return False
    for row in rows:
        row = np.asarray(row)
        if row.size and (row.min() < 0 or row.max() >= n):
            return False
    return True


def _cache_key(workload: BenchWorkload, fingerprint: str, k: int, metric: str) -> str:
    return f"v{CACHE_VERSION}:{fingerprint}:{workload.filters.digest()}:k={k}:metric={metric}"


def _cache_path(cache_dir: str, workload: BenchWorkload, key: str) -> str:
    short = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in workload.name)
    return os.path.join(cache_dir, f"gt-{safe}-{short}.npz")


def _load_cached(path: str, key: str, nq: int, n: int) -> list[np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = str(data["key"])
            lengths = np.asarray(data["lengths"], dtype=np.int64)
            ids = np.asarray(data["ids"], dtype=np.int64)
    except (OSError, KeyError, ValueError):
        return None
    if stored_key != key or lengths.shape != (nq,) or lengths.min(initial=0) < 0:
        return None
    if int(lengths.sum()) != ids.size or (ids.size and (ids.min() < 0 or ids.max() >= n)):
        return None
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [ids[bounds[i] : bounds[i + 1]] for i in range(nq)]


def _save_cached(path: str, key: str, rows: Sequence[np.ndarray]) -> None:
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    flat = (
        np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
        if rows
        else np.empty(0, dtype=np.int64)
    )
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(key), lengths=lengths, ids=flat)


def ground_truth(
    workload: BenchWorkload,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    metric: str = "l2",
    cache_dir: str | None = None,
    fingerprint: str | None = None,
    threads: int = 0,
    progress: bool = False,
) -> tuple[list[np.ndarray], str]:
    """Exact top-``k`` ids of every query of ``workload``, and where they came from
    (``"dataset"``, ``"cache"`` or ``"computed"``).

    Example:
        >>> from fanns.bench.workloads import synthetic_workload
        >>> x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
        >>> rows, source = ground_truth(synthetic_workload("sel-20", x, x[:3]), x, x[:3], 5)
        >>> len(rows), source
        (3, 'computed')
    """
    n = int(vectors.shape[0])
    if given_truth_usable(workload.given_truth, k, metric, n):
        return [np.asarray(r[:k], dtype=np.int64) for r in workload.given_truth], "dataset"
    key = path = None
    if cache_dir is not None:
        fingerprint = fingerprint or data_fingerprint(vectors, queries)
        key = _cache_key(workload, fingerprint, k, metric)
        path = _cache_path(cache_dir, workload, key)
        if os.path.exists(path):
            cached = _load_cached(path, key, workload.nq, n)
            if cached is not None:
                return cached, "cache"
    from fanns.datasets import exact_knn

    options: dict[str, Any] = {"masks": workload.filters.masks(), "metric": metric}
    options["threads"] = threads
    if progress and "progress" in inspect.signature(exact_knn).parameters:
        options["progress"] = True
    rows = exact_knn(vectors, queries, k, **options)
    rows = [np.asarray(r, dtype=np.int64) for r in rows]
    if len(rows) != workload.nq:
        raise RuntimeError(f"exact_knn returned {len(rows)} rows for {workload.nq} queries")
    if path is not None and key is not None:
        os.makedirs(cache_dir, exist_ok=True)
        _save_cached(path, key, rows)
    return rows, "computed"
