"""Exact brute force and small generated data: the reference every index is checked against."""

from __future__ import annotations

import numpy as np


def clustered(n: int, dim: int, *, clusters: int = 20, seed: int = 0, spread: float = 0.35):
    """Clustered float32 vectors (and the cluster of each row)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * spread
    return (centres[labels] + noise).astype(np.float32), labels


def clustered_with_queries(n: int, nq: int, dim: int, *, seed: int = 0, clusters: int = 20):
    """Database and queries drawn from the same clusters (queries not in the database)."""
    data, labels = clustered(n + nq, dim, clusters=clusters, seed=seed)
    return data[:n], data[n:], labels[:n], labels[n:]


def exact_distances(queries: np.ndarray, base: np.ndarray, metric: str) -> np.ndarray:
    """Distances as fanns reports them, in float64: l2 squared, ip/cosine 1 - similarity."""
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    if metric == "l2":
        return (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - q @ b.T


def exact_knn(queries, base, k, metric="l2", mask=None):
    """Exact top-k ids per query (ties by smaller id); masked rows never returned.

    ``mask`` is None, a bool array (n,) for every query, or a list of them per query.
    Returns a list of int64 arrays (shorter where fewer rows pass).
    """
    dist = exact_distances(queries, base, metric)
    out = []
    for i in range(len(queries)):
        m = mask[i] if isinstance(mask, list) else mask
        candidates = np.arange(base.shape[0]) if m is None else np.flatnonzero(m)
        order = np.lexsort((candidates, dist[i, candidates]))
        out.append(candidates[order[:k]])
    return out


def recall(found: np.ndarray, truth: list) -> float:
    """Mean recall of result rows against true id lists; an empty truth row counts 1.0."""
    scores = []
    for row, true in zip(found, truth):
        true = list(true)
        if not true:
            scores.append(1.0 if (row < 0).all() else 0.0)
            continue
        scores.append(len(set(row[row >= 0].tolist()) & set(true)) / len(true))
    return float(np.mean(scores))


# ---------------------------------------------------------------------------
# The planner's cost model (cpp/planner.h), restated: bytes a distance reads.
def code_row_bytes(dim: int) -> int:
    """A row's 8-bit codes: the dimension rounded up to 4, plus one float."""
    return (dim + 3) // 4 * 4 + 4


def scans_on_codes(passing: int, depth: int, dim: int, storage: str = "sq8") -> bool:
    """Whether a scan of ``passing`` rows reads fewer bytes on codes (or on
    f16 rows, 2 bytes a value, with ``storage="f16"``; then rescoring
    ``depth`` float rows, each weighted 3x) than on float rows."""
    if depth >= passing or storage == "f32":
        return False
    floats = 4 * dim
    encoded = 2 * dim if storage == "f16" else code_row_bytes(dim)
    return passing * encoded + 3 * depth * floats < passing * floats


def range_scan_rows(ef: int, dim: int, coded: bool) -> int:
    """Widest range a range graph scans by default: 16 * ef float rows' bytes."""
    return int(16.0 * ef * (4.0 * dim) / (code_row_bytes(dim) if coded else 4.0 * dim))


def exact_sparse(n, n_terms, *, max_terms, nq, terms_per_query, seed, query_weight_max=1):
    """Sparse documents and queries whose inner products are exact in float32:
    document weights are small multiples of 1/16 (at most 4 after duplicates
    add up), query weights integers in [1, query_weight_max]; so ties are real
    and ids must match brute force. Returns CSR ``(docs, queries)``."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    nnz = rng.integers(1, max_terms, size=n)
    rows = np.repeat(np.arange(n), nnz)
    cols = rng.integers(0, n_terms, size=rows.size)
    vals = rng.integers(1, 33, size=rows.size) / 16.0
    docs = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n, n_terms))
    docs.sum_duplicates()
    docs.data = np.minimum(docs.data, 4.0)  # keep sums of duplicates exact and small
    q_rows = np.repeat(np.arange(nq), terms_per_query)
    q_cols = rng.integers(0, n_terms, size=q_rows.size)
    if query_weight_max > 1:
        q_vals = rng.integers(1, query_weight_max + 1, size=q_rows.size).astype(np.float32)
    else:
        q_vals = np.ones(q_rows.size, np.float32)
    queries = sp.csr_matrix((q_vals, (q_rows, q_cols)), shape=(nq, n_terms))
    queries.sum_duplicates()
    return docs, queries
