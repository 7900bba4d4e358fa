"""Attribute columns keep their sorted orders and posting lists in the file:
a load reads them as they are (no sort, dictionaries decoded on first use),
checks what keeps lookups in range in every mode, compares them with a fresh
sort under a full verify, and still reads files written without them."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import _fileformat
from fanns.attributes import AttributeStore
from fanns.attributes import postings as postings_module
from fanns.attributes.postings import _Dictionary
from oracle import clustered_with_queries

N = 600


def _columns(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    words = ["", "a", "ab", "b", "é", "z\u00ff", "\u4e2d", "\U0001f600", "a\x00"]
    return {
        "year": [None if i % 17 == 0 else int(v) for i, v in enumerate(rng.integers(1990, 2030, n))],
        "score": [None if i % 13 == 0 else float(v) for i, v in enumerate(rng.normal(size=n))],
        "flag": [bool(v) for v in rng.random(n) < 0.3],
        "label": [None if i % 11 == 0 else words[int(v)] for i, v in enumerate(rng.integers(0, 9, n))],
        "tags": [
            None if i % 7 == 0 else [words[int(v)] for v in rng.integers(0, 9, int(rng.integers(0, 4)))]
            for i in range(n)
        ],
    }


def _answers(store: AttributeStore) -> list:
    """Every lookup kind over every column: what must not change across a save."""
    out = []
    for name in ("label", "tags"):
        for word in ["", "a", "ab", "b", "é", "z\u00ff", "\u4e2d", "\U0001f600", "a\x00", "absent", "aa"]:
            out.append(sorted(store.value_bitmap(name, word)))
            out.append(store.value_count(name, word))
        out.append(store.distinct_values(name))
    for name, lo, hi in (("year", 2000, 2010), ("score", -0.5, 0.25), ("flag", 1, 1), ("year", None, 1995)):
        out.append(sorted(store.range_bitmap(name, lo, hi)))
    out.extend(store.column(name) for name in store.names)
    return out


@pytest.fixture(scope="module")
def store():
    return AttributeStore.from_input(_columns(N), n=N)


def test_sections_hold_orders_and_postings(store):
    meta, sections = store.to_sections()
    assert meta["format"] == 2
    parts = {name.split("/", 2)[2] for name in sections}
    assert {"order", "postings", "posting_offsets"} <= parts


@pytest.mark.parametrize("check", [False, True])
def test_saved_orders_answer_as_sorted_ones(store, check, monkeypatch):
    meta, sections = store.to_sections()
    if not check:  # nothing may be sorted again: the saved arrays are used as they are
        monkeypatch.setattr(postings_module, "_stable_order", _refuse)
    again = AttributeStore.from_sections(meta, sections, check=check)
    assert _answers(again) == _answers(store)
    column = again._columns["tags"]
    assert np.shares_memory(column.postings, sections[_section(meta, "tags", "postings")])
    numeric = again._columns["year"]
    assert np.shares_memory(numeric.order, sections[_section(meta, "year", "order")])


def _refuse(*_args):
    raise AssertionError("sorted again on load")


def _section(meta: dict, name: str, part: str) -> str:
    index = [spec["name"] for spec in meta["columns"]].index(name)
    return f"attr/{index}/{part}"


def _as_format1(meta: dict, sections: dict) -> dict:
    """The sections as format 1 wrote them: no orders or postings, integers as int64."""
    old = {k: v for k, v in sections.items() if k.rsplit("/", 1)[1] not in ("order", "postings", "posting_offsets")}
    for i, spec in enumerate(meta["columns"]):
        if spec["type"] in ("int", "date"):
            old[f"attr/{i}/values"] = np.asarray(old[f"attr/{i}/values"], dtype=np.int64)
    return old


def test_files_without_saved_orders_still_load(store):
    meta, sections = store.to_sections()
    assert sections[_section(meta, "year", "values")].dtype == np.int16  # held narrow
    old = _as_format1(meta, sections)
    for check in (False, True):
        again = AttributeStore.from_sections({**meta, "format": 1}, old, check=check)
        assert _answers(again) == _answers(store)
    with pytest.raises(ValueError, match="missing section"):
        AttributeStore.from_sections(meta, old)  # format 2 must hold them
    for version in (0, 3, True, "2"):
        with pytest.raises(ValueError, match="format"):
            AttributeStore.from_sections({**meta, "format": version}, sections)


def _damaged(meta, sections, name, part, edit):
    key = _section(meta, name, part)
    out = dict(sections)
    out[key] = edit(np.array(sections[key]))
    return out


def _set(position, value):
    def edit(array):
        array[position] = value
        return array

    return edit


def _bump(position):
    def edit(array):
        array[position] = (int(array[position]) + 1) % N
        return array

    return edit


def _move_boundary(array):
    inner = np.flatnonzero((array[1:-1] > array[:-2]) & (array[1:-1] < array[2:])) + 1
    array[inner[0]] += 1
    return array


def test_out_of_range_orders_fail_in_every_mode(store):
    meta, sections = store.to_sections()
    cases = [
        ("year", "order", _set(0, N)),
        ("score", "order", _set(-1, 2**32 - 1)),
        ("label", "postings", _set(3, N + 5)),
        ("tags", "postings", _set(-1, N)),
        ("label", "posting_offsets", _set(1, 10**9)),
        ("tags", "posting_offsets", _set(2, -1)),
        ("tags", "posting_offsets", lambda a: a[:-1]),
        ("year", "order", lambda a: a[:-1]),
        ("label", "postings", lambda a: np.append(a, 0).astype(np.uint32)),
        ("tags", "postings", lambda a: a.astype(np.int64)),
    ]
    for name, part, edit in cases:
        bad = _damaged(meta, sections, name, part, edit)
        for check in (False, True):
            with pytest.raises(ValueError, match=repr(name)):
                AttributeStore.from_sections(meta, bad, check=check)


def test_wrong_orders_in_range_fail_a_full_check(store):
    meta, sections = store.to_sections()
    cases = [
        ("year", "order", lambda a: a[::-1].copy()),
        ("score", "order", _set(slice(0, 2), 0)),
        ("label", "postings", lambda a: np.roll(a, 1)),
        ("tags", "postings", _bump(0)),
        # offsets still rising and ending at the total, but moving rows between values
        ("label", "posting_offsets", _move_boundary),
        ("tags", "posting_offsets", _move_boundary),
    ]
    for name, part, edit in cases:
        bad = _damaged(meta, sections, name, part, edit)
        with pytest.raises(ValueError, match="sorted order does not match"):
            AttributeStore.from_sections(meta, bad, check=True)
        # unchecked, the store opens and every lookup stays in range
        loose = AttributeStore.from_sections(meta, bad, check=False)
        for rows in _answers(loose)[:-5]:
            if isinstance(rows, list) and rows and isinstance(rows[0], int):
                assert 0 <= min(rows) and max(rows) < N


def test_dictionary_read_from_bytes_finds_what_the_strings_find():
    words = sorted({"", "a", "a\x00", "ab", "b", "é", "z\u00ff", "\u4e2d", "\U0001f600", "\ud800x"})
    eager = _Dictionary(words)
    data, offsets = eager.encode()
    lazy = _Dictionary.decode("test", data, offsets, lazy=True)
    probes = words + ["aa", "\u00e9\u00e9", "zz", "\U0001f601", "\ud7ff", "\ue000", "\ud800"]
    assert [lazy.code(w) for w in probes] == [eager.code(w) for w in probes]
    assert lazy._values is None  # lookups did not decode it
    assert len(lazy) == len(words)
    for wrong in (3, b"a", None):  # as the decoded dictionary's bisect raises
        with pytest.raises(TypeError):
            eager.code(wrong)
        with pytest.raises(TypeError):
            lazy.code(wrong)
    held = lazy.memory_bytes()
    assert held == data.nbytes + offsets.nbytes
    assert lazy.values == words
    assert lazy.memory_bytes() > held  # the strings, and the bytes still held


@pytest.mark.parametrize(
    "blob, message",
    [(b"b" + b"a", "not sorted"), (b"a" + b"\xff", "UTF-8")],
)
def test_damaged_dictionary_fails_when_decoded(blob, message):
    data, offsets = np.frombuffer(blob, dtype=np.uint8), np.array([0, 1, 2], dtype=np.int64)
    with pytest.raises(ValueError, match=message):
        _Dictionary.decode("test", data, offsets)
    lazy = _Dictionary.decode("test", data, offsets, lazy=True)  # opens: checked on first use
    with pytest.raises(ValueError, match=message):
        lazy.values


# -- whole index files -------------------------------------------------------------


@pytest.fixture(scope="module")
def index_file(tmp_path_factory):
    base, queries, labels, _ = clustered_with_queries(N, 12, 16, seed=5)
    attributes = _columns(N)
    attributes["cluster"] = [f"c{x}" for x in labels]
    index = fanns.Index.build(base, attributes=attributes, M=8, threads=1, range_attribute="year")
    path = tmp_path_factory.mktemp("orders") / "index.fanns"
    index.save(path)
    return path, index, queries


FILTERS = [
    None,
    fanns.field("cluster") == "c1",
    fanns.field("tags").contains("é"),
    fanns.field("year").between(2000, 2015),
    (fanns.field("label") == "ab") | (fanns.field("score") > 0),
]


def _same_answers(index, reference, queries):
    for where in FILTERS:
        got = index.search(queries, k=10, filter=where, threads=1)
        want = reference.search(queries, k=10, filter=where, threads=1)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.distances, want.distances)


def test_mapped_load_sorts_nothing(index_file, monkeypatch):
    path, index, queries = index_file
    monkeypatch.setattr(postings_module, "_stable_order", _refuse)
    for verify in (False, "header"):
        loaded = fanns.Index.load(path, mmap=True, verify=verify)
        _same_answers(loaded, index, queries)
        assert loaded.attributes.distinct_values("cluster") == index.attributes.distinct_values("cluster")


def test_index_file_without_saved_orders_loads(index_file, tmp_path):
    path, index, queries = index_file
    meta, sections = _fileformat.read_index_file(path, "hnsw")
    kept = {k: v for k, v in sections.items() if not k.startswith("attr/")}
    sections = {**kept, **_as_format1(meta["attributes"], sections)}
    meta["attributes"] = {**meta["attributes"], "format": 1}
    old = tmp_path / "old.fanns"
    _fileformat.write_index_file(old, "hnsw", meta, sections)
    for mmap in (False, True):
        _same_answers(fanns.Index.load(old, mmap=mmap), index, queries)


def test_full_verify_catches_wrong_postings(index_file, tmp_path):
    path, index, queries = index_file
    meta, sections = _fileformat.read_index_file(path, "hnsw")
    key = _section(meta["attributes"], "cluster", "postings")
    sections[key] = np.roll(np.array(sections[key]), 1)
    bad = tmp_path / "bad.fanns"
    _fileformat.write_index_file(bad, "hnsw", meta, sections)
    with pytest.raises(ValueError, match="'cluster'"):
        fanns.Index.load(bad, verify="full")
    fanns.Index.load(bad, mmap=True, verify="header").search(queries, k=5, filter=FILTERS[1])


def test_a_mapped_index_is_let_go_without_the_collector(index_file):
    """No reference cycle keeps a dropped index's columns (and so its file
    mapping) alive until a garbage collection."""
    import gc
    import weakref

    path, _, queries = index_file
    gc.collect()
    gc.disable()
    try:
        loaded = fanns.Index.load(path, mmap=True)
        loaded.search(queries, k=5, filter=FILTERS[1] & FILTERS[2])  # lazy parts made too
        store = loaded.attributes
        columns = [weakref.ref(column) for column in store._columns.values()]
        del loaded, store
        assert all(ref() is None for ref in columns)
    finally:
        gc.enable()


def test_default_ids_are_counted_once(index_file):
    path, index, _ = index_file
    segment = fanns.Index.load(path, mmap=True)._segments.snapshot.segments[0]
    assert segment.lookup_ids is segment.ids
    assert segment.memory_bytes() == segment.ids.nbytes + segment.lookup_rows.nbytes
