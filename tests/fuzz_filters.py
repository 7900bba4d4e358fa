"""Fuzz target: random filter expressions, checked against a Python oracle."""

from __future__ import annotations

import datetime
import operator

import numpy as np

import fanns
from fanns.filters import compile_filter
from fuzz_common import (
    BIG,
    FILTER_ERRORS,
    NAMES,
    RECORDS,
    STRINGS,
    TAGS,
    TYPES,
    Draw,
    N,
    _check_result,
    _vectors,
    dense_index,
)


# ------------------------------------------------------- filter expressions
def _value(d: Draw):
    """A comparison value of any type, often a meaningful one."""
    kind = d.below(16)
    if kind == 0:
        return d.between(-60, 60)
    if kind == 1:
        return d.pick([BIG, BIG - 1, BIG + 1, 2**53, 2**63, -(2**63) - 1, 2**64, 2**62, -(2**62)])
    if kind == 2:
        return d.pick([0.5, -0.0, float("inf"), float("-inf"), float("nan"), 1e300, float(2**53)])
    if kind == 3:
        return d.double()
    if kind == 4:
        return d.pick([True, False])
    if kind == 5:
        return d.pick(STRINGS + TAGS)
    if kind == 6:
        return d.text()
    if kind == 7:
        return d.pick(
            [np.int64(3), np.float32(0.5), np.bool_(True), np.str_("a"), np.uint64(2**64 - 1)]
        )
    if kind == 8:
        return d.pick(
            [None, b"a", [1], (2,), {"a": 1}, object(), 1 + 2j, datetime.date(2020, 1, 1)]
        )
    if kind == 9:
        return d.between(20200101, 20201231)
    return d.between(-3, 3) if d.chance(2) else d.pick(STRINGS)


def _values(d: Draw) -> list:
    size = d.pick([0, 1, 2, 3, 5, 17, 1000]) if not d.chance(64) else d.pick([10**4, 10**5])
    if size > 20:  # long lists: many values of one type
        base = d.below(4)
        if base == 0:
            return list(range(-size // 2, size // 2))
        if base == 1:
            return [str(v) for v in range(size)] + STRINGS
        if base == 2:
            return [v * 0.5 for v in range(size)]
        return np.random.default_rng(d.below(2**16)).integers(-60, 60, size).tolist()
    return [_value(d) for _ in range(size)]


def random_tree(d: Draw, depth: int = 0):
    """A random filter as a nested tuple (the oracle reads it, :func:`to_expr` builds it)."""
    if depth > 0 and d.chance(200):  # a very deep chain
        tree = _leaf(d)
        for _ in range(d.pick([100, 1000, 5000])):
            tree = d.pick([("not", tree), ("and", [tree, _leaf(d)]), ("or", [tree, _leaf(d)])])
        return tree
    if depth >= 6 or d.chance(3):
        return _leaf(d)
    kind = d.below(3)
    if kind == 0:
        return ("not", random_tree(d, depth + 1))
    width = d.between(1, 4) if not d.chance(50) else d.pick([300, 3000])
    terms = [random_tree(d, depth + 1) if width <= 4 else _leaf(d) for _ in range(width)]
    return ("and" if kind == 1 else "or", terms)


def _leaf(d: Draw):
    name = d.pick(NAMES) if not d.chance(20) else d.pick([1, None, "", "\x00"])
    op = d.below(9)
    if op < 6:
        return ("cmp", name, ("==", "!=", "<", "<=", ">", ">=")[op], _value(d))
    if op == 6:
        return ("between", name, _value(d), _value(d))
    if op == 7:
        return ("isin", name, _values(d))
    if d.chance(6):
        return ("null", name)
    return (
        "contains",
        name,
        d.pick(["one", "any", "all"]),
        _values(d) if d.chance(2) else _value(d),
    )


_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def fold(tree, leaf, combine):
    """Post-order fold of a tree without recursion (trees may be thousands deep)."""
    stack, done = [(tree, False)], []
    while stack:
        node, expanded = stack.pop()
        if node[0] not in ("not", "and", "or"):
            done.append(leaf(node))
        elif not expanded:
            stack.append((node, True))
            children = [node[1]] if node[0] == "not" else node[1]
            stack.extend((child, False) for child in reversed(children))
        else:
            count = 1 if node[0] == "not" else len(node[1])
            parts = done[len(done) - count :]
            del done[len(done) - count :]
            done.append(combine(node[0], parts))
    return done[0]


def _combine_expr(kind, parts):
    if kind == "not":
        return ~parts[0]
    expr = parts[0]
    for term in parts[1:]:
        expr = (expr & term) if kind == "and" else (expr | term)
    return expr


def to_expr(tree):
    """The fanns expression for a tree; raises what the API raises for bad parts."""
    return fold(tree, _leaf_expr, _combine_expr)


def _leaf_expr(tree):
    kind = tree[0]
    f = fanns.field(tree[1])
    if kind == "cmp":
        return _OPS[tree[2]](f, tree[3])
    if kind == "between":
        return f.between(tree[2], tree[3])
    if kind == "isin":
        return f.isin(tree[2])
    if kind == "null":
        return f.is_null()
    mode, values = tree[2], tree[3]
    if mode == "one":
        return f.contains(values)
    return f.contains_any(values) if mode == "any" else f.contains_all(values)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def oracle(tree) -> set[int] | None:
    """Rows passing ``tree`` by the documented semantics, or None where the
    documentation leaves the outcome to an exception (the tree is not checked)."""
    return fold(tree, _leaf_oracle, _combine_oracle)


def _combine_oracle(kind, parts):
    if any(p is None for p in parts):
        return None
    if kind == "not":
        return set(range(N)) - parts[0]
    out = set(parts[0])
    for p in parts[1:]:
        out = out & p if kind == "and" else out | p
    return out


def _leaf_oracle(tree) -> set[int] | None:
    kind = tree[0]
    name = tree[1]
    if name not in TYPES:
        return None
    column, kind_of = RECORDS[name], TYPES[name]
    present = [i for i in range(N) if column[i] is not None]
    if kind == "null":
        return {i for i in range(N) if column[i] is None}

    def plain(v):
        return v.item() if isinstance(v, np.generic) else v

    def usable(v) -> bool:
        v = plain(v)
        if kind_of in ("int", "float", "date"):
            return _is_number(v) and v == v
        if kind_of == "bool":
            return isinstance(v, bool)
        return isinstance(v, str)

    if kind == "cmp":
        v = plain(tree[3])
        if not usable(v) or (
            tree[2] not in ("==", "!=") and kind_of not in ("int", "float", "date")
        ):
            return None
        return {i for i in present if _OPS[tree[2]](column[i], v)}
    if kind == "between":
        lo, hi = plain(tree[2]), plain(tree[3])
        if kind_of not in ("int", "float", "date") or not (usable(lo) and usable(hi)):
            return None
        return {i for i in present if lo <= column[i] <= hi}
    if kind == "isin":
        values = [plain(v) for v in tree[2]]
        if kind_of == "strings" or not all(usable(v) for v in values):
            return None
        wanted = set(values)
        return (
            {i for i in present if any(column[i] == v for v in wanted)}
            if len(wanted) < 50
            else {i for i in present if column[i] in wanted}
        )
    # contains
    if kind_of != "strings":
        return None
    mode, values = tree[2], tree[3]
    if mode == "one":
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    if mode == "all":
        return {i for i in present if set(values) <= set(column[i])}
    return {i for i in present if set(values) & set(column[i])}


def filter_target(data: bytes) -> None:
    d = Draw(data)
    tree = random_tree(d)
    index = dense_index()
    try:
        expr = to_expr(tree)
        passing = compile_filter(expr, index.attributes)
    except FILTER_ERRORS:
        return
    expected = oracle(tree)
    if expected is not None and set(passing) != expected:
        raise AssertionError(
            f"filter {expr!r} passes {len(passing)} rows, expected {len(expected)}"
        )
    if d.chance(16):
        q = _vectors(d.below(1000))[:3]
        result = index.search(q, k=7, filter=expr, threads=d.below(3))
        _check_result(result.ids, result.distances, set(passing), N)
