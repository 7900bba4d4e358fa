"""The range graph on the index's own encoding: under storage="sq8" it reads
the store's codes, under "f16" the store's f16 rows (both through its key
order, no second encoding); under "f32" it keeps 8-bit codes of its own
(range_codes), or reads the float rows with range_quantized=False. Answers
against exact brute force, plans asserted, after save, load and mmap load."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
import fanns.routing as routing
from fanns import field
from oracle import clustered_with_queries, exact_distances, exact_knn, scans_on_codes

N, NQ, DIM, K = 4000, 12, 24, 10
CASES = [("sq8", True, "sq8"), ("f16", True, "f16"), ("f32", True, "sq8"), ("f32", False, "f32")]


@pytest.fixture(scope="module")
def data():
    base, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=23)
    rng = np.random.default_rng(8)
    year = (1990 + (labels * 3 + rng.integers(0, 25, size=N)) % 40).astype(np.int64)
    kind = rng.integers(0, 5, size=N)
    return base, queries, year, kind


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{'coded' if c[1] else 'floats'}")
def built(request, data):
    storage, quantized, encoding = request.param
    base, _, year, kind = data
    index = fanns.Index.build(
        base,
        attributes={"year": year, "kind": kind},
        M=8,
        seed=2,
        storage=storage,
        range_attribute="year",
        range_quantized=quantized,
    )
    return index, storage, quantized, encoding


def graph_of(index):
    return index._segments.snapshot.segments[0].core._range_graph


def on_range_graph(monkeypatch):
    """Send every range to the range graph: which graph answers is the
    planner's (route_to_range, tested in test_range_routing.py); here the
    range graph's search on each encoding is checked."""
    monkeypatch.setattr(routing, "_ask", lambda decide, routes, passing: [True] * len(routes))


def check_exact(result, base, queries, mask, *, min_recall):
    truth = exact_knn(queries, base, K, "l2", mask)
    exact = exact_distances(queries, base, "l2")
    hits = total = 0
    for i, row in enumerate(result.ids):
        found = row[row >= 0]
        assert mask[found].all(), "a returned row fails its filter"
        assert len(found) == min(K, int(mask.sum()))
        # Every returned distance is exact, whatever the encoding searched.
        np.testing.assert_allclose(result.distances[i, : len(found)], exact[i, found], rtol=1e-4, atol=1e-4)
        hits += len(set(found.tolist()) & set(truth[i].tolist()))
        total += len(truth[i])
    assert hits >= min_recall * total
    return result


def test_the_graph_reads_the_store_encoding(built):
    index, storage, quantized, encoding = built
    graph = graph_of(index)
    parts = index.memory_bytes(by_part=True)
    assert graph.encoding == encoding and graph.quantized == quantized
    assert graph.shares_codes == (storage != "f32")
    if storage == "f32":
        # The store has no encoding to lend: codes of its own, or floats.
        assert parts["codes"] == parts["f16"] == 0
        assert (parts["range_codes"] > 0) == quantized
    else:
        # One encoding of the vectors, the store's.
        assert parts["range_codes"] == 0
        assert parts["codes" if storage == "sq8" else "f16"] > 0
        assert parts["f16" if storage == "sq8" else "codes"] == 0
    own = parts["range_graph"]
    links = len(graph) * graph.depths * (graph.params["M"] + 1) * 4
    # The range graph holds links, order, keys and entries: no rows.
    assert own < links + 3 * len(graph) * 8 + 4096


@pytest.mark.parametrize("years", [(2000, 2000), (1995, 2004), (1991, 2020), (1990, 2029)])
def test_pure_ranges_traversed_on_the_encoding(built, data, years, monkeypatch):
    # Every pure range is sent to the range graph (which graph answers is
    # the planner's, tested in test_range_routing.py): its traversal on
    # each encoding is what this test checks.
    on_range_graph(monkeypatch)
    index, *_ = built
    base, queries, year, _ = data
    lo, hi = years
    flt = field("year").between(lo, hi)
    mask = (year >= lo) & (year <= hi)
    info = index.explain(flt, exact_threshold=0)
    result = check_exact(
        index.search(queries, k=K, ef=64, filter=flt, exact_threshold=0), base, queries, mask, min_recall=0.95
    )
    assert info["range_graph"] and info["plan"] == "range"
    assert set(result.plans) <= {"range", "exact"} and "range" in set(result.plans)


@pytest.mark.parametrize("years", [(1995, 2010), (1990, 2012)])
def test_ranges_with_other_conjuncts(built, data, years, monkeypatch):
    on_range_graph(monkeypatch)  # (a range of 57% of the rows would stay on the main graph)
    index, *_ = built
    base, queries, year, kind = data
    lo, hi = years
    flt = field("year").between(lo, hi) & (field("kind") != 2)
    mask = (year >= lo) & (year <= hi) & (kind != 2)
    assert index.explain(flt, ef=16, exact_threshold=0)["range_graph"]
    result = check_exact(
        index.search(queries, k=K, ef=16, filter=flt, exact_threshold=0), base, queries, mask, min_recall=0.9
    )
    assert "range" in set(result.plans)


def test_scans_read_the_encoding_and_rescore(built, data):
    index, storage, quantized, _ = built
    base, queries, year, _ = data
    lo, hi = 2001, 2004
    mask = (year >= lo) & (year <= hi)
    flt = field("year").between(lo, hi)
    passing = int(mask.sum())
    result = check_exact(
        index.search(queries, k=K, ef=K, filter=flt, exact_threshold=10**6), base, queries, mask, min_recall=0.9
    )
    encoded = storage if quantized and storage != "f32" else ("sq8" if quantized else "f32")
    expected = "scan" if scans_on_codes(passing, K, DIM, encoded) else "exact"
    assert set(result.plans) == {expected}
    assert index.explain(flt, ef=K, exact_threshold=10**6)["plan"] == expected
    if expected == "exact":
        truth = exact_knn(queries, base, K, "l2", mask)
        for row, want in zip(result.ids, truth):
            np.testing.assert_array_equal(row[: len(want)], want)


@pytest.mark.parametrize("mmap", [False, True])
def test_save_and_load_keep_the_encoding(built, data, tmp_path, mmap):
    index, *_ = built
    base, queries, year, kind = data
    path = tmp_path / "ranged.fanns"
    index.save(path)
    loaded = fanns.Index.load(path, mmap=mmap)
    graph, again = graph_of(index), graph_of(loaded)
    assert again.encoding == graph.encoding and again.shares_codes == graph.shares_codes
    assert loaded.memory_bytes(by_part=True)["range_codes"] == index.memory_bytes(by_part=True)["range_codes"]
    filters = [
        field("year").between(1995, 2004),
        field("year").between(2001, 2004),
        field("year").between(1995, 2010) & (field("kind") != 2),
    ]
    for flt in filters:
        want = index.search(queries, k=K, ef=32, filter=flt, exact_threshold=0)
        got = loaded.search(queries, k=K, ef=32, filter=flt, exact_threshold=0)
        np.testing.assert_array_equal(want.ids, got.ids)
        np.testing.assert_array_equal(want.distances, got.distances)
        np.testing.assert_array_equal(want.plans, got.plans)


@pytest.mark.parametrize("storage, quantized", [("sq8", True), ("f32", True), ("f32", False)])
def test_rows_read_in_place_with_a_stride(data, tmp_path, storage, quantized, monkeypatch):
    # An index over a .fvecs map reads its rows in place, a 4-byte header
    # between them; the range graph reads those same rows (no copy), and
    # answers as one built over the same rows packed.
    on_range_graph(monkeypatch)
    from fanns.datasets import read_fvecs, write_fvecs

    base, queries, year, kind = data
    path = tmp_path / "rows.fvecs"
    write_fvecs(path, base)
    view = read_fvecs(path, mmap=True)
    assert not view.flags.c_contiguous and view.strides[0] == 4 * (DIM + 1)
    common = dict(
        attributes={"year": year, "kind": kind},
        M=8,
        seed=2,
        threads=1,
        storage=storage,
        range_attribute="year",
        range_quantized=quantized,
    )
    strided = fanns.Index.build(view, **common)
    packed = fanns.Index.build(np.ascontiguousarray(base), **common)
    graph = graph_of(strided)
    rows = graph._engine.vectors()  # what the engine reads
    assert np.shares_memory(rows, view) and rows.strides == view.strides, "the range graph copied the rows"
    mask = (year >= 1995) & (year <= 2010)
    flt = field("year").between(1995, 2010)
    for threshold in (0, None):
        got = strided.search(queries, k=K, ef=64, filter=flt, exact_threshold=threshold)
        want = packed.search(queries, k=K, ef=64, filter=flt, exact_threshold=threshold)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.distances, want.distances)
        np.testing.assert_array_equal(got.plans, want.plans)
        check_exact(got, base, queries, mask, min_recall=0.95)
    assert "range" in set(strided.search(queries, k=K, ef=64, filter=flt, exact_threshold=0).plans)
    # saved and loaded (the file holds the rows packed) it answers the same
    strided.save(tmp_path / "strided.fanns")
    again = fanns.Index.load(tmp_path / "strided.fanns", mmap=True)
    got = again.search(queries, k=K, ef=64, filter=flt, exact_threshold=0)
    want = strided.search(queries, k=K, ef=64, filter=flt, exact_threshold=0)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.distances, want.distances, rtol=1e-6)


def test_an_engine_whose_store_is_read_cannot_grow(built, data):
    """The range graph reads the engine's store in place: the engine itself
    refuses build() and extend() (which would move it), a copy() does not."""
    index, storage, _, _ = built
    base = data[0]
    engine = index._segments.snapshot.segments[0].core._engine
    if not graph_of(index).shares_codes:
        engine.store_handle()  # what sharing does, for the f32 cases
    with pytest.raises(ValueError, match="range graph"):
        engine.extend(base[:3], 1)
    with pytest.raises(ValueError, match="range graph"):
        engine.build(base[:3], 1, False)
    assert engine.size == N
    grown = engine.copy()
    grown.extend(base[:3], 1)
    assert grown.size == N + 3 and engine.size == N
