"""Workload predicates: exact masks against a plain per-record evaluation; filter expressions."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fanns.datasets import (
    AttributeColumns,
    ContainsWorkload,
    EqualityWorkload,
    RangeWorkload,
    UnfilteredWorkload,
    load_arxiv_fanns,
    make_workload,
)
from fanns.datasets.workloads import columns_of


def plain_passes(workload: str, query: dict, record: dict) -> bool:
    """The published definition of each workload, evaluated on one record."""
    if workload == "em":
        value = record.get("number_of_sub_categories")
        return value is not None and value == query["label"]
    if workload == "r":
        value = record.get("update_date")
        return value is not None and query["range_start"] <= value <= query["range_end"]
    if workload == "emis":
        value = record.get("main_categories")
        return value is not None and query["label"] in value
    raise AssertionError(workload)


def _check_against_plain(records, query_attributes, workloads, queries=None):
    checked = 0
    for name in ("em", "r", "emis"):
        wl = workloads[name]
        masks = list(wl.masks(records))
        assert len(masks) == len(wl) == len(query_attributes[name])
        for i in queries if queries is not None else range(len(wl)):
            expected = np.array([plain_passes(name, query_attributes[name][i], r) for r in records])
            mask = wl.mask(i, records)
            assert mask.dtype == np.bool_ and mask.shape == (len(records),)
            np.testing.assert_array_equal(mask, expected)
            np.testing.assert_array_equal(masks[i], expected)
            checked += int(expected.sum())
    assert checked > 0  # some rows pass, so the comparison is not vacuous


def _with_nulls(records):
    rng = np.random.default_rng(3)
    out = []
    for r in records:
        r = dict(r)
        for key in ("number_of_sub_categories", "update_date", "main_categories"):
            u = rng.random()
            if u < 0.05:
                r[key] = None
            elif u < 0.08:
                del r[key]
        out.append(r)
    return out


def test_masks_match_definition_on_synthetic(small_arxiv):
    records = _with_nulls(small_arxiv.attributes[:400])
    assert any(r.get("update_date") is None for r in records)
    _check_against_plain(records, small_arxiv.query_attributes, small_arxiv.workloads)


def test_masks_match_definition_on_real_sample(arxiv_mini_dir):
    ds = load_arxiv_fanns(arxiv_mini_dir, count=300)
    _check_against_plain(ds.attributes, ds.query_attributes, ds.workloads, range(0, 1000, 7))
    with open(os.path.join(arxiv_mini_dir, "emis_query_attributes.jsonl"), encoding="utf-8") as f:
        raw = [json.loads(line) for line in f]
    assert [ds.workloads["emis"].params(i) for i in range(1000)] == raw


def test_dataset_and_list_give_same_masks(small_arxiv):
    for name in ("em", "r", "emis"):
        wl = small_arxiv.workloads[name]
        for i in (0, 5, 39):
            np.testing.assert_array_equal(
                wl.mask(i, small_arxiv), wl.mask(i, small_arxiv.attributes)
            )
            np.testing.assert_array_equal(
                wl.mask(i, small_arxiv), wl.mask(i, AttributeColumns(small_arxiv.attributes))
            )


def test_unfiltered_workload(small_arxiv):
    wl = small_arxiv.workloads["unfiltered"]
    assert len(wl) == small_arxiv.nq
    mask = wl.mask(3, small_arxiv)
    assert mask.shape == (len(small_arxiv),) and mask.all()
    assert wl.filter(3) is None
    assert wl.filters() == [None] * small_arxiv.nq
    assert sum(1 for _ in wl.masks(small_arxiv)) == small_arxiv.nq


def test_columns_are_extracted_once(small_arxiv):
    records = list(small_arxiv.attributes)
    cols = columns_of(records)
    assert columns_of(records) is cols
    assert columns_of(small_arxiv) is small_arxiv.columns
    values, valid = cols.int_column("update_date")
    again = cols.int_column("update_date")
    assert again[0] is values and again[1] is valid
    assert not values.flags.writeable
    assert cols.set_column("main_categories") is cols.set_column("main_categories")


def test_filter_expressions_compile_to_the_masks(small_arxiv):
    from fanns.attributes import AttributeStore
    from fanns.filters import compile_filter

    n = len(small_arxiv)
    store = AttributeStore.from_input(small_arxiv.attributes, n=n)
    for name in ("em", "r", "emis"):
        wl = small_arxiv.workloads[name]
        filters = wl.filters()
        assert len(filters) == len(wl)
        for i in range(0, len(wl), 4):
            ids = np.fromiter(compile_filter(wl.filter(i), store, n), dtype=np.int64)
            np.testing.assert_array_equal(ids, np.flatnonzero(wl.mask(i, small_arxiv)))
            assert repr(filters[i]) == repr(wl.filter(i))


def test_filter_expressions_use_the_published_fields():
    em = make_workload("em", [{"label": 2}])
    r = make_workload("r", [{"range_start": 20200101, "range_end": 20211231}])
    emis = make_workload("emis", [{"label": "cs"}])
    assert repr(em.filter(0)) == "field('number_of_sub_categories') == 2"
    assert repr(r.filter(0)) == "field('update_date').between(20200101, 20211231)"
    assert repr(emis.filter(0)) == "field('main_categories').contains('cs')"


def test_null_and_missing_values_never_match():
    records = [
        {"n": 2, "d": 5, "c": ["x"]},
        {"n": None, "d": None, "c": None},
        {},
        {"n": 2, "d": 7, "c": []},
    ]
    assert EqualityWorkload("e", "n", [2]).mask(0, records).tolist() == [True, False, False, True]
    assert RangeWorkload("r", "d", [0], [10]).mask(0, records).tolist() == [
        True,
        False,
        False,
        True,
    ]
    assert ContainsWorkload("s", "c", ["x"]).mask(0, records).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert ContainsWorkload("s", "c", ["zz"]).mask(0, records).sum() == 0
    assert RangeWorkload("r", "d", [8], [6]).mask(0, records).sum() == 0


def test_bad_attribute_values_raise():
    with pytest.raises(KeyError, match="'n'"):
        EqualityWorkload("e", "n", [1]).mask(0, [{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="row 1"):
        EqualityWorkload("e", "n", [1]).mask(0, [{"n": 1}, {"n": "1"}])
    with pytest.raises(ValueError, match="row 0"):
        EqualityWorkload("e", "n", [1]).mask(0, [{"n": True}])
    with pytest.raises(ValueError, match="int64"):
        EqualityWorkload("e", "n", [1]).mask(0, [{"n": 2**70}])
    with pytest.raises(ValueError, match="list of strings"):
        ContainsWorkload("s", "c", ["x"]).mask(0, [{"c": "x"}])
    with pytest.raises(ValueError, match="expected strings"):
        ContainsWorkload("s", "c", ["x"]).mask(0, [{"c": ["x", 3]}])
    with pytest.raises(TypeError):
        EqualityWorkload("e", "n", [1]).mask(0, {"n": [1]})
    with pytest.raises(TypeError, match="mappings"):
        EqualityWorkload("e", "n", [1]).mask(0, [[1]])


def test_bad_query_index_and_parameters():
    wl = make_workload("em", [{"label": 1}, {"label": 3}])
    with pytest.raises(IndexError):
        wl.mask(2, [{"number_of_sub_categories": 1}])
    with pytest.raises(IndexError):
        wl.filter(-1)
    with pytest.raises(TypeError):
        wl.mask(1.0, [{"number_of_sub_categories": 1}])
    with pytest.raises(ValueError, match="unknown workload"):
        make_workload("x", [])
    with pytest.raises(ValueError, match="expected an int"):
        make_workload("em", [{"label": True}])
    with pytest.raises(ValueError, match="JSON object"):
        make_workload("em", [3])
    with pytest.raises(ValueError, match="differ in number"):
        RangeWorkload("r", "d", [1, 2], [3])
    assert wl.params(1) == {"label": 3}
    assert "queries=2" in repr(wl)
    assert len(UnfilteredWorkload(4)) == 4
