"""Float16 storage (``storage="f16"``): what the grid in test_storage.py does
not reach. The scale the rows are stored at, rows the f16 range cannot
hold, queries the scale cannot take, growth, an over-budget traversal
finished by a scan on f16 rows, and the f16 section of index files.
"""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from fanns._fileformat import read_index_file, write_index_file
from oracle import clustered_with_queries, exact_distances, exact_knn, recall, scans_on_codes


def assert_exact(result, queries, base, metric="l2", mask=None, min_recall=0.9):
    """Every returned distance is the float32 distance of its row, in order,
    and the ids are close to brute force."""
    exact = exact_distances(queries, base, metric)
    for i, ids in enumerate(result.ids):
        found = ids[ids >= 0]
        scale = max(1.0, float(np.abs(exact[i, found]).max(initial=0.0)))
        np.testing.assert_allclose(result.distances[i, : len(found)], exact[i, found], rtol=1e-4, atol=1e-5 * scale)
        assert (np.diff(result.distances[i, : len(found)]) >= 0).all()
    truth = exact_knn(queries, base, result.ids.shape[1], metric, mask)
    assert recall(result.ids, truth) >= min_recall


@pytest.mark.parametrize("magnitude", [1e-12, 1e-6, 1.0, 3e4, 1e15])
def test_rows_of_any_magnitude_use_the_f16_range(magnitude):
    """Rows far below or above the f16 range are stored scaled by a power of two:
    the search finds what it finds on rows of magnitude 1."""
    base, queries, _, _ = clustered_with_queries(2000, 20, 32, seed=21)
    base, queries = base * np.float32(magnitude), queries * np.float32(magnitude)
    index = fanns.Index.build(base, M=8, seed=1, threads=1, storage="f16")
    assert index.memory_bytes(by_part=True)["f16"] == base.size * 2
    assert_exact(index.search(queries, k=10, ef=64), queries, base, min_recall=0.95)


def test_a_query_the_scale_cannot_take_reads_float_rows():
    """Rows of 1e-15 are stored scaled by 2^60; a query of 1e15 scaled so
    would overflow, so that query is scored on the float rows: same answers
    as the float storage's graph."""
    base, _, _, _ = clustered_with_queries(1500, 1, 16, seed=22)
    base = base * np.float32(1e-15)
    queries = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32) * np.float32(1e15)
    halved = fanns.Index.build(base, M=8, seed=1, threads=1, storage="f16")
    plain = fanns.Index.build(base, M=8, seed=1, threads=1, storage="f32")
    a, b = halved.search(queries, k=5, ef=32), plain.search(queries, k=5, ef=32)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_rows_beyond_the_f16_range_are_scored_on_float_rows():
    """Rows added later, 10^4 times larger than the rows the scale was chosen
    for, do not fit f16 even scaled: they are marked and scored on their
    float rows, and found with exact distances."""
    base, queries, _, _ = clustered_with_queries(2000, 10, 24, seed=23)
    index = fanns.Index.create(24, storage="f16")
    index.add(base, ids=np.arange(2000))
    far = base[:5] * np.float32(1e4)
    index.add(far, ids=np.arange(2000, 2005))
    result = index.search(far * np.float32(1.001), k=1)
    assert result.ids[:, 0].tolist() == list(range(2000, 2005))
    everything = np.concatenate([base, far])
    assert_exact(index.search(queries, k=10, ef=64), queries, everything, min_recall=0.9)


def test_growth_encodes_the_added_rows():
    base, queries, _, _ = clustered_with_queries(3000, 20, 48, seed=24)
    index = fanns.Index.create(48, metric="cosine", storage="f16")
    for start in range(0, 3000, 1000):
        index.add(base[start : start + 1000], ids=np.arange(start, start + 1000))
    assert index.storage == "f16"
    assert index.memory_bytes(by_part=True)["f16"] == base.size * 2
    normed = base / np.linalg.norm(base, axis=1, keepdims=True)
    assert_exact(index.search(queries, k=10, ef=64), queries, normed, metric="cosine", min_recall=0.9)


def test_over_budget_traversal_finishes_with_a_scan_on_f16_rows():
    """Over its budget, a filtered traversal is finished by a scan of the
    passing rows on f16 rows where that reads less than exactly."""
    base, queries, _, _ = clustered_with_queries(3000, 10, 64, seed=12)
    u = np.random.default_rng(3).random(3000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1, storage="f16")
    mask = u < 0.5
    assert scans_on_codes(int(mask.sum()), 100, 64, "f16")
    planner = fanns.Planner(budget_factor=0.0, exact_threshold=0)
    flt = field("u") < 0.5
    assert index.explain(flt, planner=planner, ef=100)["plan"] in ("filtered", "acorn")
    result = index.search(queries, 10, filter=flt, planner=planner, ef=100)
    assert set(result.plans) == {"scan"}
    assert mask[result.ids].all()
    # f16 distances rank nearly exactly: the scan finds the true top 10
    assert_exact(result, queries, base, mask=mask, min_recall=0.99)


def test_explain_and_search_agree_on_f16_scans():
    base, queries, _, _ = clustered_with_queries(3000, 10, 64, seed=8)
    u = np.random.default_rng(2).random(3000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1, storage="f16")
    for s in (0.02, 0.1):  # 60 rows: exact; 300 rows: more than 6 x 32 rescored, scan
        flt = field("u") < s
        planned = index.explain(flt, ef=32)["plan"]
        assert planned == ("scan" if scans_on_codes(int((u < s).sum()), 32, 64, "f16") else "exact")
        assert set(index.search(queries, k=10, ef=32, filter=flt).plans) == {planned}


def _saved(tmp_path, storage="f16"):
    base, queries, _, _ = clustered_with_queries(1500, 10, 20, seed=25)
    index = fanns.Index.build(base, M=8, seed=1, storage=storage)
    path = tmp_path / "index.fanns"
    index.save(path)
    return index, queries, path


@pytest.mark.parametrize("mmap", [False, True])
def test_files_without_f16_rows_derive_them(tmp_path, mmap):
    index, queries, path = _saved(tmp_path)
    meta, sections = read_index_file(path, "hnsw")
    assert sections["hnsw/f16"].dtype == np.float16
    del sections["hnsw/f16"]
    del meta["f16_exponent"]
    write_index_file(path, "hnsw", meta, sections)
    loaded = fanns.Index.load(path, mmap=mmap)
    assert loaded.storage == "f16"
    assert loaded.memory_bytes(by_part=True)["f16"] == index.memory_bytes(by_part=True)["f16"]
    a, b = index.search(queries), loaded.search(queries)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_mapped_f16_rows_are_read_in_place(tmp_path):
    index, queries, path = _saved(tmp_path)
    mapped = fanns.Index.load(path, mmap=True)
    assert mapped._engine.borrowed_parts()["f16"] == 1500 * 20 * 2
    assert mapped._engine.memory_parts()["f16"] == 0
    np.testing.assert_array_equal(mapped.search(queries).ids, index.search(queries).ids)


def test_searches_read_the_f16_rows_and_rescore_on_float_rows(tmp_path):
    """f16 rows replaced by zeros in a file: traversal and scan rank on them
    (and so find the wrong rows), while every returned distance is still the
    exact distance of the returned row (rescored on the float rows)."""
    base, queries, _, _ = clustered_with_queries(2000, 10, 24, seed=27)
    u = np.random.default_rng(4).random(2000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1, storage="f16")
    path = tmp_path / "index.fanns"
    index.save(path)
    meta, sections = read_index_file(path, "hnsw")
    sections["hnsw/f16"] = np.zeros_like(sections["hnsw/f16"])
    write_index_file(path, "hnsw", meta, sections)
    blind = fanns.Index.load(path)
    for flt, mask, plan in ((None, None, "graph"), (field("u") < 0.5, u < 0.5, "scan")):
        good = index.search(queries, k=10, ef=32, filter=flt)
        bad = blind.search(queries, k=10, ef=32, filter=flt)
        assert set(good.plans) == set(bad.plans) == {plan}
        truth = exact_knn(queries, base, 10, mask=mask)
        assert recall(good.ids, truth) >= 0.9 and recall(bad.ids, truth) < 0.5
        exact = exact_distances(queries, base, "l2")
        np.testing.assert_allclose(bad.distances, np.take_along_axis(exact, bad.ids, 1), rtol=1e-4, atol=1e-5)


def test_rows_read_in_place_with_a_stride(tmp_path):
    """A memory-mapped .fvecs view (rows dim + 1 floats apart) is read in
    place; its f16 rows are the same as a packed copy's."""
    from fanns.datasets import read_fvecs, write_fvecs

    base, queries, _, _ = clustered_with_queries(1500, 10, 20, seed=28)
    write_fvecs(tmp_path / "rows.fvecs", base)
    view = read_fvecs(tmp_path / "rows.fvecs")
    mapped = fanns.Index.build(view, M=8, seed=1, threads=1, storage="f16")
    packed = fanns.Index.build(base, M=8, seed=1, threads=1, storage="f16")
    assert mapped.memory_bytes(by_part=True)["rows"] == 0
    np.testing.assert_array_equal(mapped._engine.state()["f16"], packed._engine.state()["f16"])
    a, b = mapped.search(queries, k=10), packed.search(queries, k=10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_a_mapped_f16_index_grows(tmp_path):
    """Rows added to a mapped index: the borrowed f16 rows are copied, the new
    rows encoded with the saved scale, and the old and new rows found."""
    base, queries, _, _ = clustered_with_queries(1600, 10, 20, seed=26)
    index = fanns.Index.build(base[:1500], M=8, seed=1, storage="f16")
    path = tmp_path / "index.fanns"
    index.save(path)
    mapped = fanns.Index.load(path, mmap=True)
    mapped.add(base[1500:], ids=np.arange(1500, 1600))
    assert mapped.storage == "f16"
    result = mapped.search(base[1500:1510], k=1)
    assert result.ids[:, 0].tolist() == list(range(1500, 1510))
    assert_exact(mapped.search(queries, k=10, ef=64), queries, base, min_recall=0.9)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda meta, s: meta.update(f16_exponent=61), "f16 scale"),
        (lambda meta, s: meta.pop("f16_exponent"), "f16_exponent"),
        (lambda meta, s: meta.update(f16_exponent=float("inf")), "f16_exponent|bad field"),
        (lambda meta, s: s.update({"hnsw/f16": s["hnsw/f16"][:, :-1].copy()}), "f16 block size"),
        (lambda meta, s: s.update({"hnsw/f16": s["hnsw/f16"].astype(np.float32)}), "f16"),
    ],
)
def test_damaged_f16_sections_are_rejected(tmp_path, damage, message):
    _, _, path = _saved(tmp_path)
    meta, sections = read_index_file(path, "hnsw")
    damage(meta, sections)
    write_index_file(path, "hnsw", meta, sections)
    with pytest.raises(ValueError, match=message):
        fanns.Index.load(path)


def test_f16_rows_in_a_file_of_another_storage_are_rejected(tmp_path):
    _, _, path = _saved(tmp_path)
    meta, sections = read_index_file(path, "hnsw")
    meta["params"]["storage"] = "f32"
    write_index_file(path, "hnsw", meta, sections)
    with pytest.raises(ValueError, match="f16 rows for a store without them"):
        fanns.Index.load(path)


def test_bad_storage_names_the_choices():
    with pytest.raises(ValueError, match="storage.*f16"):
        fanns.Index.build(np.ones((4, 3), dtype=np.float32), storage="float16")


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.__setitem__("f16", s["f16"].astype(">f2")),  # not native byte order
        lambda s: s.__setitem__("f16_exponent", 2**40),  # would not cast to an int
        lambda s: s.__setitem__("f16_exponent", 1.5),
    ],
)
def test_engine_restore_refuses_f16_it_cannot_read(damage):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((300, 12)).astype(np.float32)
    index = fanns.Index.build(base, storage="f16", seed=3, threads=1)
    state = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in index._engine.state().items()}
    _core_restore(index, state)  # the undamaged state restores
    damage(state)
    with pytest.raises(ValueError, match="f16"):
        _core_restore(index, state)


def _core_restore(index, state):
    from fanns import _core

    p = index.params
    fresh = _core.HnswIndex(
        index.dim, index.metric, p["M"], p["M0"], p["ef_construction"], p["seed"], p["m_beta"], "f16", True
    )
    fresh.restore(state, borrow=False, check=True)


def test_one_extreme_row_does_not_coarsen_the_others():
    # The scale follows the rows' typical magnitude: a single value 10^12
    # times the rest is held as a NaN row (scored on its float row) instead
    # of pushing every other value into f16's zeros.
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    base[123, 5] = 1e12
    queries = base[rng.choice(3000, 40, replace=False)] + 0.1 * rng.standard_normal((40, 32)).astype(np.float32)
    index = fanns.Index.build(base, storage="f16", seed=1, threads=1)
    result = index.search(queries, k=10, ef=64)
    truth = np.argsort(((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(result.ids, truth)])
    assert recall >= 0.95
    own = index.search(base[123:124], k=1, ef=64)
    assert own.ids[0, 0] == 123 and own.distances[0, 0] == 0.0
