"""Range filters through fanns.Index with a range graph, against exact brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fanns
from fanns import field
from fanns._fileformat import read_index_file, write_index_file
from fanns.range_graph import RangeGraph
from oracle import clustered_with_queries, exact_distances, exact_knn, range_scan_rows, recall

N, NQ, DIM = 8000, 30, 16


@pytest.fixture(scope="module")
def world():
    data, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=31)
    rng = np.random.default_rng(2)
    # Dates correlated with the clusters, with many duplicates and some missing.
    date = (20000101 + labels * 500 + rng.integers(0, 3000, size=N)).astype(object)
    date[rng.random(N) < 0.02] = None
    tags = [["a"] if x % 3 else ["a", "b"] for x in range(N)]
    kind = rng.integers(0, 4, size=N)
    index = fanns.Index.build(
        data,
        attributes={"date": list(date), "tags": tags, "kind": kind},
        range_attribute="date",
        seed=3,
    )
    valid = np.array([d is not None for d in date])
    keys = np.array([d if d is not None else 0 for d in date], dtype=np.int64)
    return index, data, queries, keys, valid, np.array(tags, dtype=object), kind


def run(index, data, queries, flt, mask, **kwargs):
    result = index.search(queries, k=10, filter=flt, **kwargs)
    truth = exact_knn(queries, data, 10, "l2", mask)
    for row in result.ids:
        found = row[row >= 0]
        assert mask[found].all(), "a result lies outside the filter"
        assert len(found) == min(10, int(mask.sum()))
    assert recall(result.ids, truth) >= 0.95
    return result


@pytest.mark.parametrize("width", [0.001, 0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("exact_threshold", [None, 10])
def test_range_widths(world, width, exact_threshold):
    index, data, queries, keys, valid, _, _ = world
    ordered = np.sort(keys[valid])
    lo = int(ordered[int(0.2 * len(ordered))])
    hi = int(ordered[min(len(ordered) - 1, int((0.2 + width) * len(ordered)))])
    if width == 1.0:
        lo, hi = int(ordered[0]), int(ordered[-1])
    mask = valid & (keys >= lo) & (keys <= hi)
    result = run(
        index, data, queries, field("date").between(lo, hi), mask, exact_threshold=exact_threshold
    )
    # (At 1% of the rows, 80, the main graph scans the range: the range
    # graph's traversal at ef 64, which exact_threshold=10 would force,
    # reads more, and the planner routes it there; route_to_range.)
    if exact_threshold == 10 and 0.1 <= width <= 0.5:
        assert index.explain(field("date").between(lo, hi), exact_threshold=10)["range_graph"]
        assert set(result.plans) <= {"range", "exact", "scan"} and "range" in set(result.plans)


@pytest.mark.parametrize("exact_threshold", [None, 10])
def test_half_bounded_exclusive_and_empty_ranges(world, exact_threshold):
    index, data, queries, keys, valid, _, _ = world
    median = int(np.median(keys[valid]))
    cases = [
        (field("date") >= median, valid & (keys >= median)),
        (field("date") < median, valid & (keys < median)),
        (
            (field("date") > median) & (field("date") <= median + 700),
            valid & (keys > median) & (keys <= median + 700),
        ),
        (field("date").between(median, median - 1), np.zeros(N, bool)),
        (field("date") == median, valid & (keys == median)),
    ]
    for flt, mask in cases:
        run(index, data, queries, flt, mask, exact_threshold=exact_threshold)


def test_range_combined_with_other_predicates(world):
    index, data, queries, keys, valid, tags, kind = world
    lo, hi = 20001000, 20004000
    in_range = valid & (keys >= lo) & (keys <= hi)
    has_b = np.array(["b" in t for t in tags])
    for flt, mask in [
        (field("date").between(lo, hi) & (field("kind") == 2), in_range & (kind == 2)),
        (field("tags").contains("b") & field("date").between(lo, hi), in_range & has_b),
        (
            (field("date") >= lo) & (field("date") <= hi) & (field("kind") != 0),
            in_range & (kind != 0),
        ),
    ]:
        for threshold in (None, 10):
            result = run(index, data, queries, flt, mask, exact_threshold=threshold)
        info = index.explain(flt, exact_threshold=10)
        assert info["range_graph"] and info["passing"] == int(mask.sum())
        # explain() models the engine's choice (its pass rate is sampled, ours exact)
        assert info["plan"] in set(result.plans) <= {"range", "exact", "scan"}


def test_per_query_ranges(world):
    index, data, queries, keys, valid, _, _ = world
    bounds = [(20000101 + 300 * i, 20002101 + 300 * i) for i in range(NQ)]
    filters = [field("date").between(lo, hi) for lo, hi in bounds]
    masks = [valid & (keys >= lo) & (keys <= hi) for lo, hi in bounds]
    result = index.search(queries, k=10, filter=filters, exact_threshold=10)
    truth = exact_knn(queries, data, 10, "l2", masks)
    for row, mask in zip(result.ids, masks):
        assert mask[row[row >= 0]].all()
    assert recall(result.ids, truth) >= 0.95


def test_range_graph_is_saved_and_reported(world, tmp_path):
    index, _, queries, _, _, _, _ = world
    parts = index.memory_bytes(by_part=True)
    assert parts["range_graph"] > 0 and sum(parts.values()) == index.memory_bytes()
    assert "range_graph='date'" in repr(index)
    path = tmp_path / "ranged.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    flt = field("date").between(20001000, 20003000) & (field("kind") == 1)
    a = index.search(queries, k=10, filter=flt, exact_threshold=10)
    b = loaded.search(queries, k=10, filter=flt, exact_threshold=10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.plans, b.plans)
    assert loaded.memory_bytes(by_part=True)["range_graph"] > 0


def test_bad_range_attribute():
    data = np.random.default_rng(0).standard_normal((50, 4))
    with pytest.raises(KeyError, match="nope"):
        fanns.Index.build(data, attributes={"x": np.arange(50)}, range_attribute="nope")
    with pytest.raises(TypeError, match="name"):
        fanns.Index.build(data, attributes={"name": ["a"] * 50}, range_attribute="name")


def test_range_graph_shares_the_index_vectors(world, tmp_path):
    index, data, queries, keys, valid, _, _ = world
    graph = index._range_graph
    assert not graph.owns_vectors
    # The same graph on its own holds a copy of the vectors on top of the links.
    alone = RangeGraph.build(
        data, keys, valid=valid, **{k: v for k, v in graph.params.items() if k != "seed"}
    )
    assert alone.owns_vectors
    parts = index.memory_bytes(by_part=True)
    # It reads the index's row codes too; alone, it keeps codes of its own.
    assert graph.shares_codes and not alone.shares_codes
    assert parts["range_codes"] == graph.code_bytes == 0
    assert alone.code_bytes >= len(graph) * data.shape[1]
    assert parts["range_graph"] + alone.code_bytes + data.nbytes == alone.memory_bytes()
    path = tmp_path / "shared.fanns"
    index.save(path)
    _, sections = read_index_file(path, "hnsw")
    assert "range/vectors" not in sections
    loaded = fanns.Index.load(path)
    assert not loaded._range_graph.owns_vectors
    flt = field("date").between(20002000, 20004000)
    np.testing.assert_array_equal(
        index.search(queries, k=10, filter=flt).ids, loaded.search(queries, k=10, filter=flt).ids
    )


def test_narrow_ranges_are_scanned_exactly_by_the_range_graph(world):
    index, data, queries, keys, valid, _, _ = world
    ordered = np.sort(keys[valid])
    lo, hi = int(ordered[1000]), int(ordered[1060])
    mask = valid & (keys >= lo) & (keys <= hi)
    flt = field("date").between(lo, hi)
    info = index.explain(flt)
    assert info["plan"] == "exact" and info["range_graph"]
    assert info["passing"] == int(mask.sum()) and info["exact_threshold"] == range_scan_rows(64, index.dim, True)
    assert not index.explain(field("kind") == 1)["range_graph"]
    result = index.search(queries, k=10, filter=flt)
    assert set(result.plans) == {"exact"}
    truth = exact_knn(queries, data, 10, "l2", mask)
    dist = exact_distances(queries, data, "l2")
    for i, row in enumerate(result.ids):
        np.testing.assert_array_equal(row[: len(truth[i])], truth[i])
        np.testing.assert_allclose(
            result.distances[i, : len(truth[i])], dist[i, truth[i]], rtol=1e-4, atol=1e-3
        )


def test_one_batch_mixes_routed_and_main_graph_filters(world):
    index, data, queries, keys, valid, tags, kind = world
    ordered = np.sort(keys[valid])
    narrow = (int(ordered[2000]), int(ordered[2050]))
    wide = (int(ordered[1000]), int(ordered[5000]))
    has_b = np.array(["b" in t for t in tags])
    choices = [
        (None, np.ones(N, bool)),
        (field("date").between(*narrow), valid & (keys >= narrow[0]) & (keys <= narrow[1])),
        (field("date").between(*wide), valid & (keys >= wide[0]) & (keys <= wide[1])),
        (
            field("date").between(*wide) & (field("kind") == 1),
            valid & (keys >= wide[0]) & (keys <= wide[1]) & (kind == 1),
        ),
        (field("tags").contains("b"), has_b),
        (field("date") >= int(ordered[100]), valid & (keys >= int(ordered[100]))),
    ]
    picks = [i % len(choices) for i in range(NQ)]
    filters = [choices[p][0] for p in picks]
    masks = [choices[p][1] for p in picks]
    result = index.search(queries, k=10, filter=filters)
    truth = exact_knn(queries, data, 10, "l2", masks)
    for row, mask in zip(result.ids, masks):
        assert mask[row[row >= 0]].all()
        assert (row >= 0).sum() == min(10, int(mask.sum()))
    assert recall(result.ids, truth) >= 0.95
    # Each query gets what it would get alone.
    for i in (1, 2, 3):
        alone = index.search(queries[i : i + 1], k=10, filter=filters[i])
        np.testing.assert_array_equal(alone.ids[0], result.ids[i])


def test_float_range_attribute_with_huge_integer_bounds():
    rng = np.random.default_rng(4)
    data = rng.standard_normal((1500, 8)).astype(np.float32)
    price = rng.random(1500) * 100
    index = fanns.Index.build(data, attributes={"price": price}, range_attribute="price")
    q = data[:3]
    everything = index.search(q, k=5, filter=field("price") <= 10**400)
    np.testing.assert_array_equal(everything.ids, index.search(q, k=5).ids)
    nothing = index.search(q, k=5, filter=field("price") >= 10**400)
    assert (nothing.ids == -1).all() and set(nothing.plans) == {"empty"}
    assert index.explain(field("price") >= 10**400)["plan"] == "empty"
    below = field("price").between(-(10**400), 7.5)
    run(index, data, q, below, price <= 7.5)


def test_explain_matches_the_plans_search_takes(world):
    index, data, queries, keys, valid, _, kind = world
    ordered = np.sort(keys[valid])
    for lo_at, hi_at, rest in [(0.1, 0.6, 1), (0.2, 0.25, 1), (0.1, 0.9, 3), (0.3, 0.5, None)]:
        lo, hi = int(ordered[int(lo_at * len(ordered))]), int(ordered[int(hi_at * len(ordered))])
        flt = field("date").between(lo, hi)
        if rest is not None:
            flt = flt & (field("kind") == rest)
        for threshold in (None, 20, 10**6):
            info = index.explain(flt, exact_threshold=threshold)
            plans = set(index.search(queries, k=10, filter=flt, exact_threshold=threshold).plans)
            if info["plan"] in ("exact", "scan"):
                assert plans == {info["plan"]}, (flt, threshold)
            else:
                assert info["plan"] in plans, (flt, threshold, info, plans)


def test_all_null_range_attribute_saves_and_loads(tmp_path):
    rng = np.random.default_rng(6)
    data = rng.standard_normal((300, 8)).astype(np.float32)
    index = fanns.Index.build(
        data, attributes={"d": [None] * 300}, attribute_types={"d": "int"}, range_attribute="d"
    )
    path = tmp_path / "nulls.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    result = loaded.search(data[:4], k=5, filter=field("d") >= 0)
    assert (result.ids == -1).all()
    np.testing.assert_array_equal(loaded.search(data[:4], k=5).ids, index.search(data[:4], k=5).ids)


def test_load_rejects_a_range_section_that_does_not_match_the_index(world, tmp_path):
    index = world[0]
    path = tmp_path / "good.fanns"
    index.save(path)
    meta, sections = read_index_file(path, "hnsw")

    def rewritten(change) -> str:
        m = json.loads(json.dumps(meta))
        s = dict(sections)
        change(m, s)
        bad = tmp_path / "bad.fanns"
        write_index_file(bad, "hnsw", m, s)
        return bad

    def shifted_keys(m, s):
        s["range/keys"] = s["range/keys"] + 1

    cases = [
        (lambda m, s: m["range"]["graph"].update(metric="ip"), "does not match"),
        (shifted_keys, "does not match"),
        (lambda m, s: m["range"].update(attribute=["date"]), "corrupt"),
        (lambda m, s: m["range"].update(attribute="kind"), "does not match"),
        (lambda m, s: m["range"]["graph"].update(version=1), "version 1"),
    ]
    for change, match in cases:
        with pytest.raises(ValueError, match=match):
            fanns.Index.load(rewritten(change))
