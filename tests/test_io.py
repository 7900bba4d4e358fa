"""Save/load round trips; corrupt, truncated and foreign files raise ValueError."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fanns
from oracle import clustered


@pytest.fixture(scope="module")
def built():
    data, labels = clustered(1500, 12, seed=4)
    attributes = {"label": [f"c{x}" for x in labels], "size": np.arange(1500) % 97}
    index = fanns.Index.build(data, metric="cosine", attributes=attributes)
    return index, data


def test_round_trip_gives_identical_results(tmp_path, built):
    index, data = built
    path = tmp_path / "index.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    assert len(loaded) == len(index) and loaded.dim == index.dim and loaded.metric == "cosine"
    assert loaded.params == index.params
    for flt in (None, fanns.field("size") < 40, fanns.field("label") == "c3"):
        a = index.search(data[:50], k=10, filter=flt)
        b = loaded.search(data[:50], k=10, filter=flt)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.distances, b.distances)
    assert loaded.attributes.column("label") == index.attributes.column("label")
    assert not any(name.startswith(".fanns-") for name in os.listdir(tmp_path))


def test_truncated_files_raise(tmp_path, built):
    index, _ = built
    path = tmp_path / "index.fanns"
    index.save(path)
    blob = path.read_bytes()
    for cut in (0, 5, 20, len(blob) // 2, len(blob) - 1):
        bad = tmp_path / f"cut{cut}.fanns"
        bad.write_bytes(blob[:cut])
        with pytest.raises(ValueError):
            fanns.Index.load(bad)


def test_corrupt_bytes_raise(tmp_path, built):
    index, _ = built
    path = tmp_path / "index.fanns"
    index.save(path)
    blob = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for position in [9, 30, *rng.integers(100, len(blob), size=6).tolist()]:
        bad = bytearray(blob)
        bad[position] ^= 0x5A
        target = tmp_path / f"flip{position}.fanns"
        target.write_bytes(bytes(bad))
        with pytest.raises(ValueError):
            fanns.Index.load(target)


def test_foreign_and_missing_files_raise(tmp_path):
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ValueError, match="not a fanns index"):
        fanns.Index.load(foreign)
    with pytest.raises(ValueError, match="cannot read"):
        fanns.Index.load(tmp_path / "absent.fanns")


def test_unwritable_path_raises_and_leaves_nothing(tmp_path, built):
    index, _ = built
    with pytest.raises(ValueError, match="cannot write"):
        index.save(tmp_path / "no" / "such" / "dir" / "index.fanns")
    with pytest.raises(TypeError):
        index.save(42)


def test_save_replaces_existing_file_atomically(tmp_path, built):
    index, _ = built
    path = tmp_path / "index.fanns"
    path.write_bytes(b"old contents")
    index.save(path)
    assert len(fanns.Index.load(path)) == len(index)


def _engine_copy(index):
    from fanns import _core

    p = index.params
    return _core.HnswIndex(
        index.dim, index.metric, p["M"], p["M0"], p["ef_construction"], p["seed"], p["m_beta"], p["storage"]
    )


def test_restore_rejects_inconsistent_graph_state():
    data, _ = clustered(400, 6, seed=8)
    index = fanns.Index.build(data, M=4)
    good = index._engine.state()
    levels = good["levels"]
    low = int(np.flatnonzero(levels == 0)[0])
    top = int(good["entry"])
    cases = []
    # An upper-level list naming a node that does not live on that level.
    bad = dict(good, upper_links=good["upper_links"].copy())
    start = int(good["upper_offsets"][top])
    bad["upper_links"][start] = 1
    bad["upper_links"][start + 1] = low
    cases.append(bad)
    bad = dict(good, links0=good["links0"].copy())
    bad["links0"][0, 1] = 400  # neighbour id out of range
    cases.append(bad)
    cases.append(dict(good, entry=low if levels[low] != good["max_level"] else 10**6))
    cases.append(dict(good, levels=good["levels"][:-1]))
    for state in cases:
        engine = _engine_copy(index)
        with pytest.raises(ValueError, match="corrupt index"):
            engine.restore(state)
    _engine_copy(index).restore(good)


def test_load_rejects_out_of_range_fields(tmp_path, built):
    from fanns._fileformat import read_index_file, write_index_file

    index, _ = built
    path = tmp_path / "index.fanns"
    index.save(path)
    meta, sections = read_index_file(path, "hnsw")
    for key, value in [("entry", -1), ("max_level", 2**40)]:
        target = tmp_path / f"{key}.fanns"
        write_index_file(target, "hnsw", dict(meta, **{key: value}), sections)
        with pytest.raises(ValueError, match="corrupt"):
            fanns.Index.load(target)
