"""Columnar attribute store: inference, read-back, lookups and persistence."""

from __future__ import annotations

import copy
import json
import math
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from pyroaring import BitMap

from fanns._fileformat import read_index_file, write_index_file
from fanns.attributes import AttributeStore, bitmap_from_ids, bitmap_ids

ARXIV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "arxiv-mini"
I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)


def random_records(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    cats = ["a", "b", "c", "é", "long value"]
    tags = ["x", "y", "z", "w"]
    records = []
    for _ in range(n):
        record: dict = {}
        if rng.random() > 0.1:
            record["i"] = int(rng.integers(-5, 20))
        roll = rng.random()
        if roll < 0.1:
            record["f"] = None
        elif roll < 0.2:
            record["f"] = math.nan
        else:
            record["f"] = float(rng.normal())
        if rng.random() > 0.2:
            record["b"] = bool(rng.random() < 0.3)
        record["d"] = int(20250101 + 100 * rng.integers(0, 12) + rng.integers(0, 28))
        record["s"] = None if rng.random() < 0.15 else cats[int(rng.integers(len(cats)))]
        if rng.random() > 0.1:
            k = int(rng.integers(0, 4))
            record["tags"] = [tags[j] for j in rng.choice(len(tags), size=k, replace=False)]
        record["nothing"] = None
        records.append(record)
    return records


def expected_column(records: list[dict], name: str) -> list:
    out = []
    for record in records:
        value = record.get(name)
        if isinstance(value, float) and math.isnan(value):
            value = None
        out.append(value)
    return out


# ----------------------------------------------------------------------------
# construction and inference


def test_records_inference_and_read_back():
    records = random_records(300, seed=1)
    store = AttributeStore.from_input(records, n=300, types={"d": "date"})
    assert len(store) == 300
    assert store.names == ["i", "f", "b", "d", "s", "tags", "nothing"]
    assert store.types == {
        "i": "int",
        "f": "float",
        "b": "bool",
        "d": "date",
        "s": "string",
        "tags": "strings",
        "nothing": "null",
    }
    for name in store.names:
        assert store.column(name) == expected_column(records, name), name
        assert store[name] == store.column(name)
        assert name in store
    assert "missing" not in store


def test_columns_and_records_give_the_same_store():
    records = random_records(120, seed=2)
    columns = {name: [r.get(name) for r in records] for name in ["i", "f", "b", "d", "s", "tags"]}
    a = AttributeStore.from_input(records, n=120)
    b = AttributeStore.from_input(columns, n=120)
    for name in columns:
        assert a.types[name] == b.types[name]
        assert a.column(name) == b.column(name)


def test_numpy_columns():
    n = 50
    rng = np.random.default_rng(3)
    floats = rng.normal(size=n)
    floats[::7] = np.nan
    columns = {
        "i32": rng.integers(-100, 100, size=n).astype(np.int32),
        "u64": rng.integers(0, 1000, size=n).astype(np.uint64),
        "f": floats,
        "f32": floats.astype(np.float32),
        "b": rng.random(n) < 0.5,
        "s": np.array(["p", "q", "r", "p", "s"] * 10),
        "obj": np.array([None if i % 3 == 0 else f"v{i % 4}" for i in range(n)], dtype=object),
        "all_nan": np.full(n, np.nan),
    }
    store = AttributeStore.from_input(columns, n=n)
    assert store.types == {
        "i32": "int",
        "u64": "int",
        "f": "float",
        "f32": "float",
        "b": "bool",
        "s": "string",
        "obj": "string",
        "all_nan": "null",
    }
    assert store.column("i32") == columns["i32"].tolist()
    assert store.column("u64") == columns["u64"].tolist()
    assert store.column("f") == [None if math.isnan(v) else v for v in floats.tolist()]
    f32 = columns["f32"].astype(np.float64).tolist()
    assert store.column("f32") == [None if math.isnan(v) else v for v in f32]
    assert store.column("b") == columns["b"].tolist()
    assert store.column("s") == columns["s"].tolist()
    assert store.column("obj") == columns["obj"].tolist()
    assert store.column("all_nan") == [None] * n


def test_numpy_scalars_in_lists_and_sets_as_rows():
    values = [np.int64(3), 4, None, np.int16(-2)]
    store = AttributeStore.from_input(
        {
            "a": values,
            "s": [np.str_("x"), "y", None, "x"],
            "t": [{"b", "a"}, ("c",), [], None],
        },
        n=4,
    )
    assert store.types == {"a": "int", "s": "string", "t": "strings"}
    assert store.column("a") == [3, 4, None, -2]
    assert store.column("s") == ["x", "y", None, "x"]
    assert all(type(v) is str for v in store.column("s") if v is not None)
    assert store.column("t") == [["a", "b"], ["c"], [], None]


def test_other_sequences_as_columns():
    store = AttributeStore.from_input({"r": range(4), "t": (1.5, None, 2.0, 3.0)}, n=4)
    assert store.types == {"r": "int", "t": "float"}
    assert store.column("r") == [0, 1, 2, 3]
    assert store.column("t") == [1.5, None, 2.0, 3.0]


def test_int_and_float_mix_is_float():
    store = AttributeStore.from_input({"a": [1, 2.5, None, math.nan, 3]}, n=5)
    assert store.types["a"] == "float"
    assert store.column("a") == [1.0, 2.5, None, None, 3.0]


def test_nan_marks_missing_in_string_column():
    store = AttributeStore.from_input({"s": ["a", math.nan, None, "b"]}, n=4)
    assert store.types["s"] == "string"
    assert store.column("s") == ["a", None, None, "b"]


def test_declared_types_convert():
    store = AttributeStore.from_input(
        {"a": [1, 2, None], "b": [1.0, 2.0, None], "c": [20250101, None, 20240101]},
        n=3,
        types={"a": "float", "b": "int", "c": "date"},
    )
    assert store.types == {"a": "float", "b": "int", "c": "date"}
    assert store.column("a") == [1.0, 2.0, None]
    assert all(type(v) is float for v in store.column("a") if v is not None)
    assert store.column("b") == [1, 2, None]
    assert all(type(v) is int for v in store.column("b") if v is not None)
    assert store.column("c") == [20250101, None, 20240101]


def test_declared_type_for_all_missing_column():
    store = AttributeStore.from_input({"s": [None, None]}, n=2, types={"s": "string"})
    assert store.types == {"s": "string"}
    assert store.column("s") == [None, None]


@pytest.mark.parametrize("attributes", [None, {}])
def test_empty_attributes(attributes):
    store = AttributeStore.from_input(attributes, n=7)
    assert len(store) == 7
    assert store.names == []
    assert store.types == {}
    meta, sections = store.to_sections()
    assert sections == {}
    again = AttributeStore.from_sections(meta, sections)
    assert len(again) == 7 and again.names == []


def test_zero_rows():
    columns = {"a": np.array([], dtype=np.int64), "s": np.array([], dtype=str), "e": []}
    store = AttributeStore.from_input(columns, n=0)
    assert len(store) == 0
    assert store.types == {"a": "int", "s": "string", "e": "null"}
    assert store.column("a") == []
    assert AttributeStore.from_input([], n=0).names == []
    assert len(store.range_bitmap("a", None, None)) == 0


def test_records_with_absent_keys():
    records = [{"a": 1}, {"b": "x"}, {}]
    store = AttributeStore.from_input(records, n=3)
    assert store.names == ["a", "b"]
    assert store.column("a") == [1, None, None]
    assert store.column("b") == [None, "x", None]


# ----------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "column",
    [
        [1, "a"],
        [True, 1],
        ["a", ["b"]],
        [1.5, "x"],
        [{"nested": 1}, None],
        [1, b"bytes"],
    ],
)
def test_mixed_types_raise_type_error_naming_attribute(column):
    with pytest.raises(TypeError, match="weird_attr"):
        AttributeStore.from_input({"weird_attr": column}, n=len(column))


def test_set_valued_with_non_string_elements():
    with pytest.raises(TypeError, match="tags_attr"):
        AttributeStore.from_input({"tags_attr": [["a"], [1, 2]]}, n=2)


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ([1, 2.5], "int"),
        ([1, 2], "bool"),
        ([True, False], "int"),
        (["a", "b"], "float"),
        ([1, 2], "string"),
        (["a", "b"], "strings"),
        (np.array([0.5, 1.0]), "date"),
        (np.array([1, 2]), "bool"),
        (np.array(["a", "b"]), "int"),
        (np.array([1, 2]), "strings"),
    ],
)
def test_declared_type_mismatch(column, kind):
    with pytest.raises(TypeError, match="typed_attr"):
        AttributeStore.from_input({"typed_attr": column}, n=len(column), types={"typed_attr": kind})


def test_unknown_declared_type_and_unknown_name():
    with pytest.raises(ValueError, match="attr_x"):
        AttributeStore.from_input({"attr_x": [1]}, n=1, types={"attr_x": "decimal"})
    with pytest.raises(KeyError, match="ghost"):
        AttributeStore.from_input({"a": [1]}, n=1, types={"ghost": "int"})


def test_length_mismatch_names_attribute():
    with pytest.raises(ValueError, match="short_attr"):
        AttributeStore.from_input({"short_attr": [1, 2]}, n=3)
    with pytest.raises(ValueError, match="short_arr"):
        AttributeStore.from_input({"short_arr": np.zeros(2)}, n=3)
    with pytest.raises(ValueError, match="records"):
        AttributeStore.from_input([{"a": 1}], n=2)
    with pytest.raises(ValueError, match="records"):
        AttributeStore.from_input([], n=2)
    with pytest.raises(ValueError, match="two_d"):
        AttributeStore.from_input({"two_d": np.zeros((3, 2))}, n=3)


def test_bad_containers():
    with pytest.raises(TypeError):
        AttributeStore.from_input([{"a": 1}, 5], n=2)
    with pytest.raises(TypeError):
        AttributeStore.from_input("abc", n=3)
    with pytest.raises(TypeError, match="scalar_attr"):
        AttributeStore.from_input({"scalar_attr": 5}, n=1)
    with pytest.raises(TypeError, match="str_attr"):
        AttributeStore.from_input({"str_attr": "abc"}, n=3)
    with pytest.raises(TypeError, match="map_attr"):
        AttributeStore.from_input({"map_attr": {"a": 1}}, n=1)
    with pytest.raises(ValueError, match="np_scalar"):
        AttributeStore.from_input({"np_scalar": np.int64(3)}, n=1)
    with pytest.raises(TypeError):
        AttributeStore.from_input({3: [1]}, n=1)
    with pytest.raises(ValueError, match="int64"):
        AttributeStore.from_input({"huge": [1 << 70]}, n=1)
    with pytest.raises(TypeError, match="dt_attr"):
        AttributeStore.from_input({"dt_attr": np.array(["2025-01-01"], dtype="datetime64[D]")}, n=1)


def test_unknown_name_is_key_error_naming_it():
    store = AttributeStore.from_input({"a": [1, 2]}, n=2)
    with pytest.raises(KeyError, match="no_such_attr"):
        store.column("no_such_attr")
    with pytest.raises(KeyError, match="no_such_attr"):
        store["no_such_attr"]
    with pytest.raises(KeyError, match="no_such_attr"):
        store.type_of("no_such_attr")


# ----------------------------------------------------------------------------
# lookups


def brute_range(values, lo, hi, lo_inc, hi_inc):
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if lo is not None and (v < lo or (v == lo and not lo_inc)):
            continue
        if hi is not None and (v > hi or (v == hi and not hi_inc)):
            continue
        out.append(i)
    return out


@pytest.mark.parametrize("kind", ["int", "float"])
def test_range_bitmap_matches_brute_force(kind):
    rng = np.random.default_rng(5)
    raw = rng.integers(-10, 10, size=400)
    values = [None if rng.random() < 0.1 else (int(v) if kind == "int" else v / 2) for v in raw]
    store = AttributeStore.from_input({"v": values}, n=400, types={"v": kind})
    bounds = [None, -11, -10, -3, -2.5, 0, 0.5, 4, 9, 9.5, 10, math.inf, -math.inf, 1 << 70]
    for lo in bounds:
        for hi in bounds:
            for lo_inc in (True, False):
                for hi_inc in (True, False):
                    got = list(store.range_bitmap("v", lo, hi, lo_inc, hi_inc))
                    assert got == brute_range(values, lo, hi, lo_inc, hi_inc), (lo, hi)


def test_int64_extremes():
    values = [I64_MIN, -1, 0, 1, I64_MAX, None]
    store = AttributeStore.from_input({"v": values}, n=6)
    assert store.column("v") == values
    assert list(store.range_bitmap("v", I64_MAX, None)) == [4]
    assert list(store.range_bitmap("v", None, I64_MIN)) == [0]
    assert list(store.range_bitmap("v", I64_MAX, None, False)) == []
    assert list(store.range_bitmap("v", -(1 << 80), 1 << 80)) == [0, 1, 2, 3, 4]
    assert list(store.range_bitmap("v", 0.5, 1e30)) == [3, 4]
    assert list(store.isin_bitmap("v", [I64_MIN, 1, 7])) == [0, 3]


def test_narrow_ints_and_large_bounds():
    store = AttributeStore.from_input({"v": [1, 2, 3, 200]}, n=4)
    assert list(store.range_bitmap("v", 100000, None)) == []
    assert list(store.range_bitmap("v", -100000, 100000)) == [0, 1, 2, 3]
    assert list(store.range_bitmap("v", 150, 300)) == [3]
    meta, sections = store.to_sections()
    assert sections["attr/0/values"].dtype == np.int16  # saved as narrow as held
    again = AttributeStore.from_sections(meta, sections)
    assert again.column("v") == [1, 2, 3, 200]
    assert list(again.range_bitmap("v", 150, 300)) == [3]
    # an int64 array of small values (as format 1 saved) is narrowed on load
    sections["attr/0/values"] = sections["attr/0/values"].astype(np.int64)
    assert AttributeStore.from_sections(meta, sections)._columns["v"].values.dtype == np.int16
    sections["attr/0/values"] = sections["attr/0/values"].astype(np.uint16)
    with pytest.raises(ValueError, match="dtype"):
        AttributeStore.from_sections(meta, sections)


def test_value_bitmaps_and_counts():
    records = random_records(500, seed=6)
    store = AttributeStore.from_input(records, n=500)
    for value in ["a", "b", "é", "long value", "unseen"]:
        expected = [i for i, r in enumerate(records) if r.get("s") == value]
        assert list(store.value_bitmap("s", value)) == expected
        assert store.value_count("s", value) == len(expected)
    for tag in ["x", "y", "z", "w", "unseen"]:
        expected = [i for i, r in enumerate(records) if tag in (r.get("tags") or [])]
        assert list(store.value_bitmap("tags", tag)) == expected
        assert store.value_count("tags", tag) == len(expected)
    assert store.distinct_values("s") == sorted({r["s"] for r in records if r["s"] is not None})
    for name in ["i", "s", "tags", "nothing"]:
        nulls = [i for i, r in enumerate(records) if expected_column([r], name)[0] is None]
        assert list(store.null_bitmap(name)) == nulls
        assert list(store.valid_bitmap(name)) == sorted(set(range(500)) - set(nulls))


def test_cached_bitmaps_are_not_modified_by_callers():
    n = 5000
    store = AttributeStore.from_input({"s": ["hot"] * (n - 1) + ["cold"]}, n=n)
    first = store.value_bitmap("s", "hot")
    with pytest.raises((AttributeError, TypeError)):
        first.add(n - 1)
    assert len(store.value_bitmap("s", "hot")) == n - 1


def test_sorted_order():
    values = [5, None, 1, 3, 1]
    store = AttributeStore.from_input({"v": values}, n=5)
    ids, keys = store.sorted_order("v")
    assert keys.tolist() == [1, 1, 3, 5]
    assert [values[i] for i in ids.tolist()] == keys.tolist()


def test_bitmap_helpers():
    ids = np.array([9, 1, 5, 1], dtype=np.int64)
    bitmap = bitmap_from_ids(ids)
    assert isinstance(bitmap, BitMap)
    assert list(bitmap) == [1, 5, 9]
    assert bitmap_ids(bitmap).tolist() == [1, 5, 9]
    assert bitmap_ids(bitmap).dtype == np.uint32
    with pytest.raises(ValueError):
        bitmap_from_ids(np.array([-1]))


def test_memory_bytes_grows_with_data():
    small = AttributeStore.from_input(random_records(100, seed=7), n=100)
    large = AttributeStore.from_input(random_records(2000, seed=7), n=2000)
    assert 0 < small.memory_bytes() < large.memory_bytes()
    assert AttributeStore.from_input(None, n=10).memory_bytes() == 0


# ----------------------------------------------------------------------------
# persistence


def test_sections_are_plain_arrays_with_prefix():
    store = AttributeStore.from_input(random_records(200, seed=8), n=200, types={"d": "date"})
    meta, sections = store.to_sections()
    json.dumps(meta)
    assert sections
    for name, array in sections.items():
        assert name.startswith("attr/")
        assert isinstance(array, np.ndarray)
        assert not array.dtype.hasobject
        assert array.dtype.kind in "biuf"


def test_round_trip_through_index_file(tmp_path):
    records = random_records(400, seed=9)
    store = AttributeStore.from_input(records, n=400, types={"d": "date"})
    meta, sections = store.to_sections()
    sections["index/other"] = np.arange(3, dtype=np.float32)
    path = tmp_path / "attrs.fanns"
    write_index_file(path, "test", {"attributes": meta}, sections)
    meta2, sections2 = read_index_file(path, "test")
    again = AttributeStore.from_sections(meta2["attributes"], sections2)
    assert again.names == store.names
    assert again.types == store.types
    for name in store.names:
        assert again.column(name) == store.column(name)
        assert list(again.null_bitmap(name)) == list(store.null_bitmap(name))
    for value in ["a", "é", "none"]:
        assert again.value_bitmap("s", value) == store.value_bitmap("s", value)
    assert again.range_bitmap("f", -0.5, 0.5) == store.range_bitmap("f", -0.5, 0.5)
    assert again.range_bitmap("d", 20250301, None) == store.range_bitmap("d", 20250301, None)


def _corrupt(sections, name, value):
    out = dict(sections)
    out[name] = value
    return out


def test_from_sections_rejects_inconsistent_input():
    store = AttributeStore.from_input(
        {
            "i": [1, None, 3],
            "s": ["a", "b", None],
            "t": [["x"], None, ["y", "x"]],
            "f": [0.5, 1, None],
        },
        n=3,
    )
    meta, sections = store.to_sections()
    ids = {spec["name"]: i for i, spec in enumerate(meta["columns"])}
    i, s, t, f = (f"attr/{ids[k]}/" for k in "istf")
    bad_cases = [
        _corrupt(sections, i + "values", np.zeros(4, dtype=np.int64)),
        _corrupt(sections, i + "values", np.zeros(3, dtype=np.float32)),
        _corrupt(sections, i + "values", np.zeros(3, dtype=np.uint32)),
        _corrupt(sections, s + "codes", np.array([0, 5, -1], dtype=np.int32)),
        _corrupt(sections, s + "dict_offsets", np.array([0, 1, 9], dtype=np.int64)),
        _corrupt(sections, s + "dict_bytes", np.frombuffer(b"ba", dtype=np.uint8)),
        _corrupt(sections, t + "row_offsets", np.array([0, 1, 1, 2], dtype=np.int64)),
        _corrupt(sections, t + "codes", np.array([0, 1, 7], dtype=np.int32)),
        _corrupt(sections, f + "valid", np.array([True, True, True])),
        {k: v for k, v in sections.items() if k != s + "codes"},
        _corrupt(sections, "attr/99/extra", np.zeros(1)),
    ]
    for bad in bad_cases:
        with pytest.raises(ValueError):
            AttributeStore.from_sections(meta, bad)
    bad_metas = [
        {**meta, "n": 4},
        {**meta, "n": -1},
        {**meta, "format": 99},
        {**meta, "columns": "nope"},
        {**meta, "columns": [{"name": "i", "type": "complex"}]},
        {**meta, "columns": meta["columns"] + [meta["columns"][0]]},
    ]
    for bad_meta in bad_metas:
        with pytest.raises(ValueError):
            AttributeStore.from_sections(bad_meta, sections)
    # the untouched input still loads
    assert AttributeStore.from_sections(meta, sections).column("t") == [["x"], None, ["y", "x"]]


# ----------------------------------------------------------------------------
# real data


def arxiv_records(limit: int) -> list[dict]:
    path = ARXIV_DIR / "database_attributes.jsonl"
    if not path.exists():
        pytest.skip(f"arXiv sample not found at {ARXIV_DIR}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in islice(f, limit)]


def test_arxiv_sample_types_and_values():
    records = arxiv_records(5000)
    store = AttributeStore.from_input(records, n=len(records))
    assert store.types == {
        "submitter": "null",
        "has_comment": "bool",
        "number_of_main_categories": "int",
        "main_categories": "strings",
        "number_of_sub_categories": "int",
        "sub_categories": "strings",
        "license": "null",
        "number_of_versions": "int",
        "update_date": "int",
        "number_of_authors": "int",
        "authors": "strings",
    }
    for name in store.names:
        assert store.column(name) == [r.get(name) for r in records], name
    for category in ["cs", "astro-ph", "math", "not-a-category"]:
        expected = [i for i, r in enumerate(records) if category in r["main_categories"]]
        assert list(store.value_bitmap("main_categories", category)) == expected
    lo, hi = 20250601, 20251231
    expected = [i for i, r in enumerate(records) if lo <= r["update_date"] <= hi]
    assert list(store.range_bitmap("update_date", lo, hi)) == expected


@pytest.mark.parametrize("bad", [["int"], {"t": 1}, 3, None])
def test_saved_type_that_is_not_a_name_fails_as_damage(bad):
    # decoded metadata of a damaged file may hold any JSON value as a column type
    meta, sections = AttributeStore.from_input({"v": [1, 2, None]}, n=3).to_sections()
    meta = copy.deepcopy(meta)
    meta["columns"][0]["type"] = bad
    with pytest.raises(ValueError, match="unknown attribute type"):
        AttributeStore.from_sections(meta, sections)
