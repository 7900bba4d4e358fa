"""Sparse vectors from text (BM25) and synthetic generators (Zipf, SPLADE-like).

Documents become BM25 weight vectors and queries become term-count vectors over
the same vocabulary, so that the inner product of a query with a document is
the document's BM25 score for that query::

    >>> docs, vocab = bm25_vectors(["sparse retrieval with blocks", "dense retrieval"])
    >>> queries = bm25_queries(["sparse retrieval"], vocab)
    >>> scores = (docs @ queries.T).toarray().ravel()  # BM25 of each document
    >>> int(scores.argmax())
    0

Matrices are returned as ``scipy.sparse.csr_matrix`` when SciPy is installed and
as :class:`SparseRows` (same ``indptr``/``indices``/``data``/``shape``) otherwise.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np

__all__ = [
    "STOPWORDS",
    "SparseRows",
    "bm25_queries",
    "bm25_vectors",
    "load_texts",
    "splade_like_queries",
    "splade_like_sparse",
    "tokenize",
    "zipf_sparse",
]

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    """.split()
)

_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens of ``text`` without English stopwords.

    >>> tokenize("The Sparse-Retrieval of 2 blocks")
    ['sparse', 'retrieval', '2', 'blocks']
    """
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class SparseRows:
    """A minimal CSR matrix (``indptr``, ``indices``, ``data``, ``shape``) without SciPy.

    >>> m = SparseRows(np.array([0, 1]), np.array([2]), np.array([0.5], np.float32), (1, 3))
    >>> m.nnz
    1
    """

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        shape: tuple[int, int],
    ) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.data = np.asarray(data, dtype=np.float32)
        self.shape = (int(shape[0]), int(shape[1]))
        if self.indptr.shape != (self.shape[0] + 1,) or self.indices.shape != self.data.shape:
            raise ValueError("inconsistent CSR arrays")

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def tocsr(self) -> SparseRows:
        return self

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def __repr__(self) -> str:
        return f"SparseRows(shape={self.shape}, nnz={self.nnz})"


def _csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> Any:
    try:
        import scipy.sparse as sp
    except ImportError:
        return SparseRows(indptr, indices, data, shape)
    return sp.csr_matrix((data, indices, indptr), shape=shape)


class _Tokens:
    """Every token of a corpus, flattened, with its row and whether it counts."""

    def __init__(self, texts: Iterable[str], tokenizer: Callable[[str], Sequence[str]]) -> None:
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a sequence of strings, not a single string")
        fast = tokenizer is tokenize
        per_row: list[Sequence[str]] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, expected str")
            per_row.append(_TOKEN.findall(text.lower()) if fast else tokenizer(text))
        self.n_rows = len(per_row)
        self.flat = list(chain.from_iterable(per_row))
        self.rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), [len(r) for r in per_row])
        if fast:
            stop = np.fromiter(
                map(STOPWORDS.__contains__, self.flat), dtype=bool, count=len(self.flat)
            )
        else:
            stop = np.zeros(len(self.flat), dtype=bool)
        self.drops_stopwords = fast
        self.counted = ~stop
        self.lengths = np.bincount(self.rows[self.counted], minlength=self.n_rows)

    def distinct(self) -> list[str]:
        """Counted tokens in order of first appearance."""
        names = dict.fromkeys(self.flat)
        if self.drops_stopwords:
            return [t for t in names if t not in STOPWORDS]
        return list(names)

    def term_counts(self, vocab: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct (row, term id) pairs sorted by row then term, with their counts."""
        lookup = {t: i for t, i in vocab.items() if not (self.drops_stopwords and t in STOPWORDS)}
        ids = np.fromiter(
            map(lookup.get, self.flat, repeat(-1)), dtype=np.int64, count=len(self.flat)
        )
        keep = ids >= 0
        rows, ids = self.rows[keep], ids[keep]
        width = int(ids.max()) + 1 if ids.size else 1
        keys, counts = np.unique(rows * width + ids, return_counts=True)
        return keys // width, keys % width, counts.astype(np.float64)


def bm25_vectors(
    texts: Iterable[str],
    *,
    vocabulary: Mapping[str, int] | None = None,
    k1: float = 1.2,
    b: float = 0.75,
    tokenizer: Callable[[str], Sequence[str]] = tokenize,
) -> tuple[Any, dict[str, int]]:
    """BM25 weight vectors of ``texts`` as a CSR matrix, and the vocabulary used.

    The weight of term ``t`` in document ``d`` is
    ``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))`` with
    ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``. Without ``vocabulary`` every
    token becomes a term, numbered by decreasing document frequency (ties in
    alphabetical order); with one, tokens outside it are ignored (they still
    count in the document length).

    >>> docs, vocab = bm25_vectors(["a cat sat", "a dog sat"])
    >>> sorted(vocab)
    ['cat', 'dog', 'sat']
    """
    if k1 < 0 or not 0.0 <= b <= 1.0:
        raise ValueError(f"need k1 >= 0 and 0 <= b <= 1 (got k1={k1}, b={b})")
    tokens = _Tokens(texts, tokenizer)
    n = tokens.n_rows
    if vocabulary is None:
        names = tokens.distinct()
        rows, terms, tf = tokens.term_counts({t: i for i, t in enumerate(names)})
        df_first = np.bincount(terms, minlength=len(names))
        order = sorted(range(len(names)), key=lambda i: (-df_first[i], names[i]))
        renumber = np.empty(len(names), dtype=np.int64)
        renumber[np.asarray(order, dtype=np.int64)] = np.arange(len(names))
        vocab = {names[i]: r for r, i in enumerate(order)}
        terms = renumber[terms]
        resort = np.lexsort((terms, rows))
        rows, terms, tf = rows[resort], terms[resort], tf[resort]
    else:
        vocab = _check_vocabulary(vocabulary)
        rows, terms, tf = tokens.term_counts(vocab)
    n_terms = max(vocab.values(), default=-1) + 1
    lengths = tokens.lengths.astype(np.float64)
    avgdl = float(lengths.mean()) if n and lengths.sum() > 0 else 1.0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    df = np.bincount(terms, minlength=n_terms).astype(np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    norm = k1 * (1.0 - b + b * lengths[rows] / avgdl)
    weights = idf[terms] * tf * (k1 + 1.0) / (tf + norm)
    indices = terms
    matrix = _csr(indptr, indices.astype(np.int32), weights.astype(np.float32), (n, n_terms))
    return matrix, vocab


def bm25_queries(
    texts: Iterable[str],
    vocabulary: Mapping[str, int],
    *,
    binary: bool = False,
    tokenizer: Callable[[str], Sequence[str]] = tokenize,
) -> Any:
    """Query vectors over ``vocabulary``: term counts (or 1 per distinct term with ``binary``).

    Tokens outside the vocabulary are dropped; the inner product with
    :func:`bm25_vectors` rows is then the BM25 score.

    >>> _, vocab = bm25_vectors(["graph search", "sparse search"])
    >>> bm25_queries(["search search graph"], vocab).toarray().tolist()
    [[2.0, 1.0, 0.0]]
    """
    vocab = _check_vocabulary(vocabulary)
    n_terms = max(vocab.values(), default=-1) + 1
    tokens = _Tokens(texts, tokenizer)
    rows, terms, tf = tokens.term_counts(vocab)
    indptr = np.zeros(tokens.n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=tokens.n_rows), out=indptr[1:])
    data = np.ones(tf.size, dtype=np.float32) if binary else tf.astype(np.float32)
    return _csr(indptr, terms.astype(np.int32), data, (tokens.n_rows, n_terms))


def _check_vocabulary(vocabulary: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(vocabulary, Mapping):
        raise TypeError(f"vocabulary must be a mapping term -> id, not {type(vocabulary).__name__}")
    vocab = {}
    for term, idx in vocabulary.items():
        if not isinstance(term, str) or isinstance(idx, bool) or not isinstance(idx, int):
            raise TypeError(f"vocabulary entry {term!r}: {idx!r} is not str -> int")
        if idx < 0:
            raise ValueError(f"vocabulary entry {term!r} has negative id {idx}")
        vocab[term] = idx
    return vocab


def zipf_sparse(
    n: int,
    n_terms: int,
    *,
    nnz_mean: float = 60.0,
    seed: int = 0,
    exponent: float = 1.0,
) -> Any:
    """``n`` random sparse rows over ``n_terms`` terms whose frequencies follow Zipf's law.

    Each row draws about ``nnz_mean`` distinct terms (Poisson-distributed count,
    at least one), term ``i`` with probability proportional to
    ``1 / (i + 1) ** exponent``. A weight is ``idf * u`` with ``u`` uniform in
    ``[0.1, 1)`` and ``idf = ln(1 / p_i)``, so rare terms weigh more, as in
    learned and lexical sparse models. Deterministic for a given ``seed``.

    >>> x = zipf_sparse(100, 1000, nnz_mean=20, seed=1)
    >>> x.shape
    (100, 1000)
    """
    if n < 0 or n_terms <= 0:
        raise ValueError(f"need n >= 0 and n_terms > 0 (got n={n}, n_terms={n_terms})")
    if not nnz_mean > 0 or not exponent > 0:
        raise ValueError("nnz_mean and exponent must be positive")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_terms + 1, dtype=np.float64)
    p = ranks**-exponent
    p /= p.sum()
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    sizes = np.clip(rng.poisson(nnz_mean, size=n), 1, n_terms)
    total = int(sizes.sum())
    draws = np.minimum(np.searchsorted(cdf, rng.random(total), side="right"), n_terms - 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
    keys = np.unique(rows * n_terms + draws)
    rows = keys // n_terms
    terms = keys % n_terms
    idf = np.log(1.0 / p)
    weights = (idf[terms] * rng.uniform(0.1, 1.0, size=terms.size)).astype(np.float32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return _csr(indptr, terms.astype(np.int32), weights, (n, n_terms))


def load_texts(
    directory: str | os.PathLike,
    *,
    limit: int | None = None,
) -> tuple[list[str], list[str]]:
    """Document texts (``title abstract``) and query texts of an arXiv-for-FANNS directory.

    Reads ``database_texts.jsonl.gz`` (line ``i`` = vector ``i``) and
    ``query_texts.jsonl``; ``limit`` keeps the first documents only.

    >>> docs, queries = load_texts("datasets/arxiv-mini", limit=1000)  # doctest: +SKIP
    """
    directory = os.fspath(directory)
    doc_path = os.path.join(directory, "database_texts.jsonl.gz")
    query_path = os.path.join(directory, "query_texts.jsonl")
    for path in (doc_path, query_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"missing {path}")
    docs: list[str] = []
    with gzip.open(doc_path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            if limit is not None and len(docs) >= limit:
                break
            record = _json_line(line, doc_path, line_no)
            docs.append(f"{record.get('title') or ''} {record.get('abstract') or ''}".strip())
    queries: list[str] = []
    with open(query_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            queries.append(str(_json_line(line, query_path, line_no).get("query") or ""))
    return docs, queries


def _json_line(line: str, path: str, line_no: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{path}:{line_no + 1}: not valid JSON") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{line_no + 1}: expected a JSON object")
    return record


# The SPLADE-like generators live in their own module (they use ``_csr`` above);
# they stay importable from here.
from fanns.datasets.splade_like import splade_like_queries, splade_like_sparse  # noqa: E402
