"""Filtered SparseIndex search with statically pruned lists against exact brute force.

Under ``plan="auto"`` a filtered query accumulates over the pruned lists, checks
its answer against a bound on what the pruning hid, and is completed exactly
when the check fails, so every such query must equal brute force whatever the
filter: random, correlated with the query, anti-correlated, empty or passing
everything.
"""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse as sp

import fanns.sparse

from fanns.bench.sparse_filtered import masks_for
from fanns.datasets.bm25 import bm25_queries, bm25_vectors, load_texts
from fanns.sparse import SparseIndex

K = 10


def exact_scores(docs, queries) -> np.ndarray:
    return np.asarray((docs.astype(np.float64) @ queries.astype(np.float64).T).toarray().T)


def exact_topk(scores: np.ndarray, masks: np.ndarray, k: int = K) -> np.ndarray:
    """Top-k ids per row among positive passing scores, ties by smaller id."""
    ids = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for i in range(scores.shape[0]):
        cand = np.flatnonzero((scores[i] > 0) & masks[i])
        best = cand[np.lexsort((cand, -scores[i, cand]))][:k]
        ids[i, : best.size] = best
    return ids


def filter_cases(scores: np.ndarray) -> dict[str, np.ndarray]:
    """(nq, n) masks: the bench's three kinds at several fractions, plus none and all."""
    nq, n = scores.shape
    cases = {}
    for kind in ("uncorrelated", "correlated", "anti-correlated"):
        for fraction in (0.02, 0.1, 0.5):
            cases[f"{kind} {fraction}"] = masks_for(scores, fraction, kind, seed=int(fraction * 100))
    cases["nothing"] = np.zeros((nq, n), dtype=bool)
    cases["everything"] = np.ones((nq, n), dtype=bool)
    far = np.ones((nq, n), dtype=bool)  # all but each query's 30 best
    for i in range(nq):
        far[i, np.argsort(-scores[i], kind="stable")[:30]] = False
    cases["all but the best 30"] = far
    return cases


def sixteenths(rng, heavy: np.ndarray) -> np.ndarray:
    """Heavy weights 1-4 and light ones 1/16, all multiples of 1/16."""
    return np.where(heavy, rng.integers(16, 65, size=heavy.size), 1) / 16.0


def skewed_sparse(n: int, n_terms: int, nq: int, seed: int, weights=sixteenths):
    """Documents and queries whose inner products are exact in float32 (by
    default weights multiples of 1/16, query weights small integers: ties are
    real, ids must match), with a few heavy postings per term among many light
    ones, as pruning expects: a list cut to its heavy part leaves a small cut
    weight. ``weights(rng, heavy)`` draws the document weights."""
    rng = np.random.default_rng(seed)
    nnz = rng.integers(1, 25, size=n)
    rows = np.repeat(np.arange(n), nnz)
    cols = rng.integers(0, n_terms, size=rows.size)
    heavy = rng.random(rows.size) < 0.15
    vals = weights(rng, heavy)
    docs = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n, n_terms))
    docs.sum_duplicates()
    docs.data = np.minimum(docs.data, 4.0).astype(np.float32)
    q_rows = np.repeat(np.arange(nq), 6)
    q_cols = rng.integers(0, n_terms, size=q_rows.size)
    q_vals = rng.integers(1, 4, size=q_rows.size).astype(np.float32)
    queries = sp.csr_matrix((q_vals, (q_rows, q_cols)), shape=(nq, n_terms))
    queries.sum_duplicates()
    return docs, queries


@pytest.fixture(scope="module")
def pruned():
    """Lists cut to 15 of about 60 postings per term."""
    docs, queries = skewed_sparse(1500, 300, nq=40, seed=5)
    index = SparseIndex.build(docs, n_postings=15, block_size=4)
    return docs, queries, exact_scores(docs, queries), index


def check_exact(result, scores, masks, name):
    truth = exact_topk(scores, masks)
    np.testing.assert_array_equal(result.ids, truth, err_msg=name)
    want = np.where(truth >= 0, np.take_along_axis(scores, np.maximum(truth, 0), 1), -np.inf)
    np.testing.assert_array_equal(result.scores, want.astype(np.float32), err_msg=name)


@pytest.mark.parametrize("query_cut", [10, 3])
@pytest.mark.parametrize("exact_threshold", [1, 0])
def test_auto_plan_filtered_equals_brute_force(pruned, query_cut, exact_threshold):
    """Every filtered query, with pruned lists and (query_cut=3) terms left out, is
    answered exactly; the three ways of answering all occur."""
    docs, queries, scores, index = pruned
    seen = set()
    for name, masks in filter_cases(scores).items():
        result = index.search(
            queries, k=K, query_cut=query_cut, filter=list(masks), exact_threshold=exact_threshold
        )
        check_exact(result, scores, masks, name)
        passing = masks.any(axis=1)
        assert (result.plans[~passing] == "empty").all(), name
        seen |= set(result.plans[passing])
        if exact_threshold == 0:
            assert "exact" not in set(result.plans[masks.sum(axis=1) > 0]), name
    # (a term left out bounds the unseen part by its largest weight: with
    # query_cut=3 of 6 terms no answer is certified)
    want = {"full"} | ({"exact"} if exact_threshold else set()) | ({"accumulate"} if query_cut == 10 else set())
    assert want <= seen, seen


@pytest.mark.parametrize("completion, plan", [(1, "exact"), (2, "full")])
def test_each_completion_equals_brute_force(pruned, monkeypatch, completion, plan):
    """Each completion forced on every filtered query (certified or not) is exact."""
    docs, queries, scores, index = pruned
    monkeypatch.setattr(fanns.sparse, "_COMPLETION", completion)
    for query_cut in (10, 2):
        for name, masks in filter_cases(scores).items():
            result = index.search(queries, k=K, query_cut=query_cut, filter=list(masks), exact_threshold=1)
            check_exact(result, scores, masks, name)
            few = masks.sum(axis=1) <= 1
            assert (result.plans[~few] == plan).all(), (name, set(result.plans[~few]))


def test_certified_answers_skip_completion(pruned):
    """A filter passing everything needs no completion when the pruned lists hold
    the answer: the same documents as unfiltered accumulation, as few scored."""
    docs, queries, scores, index = pruned
    masks = np.ones(scores.shape, dtype=bool)
    filtered = index.search(queries, k=K, filter=list(masks), exact_threshold=0)
    plain = index.search(queries, k=K, plan="accumulate")
    certified = filtered.plans == "accumulate"
    assert certified.any()
    np.testing.assert_array_equal(filtered.ids[certified], plain.ids[certified])
    np.testing.assert_array_equal(filtered.scored[certified], plain.scored[certified])


def test_forced_plans_are_not_completed(pruned):
    docs, queries, scores, index = pruned
    masks = filter_cases(scores)["anti-correlated 0.5"]
    for plan in ("blocks", "accumulate"):
        result = index.search(queries, k=K, filter=list(masks), plan=plan, exact_threshold=0)
        assert (result.plans == plan).all()
        assert np.take_along_axis(masks, np.maximum(result.ids, 0), 1)[result.ids >= 0].all()


def test_filter_tails_memory_and_threads(pruned):
    """The cut postings appear in memory once built; results do not depend on threads."""
    docs, queries, scores, _ = pruned
    index = SparseIndex.build(docs, n_postings=15, block_size=4)
    assert index.memory_bytes(by_part=True)["filter_tails"] == 0
    masks = filter_cases(scores)["anti-correlated 0.1"]
    one = index.search(queries, k=K, filter=list(masks), threads=1, exact_threshold=1)
    tails = index.memory_bytes(by_part=True)["filter_tails"]
    # every posting the kept lists lack: nnz - kept postings, 6 bytes each at least
    assert tails >= 6 * (index.nnz - index._engine.n_postings)
    many = index.search(queries, k=K, filter=list(masks), threads=4, exact_threshold=1)
    np.testing.assert_array_equal(one.ids, many.ids)
    np.testing.assert_array_equal(one.scores, many.scores)
    np.testing.assert_array_equal(one.plans, many.plans)
    check_exact(one, scores, masks, "anti-correlated 0.1")


def test_saved_and_loaded_index_completes_the_same(pruned, tmp_path):
    docs, queries, scores, index = pruned
    path = tmp_path / "pruned.fanns"
    index.save(path)
    loaded = SparseIndex.load(path)
    masks = filter_cases(scores)["anti-correlated 0.5"]
    a = index.search(queries, k=K, filter=list(masks), exact_threshold=1)
    b = loaded.search(queries, k=K, filter=list(masks), exact_threshold=1)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.plans, b.plans)


def test_bm25_arxiv_anti_correlated_filters_with_defaults(arxiv_mini_texts_dir):
    """Real BM25 weights (3,000 abstracts, lists cut to 200): the bench's filters,
    defaults; answers equal brute force up to float32 near-ties."""
    texts, query_texts = load_texts(arxiv_mini_texts_dir, limit=3000)
    docs, vocab = bm25_vectors(texts)
    docs = docs.tocsr()
    queries = bm25_queries(query_texts[:60], vocab).tocsr()
    index = SparseIndex.build(docs, n_postings=200)
    scores = exact_scores(docs, queries)  # the weights the index stores (f32 by default)
    plans = set()
    for kind in ("anti-correlated", "uncorrelated", "correlated"):
        for fraction in (0.1, 0.5):
            masks = masks_for(scores, fraction, kind, seed=7)
            result = index.search(queries, k=K, filter=list(masks), exact_threshold=100)
            plans |= set(result.plans)
            truth = exact_topk(scores, masks)
            want = np.where(truth >= 0, np.take_along_axis(scores, np.maximum(truth, 0), 1), -np.inf)
            np.testing.assert_allclose(result.scores, want, rtol=1e-4, err_msg=f"{kind} {fraction}")
            found = result.ids >= 0
            assert np.take_along_axis(masks, np.maximum(result.ids, 0), 1)[found].all()
            same = (result.ids == truth).mean()
            assert same >= 0.97, (kind, fraction, same)
    assert {"accumulate", "full"} <= plans or {"accumulate", "exact"} <= plans, plans
