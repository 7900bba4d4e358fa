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
