"""Edges of the mutable API: an empty index, argument checks, explain and
memory over segments, row filters, and what a plain built index keeps."""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

import fanns
from fanns import field
from oracle import clustered, exact_knn


def test_an_empty_index_answers_and_fills(tmp_path):
    index = fanns.Index.create(6, attribute_types={"a": "int"}, storage="f32")
    assert len(index) == 0 and index.segments == 0 and index.dim == 6
    result = index.search(np.zeros((2, 6)), k=3, filter=field("a") > 1)
    assert (result.ids == -1).all() and set(result.plans) == {"empty"}
    assert index.explain()["plan"] == "empty"
    index.save(tmp_path / "empty")
    index = fanns.Index.load(tmp_path / "empty")
    data, _ = clustered(50, 6, seed=3)
    index.add(data, attributes={"a": list(range(50))})
    np.testing.assert_array_equal(index.ids, np.arange(50))
    truth = exact_knn(data[:4], data, 5, mask=np.arange(50) > 40)
    found = index.search(data[:4], k=5, filter=field("a") > 40).ids
    for row, true in zip(found, truth):
        assert set(row.tolist()) == set(true.tolist())
    assert "n=50" in repr(index)


def test_bad_arguments_raise_and_change_nothing():
    data, _ = clustered(60, 6, seed=4)
    index = fanns.Index.build(data, ids=np.arange(60) + 1000)
    with pytest.raises(ValueError, match="duplicates"):
        fanns.Index.build(data[:2], ids=[1, 1])
    with pytest.raises(ValueError, match="2 entries for 3 vectors"):
        fanns.Index.build(data[:3], ids=[1, 2])
    with pytest.raises(TypeError, match="integers"):
        index.add(data[:1], ids=[1.5])
    with pytest.raises(TypeError, match="integers"):
        index.delete(["a"])
    with pytest.raises(ValueError, match="missing"):
        index.delete([1000], missing="skip")
    with pytest.raises(TypeError, match="needs ids"):
        index.upsert(data[:1], ids=None)
    with pytest.raises(ValueError, match="at least one attribute"):
        index.update_attributes([1000], {})
    with pytest.raises(ValueError, match="dim"):
        fanns.Index.create(0)
    with pytest.raises(ValueError, match="metric"):
        fanns.Index.create(4, metric="hamming")
    with pytest.raises(TypeError, match="range graph"):
        fanns.Index.create(4, attribute_types={"c": "string"}, range_attribute="c")
    assert len(index) == 60 and index.segments == 1 and 1000 in index and 5 not in index
    assert not index.contains(np.array([[1000, 7]])).all() and index.contains([[1000]]).shape == (
        1,
        1,
    )
    assert "x" not in index and True not in index


def test_row_filters_need_rows_that_are_ids():
    data, _ = clustered(80, 6, seed=5)
    index = fanns.Index.build(data)
    mask = np.arange(80) < 10
    assert (index.search(data[:2], k=3, filter=mask).ids < 10).all()
    assert (index.search(data[:2], k=3, filter=BitMap(range(5))).ids < 5).all()
    index.delete([3])
    with pytest.raises(TypeError, match="filter expressions"):
        index.search(data[:2], k=3, filter=mask)
    with pytest.raises(TypeError, match="filter expressions"):
        index.explain(BitMap([1]))


def test_explain_and_memory_add_up_over_segments():
    data, labels = clustered(300, 6, seed=6)
    index = fanns.Index.build(data[:200], attributes={"l": labels[:200]}, M=8)
    index._segments.max_segment_rows = 200
    index.add(data[200:], attributes={"l": labels[200:]})
    index.delete(np.arange(0, 300, 3))
    assert index.segments == 2
    info = index.explain(field("l") < 5)
    passing = int((labels[np.arange(300) % 3 != 0] < 5).sum())
    assert info["passing"] == passing and info["n"] == 200
    assert [s["n"] for s in info["segments"]] == [133, 67]
    assert [s["deleted"] for s in info["segments"]] == [67, 33]
    parts = index.memory_bytes(by_part=True)
    assert sum(parts.values()) == index.memory_bytes() and parts["ids"] > 0
    index.compact()
    assert index.segments == 1 and len(index) == 200
    assert "deleted=0" in repr(index)
    # The rows and attributes of a changed index come in the order of its ids.
    np.testing.assert_array_equal(index.vectors, data[np.sort(index.ids)])
    assert index.attributes["l"] == labels[index.ids].tolist()


def test_ids_must_not_collide_with_the_padding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="ids must be in"):
        fanns.Index.build(x, ids=np.arange(-1, 49))
    index = fanns.Index.build(x)
    with pytest.raises(ValueError, match="ids must be in"):
        index.add(x[:1], ids=[-1])
    with pytest.raises(ValueError, match="ids must be in"):
        index.add(x[:1], ids=[2**63 - 1])
    index.add(x[:1], ids=[2**63 - 2])
    with pytest.raises(ValueError, match="default ids are used up"):
        index.add(x[:1])
    assert len(index) == 51


def test_added_rows_are_copied_from_a_memmap(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 8)).astype(np.float32)
    path = tmp_path / "rows.f32"
    x.tofile(path)
    rows = np.memmap(path, dtype=np.float32, mode="r", shape=(100, 8))
    index = fanns.Index.create(8)
    index.add(rows, ids=np.arange(100))
    writable = np.memmap(path, dtype=np.float32, mode="r+", shape=(100, 8))
    writable[7] = 100.0
    writable.flush()
    np.testing.assert_array_equal(index.get([7]).vectors, x[7:8])
    assert index.search(x[7], 1).ids[0, 0] == 7


def test_save_never_touches_a_directory_it_did_not_write(tmp_path):
    rng = np.random.default_rng(2)
    index = fanns.Index.build(rng.standard_normal((60, 8)).astype(np.float32), ids=np.arange(60) + 5)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "segment-notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="holds no saved index"):
        index.save(folder)
    assert (folder / "segment-notes.txt").read_text() == "keep"
    index.save(tmp_path / "fresh")
    (tmp_path / "fresh" / "segment-notes.txt").write_text("keep too")
    index.delete([5])
    index.save(tmp_path / "fresh")  # our own directory: saved again, foreign names kept
    assert (tmp_path / "fresh" / "segment-notes.txt").read_text() == "keep too"
    assert 5 not in fanns.Index.load(tmp_path / "fresh")


def test_an_empty_index_checks_search_arguments():
    index = fanns.Index.create(4)
    with pytest.raises(ValueError):
        index.search(np.zeros(4, np.float32), 3, threads=-1)
    with pytest.raises(TypeError, match="fanns.Planner"):
        index.search(np.zeros(4, np.float32), 3, planner="x")
