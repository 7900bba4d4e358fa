"""SparseIndex against exact sparse inner-product search (scipy / numpy brute force)."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse as sp
from pyroaring import BitMap

import fanns
from fanns import _core
from fanns._fileformat import read_index_file, write_index_file
from fanns.bench._plain_inverted import PlainInvertedIndex
from fanns.datasets.bm25 import SparseRows, bm25_queries, bm25_vectors, load_texts, zipf_sparse
from fanns.sparse import SparseIndex
from oracle import exact_sparse

K = 10


# ----------------------------------------------------------------------------- oracles


def as_stored(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The matrix as the forward index stores it by default (f32 weights,
    repeated terms summed)."""
    out = matrix.tocsr().astype(np.float32)
    out.sum_duplicates()
    return out


def f16_rounded(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The matrix as an f16 forward index stores it (weights rounded to f16)."""
    out = matrix.tocsr().copy()
    out.sum_duplicates()
    out.data = out.data.astype(np.float16).astype(np.float32)
    return out


def exact_scores(docs: sp.csr_matrix, queries: sp.csr_matrix) -> np.ndarray:
    """Dense (nq, n) float64 inner products."""
    return np.asarray((docs.astype(np.float64) @ queries.astype(np.float64).T).toarray().T)


def exact_topk(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Top-k ids per row among positive scores (passing ``mask``), ties by smaller id."""
    nq, n = scores.shape
    ids = np.full((nq, k), -1, dtype=np.int64)
    for i in range(nq):
        ok = scores[i] > 0
        if mask is not None:
            ok &= mask[i] if mask.ndim == 2 else mask
        cand = np.flatnonzero(ok)
        best = cand[np.lexsort((cand, -scores[i, cand]))][:k]
        ids[i, : best.size] = best
    return ids


def assert_exact_topk(result, scores: np.ndarray, mask: np.ndarray | None = None, name: str = "") -> None:
    """The exact top-k of ``scores`` (passing ``mask``): the same ids, ties by
    smaller id, and the same scores in float32."""
    truth = exact_topk(scores, K, mask)
    np.testing.assert_array_equal(result.ids, truth, err_msg=name)
    want = np.where(truth >= 0, np.take_along_axis(scores, np.maximum(truth, 0), 1), -np.inf)
    np.testing.assert_array_equal(result.scores, want.astype(np.float32), err_msg=name)


def assert_same_topk(ids, scores, exact, truth, rtol=1e-5):
    """Same top-k as ``truth``: equal scores, and equal ids wherever the float32
    sums of the engine cannot order a near-tie differently from float64."""
    want = np.where(truth >= 0, np.take_along_axis(exact, np.maximum(truth, 0), 1), -np.inf)
    np.testing.assert_array_equal(ids >= 0, truth >= 0)
    np.testing.assert_allclose(scores, want, rtol=rtol)
    got = np.where(ids >= 0, np.take_along_axis(exact, np.maximum(ids, 0), 1), -np.inf)
    np.testing.assert_allclose(got, want, rtol=rtol)
    finite = np.where(np.isfinite(want), want, -1.0)
    padded = np.concatenate([finite[:, :1] + 1, finite, finite[:, -1:] - 1], axis=1)
    apart = np.abs(np.diff(padded, axis=1)) > 10 * rtol * np.abs(padded[:, 1:])
    apart[:, :-1] |= ~np.isfinite(want)
    stable = apart[:, :-1] & apart[:, 1:]
    assert (ids[stable] == truth[stable]).all()
    assert stable.mean() > 0.8


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = total = 0
    for a, b in zip(found, truth):
        b = b[b >= 0]
        total += b.size
        hits += len(set(a[a >= 0].tolist()) & set(b.tolist()))
    return hits / total if total else 1.0


def bitset_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=int(round(fraction * n)), replace=False)] = True
    return mask


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def zipf_data():
    docs = zipf_sparse(8000, 20000, nnz_mean=60, seed=3)
    queries = zipf_sparse(150, 20000, nnz_mean=15, seed=4)
    scores = exact_scores(docs, queries)
    return docs, queries, scores


@pytest.fixture(scope="module")
def zipf_index(zipf_data):
    docs, _, _ = zipf_data
    years = [1990 + i % 30 for i in range(docs.shape[0])]
    return SparseIndex.build(docs, attributes={"year": years})


@pytest.fixture(scope="module")
def small_exact():
    """Weights whose inner products are exact in float32 (oracle.exact_sparse):
    ties are real and ids must match."""
    return exact_sparse(1500, 300, max_terms=25, nq=40, terms_per_query=6, seed=11, query_weight_max=3)


# ----------------------------------------------------------------------------- f16 codec


def test_f16_codec_matches_numpy():
    bits = np.arange(0x7C00, dtype=np.uint16)  # every finite non-negative f16
    np.testing.assert_array_equal(
        _core.half_to_float(bits), bits.view(np.float16).astype(np.float32)
    )
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.uniform(0, 65504, 200000),
            rng.uniform(0, 1e-3, 100000),
            rng.uniform(0, 1e-6, 100000),
            [0.0, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 6.1e-5, 65504.0, 65519.0, 1.0],
        ]
    ).astype(np.float32)
    np.testing.assert_array_equal(
        _core.float_to_half(values), values.astype(np.float16).view(np.uint16)
    )


# ----------------------------------------------------------------------------- exactness


def test_exhaustive_mode_equals_brute_force_exactly(small_exact):
    docs, queries = small_exact
    index = SparseIndex.build(docs, n_postings=None, block_size=4, summary_energy=0.3)
    result = index.search(queries, k=K, query_cut=None, heap_factor=0)
    scores = exact_scores(docs, queries)  # exact: weights are f16-representable
    assert_exact_topk(result, scores)
    assert (result.plans == "blocks").all()


def test_exhaustive_mode_random_weights(zipf_data):
    docs, queries, _ = zipf_data
    index = SparseIndex.build(docs, n_postings=None, threads=2)
    result = index.search(queries, k=K, query_cut=None, heap_factor=0)
    scores = exact_scores(as_stored(docs), queries)
    assert_same_topk(result.ids, result.scores, scores, exact_topk(scores, K))


def test_scores_are_inner_products_sorted(zipf_index, zipf_data):
    docs, queries, _ = zipf_data
    result = zipf_index.search(queries, k=K)
    scores = exact_scores(as_stored(docs), queries)
    found = result.ids >= 0
    assert found.all()
    want = np.take_along_axis(scores, result.ids, 1)
    np.testing.assert_allclose(result.scores, want, rtol=1e-5)
    assert (np.diff(result.scores, axis=1) <= 0).all()
    assert result.ids.dtype == np.int64 and result.scores.dtype == np.float32
    assert result.scored.shape == (queries.shape[0],) and (result.scored > 0).all()


# ----------------------------------------------------------------------------- recall


def test_recall_default_parameters_zipf(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    result = zipf_index.search(queries, k=K)
    assert recall(result.ids, exact_topk(scores, K)) >= 0.95
    # the pruning is doing work: far fewer documents scored than the exhaustive mode
    full = zipf_index.search(queries, k=K, query_cut=None, heap_factor=0)
    assert result.scored.sum() < 0.5 * full.scored.sum()


def test_recall_default_parameters_bm25_arxiv(arxiv_mini_texts_dir):
    texts, query_texts = load_texts(arxiv_mini_texts_dir, limit=3000)
    docs, vocab = bm25_vectors(texts)
    queries = bm25_queries(query_texts[:200], vocab)
    index = SparseIndex.build(docs)
    result = index.search(queries, k=K)
    truth = exact_topk(exact_scores(docs, queries), K)
    assert recall(result.ids, truth) >= 0.95


# ----------------------------------------------------------------------------- query plans

FORCED_PLANS = ["blocks", "accumulate"]


@pytest.mark.parametrize("plan", FORCED_PLANS)
def test_forced_plan_exact_without_pruning(small_exact, plan):
    docs, queries = small_exact
    index = SparseIndex.build(docs, n_postings=None, block_size=4, summary_energy=0.3)
    result = index.search(queries, k=K, query_cut=None, heap_factor=0, plan=plan)
    scores = exact_scores(docs, queries)  # exact: weights are f16-representable
    assert_exact_topk(result, scores)
    assert (result.plans == plan).all()


@pytest.mark.parametrize("plan", FORCED_PLANS)
def test_forced_plan_exact_without_pruning_random_weights(zipf_data, plan):
    docs, queries, _ = zipf_data
    index = SparseIndex.build(docs[:4000], n_postings=None, threads=2)
    result = index.search(queries, k=K, query_cut=None, heap_factor=0, plan=plan)
    scores = exact_scores(as_stored(docs[:4000]), queries)
    assert_same_topk(result.ids, result.scores, scores, exact_topk(scores, K))


@pytest.mark.parametrize("plan", ["auto", *FORCED_PLANS])
def test_plan_recall_with_defaults(zipf_index, zipf_data, plan):
    docs, queries, scores = zipf_data
    result = zipf_index.search(queries, k=K, plan=plan)
    assert recall(result.ids, exact_topk(scores, K)) >= 0.95
    rounded = exact_scores(as_stored(docs), queries)
    found = result.ids >= 0
    np.testing.assert_allclose(
        result.scores[found], np.take_along_axis(rounded, result.ids, 1)[found], rtol=1e-5
    )
    if plan == "auto":
        assert set(result.plans) <= {"blocks", "accumulate"}
    else:
        assert (result.plans == plan).all()


def test_auto_plan_runs_the_plan_it_reports(zipf_index, zipf_data):
    _, queries, _ = zipf_data
    # a large rerank makes accumulation dearer, so both plans are chosen
    settings = {"k": K, "query_cut": 4, "heap_factor": 0.3, "rerank": 2000}
    auto = zipf_index.search(queries, **settings)
    assert set(auto.plans) == {"blocks", "accumulate"}
    for plan in FORCED_PLANS:
        forced = zipf_index.search(queries, plan=plan, **settings)
        rows = auto.plans == plan
        np.testing.assert_array_equal(auto.ids[rows], forced.ids[rows])
        np.testing.assert_array_equal(auto.scores[rows], forced.scores[rows])
        np.testing.assert_array_equal(auto.scored[rows], forced.scored[rows])


def test_accumulate_plan_rescores_rerank_documents(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    truth = exact_topk(scores, K)
    small = zipf_index.search(queries, k=K, plan="accumulate", rerank=20)
    large = zipf_index.search(queries, k=K, plan="accumulate", rerank=400)
    assert (small.scored <= 20).all() and (large.scored <= 400).all()
    assert large.scored.sum() > small.scored.sum()
    assert recall(large.ids, truth) >= recall(small.ids, truth)
    # rerank below k still rescores k documents
    tiny = zipf_index.search(queries, k=K, plan="accumulate", rerank=1)
    assert (tiny.scored <= K).all() and (tiny.ids[:, 0] >= 0).all()
    assert tiny.scored.max() == K


@pytest.mark.parametrize("plan", FORCED_PLANS)
@pytest.mark.parametrize("fraction", [0.5, 0.05, 0.01])
def test_forced_plan_filters_never_violated(zipf_index, zipf_data, plan, fraction):
    docs, queries, scores = zipf_data
    mask = bitset_mask(docs.shape[0], fraction, seed=int(fraction * 1000) + 7)
    result = zipf_index.search(queries, k=K, filter=mask, exact_threshold=0, plan=plan)
    found = result.ids[result.ids >= 0]
    assert found.size > 0 and mask[found].all()
    assert (result.plans == plan).all()
    if fraction >= 0.5:
        assert recall(result.ids, exact_topk(scores, K, mask)) >= 0.95
    exhaustive = zipf_index.search(
        queries, k=K, filter=mask, exact_threshold=0, plan=plan, heap_factor=0, query_cut=None
    )
    assert mask[exhaustive.ids[exhaustive.ids >= 0]].all()


def test_bad_plan_parameters_raise(zipf_index, zipf_data):
    _, queries, _ = zipf_data
    for bad in ("fast", "AUTO", "", "exact"):
        with pytest.raises(ValueError, match="plan"):
            zipf_index.search(queries[:2], plan=bad)
    for bad in (1, None, ["auto"]):
        with pytest.raises(TypeError, match="plan"):
            zipf_index.search(queries[:2], plan=bad)
    for bad in (0, -5):
        with pytest.raises(ValueError, match="rerank"):
            zipf_index.search(queries[:2], rerank=bad)
    with pytest.raises(TypeError, match="rerank"):
        zipf_index.search(queries[:2], rerank=2.5)
    assert zipf_index.search(queries[:2], k=3, plan="accumulate").ids.shape == (2, 3)


# ----------------------------------------------------------------------------- summaries


def _summary_arrays(index: SparseIndex) -> dict:
    return index._engine.to_arrays()


def test_summary_cap_bounds_entries_and_memory(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    arrays = _summary_arrays(zipf_index)
    per_block = np.diff(arrays["summary_offsets"].astype(np.int64))
    cap = fanns.sparse.DEFAULT_SUMMARY_CAP
    assert per_block.max() == cap  # the cap binds on these blocks
    parts = zipf_index.memory_bytes(by_part=True)
    assert parts["summaries"] <= parts["forward"]

    uncapped = SparseIndex.build(docs, summary_cap=None)
    wide = np.diff(_summary_arrays(uncapped)["summary_offsets"].astype(np.int64))
    assert wide.max() > cap and wide.sum() > 2 * per_block.sum()
    assert uncapped.memory_bytes(by_part=True)["summaries"] > parts["summaries"]

    # a tight cap changes which blocks are visited, yet results stay exact inner products
    tiny = SparseIndex.build(docs, summary_cap=2)
    assert np.diff(_summary_arrays(tiny)["summary_offsets"].astype(np.int64)).max() <= 2
    a = tiny.search(queries, k=K, plan="blocks")
    b = zipf_index.search(queries, k=K, plan="blocks")
    assert (a.scored != b.scored).any()
    found = a.ids >= 0
    exact = exact_scores(as_stored(docs), queries)
    np.testing.assert_allclose(
        a.scores[found], np.take_along_axis(exact, np.maximum(a.ids, 0), 1)[found], rtol=1e-5
    )
    # the defaults (cap 32) keep recall; recall is checked against brute force
    assert recall(b.ids, exact_topk(scores, K)) >= 0.95


def test_summary_vocabulary_is_the_multi_block_terms(zipf_data):
    docs, _, _ = zipf_data
    index = SparseIndex.build(docs, block_size=8)
    arrays = _summary_arrays(index)
    blocks = np.diff(arrays["list_offsets"].astype(np.int64))
    block_offsets = arrays["block_offsets"].astype(np.int64)
    list_offsets = arrays["list_offsets"].astype(np.int64)
    lengths = block_offsets[list_offsets[1:]] - block_offsets[list_offsets[:-1]]
    vocabulary = arrays["summary_vocabulary"].astype(np.int64)
    np.testing.assert_array_equal(vocabulary, np.flatnonzero(lengths > 8))
    # every entry names a vocabulary term other than its list's own term
    block_list = np.repeat(np.arange(blocks.size), blocks)
    owner = np.repeat(block_list, np.diff(arrays["summary_offsets"].astype(np.int64)))
    named = vocabulary[arrays["summary_entry_term"].astype(np.int64)]
    assert named.size > 0 and (named != owner).all()
    # lists of one block carry no summary entries
    single = blocks[block_list] == 1
    assert (np.diff(arrays["summary_offsets"].astype(np.int64))[single] == 0).all()


def test_posting_codes_bound_the_list_weight(zipf_data):
    docs, _, _ = zipf_data
    index = SparseIndex.build(docs)
    arrays = _summary_arrays(index)
    stored = as_stored(docs).tocsc()
    term_map = arrays["term_map"].astype(np.int64)
    list_offsets = arrays["list_offsets"].astype(np.int64)
    block_offsets = arrays["block_offsets"].astype(np.int64)
    for t in range(0, term_map.size, 97):
        a, b = block_offsets[list_offsets[t]], block_offsets[list_offsets[t + 1]]
        docs_t = arrays["block_docs"][a:b].astype(np.int64)
        codes = arrays["block_codes"][a:b].astype(np.float64)
        column = stored[:, int(term_map[t])].toarray().ravel()
        weights = column[docs_t]
        step = float(arrays["list_max"][t]) / 255
        assert (weights > 0).all()
        assert (weights <= codes * step * (1 + 1e-6)).all()
        assert (weights > (codes - 1) * step * (1 - 1e-6)).all()


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.1, 0.01, 0.001, 0.0])
def test_filters_never_violated_and_recall(zipf_index, zipf_data, fraction):
    docs, queries, scores = zipf_data
    n = docs.shape[0]
    mask = bitset_mask(n, fraction, seed=int(fraction * 1000) + 1)
    truth = exact_topk(scores, K, mask)
    for threshold in (None, 0):
        result = zipf_index.search(queries, k=K, filter=mask, exact_threshold=threshold)
        found = result.ids[result.ids >= 0]
        assert mask[found].all()
        if fraction == 0.0:
            assert (result.ids == -1).all() and (result.plans == "empty").all()
            continue
        r = recall(result.ids, truth)
        if threshold is None or fraction >= 0.1:
            assert r >= 0.95, (fraction, threshold, r)
        if threshold == 0:  # no exact scan of the passing rows
            assert set(result.plans) <= {"blocks", "accumulate", "full"}
    default = zipf_index.search(queries, k=K, filter=mask)
    if 0 < mask.sum() < n:
        # The planner scans, or accumulates and certifies or completes: every
        # filtered answer is exact over the stored weights, whichever it took.
        assert set(default.plans) <= {"exact", "accumulate", "full"}
        rounded = exact_scores(as_stored(docs), queries)
        assert_same_topk(default.ids, default.scores, rounded, exact_topk(rounded, K, mask))


def test_filter_expressions_and_bitmaps(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    years = np.array([1990 + i % 30 for i in range(docs.shape[0])])
    expr = fanns.field("year") >= 2015
    by_expr = zipf_index.search(queries, k=K, filter=expr)
    mask = years >= 2015
    by_map = zipf_index.search(queries, k=K, filter=BitMap(np.flatnonzero(mask)))
    np.testing.assert_array_equal(by_expr.ids, by_map.ids)
    assert (years[by_expr.ids[by_expr.ids >= 0]] >= 2015).all()
    assert recall(by_expr.ids, exact_topk(scores, K, mask)) >= 0.95


def test_per_query_filter_list(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    nq, n = queries.shape[0], docs.shape[0]
    masks = [bitset_mask(n, f, seed=i) for i, f in enumerate([0.5, 0.05, 0.002] * (nq // 3))]
    masks += [bitset_mask(n, 0.3, seed=99)] * (nq - len(masks))
    filters = [m if i % 7 else None for i, m in enumerate(masks)]
    result = zipf_index.search(queries, k=K, filter=filters)
    full_mask = np.stack([m if f is not None else np.ones(n, bool) for m, f in zip(masks, filters)])
    for i in range(nq):
        found = result.ids[i][result.ids[i] >= 0]
        assert full_mask[i][found].all()
    assert recall(result.ids, exact_topk(scores, K, full_mask)) >= 0.95
    assert set(result.plans) <= {"blocks", "accumulate", "exact", "full"}


# ----------------------------------------------------------------------------- threads


def test_thread_count_does_not_change_results(zipf_data):
    docs, queries, _ = zipf_data
    sub = docs[:3000]
    one = SparseIndex.build(sub, threads=1, knn=4)
    two = SparseIndex.build(sub, threads=2, knn=4)
    a1 = one._engine.to_arrays()
    a2 = two._engine.to_arrays()
    for name in a1:
        np.testing.assert_array_equal(a1[name], a2[name], err_msg=name)
    mask = bitset_mask(sub.shape[0], 0.3, seed=5)
    r1 = one.search(queries, k=K, threads=1, filter=mask)
    r2 = one.search(queries, k=K, threads=2, filter=mask)
    r0 = two.search(queries, k=K, threads=0, filter=mask)
    for other in (r2, r0):
        np.testing.assert_array_equal(r1.ids, other.ids)
        np.testing.assert_array_equal(r1.scores, other.scores)
        np.testing.assert_array_equal(r1.plans, other.plans)


# ----------------------------------------------------------------------------- knn graph


def test_knn_graph_refinement(zipf_data):
    docs, queries, scores = zipf_data
    sub, sub_scores = docs[:3000], scores[:, :3000]
    index = SparseIndex.build(sub, knn=8)
    parts = index.memory_bytes(by_part=True)
    assert parts["knn"] == sub.shape[0] * 8 * 4
    with_graph = index.search(queries, k=K, heap_factor=1.0)
    without = index.search(queries, k=K, heap_factor=1.0, use_knn=False)
    truth = exact_topk(sub_scores, K)
    assert recall(with_graph.ids, truth) >= recall(without.ids, truth)
    assert (with_graph.scored >= without.scored).all()
    exhaustive = index.search(queries, k=K, query_cut=None, heap_factor=0)
    assert recall(exhaustive.ids, truth) >= 0.99


# ----------------------------------------------------------------------------- input forms


def test_input_forms_agree(small_exact):
    docs, queries = small_exact
    base = SparseIndex.build(docs, n_postings=None)
    want = base.search(queries, k=5, query_cut=None, heap_factor=0)
    dicts = [
        dict(zip(docs.indices[a:b].tolist(), docs.data[a:b].tolist()))
        for a, b in zip(docs.indptr[:-1], docs.indptr[1:])
    ]
    forms = [
        docs.tocsc(),
        docs.tocoo(),
        SparseRows(docs.indptr, docs.indices, docs.data, docs.shape),
    ]
    for form in forms:
        index = SparseIndex.build(form, n_postings=None)
        got = index.search(queries, k=5, query_cut=None, heap_factor=0)
        np.testing.assert_array_equal(got.ids, want.ids)
    from_dicts = SparseIndex.build(dicts, n_postings=None, n_terms=docs.shape[1])
    q_dicts = [
        dict(zip(queries.indices[a:b].tolist(), queries.data[a:b].tolist()))
        for a, b in zip(queries.indptr[:-1], queries.indptr[1:])
    ]
    got = from_dicts.search(q_dicts, k=5, query_cut=None, heap_factor=0)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.scores, want.scores)
    # fewer query columns than the index is fine
    narrow = queries[:, : docs.shape[1] - 50]
    np.testing.assert_array_equal(
        base.search(narrow, k=5, query_cut=None, heap_factor=0).ids,
        base.search(
            sp.hstack([narrow, sp.csr_matrix((narrow.shape[0], 50))]).tocsr(),
            k=5,
            query_cut=None,
            heap_factor=0,
        ).ids,
    )


def test_duplicate_terms_are_summed():
    indptr = np.array([0, 3, 4])
    indices = np.array([1, 1, 2, 1])
    data = np.array([0.5, 0.25, 1.0, 0.5], dtype=np.float32)
    m = sp.csr_matrix((data, indices, indptr), shape=(2, 3))  # non-canonical: duplicates
    index = SparseIndex.build(m, n_postings=None)
    result = index.search([{1: 1.0}], k=2, query_cut=None, heap_factor=0)
    assert result.ids.tolist() == [[0, 1]]
    assert result.scores.tolist() == [[0.75, 0.5]]


def test_properties_and_repr(zipf_index, zipf_data):
    docs, _, _ = zipf_data
    assert len(zipf_index) == docs.shape[0]
    assert zipf_index.n_terms == docs.shape[1]
    assert zipf_index.nnz == as_stored(docs).count_nonzero()
    parts = zipf_index.memory_bytes(by_part=True)
    assert set(parts) == {"forward", "postings", "summaries", "knn", "filter_tails", "attributes"}
    assert parts["forward"] >= zipf_index.nnz * 6
    assert zipf_index.memory_bytes() == sum(parts.values())
    assert "SparseIndex" in repr(zipf_index) and "n=8000" in repr(zipf_index)
    assert zipf_index.params["block_size"] >= 1
    r = zipf_index.search(zipf_data[1][:3], k=4)
    ids, scores = r
    assert ids.shape == scores.shape == (3, 4) and len(r) == 3 and "nq=3" in repr(r)


def test_documents_without_shared_terms_are_not_returned():
    docs = [{0: 1.0}, {1: 2.0}, {}, {0: 3.0, 1: 1.0}]
    index = SparseIndex.build(docs, n_postings=None)
    result = index.search([{0: 1.0}], k=3)
    assert result.ids.tolist() == [[3, 0, -1]]
    assert np.isneginf(result.scores[0, 2])
    assert len(index) == 4 and index.n_terms == 2


# ----------------------------------------------------------------------------- save / load


def test_save_load_identical(tmp_path, zipf_data):
    docs, queries, _ = zipf_data
    sub = docs[:2000]
    tags = [["a", "b"][i % 2] for i in range(sub.shape[0])]
    index = SparseIndex.build(sub, attributes={"tag": tags}, knn=3)
    path = tmp_path / "sparse.fanns"
    index.save(path)
    loaded = SparseIndex.load(path)
    for flt in (None, fanns.field("tag") == "a"):
        a = index.search(queries, k=K, filter=flt)
        b = loaded.search(queries, k=K, filter=flt)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.params == index.params
    before, after = index.memory_bytes(by_part=True), loaded.memory_bytes(by_part=True)
    assert {k: v for k, v in before.items() if k != "attributes"} == {
        k: v for k, v in after.items() if k != "attributes"
    }
    assert len(loaded) == len(index) and loaded.n_terms == index.n_terms


def test_corrupt_and_truncated_files_raise(tmp_path, small_exact):
    docs, queries = small_exact
    index = SparseIndex.build(docs)
    path = tmp_path / "x.fanns"
    index.save(path)
    blob = path.read_bytes()
    truncated = tmp_path / "t.fanns"
    truncated.write_bytes(blob[: len(blob) - 100])
    with pytest.raises(ValueError):
        SparseIndex.load(truncated)
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF  # inside a checksummed section
    bad = tmp_path / "f.fanns"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError):
        SparseIndex.load(bad)
    with pytest.raises(ValueError):
        SparseIndex.load(tmp_path / "missing.fanns")


def _rewrite(tmp_path, source, edit):
    meta, sections = read_index_file(source, "sparse")
    sections = {k: np.array(v) for k, v in sections.items()}
    edit(meta, sections)
    out = tmp_path / "edited.fanns"
    write_index_file(out, "sparse", meta, sections)
    return out


# Damage every load mode must catch (sizes, offsets, ids in range; what only
# the engine checks): written with valid checksums.
SECTION_EDITS = [
    lambda m, s: s["sparse/block_docs"].__setitem__(0, 10**6),  # id out of range
    lambda m, s: s["sparse/forward_offsets"].__setitem__(5, 10**9),  # offsets past end
    lambda m, s: s["sparse/list_offsets"].__setitem__(1, 2**40),
    lambda m, s: s.__setitem__("sparse/summary_steps", s["sparse/summary_steps"][:-1]),
    lambda m, s: s.__setitem__("sparse/term_map", s["sparse/term_map"].astype(np.int64)),
    lambda m, s: s.pop("sparse/forward_values"),
    lambda m, s: m.__setitem__("n_docs", m["n_docs"] + 1),
    lambda m, s: m.pop("params"),
    # invariants only the engine checks: terms of a row not ascending, bad weight, bad block id
    lambda m, s: s["sparse/forward_terms"].__setitem__(
        slice(0, 2), s["sparse/forward_terms"][1::-1]
    ),
    lambda m, s: s["sparse/forward_values"].__setitem__(0, -1.0),  # a negative weight
    lambda m, s: s["sparse/forward_values"].__setitem__(0, np.inf),
    lambda m, s: s["sparse/summary_entry_term"].__setitem__(0, 60000),
    lambda m, s: s["sparse/summary_offsets"].__setitem__(1, 2**31),
    lambda m, s: s["sparse/summary_vocabulary"].__setitem__(
        slice(0, 2), s["sparse/summary_vocabulary"][1::-1]
    ),
    lambda m, s: s.__setitem__("sparse/block_codes", s["sparse/block_codes"][:-1]),
    lambda m, s: s["sparse/block_codes"].__setitem__(0, 0),  # a zero posting weight
    lambda m, s: s.__setitem__("sparse/summary_list_code", s["sparse/summary_list_code"][:-1]),
    lambda m, s: m.__setitem__("format", 1),
]


@pytest.mark.parametrize("verify", ["full", "header", False])
@pytest.mark.parametrize("edit", SECTION_EDITS)
def test_inconsistent_sections_raise_value_error(tmp_path, small_exact, edit, verify):
    docs, queries = small_exact
    index = SparseIndex.build(docs, block_size=4)
    path = tmp_path / "ok.fanns"
    index.save(path)
    with pytest.raises(ValueError):
        SparseIndex.load(_rewrite(tmp_path, path, edit), verify=verify)


def test_load_verify_modes(tmp_path, small_exact):
    """A byte of a weight changed behind the checksums: only verify="full"
    notices (the others load an index that still searches, answers aside); a
    header byte changed: "full" and "header"; attribute orders are sorted
    again only in "full"; a bad verify value is refused."""
    docs, queries = small_exact
    index = SparseIndex.build(docs, block_size=4, attributes={"y": np.arange(docs.shape[0]) % 7})
    path = tmp_path / "ok.fanns"
    index.save(path)
    blob = bytearray(path.read_bytes())
    meta, sections = read_index_file(path, "sparse")
    weights = sections["sparse/forward_values"]
    at = blob.find(weights.tobytes())
    assert at > 0
    flipped = bytearray(blob)
    flipped[at + 4 * 3 + 1] ^= 0x01  # the fourth weight's mantissa
    damaged = tmp_path / "weight.fanns"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ValueError):
        SparseIndex.load(damaged)  # "full", the default
    for verify in ("header", False):
        loaded = SparseIndex.load(damaged, verify=verify)
        assert loaded.search(queries, k=K).ids.shape == (queries.shape[0], K)
    header = bytearray(blob)
    assert blob.find(b'"n_docs"') > 0
    header[blob.find(b'"n_docs"') + 2] ^= 0x20  # inside the JSON header: its checksum fails
    bad_header = tmp_path / "header.fanns"
    bad_header.write_bytes(bytes(header))
    for verify in ("full", "header"):
        with pytest.raises(ValueError):
            SparseIndex.load(bad_header, verify=verify)
    for verify in ("full", "header", False, True):
        same = SparseIndex.load(path, verify=verify)
        np.testing.assert_array_equal(same.search(queries, k=K).ids, index.search(queries, k=K).ids)
        assert list(same.attributes["y"][:8]) == [0, 1, 2, 3, 4, 5, 6, 0]
    with pytest.raises(ValueError, match="verify"):
        SparseIndex.load(path, verify="some")


# ----------------------------------------------------------------------------- bad input


def test_bad_documents_raise(small_exact):
    docs, _ = small_exact
    neg = docs.copy()
    neg.data[3] = -1.0
    nan = docs.copy()
    nan.data[3] = np.nan
    big = docs.copy()
    big.data[3] = 1e6
    for bad in (neg, nan, big):
        with pytest.raises(ValueError, match="row"):
            SparseIndex.build(bad)
    negative_id = sp.csr_matrix(
        (np.ones(2, np.float32), np.array([0, -1]), np.array([0, 2])), shape=(1, 3)
    )
    with pytest.raises(ValueError, match="negative term id"):
        SparseIndex.build(negative_id)
    with pytest.raises(ValueError, match="outside"):
        SparseIndex.build(SparseRows(np.array([0, 1]), np.array([7]), np.ones(1), (1, 3)))

    class PastTheEnd:
        indptr = np.array([0, 5])
        indices = np.array([1])
        data = np.ones(1)
        shape = (1, 3)

    with pytest.raises(ValueError, match="indptr"):
        SparseIndex.build(PastTheEnd())
    for bad_type in (np.ones((3, 3)), "text", 42, {0: 1.0}, [[0, 1]], [{"a": 1.0}], [{0: "x"}]):
        with pytest.raises(TypeError):
            SparseIndex.build(bad_type)
    with pytest.raises(ValueError, match="empty"):
        SparseIndex.build(sp.csr_matrix((0, 5), dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_postings": 0},
        {"block_size": 0},
        {"summary_energy": 0.0},
        {"summary_energy": 1.5},
        {"summary_cap": 0},
        {"summary_cap": -4},
        {"knn": -1},
        {"threads": -1},
        {"seed": -3},
        {"n_terms": 10},
    ],
)
def test_bad_build_parameters_raise(small_exact, kwargs):
    docs, _ = small_exact
    with pytest.raises(ValueError):
        SparseIndex.build(docs, **kwargs)


def test_summary_cap_must_be_an_integer(small_exact):
    docs, _ = small_exact
    with pytest.raises(TypeError):
        SparseIndex.build(docs, summary_cap=2.5)


def test_bad_search_input_raises(zipf_index, zipf_data):
    docs, queries, _ = zipf_data
    wide = sp.csr_matrix((1, docs.shape[1] + 1), dtype=np.float32)
    with pytest.raises(ValueError, match="columns"):
        zipf_index.search(wide)
    with pytest.raises(ValueError, match="columns"):
        zipf_index.search([{docs.shape[1]: 1.0}])
    neg = queries[:2].copy()
    neg.data[0] = -1
    with pytest.raises(ValueError, match="negative"):
        zipf_index.search(neg)
    nan = queries[:2].copy()
    nan.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        zipf_index.search(nan)
    for k in (0, -1):
        with pytest.raises(ValueError, match="k"):
            zipf_index.search(queries[:2], k=k)
    with pytest.raises(TypeError):
        zipf_index.search(queries[:2], k=2.5)
    with pytest.raises(ValueError):
        zipf_index.search(queries[:2], heap_factor=-0.1)
    with pytest.raises(ValueError):
        zipf_index.search(queries[:2], query_cut=0)
    with pytest.raises(ValueError):
        zipf_index.search(queries[:2], filter=np.ones(5, dtype=bool))
    with pytest.raises(ValueError):
        zipf_index.search(queries[:2], filter=[None] * 3)
    with pytest.raises(KeyError):
        zipf_index.search(queries[:2], filter=fanns.field("nope") == 1)
    with pytest.raises(TypeError):
        zipf_index.search(np.ones((2, docs.shape[1])))
    # the index still answers after the failures
    assert zipf_index.search(queries[:2], k=3).ids.shape == (2, 3)


def test_constructor_is_not_public():
    with pytest.raises(TypeError):
        SparseIndex()


# ----------------------------------------------------------------------------- plain baseline


def test_plain_inverted_baseline_exact_without_pruning(zipf_data):
    docs, queries, _ = zipf_data
    rounded = f16_rounded(docs)
    plain = PlainInvertedIndex.build(
        rounded.indptr.astype(np.int64),
        rounded.indices.astype(np.uint32),
        rounded.data,
        docs.shape[1],
        0,
        0,
    )
    q = queries.tocsr()
    ids, scores = plain.search(
        q.indptr.astype(np.int64), q.indices.astype(np.uint32), q.data, q.shape[1], K, 0, 0, 1
    )
    exact = exact_scores(rounded, queries)
    want = np.take_along_axis(exact, exact_topk(exact, K), 1)
    np.testing.assert_allclose(scores, want, rtol=1e-5)
    assert recall(ids, exact_topk(exact, K)) >= 0.99


# ----------------------------------------------------------------------------- benchmark


def test_benchmark_runs_on_small_synthetic_sets(tmp_path, capsys):
    from fanns.bench import sparse as bench

    bench.MEMORY_NOTES.clear()
    argv = ["--data", str(tmp_path), "--zipf-docs", "600", "--zipf-terms", "2000"]
    argv += ["--splade-docs", "600", "--queries", "12", "--latency-queries", "3"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| Zipf") or "SPLADE" in line]
    methods = {line.split("|")[2].strip() for line in table if line.startswith("|")}
    assert {"scipy exact", "fanns SparseIndex", "plain inverted (n_postings=2000)"} <= methods
    recalls = [float(line.split("|")[4]) for line in table if line.startswith("|")]
    assert recalls and all(0.0 <= r <= 1.0 for r in recalls)
    assert max(recalls) == 1.0  # the exact rows


# ----------------------------------------------------------------------------- every plan, filtered

PLAN_THRESHOLDS = {"blocks": 0, "accumulate": 0, "exact": 10**9}


def _filtered_cases(scores: np.ndarray, n: int) -> dict[str, list[np.ndarray]]:
    """Per-query masks: random at several selectivities (all and none included), one
    correlated with each query (its 5% best documents and a few others) and one
    anti-correlated (everything but its 100 best)."""
    nq = scores.shape[0]
    cases = {f"random {f}": [bitset_mask(n, f, seed=17)] * nq for f in (1.0, 0.5, 0.1, 0.01, 0.0)}
    correlated, anti = [], []
    for i in range(nq):
        order = np.argsort(-scores[i], kind="stable")
        near = np.zeros(n, dtype=bool)
        near[order[: n // 20]] = True
        near |= bitset_mask(n, 0.01, seed=i)
        correlated.append(near)
        far = np.ones(n, dtype=bool)
        far[order[:100]] = False
        anti.append(far)
    cases["correlated"] = correlated
    cases["anti-correlated"] = anti
    return cases


@pytest.mark.parametrize("plan", ["blocks", "accumulate", "exact"])
def test_every_plan_filtered_equals_brute_force(small_exact, plan):
    """Without pruning, every plan answers a filtered query exactly, at every selectivity."""
    docs, queries = small_exact
    n = docs.shape[0]
    index = SparseIndex.build(docs, n_postings=None, block_size=4, summary_energy=0.3)
    scores = exact_scores(docs, queries)  # exact: weights are f16-representable
    forced = {} if plan == "exact" else {"plan": plan}
    for name, masks in _filtered_cases(scores, n).items():
        stacked = np.stack(masks)
        result = index.search(
            queries,
            k=K,
            query_cut=None,
            heap_factor=0,
            filter=list(masks),
            exact_threshold=PLAN_THRESHOLDS[plan],
            **forced,
        )
        assert_exact_topk(result, scores, stacked, name=name)
        passing = stacked.any(axis=1)
        assert (result.plans[~passing] == "empty").all(), name
        assert (result.plans[passing] == plan).all(), (name, set(result.plans))


@pytest.mark.parametrize("case", ["correlated", "anti-correlated", "random 0.01"])
def test_correlated_filters_recall_with_defaults(zipf_index, zipf_data, case):
    """Default parameters under filters tied to each query's answer (and not)."""
    docs, queries, scores = zipf_data
    masks = _filtered_cases(scores, docs.shape[0])[case]
    stacked = np.stack(masks)
    truth = exact_topk(scores, K, stacked)
    for threshold in (None, 0):
        result = zipf_index.search(queries, k=K, filter=list(masks), exact_threshold=threshold)
        assert np.take_along_axis(stacked, np.maximum(result.ids, 0), 1)[result.ids >= 0].all()
        r = recall(result.ids, truth)
        assert r >= (0.95 if threshold is None or case != "random 0.01" else 0.8), (threshold, r)


def test_anti_correlated_filter_recall_with_every_query_term(zipf_index, zipf_data):
    docs, queries, scores = zipf_data
    masks = _filtered_cases(scores, docs.shape[0])["anti-correlated"]
    truth = exact_topk(scores, K, np.stack(masks))
    result = zipf_index.search(queries, k=K, filter=list(masks), query_cut=None)
    assert recall(result.ids, truth) >= 0.95


def test_benchmark_seismic_peer_and_filtered_table(tmp_path, capsys):
    """The Seismic peer rows and the peer table, on a small synthetic set."""
    pytest.importorskip("seismic")
    from fanns.bench import sparse as bench

    bench.MEMORY_NOTES.clear()
    argv = ["--data", str(tmp_path), "--sets", "zipf", "--methods", "fanns,seismic"]
    argv += ["--zipf-docs", "800", "--zipf-terms", "2000", "--queries", "12"]
    assert bench.main(argv + ["--latency-queries", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| Zipf")]
    seismic = [line for line in rows if "pyseismic-lsr" in line.split("|")[2]]
    from fanns.bench.sparse_peers import SEISMIC_SWEEP

    assert len(seismic) == len(SEISMIC_SWEEP)
    assert all(0.0 <= float(line.split("|")[4]) <= 1.0 for line in seismic)
    assert max(float(line.split("|")[4]) for line in seismic) >= 0.9
    assert "| recall@10 >= | fanns SparseIndex | peer |" in out


def test_benchmark_seismic_build_options_and_cpu_clock(tmp_path, capsys):
    """Seismic build and search settings from the command line; QPS on CPU time."""
    from fanns.bench.sparse_peers import parse_build, parse_sweep

    assert parse_build("n_postings=400, summary_energy=0.5") == {
        "n_postings": 400,
        "summary_energy": 0.5,
    }
    assert parse_sweep("4,0.9; 10,0.8") == [(4, 0.9), (10, 0.8)]
    with pytest.raises(ValueError, match="expected one of"):
        parse_build("block_size=16")
    with pytest.raises(ValueError, match="query_cut,heap_factor"):
        parse_sweep("4")
    assert parse_sweep("10,0.9,20") == [(10, 0.9, 20)]
    assert parse_build("nknn=8") == {"nknn": 8}
    for bad in ("4,0.9,20,1", "4,0.9,x"):
        with pytest.raises(ValueError, match="Seismic search setting"):
            parse_sweep(bad)
    pytest.importorskip("seismic")
    from fanns.bench import sparse as bench

    bench.MEMORY_NOTES.clear()
    argv = ["--data", str(tmp_path), "--sets", "splade", "--methods", "fanns,seismic"]
    argv += ["--splade-docs", "700", "--queries", "10", "--latency-queries", "2"]
    argv += ["--clock", "cpu", "--fanns-sweep", "short", "--seismic-sweep", "10,0.5;4,0.9"]
    argv += ["--seismic-build", "n_postings=300", "--splade-cache", str(tmp_path / "cache")]
    try:
        assert bench.main(argv) == 0
    finally:
        bench.CLOCK[0] = bench.time.perf_counter
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| SPLADE")]
    seismic = [line for line in rows if "pyseismic-lsr" in line.split("|")[2]]
    assert len(seismic) == 2 and all("(n_postings=300)" in line for line in seismic)
    fanns_rows = [line for line in rows if "fanns SparseIndex" in line.split("|")[2]]
    assert len(fanns_rows) == len(bench.FANNS_SHORT_SWEEP)
    assert list((tmp_path / "cache").glob("splade_like_docs_700_*.npz"))


def test_seismic_knn_refinement(capsys):
    """n_knn > 0 searches Seismic's k-NN graph (built with nknn); without the graph: ValueError."""
    pytest.importorskip("seismic")
    from fanns.bench.sparse import exact_topk
    from fanns.bench.sparse_peers import bench_seismic

    docs = zipf_sparse(800, 1000, nnz_mean=20, seed=1)
    queries = zipf_sparse(20, 1000, nnz_mean=6, seed=2)
    truth = exact_topk(docs, queries)
    with pytest.raises(ValueError, match="nknn"):
        bench_seismic("z", docs, queries, truth, 2, [(5, 1.0, 10)], n_postings=100)
    rows = bench_seismic(
        "z", docs, queries, truth, 2, [(5, 1.0), (5, 1.0, 20)], n_postings=100, nknn=20
    )
    plain, refined = rows
    assert "n_knn" not in plain.setting and "n_knn=20 (n_postings=100,nknn=20)" in refined.setting
    # The graph's neighbours are scored exactly: here they find what the pruned lists miss
    # (0.755 -> 0.855), which they could not if n_knn were not passed on.
    assert refined.recall > plain.recall + 0.03


def test_benchmark_splade_queries_option():
    """--splade-queries: written from documents by default, independent on request."""
    from fanns.bench import sparse as bench
    from fanns.datasets.bm25 import splade_like_queries, splade_like_sparse

    docs, q = bench.splade_sets(500, 8)
    docs2, q2 = bench.splade_sets(500, 8, queries="independent")
    assert (docs != docs2).nnz == 0
    assert (q != splade_like_queries(docs, 8, seed=2)[0]).nnz == 0
    assert (q2 != splade_like_sparse(8, nnz_mean=43, seed=2, weight_sigma=1.0)).nnz == 0
    with pytest.raises(ValueError, match="queries must be one of"):
        bench.splade_sets(500, 8, queries="real")
    with pytest.raises(SystemExit):
        bench.main(["--sets", "splade", "--splade-queries", "real"])


def test_seismic_index_cache(tmp_path, capsys):
    """A built Seismic index is saved with its build record and loaded on the next run."""
    pytest.importorskip("seismic")
    import json

    from fanns.bench.sparse_peers import SeismicPeer

    docs = zipf_sparse(600, 800, nnz_mean=20, seed=1)
    queries = zipf_sparse(10, 800, nnz_mean=6, seed=2)
    built = SeismicPeer(docs, cache=str(tmp_path), n_postings=200)
    assert built.loaded_from is None
    (record,) = tmp_path.glob("seismic_600_*.json")
    assert list(tmp_path.glob("seismic_600_*.index.seismic"))
    assert not list(tmp_path.glob("*partial*"))
    loaded = SeismicPeer(docs, cache=str(tmp_path), n_postings=200)
    assert loaded.loaded_from is not None
    assert loaded.build_s == built.build_s and loaded.memory_mb == built.memory_mb
    a = built.search(built.queries(queries), 5, 10, 0.9)
    b = loaded.search(loaded.queries(queries), 5, 10, 0.9)
    assert np.array_equal(a, b)
    # other documents or other parameters: another key, built afresh
    other = SeismicPeer(docs[:500], cache=str(tmp_path), n_postings=200)
    assert other.loaded_from is None and len(list(tmp_path.glob("*.json"))) == 2
    # a record naming other parameters than its key's is refused, not trusted
    data = json.loads(record.read_text())
    data["params"]["n_postings"] = 999
    record.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="names version"):
        SeismicPeer(docs, cache=str(tmp_path), n_postings=200)
    record.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        SeismicPeer(docs, cache=str(tmp_path), n_postings=200)
    capsys.readouterr()
