"""The hybrid call's one-pass path (arguments checked once, filters compiled
once for both sides) against the two searches run apart and fused, as
before: same answers, same errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from pyroaring import BitMap

import fanns
import fanns.routing as routing
from fanns import field, hybrid
from fanns.filters import batches

N, NQ, DIM, TERMS = 500, 9, 12, 150
FUSIONS = ["rrf", "dbsf", "weighted"]


@pytest.fixture(scope="module", params=["l2", "cosine"])
def data(request):
    rng = np.random.default_rng(11)
    base = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((NQ, DIM)).astype(np.float32)
    docs = sp.random(N, TERMS, density=0.08, format="csr", random_state=12, dtype=np.float32)
    sq = sp.random(NQ, TERMS, density=0.05, format="csr", random_state=13, dtype=np.float32)
    u = rng.integers(0, 1000, size=N)
    tags = [["a", "b", "c"][i % 3 :] for i in range(N)]
    index = fanns.Index.build(
        base,
        sparse=docs,
        attributes={"u": u, "tags": tags},
        metric=request.param,
        range_attribute="u",
        threads=1,
    )
    return base, queries, sq, u, index


def _filters(u):
    """Filters of every kind the path sees: none, expressions (one of them
    a pure range the range graph may answer), a bitmap, a mask, one per query."""
    return {
        "none": None,
        "contains": field("tags").contains("b"),
        "range": field("u").between(100, 400),
        "range and more": field("u").between(0, 700) & field("tags").contains("c"),
        "few": field("u") < 8,
        "nothing": field("u") < 0,
        "bitmap": BitMap(np.flatnonzero(u % 5 == 0).tolist()),
        "mask": u % 2 == 0,
        "per query": [None if i % 3 == 0 else field("u") < 100 * i for i in range(NQ)],
    }


def _apart(monkeypatch, index, *args, **kwargs):
    """The hybrid call with the one-pass path turned off (the two searches apart)."""
    with monkeypatch.context() as m:
        m.setattr(hybrid, "_one_filter_pass", lambda *a: None)
        return index.search(*args, **kwargs)


def _assert_same(a, b):
    for name in ("ids", "scores", "plans", "sources"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("name", list(_filters(np.zeros(1, dtype=int))))
def test_one_pass_equals_the_two_searches_apart(data, monkeypatch, fusion, name):
    _, queries, sq, u, index = data
    flt = _filters(u)[name]
    options = dict(sparse=sq, fusion=fusion, depth=30, filter=flt, threads=1)
    one = index.search(queries, 10, **options)
    apart = _apart(monkeypatch, index, queries, 10, **options)
    _assert_same(one, apart)
    # and against the two public searches fused by hand
    dense = index.search(queries, 30, ef=60, filter=flt, threads=1)
    found = index.search(None, 30, sparse=sq, filter=flt, threads=1)
    ids, scores, sources = hybrid.fuse(
        dense.ids, -dense.distances, found.ids, found.scores, 10, fusion=fusion
    )
    np.testing.assert_array_equal(one.ids, ids)
    np.testing.assert_array_equal(one.scores, scores)
    np.testing.assert_array_equal(one.sources, sources)
    plans = [f"{a}+{b}" for a, b in zip(dense.plans.tolist(), found.plans.tolist())]
    assert one.plans.tolist() == plans


def test_one_pass_with_every_option(data, monkeypatch):
    _, queries, sq, u, index = data
    options = dict(
        sparse=sq,
        fusion="dbsf",
        fusion_k=7,
        weights=(0.3, 2.0),
        depth=25,
        ef=40,
        exact_threshold=50,
        planner=fanns.Planner(two_hop_selectivity=0.3),
        sparse_options={"query_cut": 3, "heap_factor": 0.5, "plan": "blocks", "rerank": 40},
        filter=field("u") >= 300,
        threads=2,
    )
    _assert_same(index.search(queries, 7, **options), _apart(monkeypatch, index, queries, 7, **options))
    one = index.search(queries[0], 7, sparse=sq[0])  # one 1-D query
    _assert_same(one, _apart(monkeypatch, index, queries[0], 7, sparse=sq[0]))
    assert one.ids.shape == (1, 7)


@pytest.mark.parametrize("exact_threshold", [None, 0])
def test_a_range_the_range_graph_answers(data, monkeypatch, exact_threshold):
    """The dense side leaves a routed pure range uncompiled; the sparse side compiles it."""
    # Routed to the range graph whatever the planner would say (at 500 rows
    # the main graph's scan of these 141 rows reads less: route_to_range).
    monkeypatch.setattr(routing, "_ask", lambda decide, routes, passing: [True] * len(routes))
    _, queries, sq, u, index = data
    flt = field("u").between(100, 400)
    core = hybrid._one_filter_pass(index, index._sparse, flt, NQ)
    assert core._route(flt, NQ, core._planner(exact_threshold, None), 60, 30).routes
    options = dict(sparse=sq, depth=30, filter=flt, exact_threshold=exact_threshold)
    one = index.search(queries, 10, **options)
    _assert_same(one, _apart(monkeypatch, index, queries, 10, **options))
    if exact_threshold == 0:
        assert all(plan.startswith("range+") for plan in one.plans.tolist())
    assert np.isin(one.ids[one.ids >= 0], np.flatnonzero((u >= 100) & (u <= 400))).all()


def test_per_query_filters_searched_a_group_at_a_time(data, monkeypatch):
    """A batch whose distinct filters exceed the memory budget goes apart, grouped."""
    _, queries, sq, u, index = data
    flt = [field("u") < 100 * (i + 1) for i in range(NQ)]
    whole = index.search(queries, 10, sparse=sq, depth=30, filter=flt)
    monkeypatch.setattr(fanns.filters.grouped, "FILTER_MEMORY_BUDGET", 8)
    assert hybrid._one_filter_pass(index, index._sparse, flt, NQ) is None
    _assert_same(index.search(queries, 10, sparse=sq, depth=30, filter=flt), whole)


def test_the_filter_is_compiled_once(data, monkeypatch):
    _, queries, sq, u, index = data
    calls = []
    compile_filter = batches.compile_filter
    monkeypatch.setattr(
        batches, "compile_filter", lambda *a, **kw: calls.append(1) or compile_filter(*a, **kw)
    )
    flt = field("tags").contains("a")
    index.search(queries, 10, sparse=sq, filter=flt)
    assert len(calls) == 1
    _apart(monkeypatch, index, queries, 10, sparse=sq, filter=flt)
    assert len(calls) == 3  # the two searches apart compile it once each


BAD = [
    dict(ef=0),
    dict(ef=2.5),
    dict(threads=-1),
    dict(threads=5000),
    dict(exact_threshold=-1),
    dict(planner="fast"),
    dict(sparse_options={"heap_factor": -1}),
    dict(sparse_options={"query_cut": 0}),
    dict(sparse_options={"plan": "fast"}),
    dict(sparse_options={"plan": 3}),
    dict(sparse_options={"rerank": 0}),
    dict(sparse_options={"use_knn": 1}),
    dict(sparse_options={"exact_threshold": -2}),
    dict(filter=field("nope") < 3),
    dict(filter=field("u") == "x"),
    dict(filter=[None, None]),
    dict(filter=np.ones(N + 1, dtype=bool)),
]


@pytest.mark.parametrize("bad", BAD, ids=[str(b) for b in BAD])
def test_bad_arguments_raise_as_the_two_searches_apart(data, monkeypatch, bad):
    _, queries, sq, u, index = data
    with pytest.raises(Exception) as one:
        index.search(queries, 10, sparse=sq, **bad)
    with pytest.raises(Exception) as apart:
        _apart(monkeypatch, index, queries, 10, sparse=sq, **bad)
    assert type(one.value) is type(apart.value)
    assert str(one.value) == str(apart.value)
    bad_queries = [queries[:, :3], np.full((NQ, DIM), np.nan, dtype=np.float32), "abc"]
    for q in bad_queries:
        with pytest.raises(Exception) as one:
            index.search(q, 10, sparse=sq)
        with pytest.raises(Exception) as apart:
            _apart(monkeypatch, index, q, 10, sparse=sq)
        assert (type(one.value), str(one.value)) == (type(apart.value), str(apart.value))
    # the index answers as before
    _assert_same(index.search(queries, 10, sparse=sq), _apart(monkeypatch, index, queries, 10, sparse=sq))


def test_one_pass_is_taken_on_a_plain_index_only(data, monkeypatch, tmp_path):
    _, queries, sq, u, index = data
    side = index._sparse
    core = hybrid._one_filter_pass(index, side, None, NQ)
    assert core is not None and core._segments is None
    assert hybrid._one_filter_pass(core, side, None, NQ) is core
    # a batch of distinct filters too large to compile at once goes apart
    many = [field("u") == i for i in range(NQ)]
    with monkeypatch.context() as m:
        m.setattr(hybrid, "filters_per_group", lambda n: 2)
        assert hybrid._one_filter_pass(index, side, many, NQ) is None
    assert hybrid._one_filter_pass(index, side, many, NQ) is core
    index.save(tmp_path / "h.fanns")
    loaded = fanns.Index.load(tmp_path / "h.fanns")
    assert hybrid._one_filter_pass(loaded, loaded._sparse, None, NQ) is not None
