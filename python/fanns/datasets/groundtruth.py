"""Exact (filtered) k-nearest-neighbour ground truth.

:func:`exact_knn` ranks database rows by exact distance, ties broken by the
smaller id, keeping only rows that pass each query's mask. It walks the
database in chunks (a memory-mapped file larger than memory is fine), scores a
chunk against a block of queries with one BLAS matrix product in the input's
precision, keeps per query only the rows whose approximate distance is within
a proven rounding bound of the current k-th best, and re-scores those
candidates in float64 from the coordinates. The result therefore equals a
plain float64 brute force, including ties between identical vectors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Union

import numpy as np

from fanns.datasets.vecs import PathLike, write_ivecs

__all__ = ["compute_ground_truth", "exact_knn", "write_ground_truth"]

METRICS = ("l2", "ip", "cosine")
_TARGET_BYTES = 1 << 26
_MAX_QUERY_BLOCK = 2048

MaskInput = Union[np.ndarray, Sequence[Union[np.ndarray, None]], None]


def _as_matrix(x: Any, name: str) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    return arr


def _check_masks(masks: MaskInput, nq: int, n: int) -> list[np.ndarray | None] | None:
    if masks is None:
        return None
    if isinstance(masks, np.ndarray):
        if masks.dtype != np.bool_:
            raise TypeError(f"masks must be boolean, got dtype {masks.dtype}")
        if masks.shape != (nq, n):
            raise ValueError(f"masks must have shape (nq, n) = {(nq, n)}, got {masks.shape}")
        return list(masks)
    if isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence):
        raise TypeError("masks must be a bool array (nq, n) or a sequence of nq bool arrays")
    if len(masks) != nq:
        raise ValueError(f"masks has {len(masks)} entries but there are {nq} queries")
    out: list[np.ndarray | None] = []
    for i, m in enumerate(masks):
        if m is None:
            out.append(None)
            continue
        m = m if isinstance(m, np.ndarray) else np.asarray(m)
        if m.dtype != np.bool_:
            raise TypeError(f"mask {i} must be boolean, got dtype {m.dtype}")
        if m.shape != (n,):
            raise ValueError(f"mask {i} must have shape ({n},), got {m.shape}")
        out.append(m)
    return out


def _resolve_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an int, got {type(threads).__name__}")
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    if threads == 0:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    return int(threads)


class _QueryState:
    """Running exact top-k (ids ascending by (distance, id)) of one query."""

    __slots__ = ("ids", "dist")

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.dist = np.empty(0, dtype=np.float64)

    def merge(self, ids: np.ndarray, dist: np.ndarray, k: int) -> None:
        all_ids = np.concatenate([self.ids, ids])
        all_dist = np.concatenate([self.dist, dist])
        order = np.lexsort((all_ids, all_dist))[:k]
        self.ids = all_ids[order]
        self.dist = all_dist[order]


class _Chunk:
    """One database chunk in the working precision, with float64 norms."""

    def __init__(self, start: int, rows: np.ndarray, metric: str) -> None:
        self.start = start
        self.rows = rows
        sq = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
        self.norm2 = sq
        self.norm = np.sqrt(sq)
        self.max_norm = float(self.norm.max()) if self.norm.size else 0.0
        if metric == "cosine" and self.norm.size and not (self.norm > 0).all():
            bad = int(np.flatnonzero(self.norm <= 0)[0]) + start
            raise ValueError(f"vector {bad} is zero; cosine distance is undefined for it")

    def exact(self, local: np.ndarray, query: np.ndarray, qnorm: float, metric: str) -> np.ndarray:
        x = self.rows[local].astype(np.float64)
        if metric == "l2":
            return ((x - query) ** 2).sum(axis=1)
        if metric == "ip":
            return 1.0 - (x * query).sum(axis=1)
        x /= self.norm[local, None]
        return 1.0 - (x * (query / qnorm)).sum(axis=1)


def exact_knn(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    masks: MaskInput = None,
    metric: str = "l2",
    threads: int = 0,
    chunk_rows: int | None = None,
    return_distances: bool = False,
    progress: bool = False,
) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
    """Exact top-``k`` ids of each query, best first, ties broken by the smaller id.

    ``metric`` is ``"l2"`` (squared L2), ``"ip"`` (``1 - <q, x>``) or ``"cosine"``
    (``1 - cos``). ``masks`` (optional) is a bool array ``(nq, n)`` or a sequence
    of ``nq`` bool arrays of length ``n`` (``None`` entries mean every row
    passes); only passing rows are ranked. A row is shorter than ``k`` when fewer
    rows pass, and empty when none do. ``vectors`` may be a memory-mapped array;
    it is read ``chunk_rows`` rows at a time (chosen automatically by default).
    ``threads=0`` uses every available core. Returns a list of int64 id arrays,
    plus a list of float64 distance arrays with ``return_distances=True``.

    >>> x = np.array([[0.0], [1.0], [1.0], [5.0]], dtype=np.float32)
    >>> [r.tolist() for r in exact_knn(x, np.array([[0.9]]), 2)]
    [[1, 2]]
    >>> [r.tolist() for r in exact_knn(x, np.array([[0.9]]), 2, masks=[x[:, 0] != 1])]
    [[0, 3]]
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = int(k)
    vectors = _as_matrix(vectors, "vectors")
    queries = _as_matrix(queries, "queries")
    n, dim = vectors.shape
    nq = queries.shape[0]
    if queries.shape[1] != dim:
        raise ValueError(f"queries have dimension {queries.shape[1]}, vectors have {dim}")
    mask_list = _check_masks(masks, nq, n)
    workers = _resolve_threads(threads)
    if chunk_rows is not None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
            raise TypeError(f"chunk_rows must be an int or None, got {type(chunk_rows).__name__}")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")

    q64 = queries.astype(np.float64)
    if not np.isfinite(q64).all():
        raise ValueError("queries contain NaN or infinite values")
    qnorm = np.sqrt((q64**2).sum(axis=1))
    if metric == "cosine" and nq and not (qnorm > 0).all():
        raise ValueError(f"query {int(np.flatnonzero(qnorm <= 0)[0])} is zero; cosine is undefined")
    states = [_QueryState() for _ in range(nq)]
    if nq == 0 or n == 0:
        return _finish(states, return_distances)

    work = np.float64 if vectors.dtype == np.float64 else np.float32
    unit = np.finfo(work).eps / 2
    # Bound on |computed <q, x> - <q, x>| relative to |q| |x| (inputs rounded to
    # the working precision, then a dot product of length dim).
    gamma = 1.01 * (dim + 4) * unit
    gamma64 = 1.01 * (dim + 4) * (np.finfo(np.float64).eps / 2)
    with np.errstate(over="ignore"):
        q_work = q64.astype(work)
    qnorm2 = qnorm**2
    itemsize = np.dtype(work).itemsize
    if chunk_rows is None:
        by_dim = _TARGET_BYTES // (itemsize * max(dim, 1))
        by_queries = _TARGET_BYTES // (itemsize * min(nq, _MAX_QUERY_BLOCK))
        chunk_rows = int(np.clip(min(by_dim, by_queries), 1024, 65536))
    chunk_rows = int(min(chunk_rows, n))
    starts = list(range(0, n, chunk_rows))

    def load(start: int) -> _Chunk:
        rows = np.ascontiguousarray(vectors[start : start + chunk_rows], dtype=work)
        if not np.isfinite(rows).all():
            bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0]) + start
            raise ValueError(f"vector {bad} contains NaN or infinite values")
        return _Chunk(start, rows, metric)

    def select(chunk: _Chunk, scores: np.ndarray, gamma: float, query_ids: range, q0: int) -> None:
        stop = chunk.start + chunk.rows.shape[0]
        for qi in query_ids:
            s = scores[qi - q0].astype(np.float64)
            if metric == "l2":
                approx = chunk.norm2 + qnorm2[qi] - 2.0 * s
                eps = 2.0 * gamma * qnorm[qi] * chunk.max_norm + 1e-12 * (
                    qnorm2[qi] + chunk.max_norm**2
                )
            elif metric == "ip":
                approx = 1.0 - s
                eps = gamma * qnorm[qi] * chunk.max_norm + 1e-12
            else:
                approx = 1.0 - s / (qnorm[qi] * chunk.norm)
                eps = gamma + 1e-12
            state = states[qi]
            keep = approx <= (state.dist[-1] + eps if state.ids.size == k else np.inf)
            if mask_list is not None and mask_list[qi] is not None:
                keep &= mask_list[qi][chunk.start : stop]
            local = np.flatnonzero(keep)
            if local.size > k:
                kth = np.partition(approx[local], k - 1)[k - 1]
                local = local[approx[local] <= kth + 2.0 * eps]
            if local.size == 0:
                continue
            dist = chunk.exact(local, q64[qi], qnorm[qi], metric)
            state.merge(local + chunk.start, dist, k)

    bar = _progress_bar(len(starts) * -(-nq // _MAX_QUERY_BLOCK), progress)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for q0 in range(0, nq, _MAX_QUERY_BLOCK):
                q1 = min(nq, q0 + _MAX_QUERY_BLOCK)
                block = q_work[q0:q1]
                groups = np.array_split(np.arange(q0, q1), min(workers, q1 - q0))
                pending = pool.submit(load, starts[0])
                for ci in range(len(starts)):
                    chunk = pending.result()
                    if ci + 1 < len(starts):
                        pending = pool.submit(load, starts[ci + 1])
                    with np.errstate(over="ignore", invalid="ignore"):
                        scores = block @ chunk.rows.T
                    chunk_gamma = gamma
                    if not np.isfinite(scores).all():
                        # the working precision overflowed: score this chunk in float64
                        scores = q64[q0:q1] @ chunk.rows.astype(np.float64).T
                        chunk_gamma = gamma64
                    futures = [
                        pool.submit(select, chunk, scores, chunk_gamma, range(g[0], g[-1] + 1), q0)
                        for g in groups
                        if g.size
                    ]
                    for f in futures:
                        f.result()
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return _finish(states, return_distances)


def _finish(
    states: list[_QueryState], return_distances: bool
) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
    ids = [s.ids for s in states]
    if return_distances:
        return ids, [s.dist for s in states]
    return ids


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="chunk", desc="ground truth")


def compute_ground_truth(
    dataset: Any,
    workload: str | Any = "unfiltered",
    k: int = 100,
    *,
    metric: str = "l2",
    threads: int = 0,
    chunk_rows: int | None = None,
    mask_bytes: int = 1 << 30,
    progress: bool = False,
) -> list[np.ndarray]:
    """Exact top-``k`` ground truth of one workload of a dataset, as int32 id arrays.

    ``workload`` is a name in ``dataset.workloads`` or a workload object. Masks
    are built for blocks of queries holding at most ``mask_bytes`` bytes of
    masks at a time, so large databases need several passes but bounded memory.

    >>> ds = synthetic_arxiv(n=2000, dim=32, nq=5)  # doctest: +SKIP
    >>> rows = compute_ground_truth(ds, "em", k=10)  # doctest: +SKIP
    """
    if isinstance(workload, str):
        try:
            wl = dataset.workloads[workload]
        except KeyError:
            raise KeyError(
                f"workload {workload!r} not in this dataset; it has {sorted(dataset.workloads)}"
            ) from None
    else:
        wl = workload
    queries = dataset.queries
    if len(wl) != queries.shape[0]:
        raise ValueError(
            f"workload {wl.name!r} has {len(wl)} queries but the dataset has {queries.shape[0]}"
        )
    vectors = dataset.vectors
    n = vectors.shape[0]
    if wl.name == "unfiltered" and getattr(wl, "attribute", None) is None:
        rows = exact_knn(
            vectors,
            queries,
            k,
            metric=metric,
            threads=threads,
            chunk_rows=chunk_rows,
            progress=progress,
        )
        return [r.astype(np.int32) for r in rows]
    block = max(1, int(mask_bytes) // max(n, 1))
    out: list[np.ndarray] = []
    for q0 in range(0, len(wl), block):
        q1 = min(len(wl), q0 + block)
        masks = [wl.mask(i, dataset) for i in range(q0, q1)]
        rows = exact_knn(
            vectors,
            queries[q0:q1],
            k,
            masks=masks,
            metric=metric,
            threads=threads,
            chunk_rows=chunk_rows,
            progress=progress,
        )
        out.extend(r.astype(np.int32) for r in rows)
    return out


def write_ground_truth(directory: PathLike, workload: str, rows: Sequence[np.ndarray]) -> str:
    """Write ground-truth rows to the published file of ``workload`` in ``directory``.

    Returns the path written (``ground_truth.ivecs`` for ``"unfiltered"``,
    ``ground_truth_<name>.ivecs`` otherwise).

    >>> write_ground_truth("/data/small", "em", rows)  # doctest: +SKIP
    '/data/small/ground_truth_em.ivecs'
    """
    from fanns.datasets.arxiv import ground_truth_filename

    path = os.path.join(os.fspath(directory), ground_truth_filename(workload))
    write_ivecs(path, rows)
    return path
