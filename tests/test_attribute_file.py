"""Attribute files parsed block by block into typed columns: the same store
``AttributeStore.from_input`` builds from the records, for every type."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fanns
from fanns.attributes import AttributeStore
from fanns.datasets import read_attribute_store, read_jsonl

ARXIV = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "arxiv-mini")


def _write(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _same_store(a: AttributeStore, b: AttributeStore) -> None:
    assert len(a) == len(b)
    assert a.types == b.types
    for name in a.names:
        assert a.column(name) == b.column(name), name
    meta_a, sections_a = a.to_sections()
    meta_b, sections_b = b.to_sections()
    assert meta_a == meta_b and sections_a.keys() == sections_b.keys()
    for key, array in sections_a.items():
        assert array.dtype == sections_b[key].dtype, key
        np.testing.assert_array_equal(array, sections_b[key], err_msg=key)


def _records(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = ["α", "b", "c d", "", "zz", "Émile"]
    out = []
    for i in range(n):
        r: dict = {"i": int(rng.integers(-(2**62), 2**62))}
        if rng.random() < 0.8:
            r["year"] = int(rng.integers(1990, 2030)) if rng.random() < 0.9 else None
        r["score"] = float(rng.random()) if i % 3 else int(rng.integers(0, 5))  # ints and floats
        r["flag"] = bool(rng.random() < 0.5) if i % 7 else None
        r["cat"] = words[int(rng.integers(0, len(words)))] if i % 5 else None
        r["tags"] = [words[j] for j in rng.integers(0, len(words), int(rng.integers(0, 4)))]
        if i % 11 == 0:
            r["tags"] = None
        if i > n // 2:
            r["late"] = "x" if i % 2 else "y"  # a key that appears halfway
        r["empty"] = None
        out.append(r)
    return out


@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_generated_records_give_the_store_from_input_gives(tmp_path, block):
    records = _records(600, seed=block)
    path = tmp_path / "a.jsonl"
    _write(path, records)
    streamed = read_attribute_store(path, block_lines=block)
    _same_store(streamed, AttributeStore.from_input(records, len(records)))
    assert streamed.types["tags"] == "strings" and streamed.types["empty"] == "null"
    limited = read_attribute_store(path, limit=123, block_lines=block)
    _same_store(limited, AttributeStore.from_input(records[:123], 123))


def test_mixed_and_declared_columns_take_the_general_path(tmp_path):
    records = [
        {"a": 1, "b": "x", "c": 1.5, "d": [1]},
        {"a": True, "b": float("nan"), "c": 2, "d": None},
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    with pytest.raises(TypeError, match="'a'"):
        read_attribute_store(path, block_lines=1)
    with pytest.raises(TypeError, match="'a'"):
        AttributeStore.from_input(records, 2)
    ok = [{k: v for k, v in r.items() if k not in ("a", "d")} for r in records]
    path.write_text("\n".join(json.dumps(r) for r in ok) + "\n")
    streamed = read_attribute_store(path, block_lines=1, types={"c": "float"})
    _same_store(streamed, AttributeStore.from_input(ok, 2, {"c": "float"}))
    with pytest.raises(KeyError, match="nope"):
        read_attribute_store(path, types={"nope": "int"})


def test_bad_lines_are_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: expected a JSON object"):
        read_attribute_store(path)
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=":2: invalid JSON"):
        read_attribute_store(path)
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    with pytest.raises(ValueError, match="blank line"):
        read_attribute_store(path)
    with pytest.raises(FileNotFoundError):
        read_attribute_store(tmp_path / "absent.jsonl")


@pytest.mark.skipif(not os.path.isdir(ARXIV), reason="needs the arXiv sample beside the project")
def test_arxiv_mini_attributes_and_filters(tmp_path):
    path = os.path.join(ARXIV, "database_attributes.jsonl")
    records = read_jsonl(path, limit=3000)
    streamed = read_attribute_store(path, limit=3000, block_lines=1000)
    _same_store(streamed, AttributeStore.from_input(records, 3000))
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 8)).astype(np.float32)
    a = fanns.Index.build(vectors, attributes=streamed, M=8, threads=1)
    b = fanns.Index.build(vectors, attributes=records, M=8, threads=1)
    flt = (fanns.field("update_date") >= 20240101) & fanns.field("main_categories").contains("cs")
    x, y = a.search(vectors[:20], k=10, filter=flt), b.search(vectors[:20], k=10, filter=flt)
    np.testing.assert_array_equal(x.ids, y.ids)
    with pytest.raises(ValueError, match="rows"):
        fanns.Index.build(vectors[:10], attributes=streamed)


def _layouts(n: int, seed: int) -> list[dict]:
    """Records whose keys come and go: shuffled key order, a key dropped
    from a later block on, keys first seen mid-block, big and small ints."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        r = {
            "year": int(rng.integers(1990, 2030)),
            "big": int(rng.integers(-(2**62), 2**62)) if i % 4 else 2**53 + 1,
            "cat": ["a", "b", "ć"][i % 3],
            "tags": [["x"], [], ["y", "x", "ž"]][i % 3],
            "flag": bool(i % 2),
        }
        if i >= n // 3 and i % 5 == 0:
            del r["year"]  # missing in some rows after a third of the file
        if i >= n // 2:
            r.pop("cat")  # gone from the second half
        if i == n - 3:
            r["rare"] = 7  # one row near the end
        if i % 9 == 4:
            r["sometimes"] = None if i % 2 else "s"
        items = list(r.items())
        rng.shuffle(items)
        out.append(dict(items))
    return out


@pytest.mark.parametrize("block", [1, 5, 64, 10_000])
def test_keys_that_come_and_go_give_the_store_from_input_gives(tmp_path, block):
    records = _layouts(300, seed=block)
    path = tmp_path / "k.jsonl"
    _write(path, records)
    streamed = read_attribute_store(path, block_lines=block)
    _same_store(streamed, AttributeStore.from_input(records, len(records)))
    assert streamed.names == list(dict.fromkeys(k for r in records for k in r))


def test_numbers_of_every_kind_with_missing_values(tmp_path):
    records = [
        {
            "i": 3,
            "f": 1.5,
            "b": True,
            "huge": 2**63 - 1,
            "neg": -(2**63),
            "mixed": 2**60,
            "nan": 1.0,
        },
        {
            "i": None,
            "f": None,
            "b": None,
            "huge": None,
            "neg": 5,
            "mixed": 0.5,
            "nan": float("nan"),
        },
        {"i": 2**53 + 1, "f": -0.0, "b": False, "huge": 1, "neg": None, "mixed": None, "nan": None},
        {},
    ]
    path = tmp_path / "n.jsonl"
    _write(path, records)
    for block in (1, 2, 10):
        _same_store(
            read_attribute_store(path, block_lines=block), AttributeStore.from_input(records, 4)
        )
    path.write_text('{"i": 1}\n{"i": 18446744073709551616}\n')
    with pytest.raises(ValueError, match="int64") as expected:
        AttributeStore.from_input(read_jsonl(path), 2)
    with pytest.raises(ValueError, match="int64") as got:
        read_attribute_store(path)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}, {"a": 2}\n{"a": 3}\n',  # two values on one line: one line must not pass for two
        '{"a": 1}\n{"a": 2}{"a": 3}\n',
        '{"a": 1}\n\n{"a": 2}\n',
        '{"a": 1}\n   \n{"a": 2}\n',
        '{"a": 1}\n{"a": 2}\n1\n',
        '{"a": 1}\n"text"\n',
        '{"a": 1}\n{"a": [1,\n2]}\n',
        '\ufeff{"a": 1}\n',
        '{"a": 1},\n{"a": 2}\n',
    ],
)
@pytest.mark.parametrize("block", [1, 2, 100])
def test_bad_files_fail_as_iter_jsonl_fails(tmp_path, text, block):
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as expected:
        read_jsonl(path)
    with pytest.raises(ValueError) as got:
        read_attribute_store(path, block_lines=block)
    assert str(got.value) == str(expected.value)


def test_trailing_blank_lines_crlf_and_no_final_newline(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_bytes(b'{"a": 1}\r\n{"a": 2, "b": "x"}\r\n\r\n  \n')
    _same_store(
        read_attribute_store(path, block_lines=1), AttributeStore.from_input(read_jsonl(path), 2)
    )
    _same_store(read_attribute_store(path), AttributeStore.from_input(read_jsonl(path), 2))
    path.write_bytes(b'{"a": 1}\n{"a": 2}')
    assert read_attribute_store(path).column("a") == [1, 2]
    assert read_attribute_store(path, limit=1).column("a") == [1]
    with pytest.raises(ValueError, match="block_lines"):
        read_attribute_store(path, block_lines=0)


def test_progress_reports_bytes_read_and_can_stop_the_read(tmp_path):
    records = _records(500, seed=3)
    path = tmp_path / "p.jsonl"
    _write(path, records)
    size = os.path.getsize(path)
    calls = []
    read_attribute_store(
        path, block_lines=50, native=False, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (size, size) and len(calls) == 11
    done = [d for d, _ in calls]
    assert (
        done == sorted(done)
        and all(d < size for d in done[:-1])
        and {t for _, t in calls} == {size}
    )

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read_attribute_store(path, block_lines=50, progress=stop)
    with pytest.raises(TypeError, match="callable"):
        read_attribute_store(path, progress="bar")


def test_dictionary_order_is_python_string_order():
    from fanns.datasets.attribute_file import _sort_order

    rng = np.random.default_rng(5)
    alphabet = ["a", "b", "é", "ž", "\ud800", "\udfff", "\ue000", "😀", "Z", " ", "\uffff", "\x7f"]
    for n in (3, 100, 2000):
        words = set()
        while len(words) < n:
            stem = "".join(rng.choice(alphabet, size=rng.integers(0, 3))) * int(rng.integers(1, 12))
            words.add(stem + "".join(rng.choice(alphabet, size=rng.integers(0, 20))))
        words = list(words)  # long shared prefixes: runs of equal 16-byte keys
        order = _sort_order(words)
        assert [words[i] for i in order] == sorted(words)
        words.append("a\x00b")  # NUL: sorted by Python
        assert [words[i] for i in _sort_order(words)] == sorted(words)


def test_declared_string_column_without_a_value(tmp_path):
    records = [{"y": 1}, {"x": None}]  # the column holds only a null
    path = tmp_path / "a.jsonl"
    _write(path, records)
    types = {"x": "string"}
    store = read_attribute_store(str(path), types=types)
    _same_store(store, AttributeStore.from_input(records, n=len(records), types=types))
    assert store.column("x") == [None, None]


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1\n"b":2}\n{"a":3},{"a":4}\n',  # a record split where a comma belongs, two on one line
        '{"a":[{}\n{}]}\n{"x":1},{"y":2}\n',  # the same inside an array
        '{"a":1} {"a":2}\n{"a":3}\n',
    ],
)
def test_lines_that_are_not_one_object_each_fail(tmp_path, text):
    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=":1: invalid JSON"):
        read_jsonl(str(path))
    with pytest.raises(ValueError, match=":1: invalid JSON"):
        read_attribute_store(str(path))


def test_load_arxiv_fanns_holds_columns_and_masks_match_the_records(tmp_path, small_arxiv):
    from fanns.datasets import load_arxiv_fanns, write_arxiv_layout

    write_arxiv_layout(small_arxiv, tmp_path / "d")
    ds = load_arxiv_fanns(tmp_path / "d")
    assert ds.store is not None and ds._records is None
    for name, workload in ds.workloads.items():
        for i in range(0, ds.nq, 7):
            got = workload.mask(i, ds)
            expected = small_arxiv.workloads[name].mask(i, small_arxiv.attributes)
            np.testing.assert_array_equal(got, expected)
            assert got.sum() == sum(
                1 for r in small_arxiv.attributes if _passes(name, workload.params(i), r)
            )
    assert ds._records is None  # no record was made for the masks
    assert ds.attributes == small_arxiv.attributes  # made on first use
    with pytest.raises(KeyError, match="absent"):
        ds.columns.int_column("nope")
    with pytest.raises(ValueError, match="expected an int"):
        ds.columns.int_column("main_categories")
    with pytest.raises(ValueError, match="list of strings"):
        ds.columns.set_column("update_date")


def _passes(workload: str, params: dict, record: dict) -> bool:
    """The published predicates, one record at a time."""
    if workload == "unfiltered":
        return True
    if workload == "em":
        return record.get("number_of_sub_categories") == params["label"]
    if workload == "r":
        date = record.get("update_date")
        return date is not None and params["range_start"] <= date <= params["range_end"]
    values = record.get("main_categories") or []
    return params["label"] in values
