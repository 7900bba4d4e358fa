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
    records = [{"a": 1, "b": "x", "c": 1.5, "d": [1]}, {"a": True, "b": float("nan"), "c": 2, "d": None}]
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
