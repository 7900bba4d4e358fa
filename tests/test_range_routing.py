"""Which filters the range graph answers: the planner decides (route_to_range
in cpp/planner.h), search and explain() ask it through the same call."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from oracle import exact_distances, exact_knn

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


def check_exact(result, data, queries, mask, exact=False):
    """Every result passes with its exact distance, and most (``exact``:
    all, in order) are the true neighbours."""
    truth = exact_knn(queries, data, K, "l2", mask)
    distances = exact_distances(queries, data, "l2")
    for row, got, want, true in zip(result.ids, result.distances, truth, distances):
        found = row[row >= 0]
        np.testing.assert_allclose(got[: len(found)], true[found], rtol=1e-4, atol=1e-4)
        assert mask[found].all()
        assert len(found) == min(K, int(mask.sum()))
        if exact:
            np.testing.assert_array_equal(found, want[: len(found)])
        else:
            assert len(set(found.tolist()) & set(want.tolist())) >= 0.9 * len(want)


def routes(index, n, widths, rest, passing, ef=64, planner=None, gathers=None):
    """The planner's answers for ranges of ``widths`` rows among ``n``."""
    engine = core_of(index)._engine
    row_bytes, degree, shape_gathers = core_of(index)._range_graph.route_shape()
    planner = fanns.Planner().engine_params() if planner is None else planner
    return engine.routes_to_range(
        n,
        np.asarray(widths, dtype=np.uint64),
        np.asarray(rest, dtype=bool),
        np.asarray(passing, dtype=np.uint64),
        ef,
        K,
        planner,
        row_bytes,
        degree,
        shape_gathers if gathers is None else gathers,
    ).tolist()


def test_the_planner_compares_bytes_read(world):
    # route_to_range in cpp/planner.h, here at dim 12 (sq8 rows of 16
    # bytes, float rows of 48, on both graphs), M = 16, ef 64: the main
    # graph's gated traversal reads 1.25 * 64 * 32 * 16 bytes * n / passing, plus
    # 4 bytes per row for a pure range's bitset; the range graph's traversal
    # 16 * 64 * 48 bytes / (passing / width).
    index, *_ = world
    assert core_of(index)._range_graph.route_shape() == (16.0, 16, True)
    # Pure ranges on 10**5 rows: every width goes to the range graph, the
    # bitset weighing more than a traversal of these short rows.
    n = 10**5
    assert routes(index, n, [0, 1, 100, 5000, 50000, n], [False] * 6, [0, 1, 100, 5000, 50000, n]) == [True] * 6
    # On 3000 rows at the default threshold both graphs scan a range: the
    # main graph reads the passing rows in row order, the range graph
    # gathers them through its key order (1.5 times the cost), which a
    # narrow range's bitset outweighs, a wide one's not; a range graph with
    # codes of its own in key order would scan this one.
    assert routes(index, N, [60, 600, 1200], [False] * 3, [60, 600, 1200]) == [True, True, False]
    assert routes(index, N, [1200], [False], [1200], gathers=False) == [True]
    # With other conjuncts (no bitset saved): the range graph when its gated
    # traversal reads less, that is for ranges of less than 5/6 of the rows.
    width = [40000, 60000, 90000, 95000]
    passing = [10000, 30000, 45000, 47500]
    assert routes(index, n, width, [True] * 4, passing) == [True, True, False, False]
    # At most `threshold` passing rows: the main graph scans them, reading
    # less than the range graph's traversal; one more and it traverses.
    threshold = core_of(index)._engine.scan_threshold(64, K, fanns.Planner().engine_params())
    assert threshold == 4 * 64 * 32
    assert routes(index, n, [40000] * 3, [True] * 3, [0, threshold, threshold + 1]) == [False, False, True]
    # An explicit exact_threshold makes both graphs traverse (but for 60
    # rows, 2%, too few for the main graph's two-hop traversal: it scans
    # them); then the cut for a pure range lies where
    # 1.25 * 256 * 32 * 16 * n / w + 4 n equals 16 * 256 * 48 at ef 256 for
    # n = 3000: w = 0.89 n. At ef 64 every range goes to the range graph.
    moved = dict(fanns.Planner().engine_params(), exact_threshold=10)
    widths = [60, 150, 2400, 2850, N]
    assert routes(index, N, widths, [False] * 5, widths, 256, moved) == [False, True, True, False, False]
    assert routes(index, N, widths[1:], [False] * 4, widths[1:], 64, moved) == [True] * 4
    with pytest.raises(ValueError):
        core_of(index)._engine.routes_to_range(
            N, np.ones(3, np.uint64), np.ones(2, bool), np.ones(3, np.uint64), 64, K, moved, 16.0, 16, True
        )
    with pytest.raises(ValueError):
        core_of(index)._engine.routes_to_range(
            N, np.ones(1, np.uint64), np.zeros(1, bool), np.ones(1, np.uint64), 64, K, moved, 0.0, 16, True
        )
    # The engine checks the range graph's shape and the counts it is given.
    one = (np.ones(1, np.uint64), np.zeros(1, bool), np.ones(1, np.uint64))
    for row_bytes, degree in ((1e-300, 16), (1e9, 16), (float("nan"), 16), (16.0, 10**6)):
        with pytest.raises(ValueError, match="range_row_bytes"):
            core_of(index)._engine.routes_to_range(N, *one, 64, K, moved, row_bytes, degree, True)
    with pytest.raises(ValueError, match="at most n rows"):
        core_of(index)._engine.routes_to_range(
            N, np.full(1, N + 1, np.uint64), np.zeros(1, bool), np.ones(1, np.uint64), 64, K, moved, 16.0, 16, True
        )
    with pytest.raises(ValueError, match="at most its width"):
        core_of(index)._engine.routes_to_range(
            N, np.full(1, 5, np.uint64), np.ones(1, bool), np.full(1, 6, np.uint64), 64, K, moved, 16.0, 16, True
        )


# (fraction of rows, ef, exact_threshold, range graph?): with the default
# threshold both graphs scan a range of 3000 rows, the range graph by a
# gather: narrow ranges (their bitset outweighs it) go there, wide ones not;
# with exact_threshold=10 both traverse, and at ef 256 a range of more than
# 89% of the rows stays on the main graph (see above); at ef 64 the
# traversals read less, the bitset weighs more, and every range goes to the
# range graph.
PURE_CASES = [
    (0.002, 64, None, True),
    (0.2, 64, None, True),
    (0.5, 64, None, False),
    (0.95, 64, None, False),
    (0.05, 256, 10, True),
    (0.4, 256, 10, True),
    (0.8, 256, 10, True),
    (0.95, 256, 10, False),
    (0.95, 64, 10, True),
]


@pytest.mark.parametrize("fraction, ef, threshold, expected", PURE_CASES)
def test_pure_ranges_narrow_middle_and_wide(world, monkeypatch, fraction, ef, threshold, expected):
    index, data, queries, key, _ = world
    width = int(fraction * N)
    lo = 100 if width < N - 100 else 0
    hi = lo + width - 1
    flt = field("key").between(lo, hi)
    info = index.explain(flt, ef=ef, exact_threshold=threshold)
    result, on_range, calls = searched_on_range_graph(
        index, monkeypatch, queries, flt, ef=ef, exact_threshold=threshold
    )
    assert info["range_graph"] == on_range == expected
    plans = set(result.plans.tolist())
    if threshold is None:
        # Scanned on either graph.
        assert plans <= {"exact", "scan"} and info["plan"] in ("exact", "scan")
    elif expected:
        assert info["plan"] == "range" and plans == {"range"}
    else:
        assert calls == [] and info["plan"] == "filtered" and plans <= {"filtered", "acorn", "exact", "scan"}
    check_exact(result, data, queries, (key >= lo) & (key <= hi), exact=threshold is None)


def test_f32_rows_route_wide_ranges_to_the_range_graph(monkeypatch):
    # Under storage="f32" the main graph reads float rows (48 bytes at dim
    # 12) and the range graph its own 16-byte codes (in key order: no
    # gather): even a range of 95% of the rows goes to the range graph,
    # where the sq8 index keeps it on the main graph (PURE_CASES).
    rng = np.random.default_rng(3)
    data = rng.standard_normal((N, DIM)).astype(np.float32)
    queries = rng.standard_normal((NQ, DIM)).astype(np.float32)
    key = rng.permutation(N)
    index = fanns.Index.build(data, attributes={"key": key}, range_attribute="key", seed=5, storage="f32")
    assert core_of(index)._range_graph.route_shape() == (16.0, 16, False)
    flt = field("key").between(0, int(0.95 * N) - 1)
    info = index.explain(flt, ef=256, exact_threshold=10)
    result, on_range, _ = searched_on_range_graph(index, monkeypatch, queries, flt, ef=256, exact_threshold=10)
    assert info["range_graph"] and on_range and info["plan"] == "range"
    check_exact(result, data, queries, key < int(0.95 * N))


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.95])
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
    # At most `threshold` passing rows: both graphs scan them, the main graph
    # keeps the filter (the range graph would gather them). Above: the main
    # graph traverses, the range graph scans the rows of its range that pass
    # (at most ef * M / pass rate of them) - until at 95% of the rows its
    # gated traversal reads more than the main graph's.
    assert on_range == (passing > threshold and fraction < 0.8)
    if not on_range:
        assert calls == []
    else:
        assert info["plan"] in ("exact", "scan")
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
    # than N, so a range with another conjunct stays there, and so does a
    # wide pure range (the range graph would gather its rows); a narrow one
    # goes to the range graph, which compiles no bitset.
    routed = [index.explain(f)["range_graph"] for f in filters]
    assert routed == [True, False, False, False, True, False]
    result, _, calls = searched_on_range_graph(index, monkeypatch, queries, filters)
    assert sum(calls) == sum(routed)
    for i, f in enumerate(filters):
        alone = index.search(queries[i : i + 1], k=K, filter=f)
        np.testing.assert_array_equal(alone.ids[0], result.ids[i])


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.59])
def test_routed_pure_ranges_are_traversed_below_the_scan_width(world, monkeypatch, fraction):
    # With the default scan width every range of 3000 rows is scanned; a
    # small exact_threshold makes the range graph traverse it, and explain()
    # names the plan every query takes. (A range of 60 rows, 2%, would stay
    # on the main graph: there it is scanned, the traversal at ef 64 reads more.)
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
