"""Hybrid dense + sparse search against an exact fusion of the two exact rankings."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import scipy.sparse as sp
from pyroaring import BitMap

import fanns
from fanns import field
from fanns.hybrid import exact_fusion, fuse
from oracle import clustered_with_queries, exact_distances

N, NQ, DIM, TERMS = 600, 12, 16, 200
FUSIONS = ["rrf", "dbsf", "weighted"]


# ----------------------------------------------------------------------- oracle
def _normalised(scores: list[float], fusion: str) -> list[float]:
    if fusion == "weighted":
        lo, hi = min(scores), max(scores)
        return [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    mean = statistics.fmean(scores)
    return [(s - (mean - 3 * std)) / (6 * std) if std > 0 else 0.5 for s in scores]


def oracle_fusion(dense, sparse, k, fusion, fusion_k=60, weights=(1.0, 1.0)):
    """Per query: ``dense`` / ``sparse`` are lists of (id, score) best first.
    Returns lists of (id, fused score, sources), best first, ties by smaller id."""
    out = []
    for lists in zip(dense, sparse):
        total: dict[int, float] = {}
        found: dict[int, int] = {}
        for bit, ranked, weight in zip((1, 2), lists, weights):
            scores = [s for _, s in ranked]
            values = (
                [1.0 / (fusion_k + r) for r in range(1, len(ranked) + 1)]
                if fusion == "rrf"
                else _normalised(scores, fusion)
                if ranked
                else []
            )
            for (i, _), v in zip(ranked, values):
                total[i] = total.get(i, 0.0) + weight * v
                found[i] = found.get(i, 0) | bit
        best = sorted(total, key=lambda i: (-total[i], i))[:k]
        out.append([(i, total[i], found[i]) for i in best])
    return out


def exact_rankings(data, queries, stored, sparse_queries, depth, masks):
    """The two exact rankings (float64) among passing rows: dense by -distance,
    sparse by score > 0."""
    dist = exact_distances(queries, data, "l2")
    prod = np.asarray((sparse_queries.astype(np.float64) @ stored.astype(np.float64).T).todense())
    dense, sparse = [], []
    for i in range(len(queries)):
        ok = masks[i]
        cand = np.flatnonzero(ok)
        order = cand[np.lexsort((cand, dist[i, cand]))][:depth]
        dense.append([(int(j), -dist[i, j]) for j in order])
        cand = np.flatnonzero(ok & (prod[i] > 0))
        order = cand[np.lexsort((cand, -prod[i, cand]))][:depth]
        sparse.append([(int(j), prod[i, j]) for j in order])
    return dense, sparse


def assert_matches(result, expected, k, rtol=1e-4):
    """Same fused scores at every position; same ids and sources except inside near-ties."""
    for row in range(len(expected)):
        want = expected[row]
        ids = result.ids[row]
        assert (ids >= 0).sum() == len(want), (row, ids, want)
        assert (ids[len(want) :] == -1).all() and np.isneginf(result.scores[row, len(want) :]).all()
        scores = np.array([s for _, s, _ in want])
        np.testing.assert_allclose(result.scores[row, : len(want)], scores, rtol=rtol, atol=1e-7)
        for pos, (i, s, src) in enumerate(want):
            near = np.abs(scores - s) <= rtol * max(abs(s), 1e-6)
            if near.sum() == 1:  # no near-tie: the position is determined
                assert ids[pos] == i and result.sources[row, pos] == src, (row, pos)


# ------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def data():
    base, queries, _, _ = clustered_with_queries(N, NQ, DIM, seed=3)
    docs = sp.random(N, TERMS, density=0.08, format="csr", random_state=4, dtype=np.float32)
    docs.data = (docs.data * 3).astype(np.float32)
    sq = sp.random(NQ, TERMS, density=0.03, format="csr", random_state=5, dtype=np.float32)
    stored = docs.copy()  # the weights the sparse side stores (f32 by default)
    u = np.random.default_rng(6).integers(0, 1000, size=N)
    index = fanns.Index.build(
        base, sparse=docs, attributes={"u": u}, sparse_params={"n_postings": None}, threads=1
    )
    return base, queries, docs, stored, sq, u, index


FILTERS = {
    "all": lambda u: (np.ones(len(u), dtype=bool), np.ones(len(u), dtype=bool)),
    "50%": lambda u: (field("u") < 500, u < 500),
    "10%": lambda u: (field("u") < 100, u < 100),
    "1%": lambda u: (field("u") < 10, u < 10),
    "bitmap": lambda u: (BitMap(np.flatnonzero(u % 7 == 0).tolist()), u % 7 == 0),
    "empty": lambda u: (field("u") < 0, np.zeros(len(u), dtype=bool)),
}


# ------------------------------------------------------------------------ tests
@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("name", list(FILTERS))
def test_filtered_hybrid_equals_exact_fusion(data, fusion, name):
    """Under a filter both sides answer exactly (few rows): the fused answer is the exact one."""
    base, queries, _, stored, sq, u, index = data
    flt, mask = FILTERS[name](u)
    depth, k = 40, 10
    result = index.search(queries, k, sparse=sq, fusion=fusion, depth=depth, filter=flt)
    dense, sparse = exact_rankings(base, queries, stored, sq, depth, [mask] * NQ)
    assert_matches(result, oracle_fusion(dense, sparse, k, fusion), k)
    # The sparse side scans the passing rows, or accumulates and certifies or
    # completes its answer: exact whichever the planner takes.
    exact_sparse = {"exact", "accumulate", "full"}
    if mask.all():  # the dense planner traverses the graph when every row passes
        assert {p.split("+")[0] for p in result.plans} <= {"graph", "exact"}
        assert {p.split("+")[1] for p in result.plans} <= exact_sparse
    elif mask.any():
        assert {p.split("+")[0] for p in result.plans} == {"exact"}
        assert {p.split("+")[1] for p in result.plans} <= exact_sparse
    else:
        assert (result.plans == "empty+empty").all() and (result.sources == 0).all()
    found = result.ids[result.ids >= 0]
    assert mask[found].all()


@pytest.mark.parametrize("fusion", FUSIONS)
def test_weights_and_fusion_k(data, fusion):
    base, queries, _, stored, sq, u, index = data
    mask = u < 300
    weights, fusion_k = (0.3, 1.7), 2
    result = index.search(
        queries,
        7,
        sparse=sq,
        fusion=fusion,
        depth=25,
        weights=weights,
        fusion_k=fusion_k,
        filter=mask,
    )
    dense, sparse = exact_rankings(base, queries, stored, sq, 25, [mask] * NQ)
    assert_matches(result, oracle_fusion(dense, sparse, 7, fusion, fusion_k, weights), 7)


def test_per_query_filters(data):
    base, queries, _, stored, sq, u, index = data
    pairs = [FILTERS[name](u) for name in ["50%", "1%", "empty", "10%"] * 3]
    result = index.search(queries, 10, sparse=sq, depth=30, filter=[f for f, _ in pairs])
    dense, sparse = exact_rankings(base, queries, stored, sq, 30, [m for _, m in pairs])
    assert_matches(result, oracle_fusion(dense, sparse, 10, "rrf"), 10)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_unfiltered_hybrid_close_to_exact_fusion(data, fusion):
    """Unfiltered, the dense side traverses the graph: near-exact with a large ef and
    an exhaustive sparse side, and the exact-fusion reference agrees with the oracle."""
    base, queries, _, stored, sq, u, index = data
    exhaustive = {"query_cut": None, "heap_factor": 0.0}
    result = index.search(
        queries, 10, sparse=sq, fusion=fusion, depth=50, ef=400, sparse_options=exhaustive
    )
    assert all(p.startswith("graph+") for p in result.plans)
    ref_ids, ref_scores, ref_sources = exact_fusion(
        base, stored, queries, sq, 10, depth=50, fusion=fusion
    )
    dense, sparse = exact_rankings(base, queries, stored, sq, 50, [np.ones(N, bool)] * NQ)
    expected = oracle_fusion(dense, sparse, 10, fusion)
    np.testing.assert_array_equal(ref_ids, [[i for i, _, _ in row] for row in expected])
    np.testing.assert_allclose(ref_scores, [[s for _, s, _ in row] for row in expected], rtol=1e-6)
    hits = [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(result.ids, ref_ids)]
    assert np.mean(hits) >= 0.95
    # default parameters (depth 100): each side approximate
    default = index.search(queries, 10, sparse=sq, fusion=fusion)
    ref_ids = exact_fusion(base, stored, queries, sq, 10, depth=100, fusion=fusion)[0]
    hits = [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(default.ids, ref_ids)]
    assert np.mean(hits) >= 0.8


def test_scores_sorted_and_sources_consistent(data):
    base, queries, _, _, sq, _, index = data
    result = index.search(queries, 15, sparse=sq)
    assert (np.diff(result.scores, axis=1) <= 0).all()
    dense = index.search(queries, 100)
    sparse = index.search(None, 100, sparse=sq)
    for row in range(NQ):
        for pos, i in enumerate(result.ids[row]):
            assert result.from_dense[row, pos] == (i in dense.ids[row])
            assert result.from_sparse[row, pos] == (i in sparse.ids[row])
    ids, scores = result
    assert ids is result.ids and scores is result.scores
    assert "HybridSearchResult(nq=12, k=15" in repr(result)


def test_sparse_only_equals_the_sparse_index(data):
    base, queries, docs, _, sq, u, index = data
    alone = fanns.SparseIndex.build(docs, attributes={"u": u}, n_postings=None, threads=1)
    for flt in [None, field("u") < 200]:
        got = index.search(None, 10, sparse=sq, filter=flt)
        want = alone.search(sq, 10, filter=flt)
        assert isinstance(got, fanns.SparseSearchResult)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)


def test_dense_search_unchanged_by_the_sparse_side(data):
    base, queries, _, _, _, u, index = data
    plain = fanns.Index.build(base, attributes={"u": u}, threads=1)
    for flt in [None, field("u") < 50]:
        a, b = index.search(queries, 10, filter=flt), plain.search(queries, 10, filter=flt)
        np.testing.assert_array_equal(a.ids, b.ids)
        assert type(a) is fanns.SearchResult


def test_fuse_against_oracle_random_lists():
    rng = np.random.default_rng(11)
    nq, depth = 30, 12
    d_ids = np.full((nq, depth), -1, dtype=np.int64)
    s_ids = np.full((nq, depth), -1, dtype=np.int64)
    d_sc = np.full((nq, depth), -np.inf)
    s_sc = np.full((nq, depth), -np.inf)
    lists = ([], [])
    for q in range(nq):
        for ids, sc, out in ((d_ids, d_sc, lists[0]), (s_ids, s_sc, lists[1])):
            m = int(rng.integers(0, depth + 1))  # 0..depth found, one alone, all equal...
            chosen = rng.choice(40, size=m, replace=False)
            values = np.sort(rng.standard_normal(m))[::-1] if q % 5 else np.full(m, 2.0)
            ids[q, :m], sc[q, :m] = chosen, values
            out.append([(int(i), float(v)) for i, v in zip(chosen, values)])
    for fusion in FUSIONS:
        ids, scores, sources = fuse(d_ids, d_sc, s_ids, s_sc, 8, fusion=fusion, weights=(1.0, 0.5))
        for q, want in enumerate(oracle_fusion(*lists, 8, fusion, weights=(1.0, 0.5))):
            assert ids[q, : len(want)].tolist() == [i for i, _, _ in want], (fusion, q)
            np.testing.assert_allclose(scores[q, : len(want)], [s for _, s, _ in want], rtol=1e-6)
            assert sources[q, : len(want)].tolist() == [b for _, _, b in want]
            assert (ids[q, len(want) :] == -1).all()


def test_save_load_round_trip(tmp_path, data):
    base, queries, _, _, sq, _, index = data
    path = tmp_path / "hybrid.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    a = index.search(queries, 10, sparse=sq, filter=field("u") < 400, fusion="dbsf")
    b = loaded.search(queries, 10, sparse=sq, filter=field("u") < 400, fusion="dbsf")
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.sparse.nnz == index.sparse.nnz and loaded.sparse.attributes is loaded.attributes
    assert index.memory_bytes(by_part=True)["sparse"] > 0
    assert "sparse=(200 terms" in repr(index)


def test_corrupt_sparse_side_raises(tmp_path, data):
    from fanns._fileformat import read_index_file, write_index_file

    index = data[-1]
    path = tmp_path / "h.fanns"
    index.save(path)
    meta, sections = read_index_file(str(path), "hnsw")
    bad = dict(sections)
    bad["sparse/block_docs"] = np.full_like(sections["sparse/block_docs"], N + 5)
    write_index_file(path, "hnsw", meta, bad)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)
    meta["sparse"]["n_docs"] = N + 1
    write_index_file(path, "hnsw", meta, sections)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)
    meta["sparse"] = "nonsense"
    write_index_file(path, "hnsw", meta, sections)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)


def test_bad_arguments_raise(data):
    base, queries, docs, _, sq, u, index = data
    plain = fanns.Index.build(base[:50], threads=1)
    cases = [
        (ValueError, "unknown fusion", dict(sparse=sq, fusion="max")),
        (ValueError, "unknown fusion", dict(sparse=sq, fusion=None)),
        (ValueError, "fusion_k", dict(sparse=sq, fusion_k=-1)),
        (TypeError, "fusion_k", dict(sparse=sq, fusion_k="60")),
        (ValueError, "fusion_k", dict(sparse=sq, fusion_k=float("nan"))),
        (ValueError, "pair", dict(sparse=sq, weights=(1.0,))),
        (TypeError, "pair", dict(sparse=sq, weights="ab")),
        (ValueError, "weights\\[1\\]", dict(sparse=sq, weights=(1.0, -2.0))),
        (ValueError, "both be 0", dict(sparse=sq, weights=(0, 0))),
        (ValueError, "at least k", dict(sparse=sq, depth=5)),
        (ValueError, "depth", dict(sparse=sq, depth=0)),
        (TypeError, "depth", dict(sparse=sq, depth=2.5)),
        (ValueError, "query rows", dict(sparse=sq[:3])),
        (ValueError, "apply only", dict(fusion="dbsf")),
        (ValueError, "apply only", dict(weights=(1, 1))),
        (ValueError, "apply only", dict(depth=20)),
        (ValueError, "unknown key", dict(sparse=sq, sparse_options={"ef": 3})),
        (TypeError, "sparse_options", dict(sparse=sq, sparse_options=[1])),
        (ValueError, "columns", dict(sparse=sp.random(NQ, TERMS + 9, density=0.1, format="csr"))),
        (TypeError, "CSR", dict(sparse=np.ones((NQ, TERMS)))),
    ]
    for exc, match, kwargs in cases:
        with pytest.raises(exc, match=match):
            index.search(queries, 10, **kwargs)
    with pytest.raises(ValueError, match="sparse-only"):
        index.search(None, 10, sparse=sq, fusion="dbsf")
    with pytest.raises(ValueError, match="dense side"):
        index.search(None, 10, sparse=sq, ef=50)
    with pytest.raises(ValueError, match="queries is None"):
        index.search(None, 10)
    with pytest.raises(ValueError, match="no sparse vectors"):
        plain.search(base[:2], 5, sparse=sq[:2])
    with pytest.raises(ValueError, match="no sparse vectors"):
        plain.search(None, 5, sparse=sq[:2])
    with pytest.raises(ValueError, match="dimension"):
        index.search(queries[:, :3], 10, sparse=sq)
    with pytest.raises(KeyError):
        index.search(queries, 10, sparse=sq, filter=field("nope") < 3)
    # the index answers as before after every refused call
    again = index.search(queries, 10, sparse=sq)
    assert (again.ids >= 0).all()


def test_bad_build_arguments_raise(data):
    base, _, docs, _, _, _, _ = data
    with pytest.raises(ValueError, match="same rows"):
        fanns.Index.build(base, sparse=docs[:100])
    with pytest.raises(ValueError, match="sparse_params needs sparse"):
        fanns.Index.build(base, sparse_params={"n_postings": 5})
    with pytest.raises(ValueError, match="unknown key"):
        fanns.Index.build(base, sparse=docs, sparse_params={"attributes": {}})
    with pytest.raises(TypeError, match="sparse_params"):
        fanns.Index.build(base, sparse=docs, sparse_params=[("n_postings", 5)])
    with pytest.raises(ValueError, match="negative"):
        bad = docs.copy()
        bad.data[0] = -1
        fanns.Index.build(base, sparse=bad)
    with pytest.raises(ValueError, match="block_size"):
        fanns.Index.build(base, sparse=docs, sparse_params={"block_size": 0})


def test_sparse_as_dicts_and_one_dimensional_query(data):
    base, queries, docs, _, sq, _, index = data
    rows = [dict(zip(sq[i].indices.tolist(), sq[i].data.tolist())) for i in range(2)]
    a = index.search(queries[:2], 10, sparse=rows)
    b = index.search(queries[:2], 10, sparse=sq[:2])
    np.testing.assert_array_equal(a.ids, b.ids)
    c = index.search(queries[0], 10, sparse=sq[:1])
    np.testing.assert_array_equal(c.ids, b.ids[:1])


def test_threads_do_not_change_results(data):
    base, queries, _, _, sq, _, index = data
    a = index.search(queries, 10, sparse=sq, threads=1, filter=field("u") < 700)
    b = index.search(queries, 10, sparse=sq, threads=2, filter=field("u") < 700)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_the_sparse_side_cannot_be_changed_around_the_index(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((120, 8)).astype(np.float32)
    docs = sp.random(120, 40, density=0.2, format="csr", random_state=1, dtype=np.float32)
    index = fanns.Index.build(x, sparse=docs, threads=1)
    with pytest.raises(TypeError, match="sparse side"):
        index.sparse.delete([0])
    index.save(tmp_path / "h.fanns")
    loaded = fanns.Index.load(tmp_path / "h.fanns")
    with pytest.raises(TypeError, match="sparse side"):
        loaded.sparse.delete([0])
    assert len(loaded.sparse) == 120


def test_fusion_refuses_scores_whose_spread_overflows():
    ids = np.array([[1, 2, 3, 4]])
    huge = np.array([[1e200, 5e199, -5e199, -1e200]])
    with pytest.raises(ValueError, match="overflow"):
        fanns.hybrid.fuse(ids, huge, np.array([[9, 8, 7, 6]]), np.array([[4.0, 3.0, 2.0, 1.0]]), 8, fusion="dbsf")
