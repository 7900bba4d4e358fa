"""The range graph's 8-bit row codes: scans and traversals on codes, re-scored
exactly, against brute force and against the same graph on float rows."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
import fanns.routing as routing
from fanns.range_graph import RangeGraph
from oracle import clustered_with_queries, exact_distances, exact_knn, range_scan_rows, recall, scans_on_codes

N, NQ, DIM, K = 4000, 30, 32, 10


@pytest.fixture(scope="module")
def data():
    base, queries, _, _ = clustered_with_queries(N, NQ, DIM, seed=3)
    keys = np.random.default_rng(5).integers(0, 1000, size=N)
    return base, queries, keys


@pytest.fixture(scope="module")
def graphs(data):
    base, _, keys = data
    return {
        quantized: RangeGraph.build(base, keys, quantized=quantized, threads=2)
        for quantized in (True, False)
    }


def windows(keys, width, rng, count=NQ):
    ordered = np.sort(keys)
    starts = rng.integers(0, len(keys) - width + 1, size=count)
    lo, hi = ordered[starts], ordered[starts + width - 1]
    return lo, hi, [(keys >= a) & (keys <= b) for a, b in zip(lo, hi)]


def check(base, queries, ids, distances, masks, metric="l2"):
    """Results pass their masks and carry exact distances, sorted."""
    exact = exact_distances(queries, base, metric)
    for i, (row, dist) in enumerate(zip(ids, distances)):
        found = row[row >= 0]
        assert masks[i][found].all()
        assert len(found) == min(K, int(masks[i].sum())) == len(set(found.tolist()))
        np.testing.assert_allclose(dist[: len(found)], exact[i, found], rtol=1e-4, atol=1e-4)
        assert (np.diff(dist[: len(found)]) >= 0).all()


def assert_same_ids(ids, truth):
    for row, expected in zip(ids, truth):
        np.testing.assert_array_equal(row[: len(expected)], expected)
        assert (row[len(expected) :] == -1).all()


def test_codes_take_a_byte_per_dimension_and_are_optional(data, graphs):
    base, _, keys = data
    coded, plain = graphs[True], graphs[False]
    assert coded.params["quantized"] and not plain.params["quantized"]
    # a byte per dimension and a float per row, three floats per dimension
    assert coded.code_bytes == len(coded) * (DIM + 4) + 3 * DIM * 4
    assert plain.code_bytes == 0
    assert coded.memory_bytes() - plain.memory_bytes() == coded.code_bytes
    assert "quantized=True" in repr(coded)
    assert coded.scan_threshold(10) == range_scan_rows(10, DIM, True) == 568
    assert coded.quantized and not plain.quantized
    # search raises ef to k: a range of 8 rows with k=10 is scanned exactly
    assert coded.plan_for(8, None, ef=5, k=10) == "exact"
    # codes pay only where they save reads: 8 rows and 5 rescored cost more
    # than 8 float rows; 100 rows and 5 rescored cost less than 100
    assert coded.plan_for(8, None, ef=5) == "exact"
    assert coded.plan_for(100, None, ef=5) == "scan"
    assert plain.plan_for(60, None, ef=5) == "exact"  # never on codes
    assert plain.scan_threshold(10) == range_scan_rows(10, DIM, False) == 160
    assert coded.scan_threshold(10, exact_threshold=7) == 7


@pytest.mark.parametrize("width", [30, 400, 1500])
def test_scans_on_codes_match_brute_force(data, graphs, width):
    base, queries, keys = data
    lo, hi, masks = windows(keys, width, np.random.default_rng(width))
    truth = exact_knn(queries, base, K, mask=masks)
    for quantized, graph in graphs.items():
        ids, distances, plans = graph.search(queries, K, lo, hi, ef=16, exact_threshold=10**6)
        check(base, queries, ids, distances, masks)
        assert recall(ids, truth) >= 0.97
        in_range = np.array([m.sum() for m in masks])
        if quantized:
            # where codes save reads, the ef best by code are scored again exactly
            wanted = [scans_on_codes(int(w), 16, DIM) for w in in_range]
            np.testing.assert_array_equal(plans == "scan", wanted)
            assert any(wanted) or width < 60
        else:
            assert set(plans.tolist()) == {"exact"}
            assert_same_ids(ids, truth)


def test_a_scan_meeting_at_most_ef_rows_is_exact(data, graphs):
    base, queries, keys = data
    lo, hi, masks = windows(keys, 60, np.random.default_rng(1))
    truth = exact_knn(queries, base, K, mask=masks)
    ids, distances, plans = graphs[True].search(queries, K, lo, hi, ef=80)
    assert set(plans.tolist()) == {"exact"}
    assert_same_ids(ids, truth)
    check(base, queries, ids, distances, masks)
    # a predicate leaving few rows in a wide range: every passing row is scored exactly
    predicate = np.random.default_rng(2).random(N) < 0.01
    lo, hi, masks = windows(keys, 2000, np.random.default_rng(3))
    masks = [m & predicate for m in masks]
    ids, distances, plans = graphs[True].search(queries, K, lo, hi, ef=64, bitset=predicate)
    assert set(plans.tolist()) == {"exact"}
    assert_same_ids(ids, exact_knn(queries, base, K, mask=masks))


@pytest.mark.parametrize("width", [300, 2000])
def test_traversal_on_codes_keeps_the_recall_of_float_rows(data, graphs, width):
    base, queries, keys = data
    lo, hi, masks = windows(keys, width, np.random.default_rng(width + 1))
    truth = exact_knn(queries, base, K, mask=masks)
    found = {}
    for quantized, graph in graphs.items():
        ids, distances, plans = graph.search(queries, K, lo, hi, ef=32, exact_threshold=0)
        check(base, queries, ids, distances, masks)
        assert (plans == "range").all()
        found[quantized] = recall(ids, truth)
    assert found[True] >= 0.95 and found[True] >= found[False] - 0.03


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("dim", [5, 4096])
def test_codes_rank_well_for_every_metric_and_wide_rows(metric, dim):
    rng = np.random.default_rng(dim)
    n = 600 if dim > 100 else 3000
    base = (rng.standard_normal((n, dim)) * rng.uniform(0.1, 50, size=dim)).astype(np.float32)
    queries = base[:20] + rng.standard_normal((20, dim)).astype(np.float32)
    keys = np.arange(n)
    graph = RangeGraph.build(base, keys, metric=metric)
    masks = [np.ones(n, bool)] * len(queries)
    if metric == "cosine":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_knn(queries, base, K, metric, mask=masks)
    ids, distances, plans = graph.search(queries, K, ef=20, exact_threshold=10**6)
    assert set(plans.tolist()) == {"scan"}
    check(base, queries, ids, distances, masks, metric)
    assert recall(ids, truth) >= 0.95


def test_queries_far_outside_the_rows_still_get_exact_distances(data, graphs):
    base, queries, keys = data
    far = queries * 1e4
    masks = [np.ones(N, bool)] * NQ
    ids, distances, plans = graphs[True].search(far, K, ef=32, exact_threshold=10**6)
    assert set(plans.tolist()) == {"scan"}
    check(base, far, ids, distances, masks)


def test_rows_too_wide_for_codes_are_searched_on_floats():
    rng = np.random.default_rng(9)
    base = rng.standard_normal((40, 33000)).astype(np.float32)
    graph = RangeGraph.build(base, np.arange(40), leaf_size=8)
    assert graph.code_bytes == 0 and not graph.quantized and graph.params["quantized"]
    assert "quantized=False" in repr(graph)
    assert graph.plan_for(30, None, ef=4, exact_threshold=10**6) == "exact"
    ids, _, plans = graph.search(base[:2], 3, 0, 30, ef=4, exact_threshold=10**6)
    assert set(plans.tolist()) == {"exact"}
    assert ids[:, 0].tolist() == [0, 1]


def test_quantized_flag_survives_state_and_old_states_get_codes(data, graphs):
    base, queries, keys = data
    lo, hi, _ = windows(keys, 800, np.random.default_rng(4))
    for graph in graphs.values():
        meta, sections = graph.state()
        again = RangeGraph.from_state(meta, sections)
        assert again.params == graph.params and again.code_bytes == graph.code_bytes
        for a, b in zip(graph.search(queries, K, lo, hi), again.search(queries, K, lo, hi)):
            np.testing.assert_array_equal(a, b)
    meta, sections = graphs[True].state()
    old = {**meta, "params": {k: v for k, v in meta["params"].items() if k != "quantized"}}
    assert RangeGraph.from_state(old, sections).code_bytes == graphs[True].code_bytes
    bad = {**meta, "params": {**meta["params"], "quantized": "yes"}}
    with pytest.raises(ValueError, match="corrupt range graph state"):
        RangeGraph.from_state(bad, sections)


def test_bad_quantized_arguments_raise_type_error(data):
    base, _, keys = data
    with pytest.raises(TypeError, match="quantized"):
        RangeGraph.build(base[:50], keys[:50], quantized="yes")
    with pytest.raises(TypeError, match="range_quantized"):
        fanns.Index.build(
            base[:50], attributes={"k": keys[:50]}, range_attribute="k", range_quantized=1
        )


def test_index_without_codes_never_scans_on_codes(data, tmp_path, monkeypatch):
    # The range graph answers (the main graph, which scans its codes, would
    # read less for these 301 rows than the range graph's gather of floats:
    # route_to_range, tested in test_range_routing.py).
    monkeypatch.setattr(routing, "_ask", lambda decide, routes, passing: [True] * len(routes))
    base, queries, keys = data
    index = fanns.Index.build(
        base, attributes={"k": keys}, range_attribute="k", range_quantized=False
    )
    parts = index.memory_bytes(by_part=True)
    assert parts["range_codes"] == 0
    flt = fanns.field("k").between(100, 400)
    info = index.explain(flt)
    result = index.search(queries, k=K, filter=flt)
    assert info["plan"] in set(result.plans) and "scan" not in set(result.plans)
    assert info["exact_threshold"] == range_scan_rows(64, DIM, False)
    assert not index._range_graph.quantized
    index.save(tmp_path / "plain.fanns")
    loaded = fanns.Index.load(tmp_path / "plain.fanns")
    assert loaded._range_graph.params["quantized"] is False and not loaded._range_graph.quantized
    again = loaded.search(queries, k=K, filter=flt)
    np.testing.assert_array_equal(again.ids, result.ids)
    np.testing.assert_array_equal(again.plans, result.plans)


@pytest.mark.parametrize("factor", [30.0, 300.0])
def test_a_few_extreme_rows_do_not_coarsen_the_others(factor):
    rng = np.random.default_rng(12)
    n, dim = 3000, 32
    base = rng.standard_normal((n, dim)).astype(np.float32)
    extreme = [17, 1500]
    base[extreme] *= factor
    keys = np.arange(n)
    graph = RangeGraph.build(base, keys)
    queries = base[rng.integers(0, n, 25)] + 0.3 * rng.standard_normal((25, dim)).astype(np.float32)
    lo, hi = np.full(25, 1000), np.full(25, 2999)  # holds one of the extreme rows
    masks = [(keys >= 1000) & (keys <= 2999)] * 25
    truth = exact_knn(queries, base, K, mask=masks)
    for threshold in (10**6, 0):
        ids, distances, plans = graph.search(queries, K, lo, hi, ef=32, exact_threshold=threshold)
        assert set(plans.tolist()) == {"scan" if threshold else "range"}
        check(base, queries, ids, distances, masks)
        assert recall(ids, truth) >= 0.95
    # an extreme row is found where it is the answer: it is scored on its float row
    near = base[extreme] * 1.01
    ids, _, plans = graph.search(near, 1, ef=16, exact_threshold=10**6)
    assert ids[:, 0].tolist() == extreme and set(plans.tolist()) == {"scan"}


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_rows_of_tiny_magnitude_keep_their_ranking(data, metric):
    base, queries, keys = data
    masks = [np.ones(N, bool)] * NQ
    found = {}
    for scale in (1.0, 1e-21):
        graph = RangeGraph.build(base * scale, keys, metric=metric)
        ids, _, plans = graph.search(queries * scale, K, ef=20, exact_threshold=10**6)
        assert set(plans.tolist()) == {"scan"}
        found[scale] = recall(ids, exact_knn(queries, base, K, metric, mask=masks))
    assert found[1.0] >= 0.95 and found[1e-21] >= found[1.0] - 0.03
