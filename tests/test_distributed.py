"""ShardedIndex on a local Ray instance: exact answers against brute force and one index,
shard skipping, save/load, dead actors."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from pyroaring import BitMap

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'fanns[ray]')")

import fanns  # noqa: E402
from fanns import field  # noqa: E402
from fanns.distributed import ShardedIndex, ShardedSearchResult, ShardError, shard_of  # noqa: E402
from oracle import clustered_with_queries, exact_distances, exact_knn, recall  # noqa: E402

N, NQ, DIM, SHARDS = 2400, 30, 16, 4
EXACT = {"exact_threshold": 10**9}  # every filtered query is an exact scan


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    base, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=3)
    rng = np.random.default_rng(5)
    years = rng.integers(1990, 2025, size=N).astype(object)
    years[rng.random(N) < 0.05] = None  # some rows lack a year
    tags = [
        sorted(set(rng.choice(["a", "b", "c", "d", "e", "f"], size=rng.integers(0, 3))))
        for _ in range(N)
    ]
    attributes = {
        "cat": np.array([f"c{v}" for v in labels % 5]),
        "year": list(years),
        "price": rng.random(N) * 100,
        "tags": tags,
    }
    return base, queries, attributes


@pytest.fixture(scope="module")
def sharded(data):
    base, _, attributes = data
    return ShardedIndex.build(base, attributes=attributes, shards=SHARDS, M=8, ef_construction=64)


@pytest.fixture(scope="module")
def single(data):
    base, _, attributes = data
    return fanns.Index.build(base, attributes=attributes, M=8, ef_construction=64)


def _mask(attributes, name, test):
    return np.array([v is not None and bool(test(v)) for v in attributes[name]], dtype=bool)


def _filters(attributes):
    """(filter, mask) pairs: one of every kind."""
    return {
        "none": (None, None),
        "categorical": (field("cat") == "c2", _mask(attributes, "cat", lambda v: v == "c2")),
        "range": (
            field("year").between(2000, 2004),
            _mask(attributes, "year", lambda v: 2000 <= v <= 2004),
        ),
        "contains": (field("tags").contains("b"), _mask(attributes, "tags", lambda v: "b" in v)),
        "combined": (
            (field("cat") != "c1") & (field("price") < 30) | field("year").is_null(),
            (
                _mask(attributes, "cat", lambda v: v != "c1")
                & _mask(attributes, "price", lambda v: v < 30)
            )
            | np.array([v is None for v in attributes["year"]]),
        ),
        "empty": (field("year") > 3000, np.zeros(N, dtype=bool)),
        "all": (field("price") >= 0, np.ones(N, dtype=bool)),
    }


def _check_exact(result, truth_ids, base, queries, mask):
    """ids equal the brute-force top-k, distances match it, padding where fewer pass."""
    dist = exact_distances(queries, base, "l2")
    for i, true in enumerate(truth_ids):
        got = result.ids[i]
        np.testing.assert_array_equal(got[: len(true)], true)
        assert (got[len(true) :] == -1).all() and np.isinf(result.distances[i, len(true) :]).all()
        np.testing.assert_allclose(
            result.distances[i, : len(true)], dist[i, true], rtol=1e-4, atol=1e-3
        )


@pytest.mark.parametrize(
    "kind", ["none", "categorical", "range", "contains", "combined", "empty", "all"]
)
def test_exact_search_matches_brute_force_and_one_index(data, sharded, single, kind):
    base, queries, attributes = data
    flt, mask = _filters(attributes)[kind]
    # ef >= every shard's size: unfiltered graph searches visit every row.
    result = sharded.search(queries, k=10, filter=flt, ef=N, **EXACT)
    assert isinstance(result, ShardedSearchResult) and isinstance(result, fanns.SearchResult)
    _check_exact(result, exact_knn(queries, base, 10, mask=mask), base, queries, mask)
    one = single.search(queries, k=10, filter=flt, ef=N, **EXACT)
    np.testing.assert_array_equal(result.ids, one.ids)
    np.testing.assert_array_equal(result.distances, one.distances)
    assert result.shards_answered == tuple(range(SHARDS)) and result.complete


def test_per_query_filters_bitmaps_and_masks(data, sharded):
    base, queries, attributes = data
    kinds = _filters(attributes)
    names = list(kinds)
    picks = [kinds[names[i % len(names)]] for i in range(NQ)]
    result = sharded.search(queries, k=7, filter=[f for f, _ in picks], ef=N, **EXACT)
    _check_exact(
        result, exact_knn(queries, base, 7, mask=[m for _, m in picks]), base, queries, None
    )
    mask = _mask(attributes, "price", lambda v: v > 70)
    bitmap = BitMap(np.flatnonzero(mask).astype(np.uint32))
    truth = exact_knn(queries, base, 5, mask=mask)
    for flt in (mask, bitmap, [bitmap] * NQ):
        _check_exact(sharded.search(queries, k=5, filter=flt, **EXACT), truth, base, queries, mask)


def test_graph_recall_matches_one_index(data, sharded, single):
    base, queries, _ = data
    truth = exact_knn(queries, base, 10)
    for ef in (10, 32):
        mine = recall(sharded.search(queries, k=10, ef=ef).ids, truth)
        one = recall(single.search(queries, k=10, ef=ef).ids, truth)
        assert mine >= one - 0.005, (ef, mine, one)


def test_layout_repr_and_hash(data, sharded):
    base, _, attributes = data
    assert len(sharded) == N and sharded.shards == SHARDS and sharded.dim == DIM
    assert sum(sharded.shard_rows) == N
    owners = shard_of(np.arange(N), SHARDS)
    assert sharded.shard_rows == np.bincount(owners, minlength=SHARDS).tolist()
    text = repr(sharded)
    assert "n=2400" in text and "shards=4" in text and "by=hash" in text and "tags" in text
    assert sharded.memory_bytes() >= base.nbytes
    assert sum(sharded.memory_bytes(by_shard=True)) == sharded.memory_bytes()
    assert sharded.attribute_types == {
        "cat": "string",
        "year": "int",
        "price": "float",
        "tags": "strings",
    }


def test_splitmix64_is_the_documented_hash():
    def reference(x):
        mask = (1 << 64) - 1
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    ids = np.array([0, 1, 2, 12345, 2**40 + 7, 2**63 - 1], dtype=np.int64)
    expected = [reference(int(v)) % 7 for v in ids]
    assert shard_of(ids, 7).tolist() == expected


def test_custom_ids_and_progress(data):
    base, queries, attributes = data
    ids = np.random.default_rng(1).choice(10**12, size=N, replace=False)
    seen = []
    index = ShardedIndex.build(
        base,
        attributes=attributes,
        shards=2,
        ids=ids,
        M=8,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 2), (2, 2)]
    mask = _mask(attributes, "cat", lambda v: v == "c0")
    result = index.search(queries, k=5, filter=field("cat") == "c0", **EXACT)
    truth = [ids[row] for row in exact_knn(queries, base, 5, mask=mask)]
    for got, true in zip(result.ids, truth):
        np.testing.assert_array_equal(got, true)
    with pytest.raises(TypeError, match="BitMap"):
        index.search(queries, k=5, filter=mask)
    index.close()


# Ray Data warns about its own deprecated settings when it starts.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data")
def test_build_from_ray_dataset(data):
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'fanns[ray]')")
    base, queries, attributes = data
    rows = 600
    doc_ids = np.arange(rows) * 7 + 100
    items = [
        {
            "vector": base[i],
            "cat": str(attributes["cat"][i]),
            "tags": attributes["tags"][i],
            "doc": int(doc_ids[i]),
        }
        for i in range(rows)
    ]
    dataset = ray.data.from_items(items)
    index = ShardedIndex.build(dataset, shards=2, ids="doc", M=8)
    assert len(index) == rows and index.attribute_types == {"cat": "string", "tags": "strings"}
    mask = _mask(attributes, "tags", lambda v: "c" in v)[:rows]
    result = index.search(queries, k=5, filter=field("tags").contains("c"), **EXACT)
    truth = [doc_ids[row] for row in exact_knn(queries, base[:rows], 5, mask=mask)]
    for got, true in zip(result.ids, truth):
        np.testing.assert_array_equal(got, true)
    index.close()
    with pytest.raises(KeyError, match="embedding"):
        ShardedIndex.build(dataset, shards=2, vector_column="embedding")


def test_shard_key_skips_shards_that_cannot_pass(data):
    base, queries, attributes = data
    index = ShardedIndex.build(base, attributes=attributes, shards=SHARDS, shard_key="year", M=8)
    stats = index.shard_statistics
    lows = [s["year"]["min"] for s in stats]
    assert lows == sorted(lows) and index.assignment == {"by": "key", "attribute": "year"}
    lo, hi = stats[1]["year"]["min"], stats[1]["year"]["max"]
    flt = field("year").between(lo, hi) & (field("cat") == "c3")
    plan = index.explain(flt)
    assert 0 in plan["skipped"] and 3 in plan["skipped"] and 1 not in plan["skipped"]
    before = index.shard_counters()
    result = index.search(queries, k=10, filter=flt, **EXACT)
    after = index.shard_counters()
    for s in range(SHARDS):
        asked = after[s]["searches"] - before[s]["searches"]
        assert asked == (0 if s in plan["skipped"] else 1), s
        assert (result.shard_plans[:, s] == "").all() == (s in plan["skipped"])
    mask = _mask(attributes, "year", lambda v: lo <= v <= hi) & _mask(
        attributes, "cat", lambda v: v == "c3"
    )
    _check_exact(result, exact_knn(queries, base, 10, mask=mask), base, queries, mask)
    assert result.shards_answered == tuple(range(SHARDS))
    # A filter no shard can pass asks nobody and returns padding.
    nothing = index.search(queries, k=3, filter=field("year") < 1000)
    assert (nothing.ids == -1).all() and (nothing.plans == "empty").all()
    assert index.shard_counters()[1]["searches"] == after[1]["searches"]
    index.close()


def test_bad_input_fails_before_any_shard_runs(data, sharded):
    _, queries, _ = data
    before = sharded.shard_counters()
    with pytest.raises(KeyError, match="nope"):
        sharded.search(queries, k=5, filter=field("nope") == 1)
    with pytest.raises(TypeError, match="cat"):
        sharded.search(queries, k=5, filter=field("cat") > 3)
    with pytest.raises(ValueError, match="dimension"):
        sharded.search(queries[:, :5], k=5)
    with pytest.raises(ValueError, match="k must be"):
        sharded.search(queries, k=0)
    with pytest.raises(ValueError, match="one entry per query"):
        sharded.search(queries, k=5, filter=[None, None])
    assert sharded.shard_counters() == before
    with pytest.raises(TypeError, match="unknown index parameter 'Mx'"):
        ShardedIndex.build(queries, shards=2, Mx=3)
    with pytest.raises(ValueError, match="unknown metric"):
        ShardedIndex.build(queries, shards=2, metric="hamming")
    with pytest.raises(ValueError, match="no rows"):
        ShardedIndex.build(queries[:2], shards=8)
    with pytest.raises(KeyError, match="missing"):
        ShardedIndex.build(queries, shards=2, shard_key="missing")
    with pytest.raises(ValueError, match="distinct"):
        ShardedIndex.build(queries, shards=2, ids=np.zeros(NQ, dtype=np.int64))


def test_filters_pickle_unchanged(data):
    _, _, attributes = data
    for flt, _ in _filters(attributes).values():
        if flt is not None:
            copy = pickle.loads(pickle.dumps(flt))
            assert copy == flt and repr(copy) == repr(flt)


def test_save_load_round_trip(tmp_path, data, sharded):
    _, queries, _ = data
    flt = field("tags").contains_any(["a", "f"])
    before = sharded.search(queries, k=10, filter=flt, **EXACT)
    sharded.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert len(manifest["shards"]) == SHARDS and manifest["n"] == N
    loaded = ShardedIndex.load(tmp_path / "idx")
    assert repr(loaded) == repr(sharded) and loaded.directory == str(tmp_path / "idx")
    after = loaded.search(queries, k=10, filter=flt, **EXACT)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.distances, after.distances)
    # Saving again replaces the files; only one generation is kept.
    loaded.save(tmp_path / "idx")
    assert len(os.listdir(tmp_path / "idx")) == 2 * SHARDS + 1
    loaded.close()
    entry = json.loads((tmp_path / "idx" / "manifest.json").read_text())["shards"][2]
    with open(tmp_path / "idx" / entry["ids"], "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(ValueError, match="shard 2.*checksum"):
        ShardedIndex.load(tmp_path / "idx")


def test_dead_actor_raises_shard_error_or_partial(data):
    base, queries, attributes = data
    index = ShardedIndex.build(base, attributes=attributes, shards=2, M=8)
    ray.kill(index.actors[1])
    with pytest.raises(ShardError, match="shard 1") as caught:
        index.search(queries, k=5)
    assert caught.value.shard == 1 and isinstance(caught.value, RuntimeError)
    result = index.search(queries, k=5, filter=field("cat") == "c4", allow_partial=True, **EXACT)
    assert result.shards_failed == (1,) and result.shards_answered == (0,)
    assert not result.complete
    alive = (shard_of(np.arange(N), 2) != 1) & _mask(attributes, "cat", lambda v: v == "c4")
    _check_exact(result, exact_knn(queries, base, 5, mask=alive), base, queries, alive)
    index.close()


def test_dead_actor_restarts_from_saved_file(tmp_path, data):
    base, queries, attributes = data
    index = ShardedIndex.build(base, attributes=attributes, shards=2, M=8)
    expected = index.search(queries, k=10, filter=field("price") < 50, **EXACT)
    index.save(tmp_path / "saved")
    old = index.actors[1]
    ray.kill(old)
    result = index.search(queries, k=10, filter=field("price") < 50, **EXACT)
    np.testing.assert_array_equal(result.ids, expected.ids)
    np.testing.assert_array_equal(result.distances, expected.distances)
    assert index.actors[1] is not old and result.complete
    assert index.shard_counters()[1]["searches"] == 1  # the new actor answered
    index.close()


def test_arxiv_mini_four_shards_identical_to_one_index(arxiv_mini_dir):
    from fanns.datasets import load_arxiv_fanns

    ds = load_arxiv_fanns(arxiv_mini_dir, count=4000, ground_truth=False)
    vectors = np.asarray(ds.vectors)
    single = fanns.Index.build(vectors, attributes=ds.attributes, M=8, ef_construction=64)
    index = ShardedIndex.build(vectors, attributes=ds.attributes, shards=4, M=8, ef_construction=64)
    nq = 40
    for name, workload in ds.workloads.items():
        filters = [workload.filter(i) for i in range(nq)]
        if all(f is None for f in filters):
            continue
        mine = index.search(ds.queries[:nq], k=10, filter=filters, **EXACT)
        one = single.search(ds.queries[:nq], k=10, filter=filters, **EXACT)
        np.testing.assert_array_equal(mine.ids, one.ids, err_msg=name)
        np.testing.assert_array_equal(mine.distances, one.distances, err_msg=name)
    index.close()


def test_a_planner_reaches_every_shard(sharded, data):
    """The planner's knobs travel to the shards: with no scan threshold and
    two-hop traversal from the start, every shard starts the filter with acorn."""
    index, queries = sharded, data[1]
    flt = fanns.field("cat") == "c1"
    planner = fanns.Planner(exact_threshold=0, two_hop_selectivity=1.0, min_two_hop_degree=0.0)
    info = index.explain(flt, planner=planner)
    assert {s["plan"] for s in info["shards"] if s["plan"] != "skipped"} == {"acorn"}
    with pytest.raises(TypeError, match="fanns.Planner"):
        index.search(queries, 5, filter=flt, planner={"exact_threshold": 0})
