"""The Chroma and LanceDB bench plug-ins: their filters select exactly the rows fanns' filters
select (checked by the peer's own filter engine and by its search with k = every row), and
each plug-in runs through the bench harness. The peer tests skip when the ``peers`` extra is
not installed; the pure translation tests always run."""

from __future__ import annotations

import numpy as np
import pytest

from fanns.attributes import AttributeStore, bitmap_ids
from fanns.bench.config import BenchConfig
from fanns.bench.harness import run_benchmark
from fanns.bench.methods import BuildParams, get_method
from fanns.bench.methods.peer_filters import (
    PeerSchema,
    Untranslatable,
    chroma_where,
    lance_where,
)
from fanns.bench.workloads import QueryFilters, selectivity_mask
from fanns.filters import compile_filter, field

N, DIM = 240, 8
PEERS = {"chroma": "chromadb", "lancedb": "lancedb"}
CATEGORIES = ["cs", "math", "physics", "q-bio", "it's"]


def _records(n: int, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        size = int(rng.integers(0, 3))
        out.append(
            {
                "nsub": None if i % 9 == 0 else int(rng.integers(1, 5)),
                "update_date": int(20200101 + 100 * rng.integers(0, 60)),
                "score": float(np.round(rng.random(), 3)),
                "flag": bool(rng.random() < 0.3),
                "license": None if i % 5 == 0 else str(rng.choice(["mit", "cc-by", "gpl"])),
                "cats": None
                if size == 0
                else [str(c) for c in rng.choice(CATEGORIES, size=size, replace=False)],
            }
        )
    return out


# every filter kind the workloads use (EM, R, EMIS) plus the combinations the translators take
FILTERS = {
    "em": field("nsub") == 2,
    "r": field("update_date").between(20210101, 20230101),
    "emis": field("cats").contains("cs"),
    "emis-quote": field("cats").contains("it's"),
    "contains_any": field("cats").contains_any(["math", "q-bio"]),
    "contains_all": field("cats").contains_all(["cs", "math"]),
    "ne-nullable-int": field("nsub") != 3,
    "ne-nullable-string": field("license") != "mit",
    "lt": field("score") < 0.25,
    "ge": field("update_date") >= 20240101,
    "bool": field("flag") == True,  # noqa: E712  (builds an expression)
    "isin": field("license").isin(["mit", "gpl"]),
    "and": (field("nsub") >= 2) & field("cats").contains("math"),
    "or": (field("license") == "gpl") | (field("score") > 0.9),
    "not-complete": ~field("update_date").between(20210101, 20230101),
    "not-nullable": ~(field("nsub") == 2),
    "not-and": ~((field("flag") == True) & (field("score") < 0.5)),  # noqa: E712
    "is_null": field("license").is_null(),
}
# filters Chroma's where dictionaries cannot state exactly (missing keys); they are materialised
CHROMA_MATERIALISED = {"ne-nullable-string", "not-nullable", "is_null"}
# filters on the list-valued attribute, which Chroma keeps as one boolean key per value
CHROMA_REWRITTEN = {"emis", "emis-quote", "contains_any", "contains_all", "and"}


def _require(name: str) -> None:
    why = f"the {name} plug-in needs the 'peers' extra: pip install 'fanns[peers]'"
    pytest.importorskip(PEERS[name], reason=why)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    records = _records(N)
    store = AttributeStore.from_input(records, n=N)
    return vectors, records, store


@pytest.fixture(scope="module", params=sorted(PEERS))
def peer(request, data):
    _require(request.param)
    vectors, records, _ = data
    method = get_method(request.param)
    method.build(vectors, records, "l2", BuildParams(M=8, ef_construction=64, threads=1))
    yield method
    method.close()


def _expected(expr, store) -> np.ndarray:
    return bitmap_ids(compile_filter(expr, store, N)).astype(np.int64)


def _exact_value(method) -> object:
    return "flat" if method.name == "lancedb" else N


def _search_all(method, vectors, filters) -> list[set]:
    """Every query's ids from the peer's own filtered search with k = every row."""
    nq = filters.nq
    method.prepare(filters)
    ids = method.search(vectors[:nq], N, _exact_value(method), filters)
    return [set(row[row >= 0].tolist()) for row in ids]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_translated_filter_selects_the_rows_fanns_selects(peer, data, name):
    vectors, _, store = data
    expr = FILTERS[name]
    expected = _expected(expr, store)
    mask = np.zeros(N, dtype=bool)
    mask[expected] = True
    filters = QueryFilters(N, 2, mask_fn=lambda i: mask, expressions=[expr, expr])
    for row in _search_all(peer, vectors, filters):
        assert row == set(expected.tolist()), f"{peer.name} search under {expr!r}"
    how_expected = "native"
    if peer.name == "chroma" and name in CHROMA_MATERIALISED:
        how_expected = "materialised"
    elif peer.name == "chroma" and name in CHROMA_REWRITTEN:
        how_expected = "rewritten"
    where, how, note = filters.groups[0].cache[peer.name]
    assert how == how_expected
    assert bool(note) == (how != "native")
    np.testing.assert_array_equal(peer.selected_ids(where), expected)
    counts = {"native": 0, "rewritten": 0, "materialised": 0, how_expected: 2}
    assert peer.details["filter_queries"] == counts
    if how != "native":
        assert peer.details["filter_notes"] == [note]


@pytest.mark.parametrize("kind,percent", [("sel", 10), ("sel", 1), ("anti", 1)])
def test_row_masks_are_materialised_exactly(peer, data, kind, percent):
    vectors, _, _ = data
    mask = selectivity_mask(kind, percent, vectors, vectors[:3], seed=5)
    filters = QueryFilters(N, 3, shared_mask=mask)
    for row in _search_all(peer, vectors, filters):
        assert row == set(np.flatnonzero(mask).tolist())
    where, how, _ = filters.groups[0].cache[peer.name]
    assert how == "materialised"
    np.testing.assert_array_equal(peer.selected_ids(where), np.flatnonzero(mask))
    assert peer.details["filter_notes"][0].startswith("a row mask")


def test_filter_still_exact_after_rows_are_tagged(peer, data):
    """Tagging rows for a materialised filter must not disturb the attributes already stored."""
    vectors, _, store = data
    mask = selectivity_mask("sel", 20, vectors, vectors[:1], seed=9)
    peer.prepare(QueryFilters(N, 1, shared_mask=mask))
    for expr in (FILTERS["em"], FILTERS["emis"], FILTERS["r"]):
        np.testing.assert_array_equal(
            peer.selected_ids(peer.translate(expr)), _expected(expr, store)
        )


def test_unfiltered_exact_search_matches_brute_force(peer, data):
    vectors, _, _ = data
    queries = vectors[:5] + 0.01
    ids = peer.search(queries, 10, _exact_value(peer), QueryFilters(N, 5))
    d = ((vectors[None, :, :] - queries[:, None, :]) ** 2).sum(axis=2)
    truth = np.argsort(d, axis=1)[:, :10]
    for got, want in zip(ids, truth):
        assert set(got.tolist()) == set(want.tolist())


@pytest.mark.parametrize("name", sorted(PEERS))
def test_plugin_runs_through_the_harness(tmp_path, name):
    _require(name)
    workloads = ["unfiltered", "em", "r", "emis", "sel-10", "anti-1"]
    config = BenchConfig(
        n=600,
        dim=8,
        nq=12,
        methods=[name],
        workloads=workloads,
        efs=[10, 40],
        M=8,
        ef_construction=64,
        repeats=1,
        out=str(tmp_path),
        progress=False,
        plots=False,
    )
    results = run_benchmark(config, log=lambda message: None)
    assert results.errors == [] and results.complete
    assert results.builds[name].build_seconds > 0
    for workload in workloads:
        points = [p for p in results.points if p.workload == workload]
        assert points, workload
        assert all(p.method == name for p in points)
        assert min(p.qps for p in points) > 0
        assert max(p.recall for p in points) >= 0.95, workload
    expected = {
        "sel-10": {"native": 0, "rewritten": 0, "materialised": 12},
        "em": {"native": 12, "rewritten": 0, "materialised": 0},
        "emis": {
            "native": 12 * (name != "chroma"),
            "rewritten": 12 * (name == "chroma"),
            "materialised": 0,
        },
    }
    for p in results.points:
        if p.workload in expected:
            assert p.details["filter_queries"] == expected[p.workload], p.workload


# ------------------------------------------------------------- translation text (no peers)
SCHEMA = PeerSchema(
    {"n": "int", "d": "date", "s": "string", "b": "bool", "cats": "strings"},
    nullable=frozenset({"s"}),
)


def test_chroma_where_forms():
    assert chroma_where(field("n") == 3, SCHEMA) == {"n": 3}
    assert chroma_where(field("d").between(1, 5), SCHEMA) == {
        "$and": [{"d": {"$gte": 1}}, {"d": {"$lte": 5}}]
    }
    assert chroma_where(field("cats").contains_all(["a", "b"]), SCHEMA) == {
        "$and": [{"cats=a": True}, {"cats=b": True}]
    }
    assert chroma_where(~((field("n") < 2) | (field("b") == True)), SCHEMA) == {  # noqa: E712
        "$and": [{"n": {"$gte": 2}}, {"b": {"$ne": True}}]
    }
    assert chroma_where(~field("n").isin([1, 2]), SCHEMA) == {"n": {"$nin": [1, 2]}}


@pytest.mark.parametrize(
    "expr",
    [
        field("s").is_null(),
        ~(field("s") == "x"),
        field("s") != "x",
        ~field("cats").contains("a"),
        field("n").isin([]),
        field("n") < float("inf"),
        field("cats") == "a",
    ],
)
def test_chroma_where_refuses_what_it_cannot_state(expr):
    with pytest.raises(Untranslatable):
        chroma_where(expr, SCHEMA)


def test_lance_where_forms():
    assert lance_where(field("s") == "it's", SCHEMA) == "(`s` = 'it''s')"
    assert lance_where(field("d").between(1, 5) & (field("b") == False), SCHEMA) == (  # noqa: E712
        "(`d` BETWEEN 1 AND 5) AND (`b` = FALSE)"
    )
    assert lance_where(field("cats").contains_any(["a", "b"]), SCHEMA) == (
        "array_has_any(`cats`, ['a', 'b'])"
    )
    assert lance_where(~field("s").is_null(), SCHEMA) == "((`s` IS NULL) IS NOT TRUE)"
    assert lance_where(field("n").isin([]), SCHEMA) == "FALSE"


def test_translators_reject_bad_input():
    with pytest.raises(TypeError, match="filter expression"):
        lance_where("n = 1", SCHEMA)
    with pytest.raises(TypeError, match="filter expression"):
        chroma_where({"n": 1}, SCHEMA)
    with pytest.raises(KeyError, match="unknown attribute"):
        lance_where(field("missing") == 1, SCHEMA)
    with pytest.raises(Untranslatable):
        lance_where(field("cats") == "a", SCHEMA)


def test_missing_package_skips_the_peer_with_the_extra_named(tmp_path, monkeypatch):
    from fanns.bench.methods import METHODS

    monkeypatch.setattr(METHODS["chroma"], "requires", ("fanns_no_such_module",))
    config = BenchConfig(
        n=200,
        dim=4,
        nq=3,
        methods=["chroma"],
        workloads=["unfiltered"],
        out=str(tmp_path),
        progress=False,
        plots=False,
    )
    results = run_benchmark(config, log=lambda message: None)
    assert results.points == [] and "fanns[peers]" in results.skipped["chroma"]
    assert "fanns_no_such_module" in results.skipped["chroma"]
