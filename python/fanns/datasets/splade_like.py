"""SPLADE-like synthetic sparse vectors: documents, and queries written from documents.

``splade_like_sparse`` draws rows shaped like SPLADE vectors of MS MARCO
passages (or, with other parameters, independent queries);
``splade_like_queries`` writes each query from one document of a generated
collection, as each MS MARCO query was written for one passage. Both are
importable from :mod:`fanns.datasets.bm25` as well. Their statistics against
real SPLADE rows are in ``bench/sparse.md`` (``python -m fanns.bench.sparse_stats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["splade_like_queries", "splade_like_sparse"]


def _check_shares(**shares: float) -> None:
    """A ValueError naming the first of ``shares`` outside [0, 1]."""
    for name, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {share}")


class _Vocabulary:
    """Term popularity, topics and per-term weight parts shared by documents and queries."""

    def __init__(
        self,
        n_terms: int,
        *,
        topic_seed: int,
        n_topics: int,
        topic_terms: int,
        exponent: float,
        head_cap: float | None,
    ) -> None:
        if n_terms <= 0 or not exponent > 0:
            raise ValueError(f"need n_terms > 0 and exponent > 0 (got {n_terms}, {exponent})")
        if head_cap is not None and not 0.0 < head_cap <= 1.0:
            raise ValueError(f"head_cap must be in (0, 1] or None, got {head_cap}")
        if n_topics < 1 or not 1 <= topic_terms <= n_terms:
            raise ValueError("need n_topics >= 1 and 1 <= topic_terms <= n_terms")
        ranks = np.arange(1, n_terms + 1, dtype=np.float64)
        p = ranks**-exponent
        p /= p.sum()
        if head_cap is not None and head_cap * n_terms > 1.0:
            for _ in range(64):  # water-filling: cap the head, renormalise the rest
                if p[0] <= head_cap * (1 + 1e-9):
                    break
                p = np.minimum(p, head_cap)
                p /= p.sum()
        self.n_terms = n_terms
        self.cdf = np.cumsum(p)
        self.cdf[-1] = 1.0
        # Topics: distinct terms by popularity (Gumbel top-k), most popular first.
        topic_rng = np.random.default_rng(topic_seed)
        log_p = np.log(p)
        self.topics = np.empty((n_topics, topic_terms), dtype=np.int64)
        for t in range(n_topics):
            keys = log_p + topic_rng.gumbel(size=n_terms)
            members = np.argpartition(-keys, topic_terms - 1)[:topic_terms]
            self.topics[t] = members[np.argsort(-keys[members], kind="stable")]
        self.term_part = topic_rng.standard_normal(n_terms)
        inner = np.arange(1, topic_terms + 1, dtype=np.float64) ** -exponent
        self.inner_cdf = np.cumsum(inner / inner.sum())
        self.inner_cdf[-1] = 1.0

    def topic_terms(self, rng: np.random.Generator, topic: int, count: int) -> np.ndarray:
        """About ``count`` draws from a topic (Zipf inside it), duplicates included, in order."""
        at = np.searchsorted(self.inner_cdf, rng.random(2 * count + 8))
        return self.topics[topic][np.minimum(at, self.topics.shape[1] - 1)]

    def fill(self, rng: np.random.Generator, chosen: np.ndarray, m: int) -> np.ndarray:
        """``chosen`` completed to ``m`` distinct terms by global popularity (order kept)."""
        for _ in range(8):
            need = m - chosen.size
            if need <= 0:
                break
            extra = np.minimum(
                np.searchsorted(self.cdf, rng.random(2 * need + 8), side="right"),
                self.n_terms - 1,
            )
            pool = np.concatenate([chosen, extra])
            _, first = np.unique(pool, return_index=True)
            chosen = pool[np.sort(first)][:m]
        if chosen.size < m:  # rows nearly as wide as the vocabulary: fill uniformly
            unused = np.setdiff1d(np.arange(self.n_terms), chosen)
            chosen = np.concatenate([chosen, rng.choice(unused, m - chosen.size, replace=False)])
        return chosen

    def weights(
        self, rng: np.random.Generator, terms: np.ndarray, median: float, sigma: float, share: float
    ) -> np.ndarray:
        """``median * exp(sigma * z)``, ``z`` ``sqrt(share)`` parts the term's own normal."""
        z = np.sqrt(share) * self.term_part[terms] + np.sqrt(1.0 - share) * (
            rng.standard_normal(terms.size)
        )
        return (median * np.exp(sigma * z)).astype(np.float32)


def _row_sizes(rng: np.random.Generator, n: int, nnz_mean: float, n_terms: int) -> np.ndarray:
    sizes = np.rint(nnz_mean * rng.lognormal(-0.045, 0.3, size=n))  # mean factor 1
    return np.minimum(np.maximum(1, sizes).astype(np.int64), n_terms)


def _first_distinct(pool: np.ndarray, count: int) -> np.ndarray:
    _, first = np.unique(pool, return_index=True)
    return pool[np.sort(first)][:count]


def splade_like_sparse(
    n: int,
    n_terms: int = 30522,
    *,
    nnz_mean: float = 120.0,
    seed: int = 0,
    topic_seed: int = 0,
    n_topics: int = 500,
    topic_terms: int = 300,
    topic_share: float = 0.5,
    exponent: float = 1.0,
    weight_sigma: float = 0.9,
    weight_median: float = 0.28,
    head_cap: float | None = 0.0025,
    term_weight_share: float = 0.4,
) -> Any:
    """``n`` random rows shaped like learned sparse (SPLADE) vectors.

    Defaults follow published statistics of SPLADE on MS MARCO passages: a
    30,522-term WordPiece vocabulary, about 120 non-zeros per document (use
    ``nnz_mean`` of about 43 for queries), weights that are log-saturated
    activations (most small, a long tail of a few large ones) and terms that
    co-occur by topic (a passage is expanded with related terms). A row:

    * draws its number of terms as ``nnz_mean`` times a log-normal factor
      (sigma 0.3), at least one;
    * picks one of ``n_topics`` topics; each topic is ``topic_terms`` terms
      drawn by global popularity (Zipf with ``exponent`` over the vocabulary,
      no term more likely than ``head_cap`` per draw, the excess spread over
      the rest), ranked, and used with Zipf probabilities inside the topic;
    * takes about ``topic_share`` of its terms from its topic and the rest
      from the global Zipf distribution (distinct terms);
    * gives each term the weight ``weight_median * exp(weight_sigma * z)``
      (defaults: median 0.28, 1 % above 2.3), where the standard normal ``z``
      is ``sqrt(term_weight_share)`` parts the term's own (the same in every
      row, as a term carries a similar importance wherever SPLADE puts it) and
      the rest the row's.

    The head cap stands for SPLADE's FLOPS regulariser, which penalises long
    posting lists: without it the most popular WordPiece terms would occur in
    every row; with it (about 120 terms a row) no term is in more than about
    a third of the rows. The statistics against real SPLADE rows, with their
    sources, are in ``bench/sparse.md`` (``python -m fanns.bench.sparse_stats``).

    Rows generated with the same ``topic_seed`` share topics, so queries
    (another ``seed``, smaller ``nnz_mean``) have related documents.
    Deterministic for given seeds.

    >>> from fanns.datasets.bm25 import splade_like_sparse
    >>> docs = splade_like_sparse(200, seed=1)
    >>> queries = splade_like_sparse(5, nnz_mean=43, seed=2)
    >>> docs.shape, queries.shape
    ((200, 30522), (5, 30522))
    """
    if n < 0 or n_terms <= 0:
        raise ValueError(f"need n >= 0 and n_terms > 0 (got n={n}, n_terms={n_terms})")
    if not nnz_mean > 0 or not exponent > 0 or not weight_sigma >= 0 or not weight_median > 0:
        raise ValueError("nnz_mean, exponent and weight_median must be positive, weight_sigma >= 0")
    _check_shares(term_weight_share=term_weight_share, topic_share=topic_share)
    from fanns.datasets.bm25 import _csr

    vocab = _Vocabulary(
        n_terms,
        topic_seed=topic_seed,
        n_topics=n_topics,
        topic_terms=topic_terms,
        exponent=exponent,
        head_cap=head_cap,
    )
    rng = np.random.default_rng(seed)
    sizes = _row_sizes(rng, n, nnz_mean, n_terms)
    row_topics = rng.integers(0, n_topics, size=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    parts: list[np.ndarray] = []
    for i in range(n):
        m = int(sizes[i])
        from_topic = int(rng.binomial(m, topic_share))
        # Oversample, then keep the first distinct terms (topic terms first).
        chosen = _first_distinct(vocab.topic_terms(rng, row_topics[i], from_topic), from_topic)
        chosen = vocab.fill(rng, chosen, m)
        parts.append(np.sort(chosen))
        indptr[i + 1] = indptr[i] + chosen.size
    terms = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    weights = vocab.weights(rng, terms, weight_median, weight_sigma, term_weight_share)
    return _csr(indptr, terms.astype(np.int32), weights, (n, n_terms))


def splade_like_queries(
    docs: Any,
    n: int,
    *,
    seed: int = 0,
    nnz_mean: float = 43.0,
    source_share: float = 0.5,
    source_jitter: float = 0.5,
    topic_share: float = 0.5,
    weight_sigma: float = 1.0,
    weight_median: float = 0.28,
    term_weight_share: float = 0.4,
    topic_seed: int = 0,
    n_topics: int = 500,
    topic_terms: int = 300,
    exponent: float = 1.0,
    head_cap: float | None = 0.0025,
) -> tuple[Any, np.ndarray]:
    """``n`` SPLADE-like queries, each written from one document of ``docs``.

    Each MS MARCO query was written for one passage (about one relevant
    passage per query), so one document of the collection (its source)
    answers it particularly well; queries drawn independently of the
    documents (``splade_like_sparse`` with another seed) have no such
    document. A query here:

    * picks its source document uniformly from the rows of ``docs`` (CSR,
      e.g. ``splade_like_sparse(n_docs, seed=1)``);
    * draws its number of terms as ``splade_like_sparse`` does (``nnz_mean``
      times a log-normal factor);
    * keeps about ``source_share`` of them from the source, heaviest first
      (sampled without replacement with probability proportional to the
      source's weight: the terms a reader of the passage would ask about),
      each weighted ``w_source * exp(source_jitter * N(0, 1))`` (re-drawn
      around the source's weight, as a query term's SPLADE weight follows,
      but is not, the passage's);
    * adds expansion terms: about ``topic_share`` of the rest from the
      source's topic (the topic of the ``splade_like_sparse`` generator whose
      terms the source shares most), the others by global popularity; each
      weighted as ``splade_like_sparse`` weights a row (``weight_median``,
      ``weight_sigma`` 1.0: queries spread more than documents).

    The vocabulary parameters (``topic_seed`` to ``head_cap``) must be those
    the documents were generated with. Returns ``(queries, sources)``: CSR
    rows (float32) and each query's source document. Deterministic for a
    given ``seed``.

    >>> from fanns.datasets.bm25 import splade_like_queries, splade_like_sparse
    >>> docs = splade_like_sparse(200, seed=1)
    >>> queries, sources = splade_like_queries(docs, 5, seed=2)
    >>> queries.shape, sources.shape
    ((5, 30522), (5,))
    """
    from fanns.datasets.bm25 import _csr

    if hasattr(docs, "tocsr"):
        docs = docs.tocsr()  # no copy for CSR input
    if not all(hasattr(docs, a) for a in ("indptr", "indices", "data", "shape")):
        raise TypeError(f"docs must be a CSR matrix (indptr, indices, data), got {type(docs)}")
    indptr_d, terms_d, data_d = docs.indptr, docs.indices, docs.data  # read row by row
    n_docs, n_terms = (int(x) for x in docs.shape)
    if n < 0:
        raise ValueError(f"need n >= 0 (got {n})")
    if n > 0 and n_docs == 0:
        raise ValueError("docs has no rows to write queries from")
    if not nnz_mean > 0 or not weight_sigma >= 0 or not weight_median > 0 or not source_jitter >= 0:
        raise ValueError("nnz_mean and weight_median must be positive, the sigmas >= 0")
    _check_shares(
        source_share=source_share, topic_share=topic_share, term_weight_share=term_weight_share
    )
    vocab = _Vocabulary(
        n_terms,
        topic_seed=topic_seed,
        n_topics=n_topics,
        topic_terms=topic_terms,
        exponent=exponent,
        head_cap=head_cap,
    )
    rng = np.random.default_rng(seed)
    sizes = _row_sizes(rng, n, nnz_mean, n_terms)
    sources = rng.integers(0, max(n_docs, 1), size=n)
    # The source's terms as a mask, to name its topic (most shared terms, lowest id on ties).
    members = np.zeros(n_terms, dtype=bool)
    indptr = np.zeros(n + 1, dtype=np.int64)
    parts_t: list[np.ndarray] = []
    parts_w: list[np.ndarray] = []
    for i in range(n):
        a, b = int(indptr_d[sources[i]]), int(indptr_d[sources[i] + 1])
        src_terms = np.asarray(terms_d[a:b], dtype=np.int64)
        src_w = np.asarray(data_d[a:b], dtype=np.float64)
        if src_terms.size == 0 or np.any(src_w <= 0):
            raise ValueError(f"source document {sources[i]} has no terms or a weight <= 0")
        if np.unique(src_terms).size != src_terms.size:
            raise ValueError(f"source document {sources[i]} repeats a term (sum duplicates first)")
        m = int(sizes[i])
        keep = min(max(1, int(rng.binomial(m, source_share))), src_terms.size)
        # Weight-proportional sampling without replacement (Gumbel top-k on log weights).
        keys = np.log(src_w) + rng.gumbel(size=src_terms.size)
        picked = np.argsort(-keys, kind="stable")[:keep]
        kept = src_terms[picked]
        kept_w = src_w[picked] * np.exp(source_jitter * rng.standard_normal(keep))
        members[src_terms] = True
        topic = int(np.argmax(members[vocab.topics].sum(axis=1)))
        members[src_terms] = False
        from_topic = int(rng.binomial(m - keep, topic_share)) if m > keep else 0
        pool = np.concatenate([kept, vocab.topic_terms(rng, topic, from_topic)])
        chosen = _first_distinct(pool, keep + from_topic)  # kept terms first, all distinct
        chosen = vocab.fill(rng, chosen, max(m, keep))
        extra = chosen[keep:]
        extra_w = vocab.weights(rng, extra, weight_median, weight_sigma, term_weight_share)
        row_t = np.concatenate([kept, extra])
        row_w = np.concatenate([kept_w.astype(np.float32), extra_w])
        order = np.argsort(row_t, kind="stable")
        parts_t.append(row_t[order])
        parts_w.append(row_w[order])
        indptr[i + 1] = indptr[i] + row_t.size
    terms = np.concatenate(parts_t) if parts_t else np.zeros(0, dtype=np.int64)
    weights = np.concatenate(parts_w) if parts_w else np.zeros(0, dtype=np.float32)
    return _csr(indptr, terms.astype(np.int32), weights, (n, n_terms)), sources
