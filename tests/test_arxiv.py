"""Loading and writing the arXiv-for-FANNS layout, on generated data and on the real sample."""

from __future__ import annotations

import itertools
import json
import os
import shutil

import numpy as np
import pytest

from fanns.datasets import (
    ATTRIBUTE_KEYS,
    PUBLISHED_FILES,
    ArxivDataset,
    load_arxiv_fanns,
    read_fvecs,
    read_ivecs,
    write_arxiv_layout,
    write_fvecs,
    write_ivecs,
)


@pytest.fixture()
def layout(tmp_path, small_arxiv):
    directory = tmp_path / "small"
    write_arxiv_layout(small_arxiv, directory)
    return directory


def _assert_same_dataset(a: ArxivDataset, b: ArxivDataset) -> None:
    np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))
    np.testing.assert_array_equal(a.queries, b.queries)
    assert a.attributes == b.attributes
    assert a.query_attributes == b.query_attributes
    assert sorted(a.ground_truth) == sorted(b.ground_truth)
    for name, rows in a.ground_truth.items():
        assert len(rows) == len(b.ground_truth[name])
        for x, y in zip(rows, b.ground_truth[name]):
            np.testing.assert_array_equal(x, y)
    assert sorted(a.workloads) == sorted(b.workloads)


def test_layout_round_trip(layout, small_arxiv):
    assert sorted(os.listdir(layout)) == sorted(PUBLISHED_FILES)
    ds = load_arxiv_fanns(layout)
    _assert_same_dataset(ds, small_arxiv)
    assert ds.name == "small" and ds.path == str(layout)
    assert len(ds) == 3000 and ds.dim == 24 and ds.nq == 40
    assert sorted(ds.workloads) == ["em", "emis", "r", "unfiltered"]
    for name, wl in ds.workloads.items():
        assert len(wl) == 40
        assert wl.ground_truth is ds.ground_truth[name]
    assert isinstance(ds.vectors.base, np.memmap) or isinstance(ds.vectors, np.memmap)
    in_memory = load_arxiv_fanns(layout, mmap=False, name="other")
    assert in_memory.vectors.flags.c_contiguous and in_memory.name == "other"
    _assert_same_dataset(in_memory, small_arxiv)


def test_attribute_lines_are_published_json(layout, small_arxiv):
    with open(layout / "database_attributes.jsonl", encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert tuple(first) == ATTRIBUTE_KEYS
    assert first == small_arxiv.attributes[0]
    with open(layout / "r_query_attributes.jsonl", encoding="utf-8") as f:
        assert set(json.loads(f.readline())) == {"range_start", "range_end"}


def test_missing_optional_files_are_tolerated(layout):
    os.remove(layout / "ground_truth_em.ivecs")
    os.remove(layout / "ground_truth.ivecs")
    os.remove(layout / "r_query_attributes.jsonl")
    ds = load_arxiv_fanns(layout)
    assert sorted(ds.workloads) == ["em", "emis", "unfiltered"]
    assert sorted(ds.ground_truth) == ["emis", "r"]
    assert ds.workloads["em"].ground_truth is None
    assert ds.workloads["emis"].ground_truth is not None


@pytest.mark.parametrize(
    "name", ["database_vectors.fvecs", "database_attributes.jsonl", "query_vectors.fvecs"]
)
def test_missing_required_file(layout, name):
    os.remove(layout / name)
    with pytest.raises(FileNotFoundError, match=name):
        load_arxiv_fanns(layout)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_arxiv_fanns(tmp_path / "nowhere")


def _rewrite_lines(path, edit):
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(edit(lines))


def test_row_count_mismatch(layout):
    _rewrite_lines(layout / "database_attributes.jsonl", lambda lines: lines[:-1])
    with pytest.raises(ValueError, match="2999 records"):
        load_arxiv_fanns(layout)


def test_query_attribute_count_mismatch(layout):
    _rewrite_lines(layout / "em_query_attributes.jsonl", lambda lines: lines + lines[:1])
    with pytest.raises(ValueError, match="em_query_attributes.jsonl"):
        load_arxiv_fanns(layout)


@pytest.mark.parametrize(
    "bad_line, message",
    [("{not json\n", "invalid JSON"), ("[1, 2]\n", "expected a JSON object"), ("\n", "blank")],
)
def test_malformed_attribute_lines(layout, bad_line, message):
    _rewrite_lines(layout / "database_attributes.jsonl", lambda ls: ls[:5] + [bad_line] + ls[6:])
    with pytest.raises(ValueError, match=message) as info:
        load_arxiv_fanns(layout)
    assert "database_attributes.jsonl:6" in str(info.value)


def test_trailing_blank_lines_are_allowed(layout, small_arxiv):
    _rewrite_lines(layout / "database_attributes.jsonl", lambda lines: lines + ["\n", "  \n"])
    assert load_arxiv_fanns(layout).attributes == small_arxiv.attributes


@pytest.mark.parametrize(
    "name, record, message",
    [
        ("em", {"label": "two"}, "expected an int"),
        ("em", {"value": 2}, "missing key 'label'"),
        ("r", {"range_start": 20200101}, "missing key 'range_end'"),
        ("r", {"range_start": 1.5, "range_end": 2}, "expected an int"),
        ("emis", {"label": 3}, "expected a string"),
    ],
)
def test_malformed_query_attributes(layout, name, record, message):
    path = layout / f"{name}_query_attributes.jsonl"
    _rewrite_lines(path, lambda lines: [json.dumps(record) + "\n"] + lines[1:])
    with pytest.raises(ValueError, match=message) as info:
        load_arxiv_fanns(layout)
    assert path.name in str(info.value)


def test_ground_truth_must_fit_the_database(layout):
    rows = read_ivecs(layout / "ground_truth_r.ivecs")
    rows[3] = np.array([0, 3000], dtype=np.int32)
    write_ivecs(layout / "ground_truth_r.ivecs", rows)
    with pytest.raises(ValueError, match="outside"):
        load_arxiv_fanns(layout)
    write_ivecs(layout / "ground_truth_r.ivecs", rows[:10])
    with pytest.raises(ValueError, match="10 rows for 40 queries"):
        load_arxiv_fanns(layout)


def test_query_dimension_must_match(layout):
    write_fvecs(layout / "query_vectors.fvecs", np.ones((40, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        load_arxiv_fanns(layout)


def test_count_keeps_leading_rows_without_ground_truth(layout, small_arxiv):
    ds = load_arxiv_fanns(layout, count=500)
    assert len(ds) == 500
    np.testing.assert_array_equal(ds.vectors, small_arxiv.vectors[:500])
    assert ds.attributes == small_arxiv.attributes[:500]
    assert ds.ground_truth == {}
    assert sorted(ds.workloads) == ["em", "emis", "r", "unfiltered"]
    full = load_arxiv_fanns(layout, count=3000)
    assert sorted(full.ground_truth) == sorted(small_arxiv.ground_truth)


def test_dataset_constructor_validates():
    x = np.zeros((3, 2), dtype=np.float32)
    q = np.zeros((1, 2), dtype=np.float32)
    recs = [{"update_date": 1}] * 3
    with pytest.raises(ValueError, match="2 attribute records for 3 vectors"):
        ArxivDataset(x, recs[:2], q)
    with pytest.raises(TypeError, match="record 1"):
        ArxivDataset(x, [{}, 5, {}], q)
    with pytest.raises(ValueError, match="unknown workload"):
        ArxivDataset(x, recs, q, query_attributes={"xx": [{}]})
    with pytest.raises(ValueError, match="2 query attribute records for 1 queries"):
        ArxivDataset(x, recs, q, query_attributes={"em": [{"label": 1}] * 2})
    with pytest.raises(ValueError, match="2-D"):
        ArxivDataset(x[0], recs, q)
    with pytest.raises(TypeError, match="dtype"):
        ArxivDataset(x.astype(complex), recs, q)
    ds = ArxivDataset(x, recs, np.zeros((0, 0), dtype=np.float32))
    assert ds.nq == 0 and ds.queries.shape == (0, 2)
    assert "n=3" in repr(ds)


def test_empty_query_set_round_trips(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ds = ArxivDataset(x, [{"update_date": 20200101}] * 4, np.empty((0, 3), np.float32))
    write_arxiv_layout(ds, tmp_path / "d")
    back = load_arxiv_fanns(tmp_path / "d")
    assert back.queries.shape == (0, 3) and len(back) == 4


# ---------------------------------------------------------------- the real sample
def test_real_sample_subset_copy(tmp_path, arxiv_mini_dir):
    rows = 2000
    target = tmp_path / "mini-2000"
    target.mkdir()
    write_fvecs(
        target / "database_vectors.fvecs",
        read_fvecs(os.path.join(arxiv_mini_dir, "database_vectors.fvecs"), count=rows),
    )
    with open(os.path.join(arxiv_mini_dir, "database_attributes.jsonl"), encoding="utf-8") as f:
        head = list(itertools.islice(f, rows))
    (target / "database_attributes.jsonl").write_text("".join(head), encoding="utf-8")
    for name in (
        "query_vectors.fvecs",
        "em_query_attributes.jsonl",
        "r_query_attributes.jsonl",
        "emis_query_attributes.jsonl",
    ):
        shutil.copy(os.path.join(arxiv_mini_dir, name), target / name)
    ds = load_arxiv_fanns(target)
    assert len(ds) == rows and ds.dim == 384 and ds.nq == 1000
    assert ds.attributes == [json.loads(line) for line in head]
    assert all(tuple(r) == ATTRIBUTE_KEYS for r in ds.attributes)
    assert ds.ground_truth == {}
    norms = np.linalg.norm(np.asarray(ds.vectors), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)
    first_em = (target / "em_query_attributes.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert ds.workloads["em"].params(0) == json.loads(first_em)


def test_real_sample_count(arxiv_mini_dir):
    ds = load_arxiv_fanns(arxiv_mini_dir, count=1500)
    assert len(ds) == 1500 and ds.nq == 1000
    np.testing.assert_array_equal(
        ds.vectors, read_fvecs(os.path.join(arxiv_mini_dir, "database_vectors.fvecs"), count=1500)
    )
    assert ds.ground_truth == {}
    assert sorted(ds.workloads) == ["em", "emis", "r", "unfiltered"]
