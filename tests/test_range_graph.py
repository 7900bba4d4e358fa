"""The range graph against exact brute force over the rows whose key is in range."""

from __future__ import annotations

import numpy as np
import pytest

from fanns.range_graph import RangeGraph
from oracle import clustered_with_queries, exact_distances, exact_knn, recall

N, NQ, DIM, K = 5000, 40, 24, 10


@pytest.fixture(scope="module")
def data():
    base, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=7)
    return base, queries, labels


@pytest.fixture(scope="module")
def keyed(data):
    """Graphs over keys uncorrelated and correlated with the vectors."""
    base, _, labels = data
    rng = np.random.default_rng(11)
    uncorrelated = rng.integers(0, 2000, size=N)  # about 2.5 rows per key value
    correlated = labels * 100.0 + rng.uniform(0, 100, size=N)
    return {
        "uncorrelated": (uncorrelated, RangeGraph.build(base, uncorrelated, threads=2)),
        "correlated": (correlated, RangeGraph.build(base, correlated, threads=2)),
    }


def in_range(keys, lo, hi, lo_inclusive=True, hi_inclusive=True, valid=None):
    mask = np.ones(len(keys), dtype=bool) if valid is None else valid.copy()
    if lo is not None:
        mask &= (keys >= lo) if lo_inclusive else (keys > lo)
    if hi is not None:
        mask &= (keys <= hi) if hi_inclusive else (keys < hi)
    return mask


def check_results(base, queries, ids, distances, masks, metric="l2"):
    """Every returned row passes its mask, ids are distinct, distances exact and sorted."""
    exact = exact_distances(queries, base, metric)
    for i, (row, dist) in enumerate(zip(ids, distances)):
        found = row[row >= 0]
        assert masks[i][found].all(), "a result lies outside the range or fails the predicate"
        assert len(set(found.tolist())) == len(found)
        assert (row[len(found) :] == -1).all() and np.isinf(dist[len(found) :]).all()
        np.testing.assert_allclose(dist[: len(found)], exact[i, found], rtol=1e-4, atol=1e-4)
        assert (np.diff(dist[: len(found)]) >= 0).all()
        assert len(found) == min(K, int(masks[i].sum()))


def random_ranges(keys, width, count, rng):
    """Key bounds of `count` ranges holding about `width` rows each."""
    ordered = np.sort(keys)
    starts = rng.integers(0, len(keys) - width + 1, size=count)
    return ordered[starts], ordered[starts + width - 1]


@pytest.mark.parametrize("kind", ["uncorrelated", "correlated"])
@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.1, 0.5, 1.0])
def test_recall_over_range_widths(data, keyed, kind, fraction):
    base, queries, _ = data
    keys, graph = keyed[kind]
    rng = np.random.default_rng(int(fraction * 1000))
    lo, hi = random_ranges(keys, max(1, int(fraction * N)), NQ, rng)
    masks = [in_range(keys, a, b) for a, b in zip(lo, hi)]
    truth = exact_knn(queries, base, K, mask=masks)
    ids, distances, plans = graph.search(queries, K, lo, hi)
    check_results(base, queries, ids, distances, masks)
    assert recall(ids, truth) >= 0.95
    # the same ranges through the traversal only (no exact scan of narrow ranges)
    ids, distances, plans = graph.search(queries, K, lo, hi, exact_threshold=0)
    check_results(base, queries, ids, distances, masks)
    assert recall(ids, truth) >= 0.95
    if fraction >= 0.1:
        assert (plans == "range").mean() >= 0.9


@pytest.mark.parametrize("side", ["lo", "hi"])
def test_half_bounded_ranges(data, keyed, side):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    bounds = np.quantile(keys, np.linspace(0.05, 0.95, NQ)).astype(np.int64)
    lo = bounds if side == "lo" else None
    hi = bounds if side == "hi" else None
    masks = [in_range(keys, None if lo is None else a, None if hi is None else a) for a in bounds]
    truth = exact_knn(queries, base, K, mask=masks)
    ids, distances, _ = graph.search(queries, K, lo, hi)
    check_results(base, queries, ids, distances, masks)
    assert recall(ids, truth) >= 0.95


def test_unbounded_range_is_plain_knn(data, keyed):
    base, queries, _ = data
    _, graph = keyed["correlated"]
    ids, distances, plans = graph.search(queries, K)
    assert recall(ids, exact_knn(queries, base, K)) >= 0.95
    assert set(plans.tolist()) == {"range"}


def test_empty_ranges(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    missing = int(np.setdiff1d(np.arange(2000), keys)[0]) if len(np.unique(keys)) < 2000 else None
    cases = [(10, 5), (keys.max() + 1, None), (None, keys.min() - 1), (3.5, 3.7)]
    if missing is not None:
        cases.append((missing, missing))
    for lo, hi in cases:
        ids, distances, plans = graph.search(queries[:3], K, lo, hi)
        assert (ids == -1).all() and np.isinf(distances).all()
        assert set(plans.tolist()) == {"empty"}
        assert graph.count(lo, hi) == 0
    # exclusive bounds on adjacent keys leave nothing
    ids, _, plans = graph.search(queries[:3], K, 100, 101, lo_inclusive=False, hi_inclusive=False)
    assert (ids == -1).all() and set(plans.tolist()) == {"empty"}


def test_exclusive_bounds(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    rng = np.random.default_rng(3)
    lo, hi = random_ranges(keys, 1500, NQ, rng)
    for lo_inc in (True, False):
        for hi_inc in (True, False):
            masks = [in_range(keys, a, b, lo_inc, hi_inc) for a, b in zip(lo, hi)]
            ids, distances, _ = graph.search(
                queries, K, lo, hi, lo_inclusive=lo_inc, hi_inclusive=hi_inc
            )
            check_results(base, queries, ids, distances, masks)
            assert recall(ids, exact_knn(queries, base, K, mask=masks)) >= 0.95
            counts = graph.count(lo, hi, lo_inclusive=lo_inc, hi_inclusive=hi_inc)
            assert counts.tolist() == [int(m.sum()) for m in masks]


def test_fractional_huge_and_infinite_bounds(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    bounds = [-np.inf, -(2**70), -0.5, 0, 7.5, 100, 100.0, 999.99, 1999, 2**70, np.inf]
    for lo in bounds:
        for hi in bounds:
            for lo_inc in (True, False):
                for hi_inc in (True, False):
                    mask = in_range(keys.astype(np.float64), lo, hi, lo_inc, hi_inc)
                    got = graph.count(lo, hi, lo_inclusive=lo_inc, hi_inclusive=hi_inc)
                    assert got == int(mask.sum()), (lo, hi, lo_inc, hi_inc)
    lo, hi = [10.5, None, 3], [700.25, 1500, None]
    masks = [in_range(keys, a, b) for a, b in zip(lo, hi)]
    ids, distances, _ = graph.search(queries[:3], K, lo, hi)
    check_results(base, queries[:3], ids, distances, masks)
    floats, float_graph = keyed["correlated"]
    assert float_graph.count(500, 900) == int(in_range(floats, 500, 900).sum())


def test_heavily_duplicated_keys(data):
    base, queries, _ = data
    keys = np.random.default_rng(5).integers(0, 6, size=N)
    graph = RangeGraph.build(base, keys, leaf_size=64)
    order = graph.order
    # ties are broken by row id
    for value in range(6):
        rows = order[graph.keys == value]
        assert (np.diff(rows.astype(np.int64)) > 0).all()
    for lo, hi in [(2, 2), (0, 0), (1, 4), (5, 5), (0, 5)]:
        masks = [in_range(keys, lo, hi)] * NQ
        ids, distances, _ = graph.search(queries, K, lo, hi, exact_threshold=0)
        check_results(base, queries, ids, distances, masks)
        assert recall(ids, exact_knn(queries, base, K, mask=masks)) >= 0.95
    ids, _, _ = graph.search(queries, K, 2, 3, lo_inclusive=False)
    assert np.isin(ids, np.flatnonzero(keys == 3)).all()


def test_null_keys_never_match(data):
    base, queries, _ = data
    rng = np.random.default_rng(9)
    keys = rng.uniform(0, 1, size=N)
    keys[rng.random(N) < 0.2] = np.nan
    valid = ~np.isnan(keys)
    graph = RangeGraph.build(base, keys)
    assert len(graph) == int(valid.sum()) and graph.n == N
    for lo, hi in [(None, None), (0.2, 0.6), (None, 0.01)]:
        masks = [in_range(keys, lo, hi, valid=valid)] * NQ
        ids, distances, _ = graph.search(queries, K, lo, hi)
        check_results(base, queries, ids, distances, masks)
        assert recall(ids, exact_knn(queries, base, K, mask=masks)) >= 0.95
    # an explicit mask, and None entries in an object column, mean the same
    mask = rng.random(N) < 0.7
    ints = rng.integers(0, 100, size=N)
    with_mask = RangeGraph.build(base[:800], ints[:800], valid=mask[:800])
    objects = np.array(
        [int(v) if m else None for v, m in zip(ints[:800], mask[:800])], dtype=object
    )
    with_none = RangeGraph.build(base[:800], objects)
    np.testing.assert_array_equal(with_mask.order, with_none.order)
    assert with_mask.keys.dtype == np.int64 and len(with_mask) == int(mask[:800].sum())
    with pytest.raises(ValueError, match="NaN"):
        RangeGraph.build(base[:50], np.full(50, np.nan), valid=np.ones(50, dtype=bool))


def test_all_keys_missing_gives_empty_results(data):
    base, queries, _ = data
    graph = RangeGraph.build(base[:100], np.full(100, np.nan))
    assert len(graph) == 0
    ids, distances, plans = graph.search(queries[:2], 3)
    assert (ids == -1).all() and set(plans.tolist()) == {"empty"}
    assert len(RangeGraph.from_state(*graph.state())) == 0


@pytest.mark.parametrize("pass_rate", [0.3, 0.01])
def test_range_with_extra_predicate(data, keyed, pass_rate):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    rng = np.random.default_rng(21)
    predicate = rng.random(N) < pass_rate
    lo, hi = random_ranges(keys, N // 2, NQ, rng)
    masks = [in_range(keys, a, b) & predicate for a, b in zip(lo, hi)]
    truth = exact_knn(queries, base, K, mask=masks)
    words = np.zeros((N + 63) // 64 * 8, dtype=np.uint8)
    packed = np.packbits(predicate, bitorder="little")
    words[: len(packed)] = packed
    words = words.view("<u8").astype(np.uint64)
    ids, distances, plans = graph.search(queries, K, lo, hi, bitset=predicate)
    check_results(base, queries, ids, distances, masks)
    assert recall(ids, truth) >= 0.95
    same = graph.search(queries, K, lo, hi, bitset=words)
    np.testing.assert_array_equal(same[0], ids)
    if pass_rate < 0.05:
        assert set(plans.tolist()) == {"exact"}
    else:
        # the traversal gated by the predicate, over the whole key range
        masks_all = [predicate] * NQ
        ids, distances, plans = graph.search(queries, K, bitset=words, ef=16, exact_threshold=0)
        check_results(base, queries, ids, distances, masks_all)
        assert recall(ids, exact_knn(queries, base, K, mask=masks_all)) >= 0.95
        assert (plans == "range").mean() >= 0.9
    # one predicate per query, None meaning no predicate
    per_query = [predicate if i % 2 else None for i in range(NQ)]
    masks = [
        in_range(keys, a, b) & (predicate if i % 2 else True)
        for i, (a, b) in enumerate(zip(lo, hi))
    ]
    ids, distances, _ = graph.search(queries, K, lo, hi, bitset=per_query)
    check_results(base, queries, ids, distances, masks)
    assert recall(ids, exact_knn(queries, base, K, mask=masks)) >= 0.95


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_similarity_metrics(data, metric):
    base, queries, _ = data
    n = 3000
    vectors = base[:n]
    if metric == "ip":
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    keys = np.random.default_rng(2).integers(0, 10_000, size=n)
    graph = RangeGraph.build(vectors, keys, metric=metric)
    lo, hi = random_ranges(keys, n // 3, NQ, np.random.default_rng(4))
    masks = [in_range(keys, a, b) for a, b in zip(lo, hi)]
    ids, distances, _ = graph.search(queries, K, lo, hi)
    check_results(vectors, queries, ids, distances, masks, metric=metric)
    assert recall(ids, exact_knn(queries, vectors, K, metric, mask=masks)) >= 0.95


def test_thread_count_changes_nothing(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["correlated"]
    single = RangeGraph.build(base, keys, threads=1)
    meta_a, sections_a = single.state()
    meta_b, sections_b = graph.state()
    assert meta_a == meta_b
    for name in sections_a:
        np.testing.assert_array_equal(sections_a[name], sections_b[name])
    lo, hi = random_ranges(keys, 1500, NQ, np.random.default_rng(8))
    predicate = np.random.default_rng(1).random(N) < 0.4
    one = graph.search(queries, K, lo, hi, bitset=predicate, threads=1)
    two = graph.search(queries, K, lo, hi, bitset=predicate, threads=3)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    # row codes built on one thread or several are the same: equal scans and traversals
    for threshold in (0, 10**6):
        a = single.search(queries, K, lo, hi, ef=12, exact_threshold=threshold)
        b = graph.search(queries, K, lo, hi, ef=12, exact_threshold=threshold)
        assert set(a[2].tolist()) == {"range" if threshold == 0 else "scan"}
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_state_round_trip_gives_identical_results(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["correlated"]
    restored = RangeGraph.from_state(*graph.state())
    lo, hi = random_ranges(keys, 700, NQ, np.random.default_rng(12))
    for kwargs in ({}, {"exact_threshold": 0}, {"bitset": np.arange(N) % 3 == 0}):
        before = graph.search(queries, K, lo, hi, **kwargs)
        after = restored.search(queries, K, lo, hi, **kwargs)
        for a, b in zip(before, after):
            np.testing.assert_array_equal(a, b)
    assert restored.memory_bytes() == graph.memory_bytes()
    assert restored.params == graph.params and restored.metric == graph.metric
    # The restored graph holds its own links: changing the state afterwards changes nothing.
    meta, sections = graph.state()
    again = RangeGraph.from_state(meta, sections)
    sections["links"][...] = 0
    for a, b in zip(graph.search(queries, K, lo, hi), again.search(queries, K, lo, hi)):
        np.testing.assert_array_equal(a, b)


def _corrupt(graph, mutate):
    meta, sections = graph.state()
    sections = {name: np.array(array) for name, array in sections.items()}
    mutate(meta, sections)
    return meta, sections


def test_corrupt_state_raises_value_error(data):
    base, queries, _ = data
    keys = np.random.default_rng(0).integers(0, 500, size=1200)
    graph = RangeGraph.build(base[:1200], keys, leaf_size=32)
    expected = graph.search(queries[:5], K, 100, 300)

    def link_outside_segment(meta, s):
        s["links"][0, -1, 0] = 1
        s["links"][0, -1, 1] = 1199

    def duplicate_row(meta, s):
        s["order"][1] = s["order"][0]

    def unsorted_keys(meta, s):
        s["keys"][[0, -1]] = s["keys"][[-1, 0]]

    def bad_entry(meta, s):
        s["entries"][-1] = 0

    mutations = [
        lambda m, s: s.pop("links"),
        lambda m, s: s.update(links=s["links"][:-1]),
        lambda m, s: s.update(links=s["links"].astype(np.int64)),
        lambda m, s: s.update(vectors=s["vectors"][:, :-1]),
        lambda m, s: s.update(entries=s["entries"][:-1]),
        link_outside_segment,
        duplicate_row,
        unsorted_keys,
        bad_entry,
        lambda m, s: s["links"].__setitem__((5, 0, 0), 99),
        lambda m, s: s["order"].__setitem__(3, 5000),
        lambda m, s: s["vectors"].__setitem__((2, 2), np.nan),
        lambda m, s: m.update(metric="hamming"),
        lambda m, s: m.update(n=10),
        lambda m, s: m["params"].update(leaf_size=64),
        lambda m, s: m["params"].update(M=8),
        lambda m, s: m.pop("dim"),
        lambda m, s: m.update(key_dtype="object"),
    ]
    for mutate in mutations:
        with pytest.raises(ValueError):
            RangeGraph.from_state(*_corrupt(graph, mutate))
    after = graph.search(queries[:5], K, 100, 300)
    for a, b in zip(expected, after):
        np.testing.assert_array_equal(a, b)


def test_elemental_graph_links_stay_in_their_segment(data):
    base, _, _ = data
    keys = np.arange(1000)[::-1]
    graph = RangeGraph.build(base[:1000], keys, leaf_size=16, M=8)
    meta, sections = graph.state()
    links = sections["links"]
    assert links.shape == (1000, graph.depths, 9)
    assert graph.order.tolist() == list(range(999, -1, -1))
    for depth in range(graph.depths):
        width = 16 << (graph.depths - 1 - depth)
        for p in range(0, 1000, 37):
            row = links[p, depth, 1 : 1 + links[p, depth, 0]]
            assert (row // width == p // width).all() and p not in row
            assert len(row) > 0


def test_bad_input_raises_clear_errors(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    with pytest.raises(ValueError, match="entries"):
        RangeGraph.build(base[:10], np.arange(9))
    with pytest.raises(TypeError):
        RangeGraph.build(base[:10], np.array(["a"] * 10))
    with pytest.raises(TypeError):
        RangeGraph.build(base[:10], np.ones(10, dtype=bool))
    with pytest.raises(ValueError):
        RangeGraph.build(base[:10], np.arange(10), metric="hamming")
    with pytest.raises(ValueError):
        RangeGraph.build(base[:10], np.arange(10), M=1)
    with pytest.raises(ValueError):
        RangeGraph.build(base[:10], np.arange(10), valid=np.ones(9, dtype=bool))
    with pytest.raises(TypeError):
        RangeGraph(base, keys)
    with pytest.raises(ValueError):
        graph.search(queries[:, :5], K)
    with pytest.raises(ValueError):
        graph.search(np.full((1, DIM), np.nan), K)
    with pytest.raises(ValueError):
        graph.search(queries, 0)
    with pytest.raises(ValueError, match="NaN"):
        graph.search(queries, K, float("nan"), 5)
    with pytest.raises(TypeError):
        graph.search(queries, K, "2020", None)
    with pytest.raises(ValueError):
        graph.search(queries, K, [1, 2, 3], None)
    with pytest.raises(ValueError):
        graph.search(queries, K, bitset=np.zeros(3, dtype=np.uint64))
    with pytest.raises(TypeError):
        graph.search(queries, K, bitset=np.zeros((N + 63) // 64, dtype=np.int32))
    with pytest.raises(ValueError):
        graph.search(queries, K, bitset=[None] * (NQ - 1))
    with pytest.raises(ValueError, match="past the last row"):
        graph.search(queries, K, bitset=np.full((N + 63) // 64, 2**64 - 1, dtype=np.uint64))


def test_properties_memory_and_repr(data, keyed):
    base, _, _ = data
    keys, graph = keyed["uncorrelated"]
    assert graph.dim == DIM and graph.metric == "l2" and len(graph) == N == graph.n
    assert (np.diff(graph.keys) >= 0).all()
    np.testing.assert_array_equal(graph.keys, keys[graph.order])
    vectors_bytes = base.nbytes
    links_bytes = N * graph.depths * (graph.params["M"] + 1) * 4
    assert (
        vectors_bytes + links_bytes <= graph.memory_bytes() <= 1.2 * (vectors_bytes + links_bytes)
    )
    assert "RangeGraph" in repr(graph)
    with pytest.raises(ValueError):
        graph.keys[0] = 1


def test_graph_keeps_its_own_copy_of_the_callers_vectors(data):
    base, queries, _ = data
    keys = np.arange(N)
    mine = base.copy()
    graph = RangeGraph.build(mine, keys)
    before = graph.search(queries, K, 1000, 3000, exact_threshold=0)
    mine[:] = 0.0  # the caller changing its array changes nothing
    after = graph.search(queries, K, 1000, 3000, exact_threshold=0)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert graph.owns_vectors and graph.memory_bytes() >= base.nbytes


def test_shared_vectors_must_be_given_back(data):
    base, queries, _ = data
    keys = np.arange(N)
    graph = RangeGraph.build(base, keys)
    meta, sections = graph.state()
    vectors = sections.pop("vectors")
    shared = dict(meta, shared_vectors=True)
    with pytest.raises(ValueError, match="vectors="):
        RangeGraph.from_state(shared, sections)
    with pytest.raises(ValueError, match="vector block shape"):
        RangeGraph.from_state(shared, sections, vectors=vectors[:-1])
    with pytest.raises(ValueError, match="vector block shape"):
        RangeGraph.from_state(shared, sections, vectors=vectors.astype(np.float64))
    bad = vectors.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        RangeGraph.from_state(shared, sections, vectors=bad)
    given = vectors.copy()
    restored = RangeGraph.from_state(shared, sections, vectors=given)
    assert restored.owns_vectors  # a copy: changing `given` later changes nothing
    given[:] = 1e30
    for a, b in zip(graph.search(queries, K, 100, 4000), restored.search(queries, K, 100, 4000)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="missing or mistyped vectors"):
        RangeGraph.from_state(meta, sections)


def test_search_positions_matches_search_and_checks_positions(data, keyed):
    base, queries, _ = data
    keys, graph = keyed["uncorrelated"]
    lo, hi = random_ranges(keys, 900, NQ, np.random.default_rng(5))
    start, stop = graph.positions(lo, hi)
    for a, b in zip(
        graph.search(queries, K, lo, hi), graph.search_positions(queries, K, start, stop)
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="start positions"):
        graph.search_positions(queries, K, -1, 10)
    with pytest.raises(ValueError, match="stop positions"):
        graph.search_positions(queries, K, 0, N + 1)
    with pytest.raises(TypeError, match="integer positions"):
        graph.search_positions(queries, K, 0.5, 10)
    with pytest.raises(ValueError, match="positions, got shape"):
        graph.search_positions(queries, K, np.zeros(3, dtype=np.int64), 10)
    with pytest.raises(ValueError, match="query_filter"):
        graph.search_positions(queries, K, 0, 10, bitsets=[np.zeros((N + 63) // 64, np.uint64)])
