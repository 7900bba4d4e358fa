"""Filter language: every operator and combination against a per-row Python oracle."""

from __future__ import annotations

import json
import math
import operator
import pickle
from itertools import islice
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from pyroaring import BitMap, FrozenBitMap

import fanns.filters.batches as filters_module  # where compile_groups looks its helpers up
from fanns._fileformat import read_index_file, write_index_file
from fanns.attributes import AttributeStore
from fanns.filters import (
    Expr,
    compile_filter,
    field,
    find_range,
    prepare_filters,
    split_conjuncts,
    to_bitset,
)

ARXIV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "arxiv-mini"

Pred = Callable[[dict], bool]
N = 600
CATS = ["a", "b", "c", "é", "long value"]
TAGS = ["x", "y", "z", "w"]


def make_records(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        record: dict = {}
        if rng.random() > 0.1:
            record["i"] = int(rng.integers(-5, 20))
        roll = rng.random()
        record["f"] = None if roll < 0.1 else math.nan if roll < 0.2 else float(rng.normal())
        if rng.random() > 0.2:
            record["b"] = bool(rng.random() < 0.3)
        if rng.random() > 0.05:
            record["d"] = int(20250101 + 100 * rng.integers(0, 12) + rng.integers(0, 28))
        record["s"] = None if rng.random() < 0.15 else CATS[int(rng.integers(len(CATS)))]
        if rng.random() > 0.1:
            k = int(rng.integers(0, 4))
            record["tags"] = [TAGS[j] for j in rng.choice(len(TAGS), size=k, replace=False)]
        record["nothing"] = None
        records.append(record)
    return records


RECORDS = make_records(N, seed=11)
TYPES = {"d": "date"}


@pytest.fixture(scope="module")
def store() -> AttributeStore:
    return AttributeStore.from_input(RECORDS, n=N, types=TYPES)


# ----------------------------------------------------------------------------
# the oracle: predicates written directly in Python, one row at a time


def get(record: dict, name: str) -> Any:
    value = record.get(name)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def p_cmp(name: str, op: str, value: Any) -> Pred:
    fn = OPS[op]
    return lambda r: get(r, name) is not None and fn(get(r, name), value)


def p_between(name: str, lo: Any, hi: Any) -> Pred:
    return lambda r: get(r, name) is not None and lo <= get(r, name) <= hi


def p_isin(name: str, values: list) -> Pred:
    return lambda r: get(r, name) is not None and any(get(r, name) == v for v in values)


def p_contains_any(name: str, values: list) -> Pred:
    return lambda r: get(r, name) is not None and any(v in get(r, name) for v in values)


def p_contains_all(name: str, values: list) -> Pred:
    return lambda r: get(r, name) is not None and all(v in get(r, name) for v in values)


def p_null(name: str) -> Pred:
    return lambda r: get(r, name) is None


def atoms() -> list[tuple[Expr, Pred]]:
    cases: list[tuple[Expr, Pred]] = []
    ops = [
        ("==", operator.eq),
        ("!=", operator.ne),
        ("<", operator.lt),
        ("<=", operator.le),
        (">", operator.gt),
        (">=", operator.ge),
    ]
    for name, values in [
        ("i", [-6, -5, 0, 7, 19, 25, 5.5, 7.0]),
        ("f", [-1, 0.0, 0.25, -0.5, 3]),
        ("d", [20250101, 20250615, 20251228, 20260101]),
    ]:
        for op, fn in ops:
            for value in values:
                cases.append((fn(field(name), value), p_cmp(name, op, value)))
    for name, lo, hi in [
        ("i", 3, 7),
        ("i", 7, 3),
        ("i", 2.5, 7.5),
        ("i", -math.inf, math.inf),
        ("f", -0.5, 0.5),
        ("f", 0.0, 0.0),
        ("d", 20250301, 20250630),
    ]:
        cases.append((field(name).between(lo, hi), p_between(name, lo, hi)))
    for name, values in [
        ("i", [1, 3, 5]),
        ("i", []),
        ("i", [2.0, 2.5, 19]),
        ("f", [0.0]),
        ("b", [True]),
        ("b", [True, False]),
        ("s", ["a", "é"]),
        ("s", ["unseen"]),
        ("s", []),
        ("d", [20250101, 20250102]),
    ]:
        cases.append((field(name).isin(values), p_isin(name, values)))
    for value in [True, False]:
        cases.append((field("b") == value, p_cmp("b", "==", value)))
        cases.append((field("b") != value, p_cmp("b", "!=", value)))
    for value in ["a", "long value", "é", "unseen"]:
        cases.append((field("s") == value, p_cmp("s", "==", value)))
        cases.append((field("s") != value, p_cmp("s", "!=", value)))
    for tag in ["x", "w", "unseen"]:
        cases.append((field("tags").contains(tag), p_contains_any("tags", [tag])))
    for values in [["x", "y"], [], ["unseen"], ["x", "unseen"]]:
        cases.append((field("tags").contains_any(values), p_contains_any("tags", values)))
        cases.append((field("tags").contains_all(values), p_contains_all("tags", values)))
    for name in ["i", "f", "b", "d", "s", "tags", "nothing"]:
        cases.append((field(name).is_null(), p_null(name)))
    cases.append((field("nothing") == 3, lambda r: False))
    cases.append((field("nothing") == "x", lambda r: False))
    cases.append((field("nothing").between(1, 2), lambda r: False))
    cases.append((field("nothing").contains("x"), lambda r: False))
    cases.append((field("nothing").contains_all([]), lambda r: False))
    cases.append((field("nothing").isin([1, "a"]), lambda r: False))
    return cases


ATOMS = atoms()


def oracle(pred: Pred) -> list[int]:
    return [i for i, record in enumerate(RECORDS) if pred(record)]


def compiled(expr: Any, store: AttributeStore) -> list[int]:
    result = compile_filter(expr, store, N)
    assert isinstance(result, BitMap)
    return list(result)


# ----------------------------------------------------------------------------
# single operators


@pytest.mark.parametrize("case", range(len(ATOMS)), ids=lambda i: repr(ATOMS[i][0]))
def test_atom_matches_oracle(store, case):
    expr, pred = ATOMS[case]
    assert compiled(expr, store) == oracle(pred)


def test_atoms_cover_empty_partial_and_full():
    sizes = {len(oracle(pred)) for _, pred in ATOMS}
    assert 0 in sizes
    assert any(0 < s < N for s in sizes)
    assert N in sizes  # nothing.is_null()


def test_not_equal_versus_complement(store):
    # != keeps only rows where the attribute is present
    assert compiled(field("i") != 3, store) == oracle(
        lambda r: get(r, "i") is not None and get(r, "i") != 3
    )
    # ~ is the complement over all rows, so rows with a missing value pass
    assert compiled(~(field("i") == 3), store) == oracle(
        lambda r: get(r, "i") is None or get(r, "i") != 3
    )
    missing = oracle(p_null("i"))
    assert missing
    assert set(missing) <= set(compiled(~(field("i") == 3), store))
    assert not set(missing) & set(compiled(field("i") != 3, store))
    assert compiled(~(field("s") == "a"), store) == oracle(lambda r: get(r, "s") != "a")


def test_contains_all_empty_matches_every_present_row(store):
    present = oracle(lambda r: get(r, "tags") is not None)
    assert compiled(field("tags").contains_all([]), store) == present
    assert len(present) < N


# ----------------------------------------------------------------------------
# combinations


def test_and_or_not(store):
    a = (field("i") >= 5, p_cmp("i", ">=", 5))
    b = (field("s").isin(["a", "b"]), p_isin("s", ["a", "b"]))
    c = (field("tags").contains("x"), p_contains_any("tags", ["x"]))
    cases = [
        (a[0] & b[0], lambda r: a[1](r) and b[1](r)),
        (a[0] | b[0], lambda r: a[1](r) or b[1](r)),
        (~a[0], lambda r: not a[1](r)),
        (~~a[0], a[1]),
        ((a[0] & b[0]) | ~c[0], lambda r: (a[1](r) and b[1](r)) or not c[1](r)),
        (~(a[0] | b[0]) & c[0], lambda r: not (a[1](r) or b[1](r)) and c[1](r)),
        (a[0] & ~a[0], lambda r: False),
        (a[0] | ~a[0], lambda r: True),
    ]
    for expr, pred in cases:
        assert compiled(expr, store) == oracle(pred), repr(expr)


def test_random_nested_combinations(store):
    rng = np.random.default_rng(12)

    def build(depth: int) -> tuple[Expr, Pred]:
        if depth == 0 or rng.random() < 0.3:
            return ATOMS[int(rng.integers(len(ATOMS)))]
        roll = rng.random()
        if roll < 0.2:
            expr, pred = build(depth - 1)
            return ~expr, (lambda r, p=pred: not p(r))
        parts = [build(depth - 1) for _ in range(int(rng.integers(2, 4)))]
        if roll < 0.6:
            expr = parts[0][0]
            for other, _ in parts[1:]:
                expr = expr & other
            preds = [p for _, p in parts]
            return expr, (lambda r, ps=preds: all(p(r) for p in ps))
        expr = parts[0][0]
        for other, _ in parts[1:]:
            expr = expr | other
        preds = [p for _, p in parts]
        return expr, (lambda r, ps=preds: any(p(r) for p in ps))

    sizes = []
    for _ in range(80):
        expr, pred = build(3)
        expected = oracle(pred)
        sizes.append(len(expected))
        assert compiled(expr, store) == expected, repr(expr)
    assert min(sizes) == 0 and max(sizes) > N // 2


# ----------------------------------------------------------------------------
# expressions as values


def test_repr_examples_and_round_trip():
    expr = (field("year") >= 2020) & field("cats").contains("cs.LG")
    assert repr(expr) == "(field('year') >= 2020) & field('cats').contains('cs.LG')"
    assert repr(~(field("a") == 1)) == "~(field('a') == 1)"
    assert repr(~field("a").is_null()) == "~field('a').is_null()"
    nested = ((field("a") < 1) | (field("b") == "x")) & ~field("c").contains_all(["p", "q"])
    assert repr(nested) == (
        "((field('a') < 1) | (field('b') == 'x')) & ~field('c').contains_all(['p', 'q'])"
    )
    namespace = {"field": field}
    for expr, _ in ATOMS + [(nested, None), (field("x").between(-math.inf, 2.5), None)]:
        again = eval(repr(expr), namespace)  # noqa: S307 - our own repr output
        assert again.key() == expr.key()
        assert again == expr


def test_keys_identify_structure():
    assert (field("a") == 1).key() == (field("a") == 1).key()
    assert (field("a") == 1).key() != (field("a") == 2).key()
    assert (field("a") == 1).key() != (field("b") == 1).key()
    # a bool and an int value compare equal in Python but are different filters
    assert (field("a") == 1).key() != (field("a") == True).key()  # noqa: E712
    assert (field("a") == 1).key() != (field("a") == 1.0).key()
    assert field("s").isin(["a", "b", "a"]).key() == field("s").isin(["b", "a"]).key()
    assert ((field("a") > 1) & (field("b") == 2)).key() == (
        (field("b") == 2) & (field("a") > 1)
    ).key()
    assert ((field("a") > 1) & (field("b") == 2)).key() != (
        (field("a") > 1) | (field("b") == 2)
    ).key()
    assert field("t").contains("x").key() == field("t").contains_any(["x"]).key()
    table = {(field("a") == 1): "one", field("s").is_null(): "null"}
    assert table[field("a") == 1] == "one"
    assert hash(field("a") == np.int64(1)) == hash(field("a") == 1)


def test_numpy_scalars_are_normalised(store):
    assert compiled(field("i") == np.int32(7), store) == compiled(field("i") == 7, store)
    assert compiled(field("s") == np.str_("a"), store) == compiled(field("s") == "a", store)
    assert compiled(field("b") == np.bool_(True), store) == compiled(field("b") == True, store)  # noqa: E712


def test_expressions_are_immutable_and_pickle():
    expr = (field("a") >= 1) & field("t").contains_any(["x", "y"])
    with pytest.raises(AttributeError):
        expr.terms = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        (field("a") == 1).value = 2  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(expr))
    assert again == expr and repr(again) == repr(expr)


def test_truth_value_is_an_error():
    with pytest.raises(TypeError, match="between"):
        bool(field("a") == 1)
    with pytest.raises(TypeError):
        if field("a") == 1:
            pass
    with pytest.raises(TypeError):
        1 < field("a") < 3  # noqa: B015
    with pytest.raises(TypeError):
        (field("a") == 1) and (field("b") == 2)  # noqa: B015
    with pytest.raises(TypeError):
        not (field("a") == 1)  # noqa: B015


def test_field_is_not_hashable_or_a_filter(store):
    with pytest.raises(TypeError):
        hash(field("a"))
    with pytest.raises(TypeError, match="parentheses"):
        field("a") == 1 & field("b") == 2  # noqa: B015
    with pytest.raises(TypeError):
        (field("a") == 1) & field("b")
    with pytest.raises(TypeError):
        (field("a") == 1) | 3
    with pytest.raises(TypeError):
        compile_filter(field("i"), store, N)


# ----------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("make", "exc"),
    [
        (lambda: field("attr_q") == None, TypeError),  # noqa: E711
        (lambda: field("attr_q") == [1, 2], TypeError),
        (lambda: field("attr_q") == {"a": 1}, TypeError),
        (lambda: field("attr_q") < "x", TypeError),
        (lambda: field("attr_q") >= True, TypeError),
        (lambda: field("attr_q") == math.nan, ValueError),
        (lambda: field("attr_q").between("a", "b"), TypeError),
        (lambda: field("attr_q").between(1, math.nan), ValueError),
        (lambda: field("attr_q").isin("abc"), TypeError),
        (lambda: field("attr_q").isin(5), TypeError),
        (lambda: field("attr_q").isin([None]), TypeError),
        (lambda: field("attr_q").contains(3), TypeError),
        (lambda: field("attr_q").contains_any("xy"), TypeError),
        (lambda: field("attr_q").contains_all([1]), TypeError),
    ],
)
def test_bad_construction_names_attribute(make, exc):
    with pytest.raises(exc, match="attr_q"):
        make()


def test_field_name_must_be_string():
    with pytest.raises(TypeError):
        field(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        field("")


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        (field("tags") == "x", ["tags", "contains"]),
        (field("tags") != "x", ["tags", "contains"]),
        (field("tags").isin(["x"]), ["tags", "contains_any"]),
        (field("tags").between(1, 2), ["tags"]),
        (field("i").contains("x"), ["'i'", "int"]),
        (field("s").contains_any(["a"]), ["'s'", "string"]),
        (field("b").contains_all(["a"]), ["'b'", "bool"]),
        (field("i") == "3", ["'i'", "str", "int"]),
        (field("f") == "x", ["'f'", "str", "float"]),
        (field("d").isin(["x"]), ["'d'", "str", "date"]),
        (field("s") == 3, ["'s'", "int", "string"]),
        (field("s").isin(["a", 1]), ["'s'", "int", "string"]),
        (field("b") == 1, ["'b'", "int", "bool"]),
        (field("i") == True, ["'i'", "bool", "int"]),  # noqa: E712
        (field("s") < 3, ["'s'"]),
        (field("s").between(1, 3), ["'s'", "string"]),
        (field("b") > 0, ["'b'", "bool"]),
        (field("b").between(0, 1), ["'b'", "bool"]),
        ((field("i") > 1) & (field("s") == 2), ["'s'"]),
        (~(field("s") == 2), ["'s'"]),
    ],
)
def test_type_errors_name_attribute_and_types(store, expr, words):
    with pytest.raises(TypeError) as info:
        compile_filter(expr, store, N)
    for word in words:
        assert word in str(info.value)


def test_unknown_attribute_is_key_error(store):
    with pytest.raises(KeyError, match="ghost_attr"):
        compile_filter(field("ghost_attr") == 1, store, N)
    with pytest.raises(KeyError, match="ghost_attr"):
        compile_filter((field("i") == 1) | field("ghost_attr").is_null(), store, N)
    with pytest.raises(KeyError, match="ghost_attr"):
        compile_filter(field("ghost_attr") == 1, None, N)


# ----------------------------------------------------------------------------
# masks and bitmaps


def test_masks_and_bitmaps(store):
    rng = np.random.default_rng(13)
    mask = rng.random(N) < 0.3
    expected = np.flatnonzero(mask).tolist()
    assert compiled(mask, store) == expected
    assert compiled(mask.tolist(), store) == expected
    assert compiled(np.zeros(N, dtype=bool), store) == []
    assert compiled(np.ones(N, dtype=bool), store) == list(range(N))
    ids = BitMap(expected)
    result = compile_filter(ids, store, N)
    assert list(result) == expected
    assert result is not ids
    assert compiled(FrozenBitMap(expected), store) == expected
    assert compiled(BitMap(), store) == []
    assert compiled(BitMap([N - 1]), None) == [N - 1]


def test_bad_masks_and_bitmaps(store):
    with pytest.raises(ValueError):
        compile_filter(BitMap([N]), store, N)
    with pytest.raises(ValueError):
        compile_filter(np.ones(N + 1, dtype=bool), store, N)
    with pytest.raises(ValueError):
        compile_filter(np.ones((N, 1), dtype=bool), store, N)
    with pytest.raises(TypeError):
        compile_filter(np.ones(N, dtype=np.int64), store, N)
    with pytest.raises(TypeError):
        compile_filter(list(range(N)), store, N)
    for bad in [True, None, "i == 1", 3, {"i": 1}]:
        with pytest.raises(TypeError):
            compile_filter(bad, store, N)
    with pytest.raises(ValueError):
        compile_filter(field("i") == 1, store, N + 1)


def test_mask_on_empty_index():
    assert list(compile_filter([], None, 0)) == []
    assert list(compile_filter(np.zeros(0, dtype=bool), None, 0)) == []


# ----------------------------------------------------------------------------
# bitsets


def reference_bitset(ids: list[int], n: int) -> np.ndarray:
    words = [0] * ((n + 63) // 64)
    for i in ids:
        words[i // 64] |= 1 << (i % 64)
    return np.array(words, dtype=np.uint64)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
def test_to_bitset_matches_reference(n):
    rng = np.random.default_rng(n)
    subsets = [[], list(range(n)), sorted(rng.choice(n, size=n // 3, replace=False).tolist())]
    if n:
        subsets += [[0], [n - 1]]
    for ids in subsets:
        got = to_bitset(BitMap(ids), n)
        assert got.dtype == np.uint64
        assert got.shape == ((n + 63) // 64,)
        assert np.array_equal(got, reference_bitset(ids, n))
        unpacked = np.unpackbits(got.view(np.uint8), bitorder="little")[:n]
        assert np.flatnonzero(unpacked).tolist() == ids


def test_to_bitset_rejects_out_of_range():
    with pytest.raises(ValueError):
        to_bitset(BitMap([64]), 64)
    with pytest.raises(ValueError):
        to_bitset(BitMap([0]), 0)
    with pytest.raises(TypeError):
        to_bitset([1, 2], 10)  # type: ignore[arg-type]


def test_to_bitset_large():
    n = 2_000_003
    rng = np.random.default_rng(14)
    ids = np.unique(rng.integers(0, n, size=300_000))
    got = to_bitset(BitMap(ids.tolist()), n)
    mask = np.zeros(n, dtype=bool)
    mask[ids] = True
    bits = np.unpackbits(got.view(np.uint8), bitorder="little")
    assert np.array_equal(bits[:n].astype(bool), mask)
    assert not bits[n:].any()


# ----------------------------------------------------------------------------
# batches


def test_prepare_none(store):
    prepared = prepare_filters(None, store, N, 5)
    assert prepared.bitsets == [] and prepared.bitmaps == [] and prepared.expressions == []
    assert prepared.query_filter.dtype == np.int32
    assert prepared.query_filter.tolist() == [-1] * 5
    assert prepared.counts.dtype == np.int64 and prepared.counts.size == 0
    assert prepare_filters([None, None], store, N, 2).query_filter.tolist() == [-1, -1]


def test_prepare_single_filter(store):
    expr = (field("i") > 3) & field("tags").contains("x")
    prepared = prepare_filters(expr, store, N, 4)
    expected = oracle(lambda r: p_cmp("i", ">", 3)(r) and p_contains_any("tags", ["x"])(r))
    assert len(prepared.bitsets) == 1
    assert prepared.query_filter.tolist() == [0, 0, 0, 0]
    assert prepared.counts.tolist() == [len(expected)]
    assert list(prepared.bitmaps[0]) == expected
    assert np.array_equal(prepared.bitsets[0], reference_bitset(expected, N))
    assert prepared.expressions == [expr]


def test_prepare_per_query_dedupes(store, monkeypatch):
    calls = []
    original = filters_module.compile_filter
    original_range = filters_module._range_bitset
    original_mask = filters_module._mask_bitset

    def counting(filter, store_, n):
        calls.append(filter)
        return original(filter, store_, n)

    def counting_range(expr, store_):
        # a lone range packed straight to a bitset counts as its compilation
        packed = original_range(expr, store_)
        if packed is not None:
            calls.append(expr)
        return packed

    monkeypatch.setattr(filters_module, "compile_filter", counting)
    def counting_mask(mask_, n_):
        # so does a boolean mask array packed straight to a bitset
        packed = original_mask(mask_, n_)
        if packed is not None:
            calls.append(mask_)
        return packed

    monkeypatch.setattr(filters_module, "_range_bitset", counting_range)
    monkeypatch.setattr(filters_module, "_mask_bitset", counting_mask)
    mask = np.arange(N) % 3 == 0
    ids = BitMap(range(0, N, 7))
    per_query = [
        field("i") == 1,
        None,
        field("i") == 1,  # a new but identical expression
        (field("s") == "a") & (field("b") == True),  # noqa: E712
        (field("b") == True) & (field("s") == "a"),  # noqa: E712
        mask,
        mask,
        ids,
        np.arange(N) % 3 == 0,  # equal content, different object
        None,
    ]
    prepared = prepare_filters(per_query, store, N, len(per_query))
    assert prepared.query_filter.tolist() == [0, -1, 0, 1, 1, 2, 2, 3, 4, -1]
    assert len(calls) == 5
    assert len(prepared.bitsets) == len(prepared.bitmaps) == len(prepared.expressions) == 5
    oracles = [
        oracle(p_cmp("i", "==", 1)),
        oracle(lambda r: get(r, "s") == "a" and get(r, "b") is True),
        np.flatnonzero(mask).tolist(),
        list(range(0, N, 7)),
        np.flatnonzero(mask).tolist(),
    ]
    for j, expected in enumerate(oracles):
        assert list(prepared.bitmaps[j]) == expected
        assert prepared.counts[j] == len(expected)
        assert np.array_equal(prepared.bitsets[j], reference_bitset(expected, N))


def test_prepare_list_length_and_mask_lists(store):
    with pytest.raises(ValueError):
        prepare_filters([field("i") == 1, None], store, N, 3)
    with pytest.raises(ValueError):
        prepare_filters([], store, N, 2)
    mask = (np.arange(N) % 2 == 0).tolist()
    prepared = prepare_filters(mask, store, N, 3)
    assert prepared.query_filter.tolist() == [0, 0, 0]
    assert prepared.counts.tolist() == [N // 2]
    assert prepare_filters([], store, N, 0).query_filter.size == 0
    with pytest.raises(TypeError):
        prepare_filters(field("tags") == "x", store, N, 0)
    with pytest.raises(TypeError):
        prepare_filters([field("i") == 1, "nope"], store, N, 2)


def test_prepare_failure_leaves_inputs_unchanged(store):
    ids = BitMap([1, 2, 3])
    per_query = [ids, field("s") == 3]
    with pytest.raises(TypeError):
        prepare_filters(per_query, store, N, 2)
    assert list(ids) == [1, 2, 3]
    assert per_query[0] is ids and len(per_query) == 2
    assert store.column("s") == [get(r, "s") for r in RECORDS]


def test_prepared_bitmaps_do_not_alias_store(store):
    prepared = prepare_filters(field("nothing").is_null(), store, N, 1)
    prepared.bitmaps[0].clear()
    assert len(compile_filter(field("nothing").is_null(), store, N)) == N


# ----------------------------------------------------------------------------
# structure helpers


def test_split_conjuncts():
    a, b, c = field("a") > 1, field("b") == "x", field("c").is_null()
    assert split_conjuncts(a & b & c) == [a, b, c]
    assert split_conjuncts(a & (b & c)) == [a, b, c]
    assert split_conjuncts(a | b) == [a | b]
    assert split_conjuncts(a) == [a]
    assert split_conjuncts(None) == []
    with pytest.raises(TypeError):
        split_conjuncts("a > 1")  # type: ignore[arg-type]


def test_find_range():
    d = field("date")
    other = field("n") == 1
    assert find_range(d.between(1, 5), "date") == (1, 5, True, True, None)
    assert find_range(d == 3, "date") == (3, 3, True, True, None)
    assert find_range(d < 3, "date") == (None, 3, True, False, None)
    assert find_range(d <= 3, "date") == (None, 3, True, True, None)
    assert find_range(d > 3, "date") == (3, None, False, True, None)
    assert find_range(d >= 3, "date") == (3, None, True, True, None)
    assert find_range((d >= 2) & other & (d < 9), "date") == (2, 9, True, False, other)
    # several ranges intersect; equal bounds keep the stricter flag
    assert find_range((d >= 2) & (d > 2) & d.between(0, 7) & (d <= 8), "date") == (
        2,
        7,
        False,
        True,
        None,
    )
    more = field("s").contains("x")
    assert find_range(other & d.between(1, 2) & more, "date") == (1, 2, True, True, other & more)
    assert find_range(other, "date") is None
    assert find_range(None, "date") is None
    assert find_range(d != 3, "date") is None
    assert find_range((d > 1) | other, "date") is None
    assert find_range(~(d > 1), "date") is None
    assert find_range(field("label") == "cs", "label") is None
    assert find_range(field("flag") == True, "flag") is None  # noqa: E712
    assert find_range(d.between(5, 1), "date")[:4] == (5, 1, True, True)


def test_find_range_with_store(store):
    assert find_range(field("d") >= 20250301, "d", store=store) == (
        20250301,
        None,
        True,
        True,
        None,
    )
    assert find_range(field("i") == 3, "i", store=store) == (3, 3, True, True, None)
    assert find_range(field("b") == 1, "b", store=store) is None
    assert find_range(field("ghost") == 1, "ghost", store=store) is None


def test_find_range_agrees_with_compile(store):
    expr = (field("d") >= 20250301) & (field("s") == "a") & (field("d") < 20250901)
    lo, hi, lo_inc, hi_inc, rest = find_range(expr, "d")
    in_range = store.range_bitmap("d", lo, hi, lo_inc, hi_inc)
    assert in_range & compile_filter(rest, store, N) == compile_filter(expr, store, N)


# ----------------------------------------------------------------------------
# persistence and real data


def test_filters_identical_after_save_and_load(store, tmp_path):
    meta, sections = store.to_sections()
    path = tmp_path / "store.fanns"
    write_index_file(path, "attributes-test", meta, sections)
    meta2, sections2 = read_index_file(path, "attributes-test")
    loaded = AttributeStore.from_sections(meta2, sections2)
    for expr, _ in ATOMS:
        assert compile_filter(expr, loaded, N) == compile_filter(expr, store, N), repr(expr)


def test_arxiv_workload_filters():
    path = ARXIV_DIR / "database_attributes.jsonl"
    if not path.exists():
        pytest.skip(f"arXiv sample not found at {ARXIV_DIR}")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in islice(f, 5000)]
    n = len(records)
    arxiv = AttributeStore.from_input(records, n=n, types={"update_date": "date"})
    em = field("number_of_sub_categories") == 2
    emis = field("main_categories").contains("cs")
    rng = field("update_date").between(20250601, 20251231)
    combined = emis & rng & ~field("has_comment").isin([True])
    cases = [
        (em, lambda r: r["number_of_sub_categories"] == 2),
        (emis, lambda r: "cs" in r["main_categories"]),
        (rng, lambda r: 20250601 <= r["update_date"] <= 20251231),
        (field("number_of_versions") >= 2, lambda r: (r["number_of_versions"] or 0) >= 2),
        (field("license") == "cc-by", lambda r: False),
        (field("license").is_null(), lambda r: True),
        (
            combined,
            lambda r: (
                "cs" in r["main_categories"]
                and 20250601 <= r["update_date"] <= 20251231
                and r["has_comment"] is not True
            ),
        ),
    ]
    for expr, pred in cases:
        expected = [i for i, r in enumerate(records) if pred(r)]
        assert list(compile_filter(expr, arxiv, n)) == expected, repr(expr)


def test_lone_ranges_packed_directly_match_the_compiler():
    rng = np.random.default_rng(17)
    n = 3000
    ints = rng.integers(-50, 50, size=n).astype(object)
    ints[rng.random(n) < 0.1] = None
    floats = rng.normal(size=n).round(2).astype(object)
    floats[rng.random(n) < 0.1] = None
    dates = rng.integers(20200101, 20200131, size=n)
    store = AttributeStore.from_input(
        {"i": list(ints), "f": list(floats), "d": dates}, n=n, types={"d": "date"}
    )
    exprs = []
    for name, values in (("i", [-60, -3, 0, 2.5, 49, 200]), ("f", [-9.0, -0.5, 0.0, 0.25, 3.0])):
        for v in values:
            exprs += [field(name) < v, field(name) <= v, field(name) > v, field(name) >= v]
            exprs += [field(name) == v, field(name).between(v, v + 1)]
            exprs += [field(name).between(v, v - 1)]
    exprs += [field("d").between(20200105, 20200110), field("d") >= 20200130]
    for expr in exprs:
        prepared = prepare_filters(expr, store, n, 1)
        expected = compile_filter(expr, store, n)
        assert np.array_equal(prepared.bitsets[0], to_bitset(expected, n)), expr
        assert prepared.counts[0] == len(expected), expr
        assert list(prepared.bitmaps[0]) == list(expected), expr
    with pytest.raises(TypeError, match="'i'"):
        prepare_filters(field("i") < "x", store, n, 1)
    with pytest.raises(KeyError, match="nope"):
        prepare_filters(field("nope") < 1, store, n, 1)
