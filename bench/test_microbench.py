"""Micro-benchmarks of the hot building blocks: distance kernels at every compiled SIMD level,
filter compilation, bitset packing and attribute-store construction.

Run with ``pytest bench/ --benchmark-only`` (the normal test run only collects ``tests/``).
Each benchmark also checks its result, so a fast wrong kernel cannot pass unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

from fanns import _core
from fanns.attributes import AttributeStore
from fanns.filters import compile_filter, field, to_bitset

N_BASE = 20_000
N_RECORDS = 50_000
CATEGORIES = ["astro-ph", "cs", "math", "stat", "eess", "physics", "q-bio", "econ"]


@pytest.fixture(scope="module")
def vectors() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = {}
    for dim in (96, 384):
        base = rng.standard_normal((N_BASE, dim)).astype(np.float32)
        queries = rng.standard_normal((4, dim)).astype(np.float32)
        out[dim] = (queries, base)
    return out


@pytest.mark.parametrize("dim", [96, 384])
@pytest.mark.parametrize("kind", ["l2", "ip"])
@pytest.mark.parametrize("level", _core.simd_levels())
def test_pairwise_distances(benchmark, vectors, level, kind, dim):
    queries, base = vectors[dim]
    benchmark.group = f"distance {kind} dim={dim}"
    benchmark.extra_info["rows_per_call"] = queries.shape[0] * base.shape[0]
    out = benchmark(_core.pairwise_distances, kind, queries, base, level)
    q64, b64 = queries.astype(np.float64), base[:256].astype(np.float64)
    if kind == "l2":
        expected = ((q64[:, None, :] - b64[None, :, :]) ** 2).sum(axis=2)
    else:
        expected = q64 @ b64.T
    np.testing.assert_allclose(out[:, :256], expected, rtol=1e-4, atol=1e-3)


def _records(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    cats = rng.integers(0, len(CATEGORIES), size=(n, 2))
    subs = rng.integers(1, 6, n)
    dates = (
        (2020 + rng.integers(0, 6, n)) * 10000
        + rng.integers(1, 13, n) * 100
        + rng.integers(1, 29, n)
    )
    return [
        {
            "main_categories": sorted({CATEGORIES[a], CATEGORIES[b]}),
            "number_of_sub_categories": int(sub),
            "update_date": int(date),
            "has_comment": bool(i % 3 == 0),
            "number_of_versions": None if i % 7 == 0 else int(i % 5 + 1),
        }
        for i, ((a, b), sub, date) in enumerate(zip(cats, subs, dates))
    ]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return _records(N_RECORDS)


@pytest.fixture(scope="module")
def store(records) -> AttributeStore:
    return AttributeStore.from_input(records, len(records))


def test_attribute_store_from_records(benchmark, records):
    benchmark.group = "attributes"
    built = benchmark.pedantic(
        AttributeStore.from_input, args=(records, len(records)), rounds=3, iterations=1
    )
    assert len(built) == len(records)


FILTERS = {
    "equality": lambda: field("number_of_sub_categories") == 2,
    "range": lambda: field("update_date").between(20210301, 20230915),
    "contains": lambda: field("main_categories").contains("astro-ph"),
    "contains_any": lambda: field("main_categories").contains_any(["cs", "stat"]),
    "and_or_not": lambda: (
        ((field("number_of_sub_categories") >= 2) & field("main_categories").contains("cs"))
        | ~field("has_comment").isin([True])
    ),
    "is_null": lambda: field("number_of_versions").is_null(),
}


def _reference(name: str, records: list[dict]) -> np.ndarray:
    checks = {
        "equality": lambda r: r["number_of_sub_categories"] == 2,
        "range": lambda r: 20210301 <= r["update_date"] <= 20230915,
        "contains": lambda r: "astro-ph" in r["main_categories"],
        "contains_any": lambda r: bool({"cs", "stat"} & set(r["main_categories"])),
        "and_or_not": lambda r: (
            (r["number_of_sub_categories"] >= 2 and "cs" in r["main_categories"])
            or not r["has_comment"]
        ),
        "is_null": lambda r: r["number_of_versions"] is None,
    }
    return np.flatnonzero([checks[name](r) for r in records])


@pytest.mark.parametrize("name", list(FILTERS))
def test_compile_filter(benchmark, store, records, name):
    benchmark.group = "compile filter"
    expr = FILTERS[name]()
    result = benchmark(compile_filter, expr, store, len(records))
    assert np.array_equal(np.array(result, dtype=np.int64), _reference(name, records))


@pytest.mark.parametrize("percent", [0.1, 10, 90])
def test_to_bitset(benchmark, percent):
    rng = np.random.default_rng(2)
    n = 1_000_000
    ids = np.flatnonzero(rng.random(n) < percent / 100)
    bm = BitMap(ids.astype(np.uint32))
    benchmark.group = "to_bitset n=1e6"
    words = benchmark(to_bitset, bm, n)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")[:n]
    assert np.array_equal(np.flatnonzero(bits), ids)
