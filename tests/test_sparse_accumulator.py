"""The accumulate plan's two accumulators (one n-sized array; document-id windows
for large collections) against brute force, and against each other."""

from __future__ import annotations

import numpy as np
import pytest

import fanns.sparse
from fanns import _core
from fanns.datasets.bm25 import zipf_sparse
from fanns.sparse import SparseIndex
from oracle import exact_sparse
from test_sparse import _filtered_cases, exact_scores, exact_topk

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
    assert (dense, windowed) == ((nq, 0) if WINDOWS[window] == "dense" else (0, nq))
    scores = exact_scores(docs, queries)  # exact: weights are f16-representable
    truth = exact_topk(scores, K)
    np.testing.assert_array_equal(result.ids, truth)
    want = np.where(truth >= 0, np.take_along_axis(scores, np.maximum(truth, 0), 1), -np.inf)
    np.testing.assert_array_equal(result.scores, want.astype(np.float32))
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
        assert (dense, windowed) == ((ran, 0) if window == 0 else (0, ran)), name
        truth = exact_topk(scores, K, stacked)
        np.testing.assert_array_equal(result.ids, truth, err_msg=name)
        want = np.where(truth >= 0, np.take_along_axis(scores, np.maximum(truth, 0), 1), -np.inf)
        np.testing.assert_array_equal(result.scores, want.astype(np.float32), err_msg=name)
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
        assert accumulated > 0
        assert counts == ((accumulated, 0) if window == 0 else (0, accumulated))
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
