"""BM25 vectors against a direct implementation of the formula, and the synthetic generators."""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from fanns.datasets.bm25 import (
    STOPWORDS,
    SparseRows,
    bm25_queries,
    bm25_vectors,
    load_texts,
    splade_like_queries,
    splade_like_sparse,
    tokenize,
    zipf_sparse,
)

CORPUS = [
    "Sparse retrieval with learned term weights and inverted indexes.",
    "Dense retrieval embeds queries and documents; sparse retrieval counts terms.",
    "Graph-based nearest neighbour search: HNSW graphs for dense vectors.",
    "The cat sat on the mat, the cat slept.",
    "Inverted indexes, block summaries and static pruning for sparse vectors!",
    "",
]
QUERIES = ["sparse retrieval", "graph search for dense vectors vectors", "cat mat zebra", ""]


def brute_bm25(texts, queries, k1=1.2, b=0.75):
    """(nq, n) BM25 scores computed term by term from the definition."""
    docs = [tokenize(t) for t in texts]
    n = len(docs)
    avgdl = sum(map(len, docs)) / n
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros((len(queries), n))
    for qi, q in enumerate(queries):
        for term, qtf in Counter(tokenize(q)).items():
            if term not in df:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            for di, d in enumerate(docs):
                tf = d.count(term)
                if tf:
                    norm = k1 * (1 - b + b * len(d) / avgdl)
                    out[qi, di] += qtf * idf * tf * (k1 + 1) / (tf + norm)
    return out


def test_tokenize():
    assert tokenize("The Sparse-Retrieval of 2 BLOCKS, and_graphs") == [
        "sparse",
        "retrieval",
        "2",
        "blocks",
        "graphs",
    ]
    assert tokenize("") == []
    assert "the" in STOPWORDS and "retrieval" not in STOPWORDS


def test_inner_product_is_bm25_score():
    docs, vocab = bm25_vectors(CORPUS)
    queries = bm25_queries(QUERIES, vocab)
    assert isinstance(docs, sp.csr_matrix) and docs.dtype == np.float32
    assert docs.shape == (len(CORPUS), len(vocab)) and queries.shape == (len(QUERIES), len(vocab))
    got = (docs.astype(np.float64) @ queries.astype(np.float64).T).toarray().T
    np.testing.assert_allclose(got, brute_bm25(CORPUS, QUERIES), rtol=1e-6)
    assert (docs.data > 0).all() and docs.has_sorted_indices


def test_parameters_change_weights_as_the_formula_says():
    for k1, b in ((0.9, 0.4), (2.0, 1.0), (1.2, 0.0)):
        docs, vocab = bm25_vectors(CORPUS, k1=k1, b=b)
        got = (docs @ bm25_queries(QUERIES, vocab).T).toarray().T
        np.testing.assert_allclose(got, brute_bm25(CORPUS, QUERIES, k1, b), rtol=1e-5)


def test_vocabulary_numbering_and_reuse():
    docs, vocab = bm25_vectors(CORPUS)
    df = Counter(t for text in CORPUS for t in set(tokenize(text)))
    order = sorted(df, key=lambda t: (-df[t], t))
    assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])] == order
    # a fixed vocabulary: unknown tokens are dropped but still count in the length
    small = {"sparse": 0, "cat": 1}
    restricted, same = bm25_vectors(CORPUS, vocabulary=small)
    assert same == small and restricted.shape == (len(CORPUS), 2)
    full = brute_bm25(CORPUS, ["sparse", "cat"])
    np.testing.assert_allclose(restricted.toarray().T, full, rtol=1e-6)


def test_queries_binary_and_counts():
    _, vocab = bm25_vectors(CORPUS)
    counts = bm25_queries(["vectors vectors dense unknownword"], vocab).toarray()[0]
    binary = bm25_queries(["vectors vectors dense unknownword"], vocab, binary=True).toarray()[0]
    assert counts[vocab["vectors"]] == 2 and counts[vocab["dense"]] == 1 and counts.sum() == 3
    assert binary[vocab["vectors"]] == 1 and binary.sum() == 2


def test_custom_tokenizer():
    docs, vocab = bm25_vectors(["a-b a-b c"], tokenizer=lambda s: s.split())
    assert set(vocab) == {"a-b", "c"}
    assert docs.nnz == 2


def test_bad_input():
    with pytest.raises(TypeError):
        bm25_vectors("just one string")
    with pytest.raises(TypeError):
        bm25_vectors(["ok", 3])
    with pytest.raises(ValueError):
        bm25_vectors(CORPUS, k1=-1)
    with pytest.raises(ValueError):
        bm25_vectors(CORPUS, b=1.5)
    with pytest.raises(TypeError):
        bm25_queries(["x"], ["not", "a", "mapping"])
    with pytest.raises(TypeError):
        bm25_queries(["x"], {"x": "0"})
    with pytest.raises(ValueError):
        bm25_queries(["x"], {"x": -1})


def test_zipf_generator():
    x = zipf_sparse(3000, 5000, nnz_mean=40, seed=7)
    y = zipf_sparse(3000, 5000, nnz_mean=40, seed=7)
    z = zipf_sparse(3000, 5000, nnz_mean=40, seed=8)
    assert x.shape == (3000, 5000) and x.dtype == np.float32
    assert (x != y).nnz == 0 and (x != z).nnz > 0
    assert 0.8 * 40 < x.nnz / 3000 < 1.05 * 40
    assert np.isfinite(x.data).all() and (x.data > 0).all()
    df = np.bincount(x.indices, minlength=5000)
    assert df[0] > df[10] > df[1000]  # Zipf: frequency falls with rank
    assert np.diff(x.indptr).min() >= 1
    # rarer terms weigh more on average
    mean_weight = np.bincount(x.indices, weights=x.data, minlength=5000) / np.maximum(df, 1)
    assert mean_weight[:10].mean() < mean_weight[1000:1100][df[1000:1100] > 0].mean()
    with pytest.raises(ValueError):
        zipf_sparse(10, 0)
    with pytest.raises(ValueError):
        zipf_sparse(10, 10, nnz_mean=0)


def test_splade_like_generator():
    x = splade_like_sparse(2000, 8000, nnz_mean=60, seed=7, n_topics=50)
    y = splade_like_sparse(2000, 8000, nnz_mean=60, seed=7, n_topics=50)
    z = splade_like_sparse(2000, 8000, nnz_mean=60, seed=8, n_topics=50)
    assert x.shape == (2000, 8000) and x.dtype == np.float32
    assert (x != y).nnz == 0 and (x != z).nnz > 0
    assert 0.9 * 60 < x.nnz / 2000 < 1.1 * 60
    assert np.diff(x.indptr).min() >= 1
    for i in range(0, 2000, 97):  # distinct, ascending terms per row
        assert (np.diff(x.indices[x.indptr[i] : x.indptr[i + 1]]) > 0).all()
    assert np.isfinite(x.data).all() and (x.data > 0).all()
    # skewed weights: the median is well below the mean of the top 5 %
    top = np.quantile(x.data, 0.95)
    assert np.median(x.data) < 0.3 * top
    df = np.bincount(x.indices, minlength=8000)
    assert df[:10].mean() > df[100:110].mean() > df[4000:4100].mean()
    # rows drawn with the same topics share more terms than rows without topics
    queries = splade_like_sparse(200, 8000, nnz_mean=20, seed=9, n_topics=50)
    plain = splade_like_sparse(200, 8000, nnz_mean=20, seed=9, n_topics=50, topic_share=0.0)
    shared = (queries.astype(bool).astype(np.float32) @ x.astype(bool).astype(np.float32).T).max(1)
    shared_plain = (
        plain.astype(bool).astype(np.float32) @ x.astype(bool).astype(np.float32).T
    ).max(1)
    assert shared.toarray().mean() > shared_plain.toarray().mean()
    for kwargs in (
        {"n_terms": 0},
        {"nnz_mean": 0},
        {"topic_share": 1.5},
        {"n_topics": 0},
        {"topic_terms": 9000},
        {"weight_sigma": -1},
        {"weight_median": 0},
        {"head_cap": 0},
        {"head_cap": 1.5},
        {"term_weight_share": 1.5},
    ):
        with pytest.raises(ValueError):
            splade_like_sparse(10, **{"n_terms": 8000, **kwargs})


def test_splade_like_queries_written_from_documents():
    docs = splade_like_sparse(3000, seed=1)
    q, sources = splade_like_queries(docs, 200, seed=2)
    q2, sources2 = splade_like_queries(docs, 200, seed=2)
    q3, sources3 = splade_like_queries(docs, 200, seed=3)
    assert q.shape == (200, docs.shape[1]) and q.dtype == np.float32
    assert sources.shape == (200,) and 0 <= sources.min() and sources.max() < 3000
    assert (q != q2).nnz == 0 and np.array_equal(sources, sources2)
    assert (q != q3).nnz > 0 and not np.array_equal(sources, sources3)
    assert 0.9 * 43 < q.nnz / 200 < 1.1 * 43
    assert np.diff(q.indptr).min() >= 1
    for i in range(0, 200, 7):  # distinct, ascending terms per row
        assert (np.diff(q.indices[q.indptr[i] : q.indptr[i + 1]]) > 0).all()
    assert np.isfinite(q.data).all() and (q.data > 0).all()
    # about half of a query's terms come from its source, heaviest first
    shared = [
        np.intersect1d(q[i].indices, docs[s].indices).size / q[i].nnz for i, s in enumerate(sources)
    ]
    assert 0.4 < np.mean(shared) < 0.8
    # the relevance structure: the source is usually among the exact top-10, and
    # queries drawn apart from the documents have no such document
    from fanns.bench.sparse import exact_topk

    truth = exact_topk(docs, q)
    assert np.mean([s in row for s, row in zip(sources, truth)]) > 0.5
    apart = exact_topk(docs, splade_like_sparse(200, nnz_mean=43, seed=2, weight_sigma=1.0))
    assert np.mean([s in row for s, row in zip(sources, apart)]) < 0.05
    # the top score stands further above the tenth than for independent queries
    scores = np.sort((docs @ q.T).toarray(), axis=0)[::-1]
    assert np.median(scores[0] / scores[9]) > 1.1
    empty, none = splade_like_queries(docs, 0, seed=2)
    assert empty.shape == (0, docs.shape[1]) and none.size == 0
    for kwargs in (
        {"n": -1},
        {"nnz_mean": 0},
        {"source_share": 1.5},
        {"topic_share": -0.1},
        {"source_jitter": -1},
        {"weight_median": 0},
    ):
        with pytest.raises(ValueError):
            splade_like_queries(docs, **{"n": 5, **kwargs})
    with pytest.raises(ValueError, match="no rows"):
        splade_like_queries(docs[:0], 5)
    with pytest.raises(TypeError, match="CSR"):
        splade_like_queries([[1.0]], 5)
    twice = sp.csr_matrix(
        (np.array([1.0, 2.0], dtype=np.float32), np.array([3, 3]), np.array([0, 2])), shape=(1, 10)
    )
    with pytest.raises(ValueError, match="repeats a term"):
        splade_like_queries(twice, 1, n_topics=2, topic_terms=5)
    holes = docs.tolil()
    holes[:] = 0
    with pytest.raises(ValueError, match="no terms"):
        splade_like_queries(holes.tocsr(), 5)


def test_splade_like_statistics_match_the_published_shape():
    """The figures bench/sparse.md sets beside real SPLADE rows, at small n."""
    from fanns.bench.sparse_stats import posting_stats, row_stats

    docs = row_stats(x := splade_like_sparse(3000, seed=1))
    queries = row_stats(splade_like_sparse(300, nnz_mean=43, seed=2, weight_sigma=1.0))
    assert 110 < docs["nnz_mean"] < 130 and 38 < queries["nnz_mean"] < 48
    # a document's 20 % largest weights carry about half of its L1 mass (real: 0.54)
    assert 0.45 < docs["top20%_mass"] < 0.60
    # a query's 10 largest weights carry most of its mass (real: 0.65)
    assert 0.55 < queries["top10_mass"] < 0.70
    assert 0.9 < docs["cv"] < 1.25 and 0.95 < queries["cv"] < 1.3
    assert 0.2 < docs["weight_median"] < 0.36
    postings = posting_stats(x)
    # the head is capped: no list holds more than about a third of the documents ...
    assert postings["df_max_share"] < 0.4
    # ... and without the cap the most popular term is in nearly every document
    uncapped = posting_stats(splade_like_sparse(3000, seed=1, head_cap=None))
    assert uncapped["df_max_share"] > 0.95
    # a term weighs alike wherever it occurs, in part (real: intraclass correlation 0.39)
    assert 0.3 < postings["weight_icc"] < 0.5
    independent = posting_stats(splade_like_sparse(3000, seed=1, term_weight_share=0.0))
    assert abs(independent["weight_icc"]) < 0.05


def test_sparse_rows_container():
    m = SparseRows(np.array([0, 2, 3]), np.array([0, 2, 1]), np.array([1.0, 2.0, 3.0]), (2, 3))
    assert m.nnz == 3 and m.tocsr() is m and "nnz=3" in repr(m)
    np.testing.assert_array_equal(m.toarray(), [[1, 0, 2], [0, 3, 0]])
    with pytest.raises(ValueError):
        SparseRows(np.array([0, 1]), np.array([0, 1]), np.array([1.0]), (1, 3))


def test_load_texts_real_sample():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", "..", "shared", "datasets", "arxiv-mini"))
    if not os.path.isfile(os.path.join(root, "database_texts.jsonl.gz")):
        pytest.skip(f"arxiv-mini texts not available at {root}")
    docs, queries = load_texts(root, limit=200)
    assert len(docs) == 200 and len(queries) == 1000
    assert all(isinstance(d, str) and d for d in docs)
    with pytest.raises(FileNotFoundError):
        load_texts(os.path.join(root, "missing"))
