"""Hybrid dense + sparse search: one index, two rankings, one fused answer.

A :class:`fanns.Index` built with ``sparse=`` holds a :class:`fanns.SparseIndex`
over the same rows (same ids, same attributes). A hybrid query runs both
searches, each fetching its ``depth`` best candidates under the same filter
(checked and compiled once for both, except in a batch of per-query filters
too large to compile at once), and combines the two lists with a fusion rule:

* ``"rrf"``: reciprocal rank fusion, ``sum_side w_side / (fusion_k + rank)``
  with ranks from 1 (Milvus and Weaviate use ``fusion_k=60``, Qdrant 2);
* ``"dbsf"``: distribution-based score fusion: each side's scores are mapped
  by ``(s - (mean - 3 std)) / (6 std)`` (sample std over that side's
  candidates, as Qdrant does), then weighted and summed;
* ``"weighted"``: each side's scores min-max normalised to [0, 1], then
  weighted and summed.

A document one side did not return adds nothing from that side. Dense
distances enter the score rules as ``-distance`` (larger is better), which
min-max and mean/std normalisation turn into the same values for every metric.
Fused scores are larger-is-better; ties go to the smaller id.

Example:
    >>> import numpy as np, scipy.sparse as sp, fanns
    >>> rng = np.random.default_rng(0)
    >>> vectors = rng.standard_normal((500, 16)).astype(np.float32)
    >>> docs = sp.random(500, 300, density=0.05, format="csr", random_state=0, dtype="float32")
    >>> index = fanns.Index.build(vectors, sparse=docs, attributes={"year": np.arange(500) % 20})
    >>> result = index.search(vectors[:2], k=5, sparse=docs[:2], fusion="rrf")
    >>> result.ids.shape, result.from_dense.shape
    ((2, 5), (2, 5))
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fanns import _core
from fanns._sparse_rows import _as_csr, _Csr
from fanns._validation import as_count, as_matrix, check_result_count, normalise_rows
from fanns.filters import prepare_filters
from fanns.filters.grouped import filters_per_group, query_groups
from fanns.result import BatchResult
from fanns.sparse import SparseIndex, SparseSearchResult

if TYPE_CHECKING:
    from fanns.index import Index

__all__ = ["FUSIONS", "DEFAULT_DEPTH", "HybridSearchResult", "fuse", "exact_fusion"]

FUSIONS = ("rrf", "dbsf", "weighted")
DEFAULT_FUSION_K = 60
# Candidates each side fetches by default (at least k). Chosen on arxiv-mini
# (MiniLM + BM25, bench/sparse.md "Hybrid search").
DEFAULT_DEPTH = 100
# The dense side's default ef, per candidate fetched.
DEFAULT_EF_PER_DEPTH = 2
# Bits of HybridSearchResult.sources.
DENSE = 1
SPARSE = 2
# Keywords of SparseIndex.build / SparseIndex.search a hybrid index passes on.
_SPARSE_BUILD_KEYS = (
    "n_terms",
    "n_postings",
    "block_size",
    "summary_energy",
    "summary_cap",
    "knn",
    "seed",
    "weights",
)
_SPARSE_SEARCH_KEYS = ("query_cut", "heap_factor", "exact_threshold", "use_knn", "plan", "rerank")


@dataclass(frozen=True, repr=False)
class HybridSearchResult(BatchResult):
    """The answer to a batch of hybrid (dense + sparse) queries.

    Attributes:
        ids: int64 array (nq, k) of row ids, best first; -1 pads rows where the
            two sides together found fewer than k rows.
        scores: float32 array (nq, k) of fused scores, descending (larger is
            better); ``-inf`` where ``ids`` is -1.
        plans: array (nq,) of str, ``"<dense plan>+<sparse plan>"`` (for
            example ``"graph+accumulate"``, ``"exact+exact"``).
        sources: uint8 array (nq, k): bit 1 set when the dense search returned
            the row, bit 2 when the sparse search did (3: both; 0: padding).

    Unpacks as ``ids, scores = index.search(...)``.

    Example:
        >>> result = index.search(q, k=10, sparse=sq)
        >>> result.ids[result.from_sparse & ~result.from_dense]   # rows only the terms found
    """

    ids: np.ndarray
    scores: np.ndarray
    plans: np.ndarray
    sources: np.ndarray

    @property
    def from_dense(self) -> np.ndarray:
        """bool (nq, k): the dense search returned this row."""
        return (self.sources & DENSE) != 0

    @property
    def from_sparse(self) -> np.ndarray:
        """bool (nq, k): the sparse search returned this row."""
        return (self.sources & SPARSE) != 0

    def __iter__(self):
        yield self.ids
        yield self.scores


# --------------------------------------------------------------------- fusion
def fuse(
    dense_ids: np.ndarray,
    dense_scores: np.ndarray,
    sparse_ids: np.ndarray,
    sparse_scores: np.ndarray,
    k: int,
    *,
    fusion: str = "rrf",
    fusion_k: float = DEFAULT_FUSION_K,
    weights: tuple[float, float] = (1.0, 1.0),
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse two ranked candidate lists per query into the top ``k`` (in the engine).

    Each side is (nq, depth) ids (best first, -1 padding, distinct within a
    side) and scores (larger is better, finite where the id is not -1).
    Returns ``(ids, scores, sources)`` as in :class:`HybridSearchResult`.

    Example:
        >>> ids, scores, sources = fuse(np.array([[3, 1]]), np.array([[0.9, 0.5]]),
        ...                             np.array([[1, 7]]), np.array([[4.0, 2.0]]), 2)
        >>> ids.tolist(), sources.tolist()
        ([[1, 3]], [[3, 1]])
    """
    if not isinstance(fusion, str) or fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
    pair = _as_weights(weights)
    for name, ids in (("dense_ids", dense_ids), ("sparse_ids", sparse_ids)):
        ids = np.asarray(ids)
        if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer) or ids.dtype == np.uint64:
            raise TypeError(f"{name} must be signed integers, not {ids.dtype}")
    return _core.fuse(
        dense_ids,
        dense_scores,
        sparse_ids,
        sparse_scores,
        as_count(k, "k", minimum=1),
        FUSIONS.index(fusion),
        _as_real(fusion_k, "fusion_k"),
        float(pair[0]),
        float(pair[1]),
        as_count(threads, "threads", minimum=0, maximum=4096),
    )


def exact_fusion(
    vectors: np.ndarray,
    docs,
    queries: np.ndarray,
    sparse_queries,
    k: int,
    *,
    metric: str = "l2",
    depth: int = DEFAULT_DEPTH,
    mask: np.ndarray | None = None,
    fusion: str = "rrf",
    fusion_k: float = DEFAULT_FUSION_K,
    weights: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fusion of the two exact rankings: the reference a hybrid search approximates.

    Brute force on both sides (float64): the ``depth`` nearest rows by
    ``metric`` and the ``depth`` best rows by inner product (positive scores
    only), among rows passing ``mask`` (bool (n,) or (nq, n)); ties by
    smaller id. ``docs`` and ``sparse_queries`` are scipy CSR matrices.
    Returns ``(ids, scores, sources)`` as :func:`fuse`. Memory: (nq, n) floats.

    Example:
        >>> ids, scores, _ = exact_fusion(vectors, docs, queries, sparse_queries, 10)
    """
    q = queries.astype(np.float64)
    x = vectors.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if metric == "l2":
        dense = -((q * q).sum(1)[:, None] - 2 * q @ x.T + (x * x).sum(1)[None, :])
    else:
        dense = q @ x.T
    sparse = np.asarray((sparse_queries.astype(np.float64) @ docs.astype(np.float64).T).todense())
    passing = (
        np.ones(dense.shape, dtype=bool) if mask is None else np.broadcast_to(mask, dense.shape)
    )
    d_ids, d_scores = _exact_top(dense, passing, depth)
    s_ids, s_scores = _exact_top(sparse, passing & (sparse > 0), depth)
    return fuse(
        d_ids, d_scores, s_ids, s_scores, k, fusion=fusion, fusion_k=fusion_k, weights=weights
    )


def _exact_top(
    scores: np.ndarray, passing: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    nq = scores.shape[0]
    ids = np.full((nq, depth), -1, dtype=np.int64)
    out = np.full((nq, depth), -np.inf)
    for i in range(nq):
        cand = np.flatnonzero(passing[i])
        best = cand[np.lexsort((cand, -scores[i, cand]))][:depth]
        ids[i, : best.size] = best
        out[i, : best.size] = scores[i, best]
    return ids, out


# --------------------------------------------------------- the Index hooks
def build_sparse_side(
    sparse, params: Mapping[str, Any] | None, n: int, store, threads: int
) -> SparseIndex:
    """The :class:`SparseIndex` a hybrid index keeps: ``sparse`` rows over the
    dense index's ``n`` rows, sharing its attribute ``store``."""
    params = _checked_options(params, _SPARSE_BUILD_KEYS, "sparse_params")
    built = SparseIndex.build(sparse, threads=threads, **params)
    if len(built) != n:
        raise ValueError(
            f"sparse has {len(built)} rows, vectors has {n}: they must describe the same rows"
        )
    return built._with_store(store)


def search(
    index: Index,
    queries,
    k: int,
    *,
    sparse,
    fusion: str,
    fusion_k,
    weights,
    depth: int | None,
    sparse_options: Mapping[str, Any] | None,
    ef: int | None,
    filter,
    threads: int,
    exact_threshold: int | None,
    planner=None,
) -> HybridSearchResult | SparseSearchResult:
    """``Index.search`` with ``sparse=`` (see there): hybrid or sparse-only."""
    side: SparseIndex | None = index._sparse
    if sparse is None:
        if queries is None:
            raise ValueError(
                "queries is None: pass dense queries, or sparse= for a sparse-only search"
            )
        raise ValueError(
            "fusion, fusion_k, weights, depth and sparse_options apply only to "
            "searches with sparse= (hybrid or sparse-only)"
        )
    if side is None:
        raise ValueError(
            "this index holds no sparse vectors: build it with Index.build(..., sparse=csr)"
        )
    options = _checked_options(sparse_options, _SPARSE_SEARCH_KEYS, "sparse_options")
    if queries is None:
        if fusion_arguments_given(fusion, fusion_k, weights, depth, None):
            raise ValueError(
                "fusion, fusion_k, weights and depth apply to hybrid searches "
                "(dense queries and sparse=); queries=None is a sparse-only search"
            )
        if ef is not None or exact_threshold is not None or planner is not None:
            raise ValueError(
                "ef, exact_threshold and planner apply to the dense side; queries=None "
                "is a sparse-only search (use sparse_options=)"
            )
        return side.search(sparse, k, filter=filter, threads=threads, **options)
    if not isinstance(fusion, str) or fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
    fusion_k = _as_real(fusion_k, "fusion_k")
    pair = _as_weights(weights)
    k = as_count(k, "k", minimum=1)
    depth = max(k, DEFAULT_DEPTH) if depth is None else as_count(depth, "depth", minimum=1)
    if depth < k:
        raise ValueError(
            f"depth ({depth}) must be at least k ({k}): each side fetches depth candidates"
        )
    depth = min(depth, max(k, len(index)))
    # The dense side's ranking below the top few matters to every rule: at
    # ef = depth its recall@100 was 0.93 on arxiv-mini, at 2 * depth 0.975
    # (bench/sparse.md, "Hybrid search").
    ef = DEFAULT_EF_PER_DEPTH * depth if ef is None else ef
    # The sparse batch is checked before the dense search runs: a bad one
    # should not cost a full dense search first.
    sparse = _as_csr(sparse, "sparse", n_cols=side.n_terms)  # checked once, for both uses
    nq_sparse = sparse.n_rows
    nq_dense = np.shape(queries)[0] if np.ndim(queries) == 2 else 1
    if nq_sparse != nq_dense:
        raise ValueError(f"sparse has {nq_sparse} query rows, queries has {nq_dense}")
    rule = (FUSIONS.index(fusion), fusion_k, pair)
    core = _one_filter_pass(index, side, filter, nq_dense)
    if core is not None:
        return _search_shared(
            core,
            side,
            queries,
            sparse,
            k,
            depth,
            ef=ef,
            filter=filter,
            threads=threads,
            exact_threshold=exact_threshold,
            planner=planner,
            options=options,
            fusion=rule,
        )
    dense = index.search(
        queries,
        depth,
        ef=ef,
        filter=filter,
        threads=threads,
        exact_threshold=exact_threshold,
        planner=planner,
    )
    found = side.search(sparse, depth, filter=filter, threads=threads, **options)
    if found.ids.shape[0] != dense.ids.shape[0]:
        raise ValueError(
            f"sparse has {found.ids.shape[0]} query rows, queries has {dense.ids.shape[0]}"
        )
    return _fused(dense, found, k, rule, threads)


def _one_filter_pass(index: Index, side: SparseIndex, filter, nq: int) -> Index | None:
    """The graph both sides can search with the filters compiled once, as
    :func:`_search_shared` does (the index's one segment, no row deleted, the
    sparse side over its attribute store, a batch whose distinct filters are
    compiled at once), or None."""
    core = index
    if index._segments is not None:
        snapshot = index._segments.snapshot  # one read: what a plain search would see
        if not snapshot.plain:
            return None
        core = snapshot.segments[0].core
    n = len(core)
    plain = (
        core._segments is None
        and core._live is None
        and core._sparse is side
        and side._rows.identity
        and side._store is core._store
        and query_groups(filter, n, nq, filters_per_group(n)) is None
    )
    return core if plain else None


def _search_shared(
    core: Index,
    side: SparseIndex,
    queries,
    sparse: _Csr,
    k: int,
    depth: int,
    *,
    ef,
    filter,
    threads,
    exact_threshold,
    planner,
    options: dict,
    fusion: tuple[int, float, tuple[float, float]],
) -> HybridSearchResult:
    """The two searches of a hybrid call on the graph ``core`` and their
    fusion, each argument checked once (raising what ``Index.search`` and
    ``SparseIndex.search`` raise) and the filters compiled once for both sides."""
    # The dense side's checks, in Index.search's order.
    threads = as_count(threads, "threads", minimum=0, maximum=4096)
    ef = max(as_count(ef, "ef", minimum=1), depth)
    q = as_matrix(queries, "queries", dim=core.dim, allow_1d=True)
    check_result_count(q.shape[0], depth, len(core))
    if core._metric == "cosine":
        q = normalise_rows(q, "queries")
    params = core._planner(exact_threshold, planner)
    routed = core._route(filter, q.shape[0], params, ef, depth)
    # The sparse side's, in SparseIndex.search's order (the batch is checked).
    checked = side._checked_options(depth, threads, **options)
    n_docs = int(side._engine.n_docs)
    check_result_count(sparse.n_rows, depth, n_docs)
    # A filter the range graph answers is left uncompiled there; the sparse
    # side compiles its own then.
    prepared = (
        routed.prepared
        if not routed.routes
        else prepare_filters(filter, side._store, n_docs, sparse.n_rows)
    )
    dense = core._search_routed(q, depth, ef, routed, threads, params)
    found = side._search_prepared(sparse, prepared, side._rows, checked)
    return _fused(dense, found, k, fusion, threads)


def _fused(dense, found, k: int, fusion: tuple[int, float, tuple[float, float]], threads: int):
    """The hybrid result of a dense and a sparse search of the same queries,
    fused in the engine by ``fusion`` (rule index, fusion_k, weights), all
    checked by the caller."""
    rule, fusion_k, (dense_weight, sparse_weight) = fusion
    ids, scores, sources = _core.fuse(
        dense.ids,
        np.negative(dense.distances, dtype=np.float64),
        found.ids,
        found.scores,
        k,
        rule,
        fusion_k,
        dense_weight,
        sparse_weight,
        threads,
    )
    plans = _joined_plans(dense.plans, found.plans)
    return HybridSearchResult(ids=ids, scores=scores, plans=plans, sources=sources)


def _joined_plans(dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
    """``"<dense plan>+<sparse plan>"`` per query (as ``np.char.add`` would
    give, dtype included, without its cost on small batches)."""
    width = dense.dtype.itemsize // 4 + 1 + sparse.dtype.itemsize // 4
    return np.array([f"{a}+{b}" for a, b in zip(dense.tolist(), sparse.tolist())], dtype=f"<U{width}")


def fusion_arguments_given(fusion, fusion_k, weights, depth, sparse_options) -> bool:
    """Whether any argument that only a search with ``sparse=`` uses differs from its default."""
    return not (
        isinstance(fusion, str)
        and fusion == "rrf"
        and type(fusion_k) is int
        and fusion_k == DEFAULT_FUSION_K
        and weights is None
        and depth is None
        and sparse_options is None
    )


def _checked_options(options, allowed: Sequence[str], name: str) -> dict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"{name} must be a dict, not {type(options).__name__}")
    unknown = [key for key in options if key not in allowed]
    if unknown:
        raise ValueError(f"{name} has unknown key(s) {unknown}; expected some of {list(allowed)}")
    return dict(options)


def _as_real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    value = float(value)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def _as_weights(weights) -> tuple[float, float]:
    if weights is None:
        return (1.0, 1.0)
    if isinstance(weights, (str, bytes, Mapping)) or not isinstance(
        weights, (Sequence, np.ndarray)
    ):
        raise TypeError(
            f"weights must be a pair (dense, sparse) of real numbers, not {type(weights).__name__}"
        )
    if len(weights) != 2:
        raise ValueError(f"weights must be a pair (dense, sparse), got {len(weights)} values")
    pair = (_as_real(weights[0], "weights[0]"), _as_real(weights[1], "weights[1]"))
    if pair == (0.0, 0.0):
        raise ValueError("weights must not both be 0")
    return pair
