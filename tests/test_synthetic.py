"""Synthetic arXiv-like data: determinism, attribute realism, correlations and layout round trip."""

from __future__ import annotations

import collections
import datetime

import numpy as np
import pytest

from fanns.datasets import (
    ATTRIBUTE_KEYS,
    exact_knn,
    load_arxiv_fanns,
    synthetic_arxiv,
    write_arxiv_layout,
)
from fanns.datasets.synthetic import MAIN_CATEGORIES


def _same(a, b) -> bool:
    if not (np.array_equal(a.vectors, b.vectors) and np.array_equal(a.queries, b.queries)):
        return False
    if a.attributes != b.attributes or a.query_attributes != b.query_attributes:
        return False
    return all(
        all(np.array_equal(x, y) for x, y in zip(a.ground_truth[k], b.ground_truth[k]))
        for k in a.ground_truth
    )


def test_deterministic_per_seed():
    a = synthetic_arxiv(n=800, dim=16, nq=10, seed=3)
    b = synthetic_arxiv(n=800, dim=16, nq=10, seed=3)
    c = synthetic_arxiv(n=800, dim=16, nq=10, seed=4)
    assert _same(a, b)
    assert not np.array_equal(a.vectors, c.vectors)
    assert a.attributes != c.attributes


def test_shapes_and_vectors(small_arxiv):
    ds = small_arxiv
    assert ds.vectors.shape == (3000, 24) and ds.queries.shape == (40, 24)
    assert ds.vectors.dtype == np.float32 and ds.queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ds.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ds.queries, axis=1), 1.0, atol=1e-5)
    assert sorted(ds.workloads) == ["em", "emis", "r", "unfiltered"]
    assert sorted(ds.ground_truth) == ["em", "emis", "r", "unfiltered"]
    assert all(len(wl) == 40 for wl in ds.workloads.values())


def test_attributes_are_consistent(small_arxiv):
    subs_of = {
        main: {main} if not subs else {f"{main}.{s}" for s in subs}
        for main, subs in MAIN_CATEGORIES.items()
    }
    first = datetime.date(2007, 1, 1)
    last = datetime.date(2025, 12, 31)
    for r in small_arxiv.attributes:
        assert tuple(r) == ATTRIBUTE_KEYS
        assert isinstance(r["has_comment"], bool)
        mains, subs = r["main_categories"], r["sub_categories"]
        assert 1 <= len(mains) <= 3 and len(set(mains)) == len(mains)
        assert r["number_of_main_categories"] == len(mains)
        assert r["number_of_sub_categories"] == len(subs) >= len(mains)
        assert len(set(subs)) == len(subs)
        assert all(any(s in subs_of[m] for s in subs) for m in mains)
        assert all(any(s in subs_of[m] for m in mains) for s in subs)
        assert r["number_of_authors"] == len(r["authors"]) >= 1
        assert len(set(r["authors"])) == len(r["authors"])
        assert r["submitter"] is None or isinstance(r["submitter"], str)
        assert r["license"] is None or r["license"].startswith("http")
        assert r["number_of_versions"] is None or r["number_of_versions"] >= 1
        d = r["update_date"]
        assert type(d) is int
        assert first <= datetime.date(d // 10000, d // 100 % 100, d % 100) <= last


def test_distributions_look_like_arxiv():
    ds = synthetic_arxiv(n=6000, dim=8, nq=0, ground_truth=False, seed=11)
    attrs = ds.attributes
    mains = collections.Counter(m for r in attrs for m in r["main_categories"])
    counts = sorted(mains.values(), reverse=True)
    assert len(mains) >= 15
    assert counts[0] > 5 * counts[len(counts) // 2]  # a few categories dominate
    assert collections.Counter(len(r["main_categories"]) for r in attrs)[1] > 0.6 * len(attrs)
    years = np.array([r["update_date"] // 10000 for r in attrs])
    assert (years >= 2019).mean() > (years < 2013).mean() * 2  # skewed to recent
    for key in ("number_of_versions", "license", "submitter"):
        nulls = sum(r[key] is None for r in attrs)
        assert 0 < nulls < 0.5 * len(attrs), key
    authors = collections.Counter(a for r in attrs for a in r["authors"])
    top = authors.most_common(1)[0][1]
    assert top > 10 * np.median(list(authors.values()))  # prolific authors exist
    assert 0.4 < np.mean([r["has_comment"] for r in attrs]) < 0.8


def test_vectors_follow_categories():
    ds = synthetic_arxiv(n=1200, dim=32, nq=0, ground_truth=False, seed=5)
    first_sub = np.array([r["sub_categories"][0] for r in ds.attributes])
    x = ds.vectors.astype(np.float64)
    sims = x @ x.T
    same = first_sub[:, None] == first_sub[None, :]
    np.fill_diagonal(same, False)
    other = ~same
    np.fill_diagonal(other, False)
    assert sims[same].mean() > sims[other].mean() + 0.2


def test_query_attributes_come_from_database_values(small_arxiv):
    attrs = small_arxiv.attributes
    subs = {r["number_of_sub_categories"] for r in attrs}
    dates = {r["update_date"] for r in attrs}
    mains = {m for r in attrs for m in r["main_categories"]}
    qa = small_arxiv.query_attributes
    assert all(q["label"] in subs for q in qa["em"])
    assert all(q["range_start"] <= q["range_end"] for q in qa["r"])
    assert all(q["range_start"] in dates and q["range_end"] in dates for q in qa["r"])
    assert all(q["label"] in mains for q in qa["emis"])
    assert len({q["label"] for q in qa["emis"]}) > 1


def test_ground_truth_is_exact(small_arxiv):
    ds = small_arxiv
    for name in ("unfiltered", "em", "r", "emis"):
        masks = list(ds.workloads[name].masks(ds))
        expected = exact_knn(ds.vectors, ds.queries, 100, masks=masks, threads=1)
        rows = ds.ground_truth[name]
        assert len(rows) == ds.nq
        for got, mask, exp in zip(rows, masks, expected):
            assert got.dtype == np.int32
            assert mask[got].all() and len(got) == min(100, int(mask.sum()))
            np.testing.assert_array_equal(got, exp)
    x = ds.vectors.astype(np.float64)
    q = ds.queries[0].astype(np.float64)
    d = ((x - q) ** 2).sum(axis=1)
    np.testing.assert_array_equal(
        ds.ground_truth["unfiltered"][0], np.lexsort((np.arange(3000), d))[:100]
    )


def test_layout_round_trip(tmp_path, small_arxiv):
    write_arxiv_layout(small_arxiv, tmp_path / "syn")
    back = load_arxiv_fanns(tmp_path / "syn")
    assert _same(back, small_arxiv)
    with pytest.raises(TypeError):
        write_arxiv_layout(object(), tmp_path / "x")


def test_no_ground_truth_and_custom_k():
    ds = synthetic_arxiv(n=500, dim=8, nq=5, ground_truth=False)
    assert ds.ground_truth == {}
    ds = synthetic_arxiv(n=500, dim=8, nq=5, k=7)
    assert all(len(r) <= 7 for rows in ds.ground_truth.values() for r in rows)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        synthetic_arxiv(n=0)
    with pytest.raises(TypeError, match="dim"):
        synthetic_arxiv(n=10, dim=2.5)
    with pytest.raises(ValueError, match="nq"):
        synthetic_arxiv(n=10, nq=-1)
    with pytest.raises(TypeError, match="seed"):
        synthetic_arxiv(n=10, seed="a")
