"""Which filters the range graph answers: the planner decides (route_to_range
in cpp/planner.h), search and explain() ask it through the same call."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from oracle import exact_knn

N, NQ, DIM, K = 3000, 6, 12, 10


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(17)
    data = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((NQ, DIM)).astype(np.float32)
    key = rng.permutation(N)  # distinct keys: a range [lo, hi] holds hi - lo + 1 rows
    kind = rng.integers(0, 5, size=N)
    index = fanns.Index.build(
        data, attributes={"key": key, "kind": kind}, range_attribute="key", seed=5
    )
    return index, data, queries, key, kind


def core_of(index):
    return index._segments.snapshot.segments[0].core


def searched_on_range_graph(index, monkeypatch, queries, flt, **options):
    """The result of a search and whether its queries went to the range graph."""
    graph = core_of(index)._range_graph
    calls = []
    original = graph.search_positions

    def spy(q, *args, **kwargs):
        calls.append(len(q))
        return original(q, *args, **kwargs)

    monkeypatch.setattr(graph, "search_positions", spy)
    try:
        result = index.search(queries, k=K, filter=flt, **options)
    finally:
        monkeypatch.undo()
    return result, sum(calls) == len(queries), calls


def check_exact(result, data, queries, mask):
    truth = exact_knn(queries, data, K, "l2", mask)
    for row, want in zip(result.ids, truth):
        found = row[row >= 0]
        assert mask[found].all()
        assert len(found) == min(K, int(mask.sum()))
        assert len(set(found.tolist()) & set(want.tolist())) >= 0.9 * len(want)


def test_the_planner_applies_the_documented_rule(world):
    index, *_ = world
    engine = core_of(index)._engine
    planner = fanns.Planner().engine_params()
    threshold = engine.scan_threshold(64, K, planner)
    limit = int(0.6 * N)
    widths = np.array([0, 1, 100, limit, limit + 1, N, limit, limit, limit + 1, 50], dtype=np.uint64)
    rest = np.array([False] * 6 + [True] * 4)
    passing = np.array([0, 1, 100, limit, limit + 1, N, threshold, threshold + 1, threshold + 1, 50], dtype=np.uint64)
    routed = engine.routes_to_range(N, widths, rest, passing, 64, K, planner)
    expected = [True, True, True, True, False, False, False, True, False, threshold < 50]
    assert routed.tolist() == expected
    # An explicit exact_threshold moves the cut for ranges with other conjuncts.
    moved = dict(planner, exact_threshold=10)
    assert engine.routes_to_range(N, widths[-1:], rest[-1:], passing[-1:], 64, K, moved).tolist() == [True]
    with pytest.raises(ValueError):
        engine.routes_to_range(N, widths, rest[:3], passing, 64, K, planner)


@pytest.mark.parametrize("fraction", [0.002, 0.02, 0.2, 0.59, 0.61, 0.9])
def test_pure_ranges_explain_and_search_agree(world, monkeypatch, fraction):
    index, data, queries, key, _ = world
    width = int(fraction * N)
    lo = 100
    hi = lo + width - 1
    flt = field("key").between(lo, hi)
    info = index.explain(flt)
    result, on_range, _ = searched_on_range_graph(index, monkeypatch, queries, flt)
    assert info["range_graph"] == on_range == (width <= 0.6 * N)
    if on_range:
        assert set(result.plans) <= {"range", "exact", "scan", "empty"}
    check_exact(result, data, queries, (key >= lo) & (key <= hi))


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.59, 0.61])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_ranges_with_conjuncts_around_the_scan_threshold(world, monkeypatch, fraction, offset):
    index, data, queries, key, kind = world
    width = int(fraction * N)
    lo, hi = 200, 200 + width - 1
    flt = field("key").between(lo, hi) & (field("kind") != 0)
    mask = (key >= lo) & (key <= hi) & (kind != 0)
    passing = int(mask.sum())
    # The main graph scans filters passing at most exact_threshold rows.
    threshold = passing + offset
    info = index.explain(flt, exact_threshold=threshold)
    assert info["passing"] == passing
    result, on_range, calls = searched_on_range_graph(
        index, monkeypatch, queries, flt, exact_threshold=threshold
    )
    assert info["range_graph"] == on_range
    assert on_range == (width <= 0.6 * N and passing > threshold)
    if not on_range:
        assert calls == []
    check_exact(result, data, queries, mask)


def test_one_batch_routes_each_filter_as_alone(world, monkeypatch):
    index, data, queries, key, kind = world
    filters = [
        field("key").between(0, 99),
        field("key").between(0, 2500),
        field("key").between(0, 1500) & (field("kind") == 2),
        field("kind") == 3,
        field("key") >= 2990,
        None,
    ]
    # At ef 64 the main graph scans up to 4 * 64 * M0 passing rows: more
    # than N, so a range with another conjunct stays there.
    routed = [index.explain(f)["range_graph"] for f in filters]
    assert routed == [True, False, False, False, True, False]
    result, _, calls = searched_on_range_graph(index, monkeypatch, queries, filters)
    assert sum(calls) == sum(routed)
    for i, f in enumerate(filters):
        alone = index.search(queries[i : i + 1], k=K, filter=f)
        np.testing.assert_array_equal(alone.ids[0], result.ids[i])


@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.59])
def test_routed_pure_ranges_are_traversed_below_the_scan_width(world, monkeypatch, fraction):
    # With the default scan width every range routed here (at most 60% of
    # 3000 rows) is scanned; a small exact_threshold makes the range graph
    # traverse it, and explain() names the plan every query takes.
    index, data, queries, key, _ = world
    width = int(fraction * N)
    flt = field("key").between(100, 100 + width - 1)
    info = index.explain(flt, exact_threshold=10)
    result, on_range, _ = searched_on_range_graph(
        index, monkeypatch, queries, flt, exact_threshold=10
    )
    assert info["range_graph"] and on_range
    assert info["plan"] == "range" and set(result.plans.tolist()) == {"range"}
    check_exact(result, data, queries, (key >= 100) & (key < 100 + width))
