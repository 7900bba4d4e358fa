"""Row storage: searches on 8-bit codes and float16 rows against exact brute force.

Every metric, dimensions from 5 to 4096, every storage, filters from
all-passing to empty, and each plan the code path can take (graph traversal,
gated and two-hop traversal, code scan, exact scan). Returned distances must
be exact whatever the storage.
"""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from fanns._fileformat import read_index_file, write_index_file
from oracle import clustered_with_queries, exact_distances, exact_knn, recall, scans_on_codes

NQ = 30
GRID = [(5, 3000), (64, 3000), (4096, 1000)]


@pytest.fixture(scope="module", params=GRID, ids=[f"d{d}" for d, _ in GRID])
def data(request):
    dim, n = request.param
    base, queries, _, _ = clustered_with_queries(n, NQ, dim, seed=dim)
    u = np.random.default_rng(dim + 1).random(n)
    return base, queries, u


_INDEXES: dict = {}


def index_for(data, metric, storage):
    base, _, u = data
    key = (base.shape, metric, storage)
    if key not in _INDEXES:
        if len(_INDEXES) > 8:  # keep memory bounded across the grid
            _INDEXES.clear()
        _INDEXES[key] = fanns.Index.build(
            base, attributes={"u": u}, metric=metric, M=8, ef_construction=64, seed=3,
            threads=1, storage=storage,
        )
    return _INDEXES[key]


def check(index, base, queries, flt, mask, *, k=10, min_recall=0.9, **kwargs):
    result = index.search(queries, k=k, filter=flt, **kwargs)
    truth = exact_knn(queries, base, k, index.metric, mask)
    exact = exact_distances(queries, base, index.metric)
    passing = len(base) if mask is None else int(mask.sum())
    for i in range(len(queries)):
        ids = result.ids[i]
        found = ids[ids >= 0]
        if mask is not None:
            assert mask[found].all(), "a returned row fails its filter"
        assert len(found) == min(k, passing)
        assert len(set(found.tolist())) == len(found)
        scale = max(1.0, float(np.abs(exact[i, found]).max(initial=0.0)))
        np.testing.assert_allclose(
            result.distances[i, : len(found)], exact[i, found], rtol=1e-4, atol=1e-5 * scale
        )
        assert (np.diff(result.distances[i, : len(found)]) >= 0).all()
        if result.plans[i] == "exact":
            assert found.tolist() == truth[i].tolist()
    assert recall(result.ids, truth) >= min_recall
    return result


STORAGES = ["sq8", "f16", "f32"]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("storage", STORAGES)
def test_unfiltered_traversal(data, metric, storage):
    base, queries, _ = data
    index = index_for(data, metric, storage)
    assert index.storage == storage
    result = check(index, base, queries, None, None, ef=64)
    assert set(result.plans) == {"graph"}


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("selectivity", [1.0, 0.3, 0.05, 0.002, 0.0])
def test_filtered_plans(data, metric, storage, selectivity):
    base, queries, u = data
    index = index_for(data, metric, storage)
    mask = u < selectivity if selectivity < 1 else u >= 0
    flt = field("u") < selectivity if selectivity < 1 else field("u") >= 0.0
    passing = int(mask.sum())
    # Default threshold: the filtered rows are scanned (on codes when kept).
    scanned = check(index, base, queries, flt, mask, ef=32)
    if passing == 0:
        assert set(scanned.plans) == {"empty"}
    elif passing == len(base):
        assert set(scanned.plans) == {"graph"}
    elif scans_on_codes(passing, 32, base.shape[1], storage):
        assert set(scanned.plans) == {"scan"}
    else:
        assert set(scanned.plans) == {"exact"}
    # A tiny threshold sends the same filters to the graph.
    # (inner products on unnormalised rows navigate worse, on codes and floats alike)
    floor = 0.8 if metric == "ip" else 0.9
    walked = check(index, base, queries, flt, mask, ef=64, exact_threshold=10, min_recall=floor)
    if 0 < passing < len(base):
        # (too few passing neighbours for two-hop traversal are scanned instead)
        assert set(walked.plans) <= {"filtered", "acorn", "exact", "scan"}
        if selectivity >= 0.3:
            assert set(walked.plans) & {"filtered", "acorn"}


def test_code_traversal_matches_float_traversal(data):
    """The same graph (one thread, one seed) searched on codes and on floats
    finds nearly the same rows at a generous ef; on f16 rows nearly all."""
    base, queries, _ = data
    coded = index_for(data, "l2", "sq8")
    halved = index_for(data, "l2", "f16")
    plain = index_for(data, "l2", "f32")
    expected = plain.search(queries, 10, ef=128).ids
    for a, b in zip(coded.search(queries, k=10, ef=128).ids, expected):
        assert len(set(a.tolist()) & set(b.tolist())) >= 8
    same = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(halved.search(queries, 10, ef=128).ids, expected)]
    assert min(same) >= 9 and np.mean(same) >= 9.8


def test_scan_is_exact_when_few_pass():
    base, queries, _, _ = clustered_with_queries(2000, 10, 16, seed=4)
    mask = np.zeros(len(base), dtype=bool)
    mask[::50] = True  # 40 rows
    index = fanns.Index.build(base, attributes={"keep": mask}, M=8, seed=1)
    flt = field("keep") == True  # noqa: E712
    # A scan keeps max(ef, 2k) rows to rescore; it runs on codes only when
    # that reads fewer bytes than scoring every passing row exactly (here
    # 40 rows: not with 20 rescored, yes with 8).
    assert set(check(index, base, queries, flt, mask, ef=10, min_recall=1.0).plans) == {"exact"}
    result = check(index, base, queries, flt, mask, k=2, ef=8, min_recall=0.9)
    assert set(result.plans) == {"scan"}


def test_outlier_rows_are_found():
    """A few rows far outside the codes' bounds are scored on their float rows."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    base[:3] *= 300.0
    queries = base[:3] * 1.01
    # One build thread: the same graph every run (a concurrent build varies,
    # and once in a while left an outlier unreachable at the default ef).
    index = fanns.Index.build(base, M=8, seed=1, threads=1)
    result = index.search(queries, k=1)
    assert result.ids[:, 0].tolist() == [0, 1, 2]


def test_memory_by_part():
    base, _, _, _ = clustered_with_queries(3000, 1, 40, seed=2)
    coded = fanns.Index.build(base, M=8, seed=1)
    plain = fanns.Index.build(base, M=8, seed=1, storage="f32")
    halved = fanns.Index.build(base, M=8, seed=1, storage="f16")
    a, b, h = (x.memory_bytes(by_part=True) for x in (coded, plain, halved))
    assert a["rows"] == b["rows"] == h["rows"] == base.nbytes
    assert b["codes"] == h["codes"] == a["f16"] == b["f16"] == 0
    assert h["f16"] == 3000 * 40 * 2
    assert halved.memory_bytes() == sum(h.values())
    assert 3000 * (40 + 4) <= a["codes"] <= 3000 * (40 + 4) + 3 * 40 * 4 + 64
    assert a["links"] == b["links"] > 0
    assert coded.memory_bytes() == sum(a.values())
    assert "sq8" in repr(coded) and "f32" in repr(plain) and "f16" in repr(halved)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_keeps_storage(tmp_path, storage, mmap):
    base, queries, _, _ = clustered_with_queries(2000, 20, 24, seed=9)
    u = np.random.default_rng(1).random(2000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1, storage=storage)
    path = tmp_path / "index.fanns"
    index.save(path)
    loaded = fanns.Index.load(path, mmap=mmap)
    assert loaded.storage == storage
    if not mmap:  # (a mapped index does not count what it reads in place)
        assert loaded.memory_bytes(by_part=True) == index.memory_bytes(by_part=True)
    for flt in (None, field("u") < 0.2, field("u") < 0.01):
        a = index.search(queries, k=10, filter=flt)
        b = loaded.search(queries, k=10, filter=flt)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.distances, b.distances)
        np.testing.assert_array_equal(a.plans, b.plans)


def test_files_without_storage_load_as_float_rows(tmp_path):
    base, queries, _, _ = clustered_with_queries(1500, 10, 12, seed=5)
    index = fanns.Index.build(base, M=8, seed=1, storage="f32")
    path = tmp_path / "old.fanns"
    index.save(path)
    meta, sections = read_index_file(path, "hnsw")
    del meta["params"]["storage"]
    write_index_file(path, "hnsw", meta, sections)
    loaded = fanns.Index.load(path)
    assert loaded.storage == "f32"
    np.testing.assert_array_equal(loaded.search(queries).ids, index.search(queries).ids)
    meta["params"]["storage"] = "int4"
    write_index_file(path, "hnsw", meta, sections)
    with pytest.raises(ValueError, match="storage"):
        fanns.Index.load(path)


@pytest.mark.parametrize("storage", ["int8", "", None, 8])
def test_bad_storage(storage):
    with pytest.raises(ValueError, match="storage"):
        fanns.Index.build(np.ones((4, 3), dtype=np.float32), storage=storage)


def test_explain_names_the_plan_search_takes():
    base, queries, _, _ = clustered_with_queries(3000, 10, 16, seed=8)
    u = np.random.default_rng(2).random(3000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1)
    for s, threshold in ((0.5, None), (0.005, None), (0.5, 10), (0.0, None)):
        flt = field("u") < s
        planned = index.explain(flt, ef=32, exact_threshold=threshold)["plan"]
        plans = set(index.search(queries, k=10, ef=32, filter=flt, exact_threshold=threshold).plans)
        if planned in ("scan", "exact", "empty"):
            assert plans == {planned}
        else:
            assert plans <= {"filtered", "acorn", "exact", "scan"}
            assert planned in plans or plans <= {"acorn", "exact", "scan"}


@pytest.mark.parametrize("storage", STORAGES)
def test_range_graph_reads_the_index_codes(tmp_path, storage):
    """With an encoding in the row store (codes, f16 rows), the range graph
    reads it (no second copy); answers stay exact in distance and close to
    brute force, also after a load."""
    base, queries, _, _ = clustered_with_queries(4000, 20, 24, seed=11)
    year = np.random.default_rng(3).integers(1990, 2030, size=4000)
    index = fanns.Index.build(
        base, attributes={"year": year}, M=8, seed=1, storage=storage, range_attribute="year"
    )
    graph = index._range_graph
    parts = index.memory_bytes(by_part=True)
    assert graph.quantized
    if storage == "sq8":
        assert graph.shares_codes and parts["range_codes"] == 0 and parts["codes"] > 0
        assert graph.encoding == "sq8"
    elif storage == "f16":  # the store's f16 rows, read through the key order
        assert graph.shares_codes and parts["range_codes"] == 0 and parts["f16"] > 0
        assert graph.encoding == "f16" and parts["codes"] == 0
    else:  # float rows only: the range graph keeps codes of its own
        assert not graph.shares_codes and parts["range_codes"] > 0 and parts["codes"] == 0
    path = tmp_path / "ranged.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    assert loaded._range_graph.shares_codes == graph.shares_codes
    for lo, hi in ((1991, 1992), (2000, 2010), (1990, 2029)):
        flt = field("year").between(lo, hi)
        mask = (year >= lo) & (year <= hi)
        result = check(index, base, queries, flt, mask, ef=64, exact_threshold=0)
        assert set(result.plans) <= {"range", "exact", "scan", "graph"}
        again = loaded.search(queries, k=10, ef=64, filter=flt, exact_threshold=0)
        np.testing.assert_array_equal(result.ids, again.ids)
        np.testing.assert_array_equal(result.distances, again.distances)
