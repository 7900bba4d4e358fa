"""Limits of the filter language: long OR chains, huge isin lists, deep
nesting, and float columns compared with integers past 2**53."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from fanns import field
from fanns.attributes import AttributeStore
from fanns.filters import MAX_DEPTH, compile_filter

N = 2000


@pytest.fixture(scope="module")
def store():
    rng = np.random.default_rng(0)
    values = {
        "a": rng.integers(0, 5000, N).tolist(),
        "f": rng.normal(size=N).tolist(),
        "s": [f"s{v}" for v in rng.integers(0, 300, N)],
    }
    return AttributeStore.from_input(values, n=N), values


def test_long_or_chain_is_flat_and_correct(store):
    st, values = store
    wanted = list(range(0, 6000, 2))
    expr = field("a") == wanted[0]
    for v in wanted[1:]:
        expr = expr | (field("a") == v)
    assert len(expr.terms) == len(wanted)
    expected = {i for i, v in enumerate(values["a"]) if v % 2 == 0}
    assert set(compile_filter(expr, st, N)) == expected
    # The chain is one level deep however long it is, and pickles.
    assert pickle.loads(pickle.dumps(expr)) == expr
    # Built either way round, the chain is the same filter.
    other = field("a") == wanted[-1]
    for v in reversed(wanted[:-1]):
        other = (field("a") == v) | other
    assert other == expr and hash(other) == hash(expr)


def test_chains_mixing_operators_keep_their_meaning(store):
    st, values = store
    expr = (field("a") < 100) | (field("a") > 4900)
    expr = expr & (field("f") > 0)
    expr = expr | (field("s") == "s7")
    a, f, s = values["a"], values["f"], values["s"]
    expected = {i for i in range(N) if ((a[i] < 100 or a[i] > 4900) and f[i] > 0) or s[i] == "s7"}
    assert set(compile_filter(expr, st, N)) == expected


@pytest.mark.parametrize("kind", ["list", "array"])
def test_isin_with_a_million_values(store, kind):
    st, values = store
    wanted = np.arange(-500_000, 1_500_000, 2)  # 10**6 values
    arg = wanted.tolist() if kind == "list" else wanted
    expr = field("a").isin(arg)
    assert len(expr.values) == 10**6
    expected = {i for i, v in enumerate(values["a"]) if v % 2 == 0}
    assert set(compile_filter(expr, st, N)) == expected
    assert expr == field("a").isin(wanted[::-1].tolist())  # order does not matter


def test_isin_keeps_first_seen_order_and_types(store):
    st, values = store
    expr = field("a").isin([5, 3, 5, 1, 3])
    assert expr.values == (5, 3, 1)
    assert field("f").isin([0.5, -0.0, 0.0]).values == (0.5, -0.0)
    assert field("s").isin(["b", "a", "b"]).values == ("b", "a")
    with pytest.raises(ValueError, match="NaN"):
        field("f").isin(np.array([1.0, np.nan]))
    # An int column matched with floats: only whole numbers can match.
    rows = {i for i, v in enumerate(values["a"]) if v in (10, 11)}
    assert set(compile_filter(field("a").isin([10.0, 10.5, 11.0]), st, N)) == rows
    strings = {i for i, v in enumerate(values["s"]) if v in ("s1", "s2")}
    assert set(compile_filter(field("s").isin(["s1", "s2", "zz"]), st, N)) == strings


@pytest.mark.parametrize("op", ["~", "&", "|", "mixed"])
def test_deep_nesting_raises_a_clear_error(op):
    expr = field("a") == 1
    with pytest.raises(ValueError, match="nests deeper than"):
        for depth in range(10_000):
            leaf = field("a") == depth
            if op == "~" or (op == "mixed" and depth % 3 == 0):
                expr = ~expr
            elif op == "&" or (op == "mixed" and depth % 3 == 1):
                expr = leaf & (expr | leaf)  # alternating kinds: one level per step
            else:
                expr = leaf | (expr & leaf)


def test_nesting_up_to_the_limit_compiles(store):
    st, values = store
    expr = field("a") < 2500
    for _ in range(MAX_DEPTH - 1):
        expr = ~expr
    # MAX_DEPTH - 1 negations: odd means the complement.
    expected = {i for i, v in enumerate(values["a"]) if (v < 2500) == ((MAX_DEPTH - 1) % 2 == 0)}
    assert set(compile_filter(expr, st, N)) == expected
    assert repr(expr).startswith("~~")


BIG = 2**53


@pytest.mark.parametrize(
    ("op", "bound"),
    [
        ("<", BIG + 1),
        ("<=", BIG + 1),
        (">", BIG + 1),
        (">=", BIG + 1),
        ("<", BIG - 1),
        ("==", BIG + 1),
        ("!=", BIG + 1),
        ("<=", -BIG - 1),
        (">", -BIG - 1),
        ("<", 2**1100),
        (">", -(2**1100)),
        (">=", 2**1100),
    ],
    ids=[
        "lt",
        "le",
        "gt",
        "ge",
        "lt-below",
        "eq",
        "ne",
        "le-neg",
        "gt-neg",
        "lt-huge",
        "gt-huge",
        "ge-huge",
    ],
)
def test_float_column_against_ints_past_2_53_is_exact(op, bound):
    floats = [
        float(BIG),
        float(BIG + 2),
        float(BIG - 2),
        float(-BIG),
        float(-BIG - 2),
        0.5,
        float("inf"),
        float("-inf"),
        None,
    ]
    st = AttributeStore.from_input({"x": floats}, n=len(floats), types={"x": "float"})
    import operator

    compare = {
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]
    expected = {i for i, v in enumerate(floats) if v is not None and compare(v, bound)}
    expr = {
        "<": field("x") < bound,
        "<=": field("x") <= bound,
        ">": field("x") > bound,
        ">=": field("x") >= bound,
        "==": field("x") == bound,
        "!=": field("x") != bound,
    }[op]
    assert set(compile_filter(expr, st, len(floats))) == expected
    between = field("x").between(-bound, bound) if bound > 0 else field("x").between(bound, -bound)
    lo, hi = sorted((bound, -bound))
    assert set(compile_filter(between, st, len(floats))) == {
        i for i, v in enumerate(floats) if v is not None and lo <= v <= hi
    }
    assert set(compile_filter(field("x").isin([bound, BIG]), st, len(floats))) == {
        i for i, v in enumerate(floats) if v is not None and v in (bound, BIG)
    }
