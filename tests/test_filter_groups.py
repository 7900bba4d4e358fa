"""Per-query filters searched a group at a time (fanns.filters.grouped).

A batch whose distinct filters would compile into more bitset bytes than the
budget is split; every query's answer (ids, distances, plan) must equal the
ungrouped search's, on every plan, and the exact-plan answers equal brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

import fanns
import fanns.routing
import fanns.sparse
from fanns import field
from fanns.filters import grouped
from oracle import clustered_with_queries, exact_distances, exact_knn, exact_sparse

N, NQ, DIM, K = 1500, 90, 8, 5


@pytest.fixture(scope="module")
def world():
    data, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=3)
    rng = np.random.default_rng(4)
    attributes = {
        "date": rng.integers(0, 1000, size=N),
        "cluster": [f"c{x}" for x in labels],
        "u": rng.random(N),
    }
    index = fanns.Index.build(
        data, attributes=attributes, seed=2, threads=1, ef_construction=64, range_attribute="date"
    )
    return index, data, queries, attributes


def per_query_filters(attributes, nq: int, seed: int = 0) -> tuple[list, list]:
    """A filter per query covering every plan (unfiltered, wide, narrow, empty,
    pure and mixed ranges, bitmaps and masks), and the mask of each."""
    rng = np.random.default_rng(seed)
    date, cluster, u = attributes["date"], np.array(attributes["cluster"]), attributes["u"]
    filters, masks = [], []
    for i in range(nq):
        kind = i % 9
        if kind == 0:
            f, m = None, np.ones(N, bool)
        elif kind == 1:  # wide: the graph checks it in the loop
            t = 0.05 + 0.1 * rng.random()
            f, m = field("u") > t, u > t
        elif kind == 2:  # a few percent: predicate-aware traversal
            c = f"c{rng.integers(20)}"
            f, m = field("cluster") == c, cluster == c
        elif kind == 3:  # a handful of rows: exact scan
            lo = rng.random() * 0.99
            f, m = field("u").between(lo, lo + 0.004), (u >= lo) & (u <= lo + 0.004)
        elif kind == 4:  # nothing passes
            f, m = field("u") > 2.0, np.zeros(N, bool)
        elif kind == 5:  # a pure range on the range attribute
            lo = int(rng.integers(0, 900))
            f, m = field("date").between(lo, lo + 60), (date >= lo) & (date <= lo + 60)
        elif kind == 6:  # a range with another conjunct
            lo = int(rng.integers(0, 700))
            t = rng.random() * 0.5
            f = field("date").between(lo, lo + 250) & (field("u") > t)
            m = (date >= lo) & (date <= lo + 250) & (u > t)
        elif kind == 7:  # a bitmap
            ids = np.flatnonzero(rng.random(N) < 0.3)
            f, m = BitMap(ids.tolist()), np.isin(np.arange(N), ids)
        else:  # a boolean mask
            m = rng.random(N) < 0.5
            f = m
        filters.append(f)
        masks.append(m)
    # a repeated expression: one distinct filter for two queries
    filters[-1], masks[-1] = filters[2], masks[2]
    return filters, masks


def compiled_sizes(monkeypatch) -> list[int]:
    """Record how many distinct filters each compilation holds."""
    sizes: list[int] = []
    original = fanns.routing.compile_groups

    def spy(groups, *args, **kwargs):
        sizes.append(len(groups.distinct))
        return original(groups, *args, **kwargs)

    monkeypatch.setattr(fanns.routing, "compile_groups", spy)
    return sizes


def bitset_budget(filters_at_once: int) -> int:
    return filters_at_once * ((N + 63) // 64 * 8)


@pytest.mark.parametrize("at_once", [1, 4, 13])
@pytest.mark.parametrize("exact_threshold", [None, 0, 40])
def test_grouped_search_equals_the_ungrouped_one(world, monkeypatch, at_once, exact_threshold):
    index, _, queries, attributes = world
    filters, _ = per_query_filters(attributes, NQ, seed=at_once)
    sizes = compiled_sizes(monkeypatch)
    whole = index.search(queries, k=K, filter=filters, exact_threshold=exact_threshold, threads=1)
    assert sizes == [len(sizes) and sizes[0]]  # one compilation of every distinct filter
    distinct = sizes[0]
    assert distinct > at_once
    monkeypatch.setattr(grouped, "FILTER_MEMORY_BUDGET", bitset_budget(at_once))
    sizes.clear()
    parts = index.search(queries, k=K, filter=filters, exact_threshold=exact_threshold, threads=2)
    assert max(sizes) <= at_once and len(sizes) == -(-distinct // at_once)
    np.testing.assert_array_equal(parts.ids, whole.ids)
    np.testing.assert_array_equal(parts.distances, whole.distances)
    np.testing.assert_array_equal(parts.plans, whole.plans)
    # the batches exercise every plan the dense index has
    plans = set(whole.plans.tolist())
    if exact_threshold is None:
        assert {"graph", "exact", "scan", "empty"} <= plans
    else:
        assert {"graph", "filtered", "acorn", "exact", "scan", "range", "empty"} <= plans


def test_grouped_exact_answers_equal_brute_force(world, monkeypatch):
    index, data, queries, attributes = world
    filters, masks = per_query_filters(attributes, NQ, seed=7)
    monkeypatch.setattr(grouped, "FILTER_MEMORY_BUDGET", bitset_budget(3))
    result = index.search(queries, k=K, filter=filters, exact_threshold=N, threads=1)
    truth = exact_knn(queries, data, K, index.metric, masks)
    exact = exact_distances(queries, data, index.metric)
    checked = 0
    for i, plan in enumerate(result.plans.tolist()):
        if plan not in ("exact", "empty"):
            continue
        found = result.ids[i][result.ids[i] >= 0]
        np.testing.assert_array_equal(found, truth[i])
        np.testing.assert_allclose(result.distances[i, : len(found)], exact[i, found], rtol=1e-5, atol=1e-5)
        checked += 1
    assert checked >= NQ // 2


def test_grouped_search_on_a_mutable_index(world, monkeypatch):
    _, data, queries, attributes = world
    index = fanns.Index.build(
        data[:1000], attributes={k: v[:1000] for k, v in attributes.items()}, seed=2, threads=1,
        ef_construction=64, ids=np.arange(1000) * 3,
    )
    index.add(data[1000:], attributes={k: v[1000:] for k, v in attributes.items()}, ids=np.arange(1000, N) * 3)
    index.delete(np.arange(0, 300) * 3)
    filters, _ = per_query_filters(attributes, NQ, seed=11)
    filters = [f if not isinstance(f, (BitMap, np.ndarray)) else None for f in filters]
    whole = index.search(queries, k=K, filter=filters, threads=1)
    sizes = compiled_sizes(monkeypatch)
    monkeypatch.setattr(grouped, "FILTER_MEMORY_BUDGET", bitset_budget(2))
    parts = index.search(queries, k=K, filter=filters, threads=1)
    assert sizes and max(sizes) <= 2
    np.testing.assert_array_equal(parts.ids, whole.ids)
    np.testing.assert_array_equal(parts.distances, whole.distances)
    np.testing.assert_array_equal(parts.plans, whole.plans)


def test_query_groups_cover_every_query_once():
    flt = [None, field("a") == 1, field("a") == 2, field("a") == 1, None, field("a") == 3]
    parts = grouped.query_groups(flt, 100, len(flt), 2)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3, 4], [5]]
    assert grouped.query_groups(flt, 100, len(flt), 3) is None  # three distinct: one part
    assert grouped.query_groups(field("a") == 1, 100, 6, 1) is None  # one filter for all
    assert grouped.query_groups([True, False], 2, 2, 1) is None  # a mask, not a list of filters
    assert grouped.query_groups(flt, 100, 5, 1) is None  # wrong length: the search says why
    assert grouped.filters_per_group(2_735_264) == 128 * 2**20 // (42739 * 8)
    assert grouped.filters_per_group(10, budget=1) == 1


def test_a_bad_filter_in_a_later_group_raises(world, monkeypatch):
    index, _, queries, attributes = world
    filters, _ = per_query_filters(attributes, NQ)
    filters[-2] = field("no_such_attribute") == 1
    monkeypatch.setattr(grouped, "FILTER_MEMORY_BUDGET", bitset_budget(1))
    with pytest.raises(KeyError, match="no_such_attribute"):
        index.search(queries, k=K, filter=filters)


def _with_sparse(world):
    index, data, queries, attributes = world
    docs, sparse_queries = exact_sparse(
        N, 300, max_terms=12, nq=NQ, terms_per_query=5, seed=11, query_weight_max=3
    )
    hybrid = fanns.Index.build(
        data, sparse=docs, attributes=attributes, seed=2, threads=1, ef_construction=64
    )
    return hybrid, queries, sparse_queries, attributes


@pytest.mark.parametrize("at_once", [1, 7])
def test_grouped_sparse_and_hybrid_searches_equal_the_ungrouped_ones(world, monkeypatch, at_once):
    hybrid, queries, sparse_queries, attributes = _with_sparse(world)
    filters, masks = per_query_filters(attributes, NQ, seed=at_once + 20)
    sizes = compiled_sizes(monkeypatch)
    sparse_sizes: list[int] = []
    original = fanns.sparse.prepare_filters

    def spy(*args, **kwargs):
        prepared = original(*args, **kwargs)
        sparse_sizes.append(len(prepared.bitsets))
        return prepared

    monkeypatch.setattr(fanns.sparse, "prepare_filters", spy)
    whole_sparse = hybrid.search(None, K, sparse=sparse_queries, filter=filters, threads=1)
    assert len(sparse_sizes) == 1 and sparse_sizes[0] > at_once
    whole_hybrid = hybrid.search(queries, K, sparse=sparse_queries, filter=filters, threads=1)
    monkeypatch.setattr(grouped, "FILTER_MEMORY_BUDGET", bitset_budget(at_once))
    sizes.clear()
    sparse_sizes.clear()
    parts_sparse = hybrid.search(None, K, sparse=sparse_queries, filter=filters, threads=2)
    assert len(sparse_sizes) > 1 and max(sparse_sizes) <= at_once  # a group at a time
    sizes.clear()
    sparse_sizes.clear()
    parts_hybrid = hybrid.search(queries, K, sparse=sparse_queries, filter=filters, threads=2)
    assert len(sizes) > 1 and max(sizes) <= at_once  # the dense side
    assert len(sparse_sizes) > 1 and max(sparse_sizes) <= at_once  # the sparse side
    for a, b in [(parts_sparse, whole_sparse), (parts_hybrid, whole_hybrid)]:
        for name in ("ids", "scores", "plans"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # every sparse answer passes its query's filter
    for i, row in enumerate(parts_sparse.ids):
        assert masks[i][row[row >= 0]].all()


def test_one_filter_for_every_query_is_one_group():
    from fanns.filters.batches import group_filters

    mask = np.zeros(5, dtype=bool)
    for flt in (mask, field("a") > 1, BitMap([1, 2])):
        groups = group_filters(flt, 5, 4)
        assert len(groups.distinct) == 1 and groups.distinct[0] is flt
        assert groups.query_filter.tolist() == [0, 0, 0, 0]
        empty = group_filters(flt, 5, 0)
        assert empty.distinct == [] and empty.query_filter.tolist() == []
    none = group_filters(None, 5, 3)
    assert none.distinct == [] and none.query_filter.tolist() == [-1, -1, -1]
    # The same mask object per query is one group too; equal copies are not.
    listed = group_filters([mask, None, mask, mask.copy()], 5, 4)
    assert len(listed.distinct) == 2 and listed.query_filter.tolist() == [0, -1, 0, 1]
