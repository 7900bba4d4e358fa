"""SparseIndex forward-index weights: f32 (default) and f16.

Weights here are multiples of 1/4096 below 4 with small integer query
weights, so every score is exact in float32 (and float64) while f16 (11
significant bits) rounds the weights: the f32 index must equal brute force
over the given weights exactly (ids, ties by smaller id, and scores) in every
plan, the f16 index brute force over the f16-rounded weights, and the two
must differ somewhere (or the test would not see the rounding).
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import scipy.sparse as sp

import fanns
import fanns.sparse
from fanns.sparse import SparseIndex

from test_sparse_filtered import check_exact, exact_scores, exact_topk, filter_cases, skewed_sparse

K = 10
DATA = os.path.join(os.path.dirname(__file__), "data")


def fine_weights(rng, heavy: np.ndarray) -> np.ndarray:
    """Heavy weights (1-4, multiples of 2^-12) among many light ones (0.0625 to
    0.094, multiples of 2^-17): every score is exact in float32 (at most 24
    significant bits), the weights are not in f16 (11)."""
    return np.where(
        heavy,
        rng.integers(2**12, 2**14, size=heavy.size) * 2.0**-12,
        rng.integers(2**13, 3 * 2**12, size=heavy.size) * 2.0**-17,
    )


def fine_sparse(n: int, n_terms: int, nq: int, seed: int):
    return skewed_sparse(n, n_terms, nq, seed, weights=fine_weights)


def rounded(docs):
    out = docs.copy()
    out.data = out.data.astype(np.float16).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def fine():
    docs, queries = fine_sparse(1500, 300, nq=40, seed=11)
    assert (rounded(docs).data != docs.data).mean() > 0.5  # f16 really rounds
    return docs, queries, exact_scores(docs, queries), exact_scores(rounded(docs), queries)


@pytest.fixture(scope="module")
def indexes(fine):
    docs = fine[0]
    return {w: SparseIndex.build(docs, n_postings=15, block_size=4, weights=w) for w in ("f32", "f16")}


@pytest.mark.parametrize("weights", ["f32", "f16"])
@pytest.mark.parametrize("exact_threshold", [1, 0])
def test_filtered_plans_equal_brute_force_over_stored_weights(fine, indexes, weights, exact_threshold):
    """Every filter (none passing, all passing, anti-correlated...) and every
    way of answering: the f32 index equals brute force over the given
    weights, the f16 one over its rounded weights."""
    docs, queries, scores, scores16 = fine
    want_scores = scores if weights == "f32" else scores16
    index = indexes[weights]
    seen = set()
    for name, masks in filter_cases(scores).items():
        result = index.search(queries, k=K, filter=list(masks), exact_threshold=exact_threshold)
        check_exact(result, want_scores, masks, f"{weights} {name}")
        seen |= set(result.plans[masks.any(axis=1)])
        assert (result.plans[~masks.any(axis=1)] == "empty").all()
    assert {"full", "accumulate"} | ({"exact"} if exact_threshold else set()) <= seen, seen


@pytest.mark.parametrize("completion, plan", [(1, "exact"), (2, "full")])
def test_each_completion_with_f32_weights(fine, indexes, monkeypatch, completion, plan):
    docs, queries, scores, _ = fine
    monkeypatch.setattr(fanns.sparse, "_COMPLETION", completion)
    for name, masks in filter_cases(scores).items():
        result = indexes["f32"].search(queries, k=K, filter=list(masks), exact_threshold=1)
        check_exact(result, scores, masks, name)
        few = masks.sum(axis=1) <= 1
        assert (result.plans[~few] == plan).all(), (name, set(result.plans[~few]))


def test_f16_rounding_changes_answers_that_f32_gets_right(fine, indexes):
    """A filter removing each query's best documents (what the f32 weights are
    for): only f32 matches brute force over the given weights; f16 returns
    other scores and, for some queries, other documents."""
    docs, queries, scores, _ = fine
    masks = filter_cases(scores)["all but the best 30"]
    a = indexes["f32"].search(queries, k=K, filter=list(masks))
    b = indexes["f16"].search(queries, k=K, filter=list(masks))
    truth = exact_topk(scores, masks)
    np.testing.assert_array_equal(a.ids, truth)
    assert (a.ids >= 0).all()
    assert (b.scores != a.scores).mean() > 0.5


@pytest.mark.parametrize("filtered", [False, True])
def test_near_ties_f16_cannot_order(filtered):
    """64 documents of one term, weights 1 + i 2^-14 (distinct in float32, 16
    to an f16 value): f32 orders them by weight, f16 by id among its ties."""
    n = 64
    weights = (1 + np.arange(n) * 2.0**-14).astype(np.float32)
    docs = sp.csr_matrix((weights, (np.arange(n), np.zeros(n, dtype=int))), shape=(n, 2))
    query = sp.csr_matrix(np.array([[1.0, 0.0]], dtype=np.float32))
    mask = np.arange(n) % 2 == 0 if filtered else np.ones(n, dtype=bool)
    want = np.flatnonzero(mask)[::-1][:K]
    for w in ("f32", "f16"):
        index = SparseIndex.build(docs, weights=w)
        result = index.search(query, k=K, filter=mask if filtered else None, exact_threshold=0)
        if w == "f32":
            np.testing.assert_array_equal(result.ids[0], want)
            np.testing.assert_array_equal(result.scores[0], weights[want])
        else:
            assert not np.array_equal(result.ids[0], want)
            np.testing.assert_array_equal(result.scores[0], weights[result.ids[0]].astype(np.float16))


@pytest.mark.parametrize("plan", ["blocks", "accumulate"])
@pytest.mark.parametrize("weights", ["f32", "f16"])
def test_unfiltered_plans_return_exact_scores_of_stored_weights(fine, weights, plan):
    """Unfiltered, every list kept and nothing pruned away (heap_factor 0 and a
    rerank of every document): the top-k equals brute force; a pruned index
    returns the exact scores of the ids it returns."""
    docs, queries, scores, scores16 = fine
    want = scores if weights == "f32" else scores16
    full = SparseIndex.build(docs, n_postings=None, block_size=4, weights=weights)
    result = full.search(queries, k=K, plan=plan, heap_factor=0.0, query_cut=10, rerank=docs.shape[0])
    assert (result.plans == plan).all()
    check_exact(result, want, np.ones(scores.shape, dtype=bool), f"{weights} {plan}")
    pruned = SparseIndex.build(docs, n_postings=15, block_size=4, weights=weights)
    result = pruned.search(queries, k=K, plan=plan)
    assert (result.plans == plan).all()
    got = result.ids >= 0
    rows = np.nonzero(got)[0]
    np.testing.assert_array_equal(
        result.scores[got], want[rows, result.ids[got]].astype(np.float32)
    )


def test_memory_repr_and_validation(fine, indexes):
    docs = fine[0]
    f32, f16 = indexes["f32"], indexes["f16"]
    assert f32.nnz == f16.nnz == docs.nnz
    # 8 bytes an entry instead of 6 (term + weight), the offsets alike
    assert f32.memory_bytes(by_part=True)["forward"] - f16.memory_bytes(by_part=True)["forward"] == 2 * docs.nnz
    assert "weights=f32" in repr(f32) and "weights=f16" in repr(f16)
    assert "weights=f32" in repr(SparseIndex.build(docs[:50]))  # the default
    with pytest.raises(ValueError, match="weights"):
        SparseIndex.build(docs, weights="f64")
    with pytest.raises(TypeError, match="weights"):
        SparseIndex.build(docs, weights=32)
    with pytest.raises(ValueError, match="65504"):
        SparseIndex.build(sp.csr_matrix(np.array([[70000.0]], dtype=np.float32)), weights="f32")


@pytest.mark.parametrize("weights", ["f32", "f16"])
def test_save_load_keeps_the_weights(fine, indexes, tmp_path, weights):
    docs, queries, scores, _ = fine
    index = indexes[weights]
    path = tmp_path / f"{weights}.fanns"
    index.save(path)
    loaded = SparseIndex.load(path)
    assert f"weights={weights}" in repr(loaded)
    assert loaded.memory_bytes(by_part=True)["forward"] == index.memory_bytes(by_part=True)["forward"]
    masks = filter_cases(scores)["anti-correlated 0.5"]
    a = index.search(queries, k=K, filter=list(masks))
    b = loaded.search(queries, k=K, filter=list(masks))
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_f32_file_with_bad_weight_section_is_refused(indexes, tmp_path):
    """A format-3 file whose weights section has the other format's dtype, or a
    negative weight, raises ValueError."""
    from fanns._fileformat import write_index_file

    index = indexes["f32"]
    for damage in ("dtype", "negative"):
        meta, sections = index._state()
        from fanns._built import attribute_sections

        attribute_sections(index._store, meta, sections)
        if damage == "dtype":
            sections["sparse/forward_values"] = sections["sparse/forward_values"].astype(np.float16).view(np.uint16)
        else:
            values = sections["sparse/forward_values"].copy()
            values[3] = -1.0
            sections["sparse/forward_values"] = values
        path = tmp_path / f"{damage}.fanns"
        write_index_file(path, "sparse", meta, sections)
        with pytest.raises(ValueError, match="corrupt"):
            SparseIndex.load(path)


def test_format_2_file_written_before_loads_as_f16(tmp_path):
    """A file saved by the release before f32 weights (format 2: f16 weights, no
    ``weights`` field; 60 documents, weights multiples of 1/4096) loads as an
    f16 index that answers as brute force over the f16-rounded weights, and
    saves again as format 3."""
    path = tmp_path / "old.fanns"
    with gzip.open(os.path.join(DATA, "sparse_format2.fanns.gz"), "rb") as f:
        path.write_bytes(f.read())
    z = np.load(os.path.join(DATA, "sparse_format2_docs.npz"))
    docs = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(60, 40))
    index = SparseIndex.load(path)
    assert "weights=f16" in repr(index) and len(index) == 60
    assert list(index.attributes["year"][:3]) == [2000, 2001, 2002]
    queries = (docs[:20] > 0).astype(np.float32)  # weights 1: exact sums
    scores = exact_scores(rounded(docs), queries)
    masks = np.ones(scores.shape, dtype=bool)
    masks[:, ::3] = False
    result = index.search(queries, k=K, filter=list(masks), exact_threshold=1)
    check_exact(result, scores, masks, "format 2")
    again = tmp_path / "again.fanns"
    index.save(again)
    reread = SparseIndex.load(again)
    assert reread._state()[0]["format"] == 3 and "weights=f16" in repr(reread)
    np.testing.assert_array_equal(reread.search(queries, k=K).ids, index.search(queries, k=K).ids)


@pytest.mark.parametrize("weights", [None, "f16"])
def test_hybrid_index_keeps_the_sparse_weights(fine, tmp_path, weights):
    """fanns.Index(..., sparse=...) builds its sparse side with sparse_params
    (weights default f32), saves and loads it."""
    docs, queries, scores, scores16 = fine
    n = 300
    side = docs[:n]
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    params = {"n_postings": None} | ({} if weights is None else {"weights": weights})
    index = fanns.Index.build(vectors, sparse=side, sparse_params=params)
    path = tmp_path / "hybrid.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    want = weights or "f32"
    for idx in (index, loaded):
        sparse_side = idx.sparse
        assert f"weights={want}" in repr(sparse_side)
        q = queries[:5]
        truth_scores = exact_scores(side if want == "f32" else rounded(side), q)
        result = sparse_side.search(q, k=K, filter=list(np.ones(truth_scores.shape, dtype=bool)), exact_threshold=n)
        check_exact(result, truth_scores, np.ones(truth_scores.shape, dtype=bool), f"hybrid {want}")


def test_weights_below_the_smallest_normal_float_are_dropped():
    """A subnormal f32 weight cannot be bounded by the lists' 8-bit codes, so
    it is dropped as f16 rounding drops it; the rest is searched exactly,
    under filters too (certified and completed answers)."""
    tiny = 1e-43
    docs = sp.csr_matrix(np.array([[tiny, 1.0], [tiny, 0.5], [2.0, 0.0]], dtype=np.float32))
    for weights in ("f32", "f16"):
        index = SparseIndex.build(docs, weights=weights)
        assert index.nnz == 3
        q = sp.csr_matrix(np.array([[1e30, 1.0]], dtype=np.float32))
        result = index.search(q, 3)
        np.testing.assert_array_equal(result.ids[0], [2, 0, 1])
    rng = np.random.default_rng(4)
    weights = np.full(400, 1.72e-41, dtype=np.float32)
    weights[222] = 1.7328e-41
    rows = np.vstack([weights, rng.integers(1, 5, 400) / 4.0]).T.astype(np.float32)
    docs = sp.csr_matrix(rows)
    index = SparseIndex.build(docs, n_postings=20, block_size=4)
    q = sp.csr_matrix(np.array([[1e30, 1.0]], dtype=np.float32))
    kept = docs.copy()
    kept.data[kept.data < np.finfo(np.float32).tiny] = 0
    kept.eliminate_zeros()
    scores = exact_scores(kept, q)
    mask = np.ones(400, dtype=bool)
    mask[::7] = False
    for threshold in (None, 0):
        result = index.search(q, K, filter=mask, exact_threshold=threshold)
        check_exact(result, scores, mask[None, :], f"subnormal, threshold {threshold}")
