"""The accumulate plan's two accumulators (one n-sized array; document-id windows
for large collections) against brute force, and against each other."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fanns.sparse
from fanns import _core
from fanns.datasets.bm25 import zipf_sparse
from fanns.sparse import SparseIndex
from oracle import exact_sparse
from test_sparse import _filtered_cases, assert_exact_topk, exact_scores

K = 10
# By default (kDenseAccumulatorDocs) collections up to this use one array.
DENSE_UP_TO = 1 << 18


@pytest.fixture(scope="module")
def small_exact():
    """Weights whose inner products are exact in float32: ties are real, ids must match."""
    return exact_sparse(1500, 300, max_terms=25, nq=40, terms_per_query=6, seed=11, query_weight_max=3)


@pytest.fixture(scope="module")
def unpruned(small_exact):
    docs, _ = small_exact
    return SparseIndex.build(docs, n_postings=None, block_size=4, summary_energy=0.3)


def postings_per_query(docs, queries) -> np.ndarray:
    """Postings of every query term's list in an unpruned index (its document count)."""
    df = np.diff(docs.tocsc().indptr)
    return np.array([df[queries[i].indices].sum() for i in range(queries.shape[0])])


def paths_taken(run):
    """(dense, windowed) queries accumulated while ``run()`` ran, and its result."""
    before = _core.sparse_accumulator_paths()
    result = run()
    after = _core.sparse_accumulator_paths()
    return (after["dense"] - before["dense"], after["windowed"] - before["windowed"]), result


# window -> path on 1,500 documents: rounded down to a power of two, one array
# when the collection fits one window; 0 is the default (one array up to 262,144).
WINDOWS = {0: "dense", 2048: "dense", 1500: "windowed", 256: "windowed", 64: "windowed", 1: "windowed"}


@pytest.mark.parametrize("window", list(WINDOWS))
def test_exhaustive_accumulation_equals_brute_force(small_exact, unpruned, monkeypatch, window):
    """Unpruned lists, every query term, every accumulator rescored: the exact top-k,
    by either path, and the path is the one the window implies."""
    docs, queries = small_exact
    monkeypatch.setattr(fanns.sparse, "_ACCUMULATOR_WINDOW", window)
    (dense, windowed), result = paths_taken(
        lambda: unpruned.search(queries, k=K, query_cut=None, heap_factor=0, plan="accumulate")
    )
    nq = queries.shape[0]
    # windows only for queries with at most one posting per document
    few = int((postings_per_query(docs, queries) <= docs.shape[0]).sum())
    assert few > 0
    assert (dense, windowed) == ((nq, 0) if WINDOWS[window] == "dense" else (nq - few, few))
    scores = exact_scores(docs, queries)  # exact: weights are f16-representable
    assert_exact_topk(result, scores)
    assert (result.plans == "accumulate").all()


@pytest.mark.parametrize("window", [0, 64])
def test_filtered_accumulation_equals_brute_force(small_exact, unpruned, monkeypatch, window):
    """Filters (all passing, none, random, correlated, anti-correlated) checked on
    every accumulated document, by either path."""
    docs, queries = small_exact
    n = docs.shape[0]
    monkeypatch.setattr(fanns.sparse, "_ACCUMULATOR_WINDOW", window)
    scores = exact_scores(docs, queries)
    for name, masks in _filtered_cases(scores, n).items():
        stacked = np.stack(masks)
        passing = stacked.any(axis=1)
        (dense, windowed), result = paths_taken(
            lambda masks=masks: unpruned.search(
                queries, k=K, query_cut=None, heap_factor=0, filter=list(masks),
                exact_threshold=0, plan="accumulate",
            )
        )
        ran = int(passing.sum())  # a filter passing nothing is answered before accumulating
        few = int((passing & (postings_per_query(docs, queries) <= n)).sum())
        assert (dense, windowed) == ((ran, 0) if window == 0 else (ran - few, few)), name
        assert_exact_topk(result, scores, stacked, name=name)
        assert (result.plans[~passing] == "empty").all(), name
        assert (result.plans[passing] == "accumulate").all(), name


@pytest.fixture(scope="module")
def zipf():
    docs = zipf_sparse(6000, 15000, nnz_mean=60, seed=5)
    queries = zipf_sparse(120, 15000, nnz_mean=15, seed=6)
    years = [i % 7 for i in range(docs.shape[0])]
    return SparseIndex.build(docs, attributes={"year": years}), queries


@pytest.mark.parametrize(
    "settings",
    [
        {"plan": "accumulate"},
        {"plan": "accumulate", "query_cut": 3, "rerank": 30},
        {"plan": "accumulate", "query_cut": None, "rerank": 15},
        {"query_cut": 4},  # auto: the accumulated queries of the automatic plan too
        {"plan": "accumulate", "filter": fanns.field("year") <= 2},
    ],
)
def test_windowed_answers_equal_dense_answers(zipf, monkeypatch, settings):
    """With pruning and a bounded rerank the answer is approximate; the windowed
    sums are bit-identical to the dense ones, so the answers are the same ids and
    scores (ties among accumulators go to the smaller id on both paths)."""
    index, queries = zipf
    runs = {}
    for window in (0, 512, 100):
        monkeypatch.setattr(fanns.sparse, "_ACCUMULATOR_WINDOW", window)
        counts, runs[window] = paths_taken(lambda: index.search(queries, k=K, threads=2, **settings))
        accumulated = int((runs[window].plans == "accumulate").sum())
        assert accumulated > 0 and sum(counts) == accumulated
        # windows for the queries with at most one posting per document (some
        # of every setting here; most unless query_cut is None)
        assert counts[1] == 0 if window == 0 else counts[1] > 0
    for window in (512, 100):
        np.testing.assert_array_equal(runs[window].ids, runs[0].ids)
        np.testing.assert_array_equal(runs[window].scores, runs[0].scores)
        np.testing.assert_array_equal(runs[window].plans, runs[0].plans)
        np.testing.assert_array_equal(runs[window].scored, runs[0].scored)


def test_default_window_keeps_small_collections_dense(zipf):
    """Up to 262,144 documents the default is the one-array path."""
    index, queries = zipf
    assert len(index) <= DENSE_UP_TO
    counts, result = paths_taken(lambda: index.search(queries, k=K, plan="accumulate"))
    assert counts == (queries.shape[0], 0)
    assert (result.plans == "accumulate").all()


def test_queries_with_more_postings_than_documents_stay_dense(monkeypatch):
    """Per query: windows only when the chosen lists hold at most one posting per
    document; a query over lists longer than that accumulates into one array. Both
    answer exactly."""
    rng = np.random.default_rng(7)
    n, n_terms = 400, 40
    dense_part = rng.integers(1, 33, size=(n, 6)) / 16.0  # terms 0-5 in every document
    sparse_part = (rng.random((n, n_terms - 6)) < 0.05) * rng.integers(1, 33, size=(n, n_terms - 6)) / 16.0
    docs = sp.csr_matrix(np.hstack([dense_part, sparse_part]).astype(np.float32))
    queries = sp.csr_matrix(
        np.array(
            [
                [1.0] * 6 + [0.0] * (n_terms - 6),  # 6 lists of 400 postings: 2,400 > 400
                [0.0] * 6 + [1.0, 2.0, 1.0] + [0.0] * (n_terms - 9),  # about 60 postings
                [2.0] + [0.0] * (n_terms - 1),  # one list of 400 postings: 400 <= 400
            ],
            dtype=np.float32,
        )
    )
    index = SparseIndex.build(docs, n_postings=None, block_size=4)
    monkeypatch.setattr(fanns.sparse, "_ACCUMULATOR_WINDOW", 64)
    per_query = []
    for i in range(queries.shape[0]):
        counts, result = paths_taken(
            lambda i=i: index.search(queries[i], k=K, query_cut=None, heap_factor=0, plan="accumulate")
        )
        per_query.append(counts)
        scores = exact_scores(docs, queries[i])
        assert_exact_topk(result, scores)
    assert per_query == [(1, 0), (0, 1), (0, 1)]
