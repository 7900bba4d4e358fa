"""Per-shard attribute statistics, and the proof that a filter passes no row of a shard.

Each shard summarises its attribute columns: for ordered columns (int, float,
date, bool) the smallest and largest present value, for string and set-valued
columns the set of distinct values (up to :data:`MAX_VALUES`; a column with
more keeps no set), and for every column how many rows have it and how many
lack it. :func:`verdict` reads a filter expression against such a summary and
answers :data:`NONE` (no row of the shard can pass), :data:`ALL` (every row
passes) or :data:`SOME` (anything else, including "cannot tell"). It only ever
answers NONE or ALL when the statistics prove it, so skipping a shard on NONE
never changes a result.

Example:
    >>> from fanns.attributes import AttributeStore
    >>> from fanns.filters import field
    >>> stats = shard_statistics(AttributeStore.from_input({"year": [2001, 2003]}, n=2))
    >>> verdict(field("year") > 2010, stats), verdict(field("year") >= 2001, stats)
    ('none', 'all')
"""

from __future__ import annotations

from typing import Any

from fanns.attributes import NUMERIC_TYPES, AttributeStore
from fanns.filters import And, Between, Compare, Contains, Expr, IsIn, IsNull, Not, Or

__all__ = ["ALL", "MAX_VALUES", "NONE", "SOME", "shard_statistics", "verdict"]

NONE, SOME, ALL = "none", "some", "all"
#: String columns with more distinct values than this keep no value set.
MAX_VALUES = 4096


def shard_statistics(store: AttributeStore) -> dict[str, dict[str, Any]]:
    """JSON-able summary of every column of ``store`` (see the module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    n = len(store)
    for name, kind in store.types.items():
        nulls = len(store.null_bitmap(name)) if kind != "null" else n
        entry: dict[str, Any] = {"type": kind, "present": n - nulls, "missing": nulls}
        if kind in NUMERIC_TYPES or kind == "bool":
            _, values = store.sorted_order(name)
            if len(values):
                entry["min"], entry["max"] = values[0].item(), values[-1].item()
        elif kind in ("string", "strings"):
            values = store.distinct_values(name)
            entry["values"] = values if len(values) <= MAX_VALUES else None
        out[name] = entry
    return out


def _combine(verdicts, junction: str) -> str:
    seen = set(verdicts)
    if junction == "and":
        if NONE in seen:
            return NONE
        return ALL if seen == {ALL} else SOME
    if ALL in seen:
        return ALL
    return NONE if seen == {NONE} else SOME


def verdict(expr: Any, stats: dict[str, dict[str, Any]]) -> str:
    """NONE, ALL or SOME for ``expr`` on a shard summarised by ``stats``."""
    if not isinstance(expr, Expr):
        return SOME
    if isinstance(expr, And):
        return _combine((verdict(t, stats) for t in expr.terms), "and")
    if isinstance(expr, Or):
        return _combine((verdict(t, stats) for t in expr.terms), "or")
    if isinstance(expr, Not):
        inner = verdict(expr.term, stats)
        return {NONE: ALL, ALL: NONE}.get(inner, SOME)
    entry = stats.get(getattr(expr, "name", None))
    if entry is None:
        return SOME  # unknown attribute: the shard's compiler raises
    if isinstance(expr, IsNull):
        return NONE if entry["missing"] == 0 else ALL if entry["present"] == 0 else SOME
    if entry["present"] == 0:
        return NONE  # comparisons never match a missing value
    # Rows that pass a comparison must have the value; "all" also needs no missing rows.
    if entry["type"] in NUMERIC_TYPES or entry["type"] == "bool":
        passing = _ordered(expr, entry)
    else:
        passing = _valued(expr, entry)
    if passing == ALL and entry["missing"]:
        return SOME
    return passing


def _as_number(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _ordered(expr: Expr, entry: dict[str, Any]) -> str:
    """Verdict of a comparison on an ordered column with present values in [lo, hi]."""
    lo, hi = entry["min"], entry["max"]
    if isinstance(expr, Between):
        return _interval(expr.lo, expr.hi, True, True, lo, hi)
    if isinstance(expr, IsIn):
        values = [_as_number(v) for v in expr.values if not isinstance(v, str)]
        if not any(lo <= v <= hi for v in values):
            return NONE
        return ALL if lo == hi and lo in values else SOME
    if not isinstance(expr, Compare) or isinstance(expr.value, str):
        return SOME
    value = _as_number(expr.value)
    if expr.op == "==":
        return _interval(value, value, True, True, lo, hi)
    if expr.op == "!=":
        if lo == hi == value:
            return NONE
        return ALL if value < lo or value > hi else SOME
    if expr.op in ("<", "<="):
        return _interval(None, value, True, expr.op == "<=", lo, hi)
    return _interval(value, None, expr.op == ">=", True, lo, hi)


def _interval(a, b, a_inclusive: bool, b_inclusive: bool, lo, hi) -> str:
    """Verdict of ``a <(=) x <(=) b`` (``None``: open end) for x known to lie in [lo, hi]."""

    def above(x, bound, inclusive):  # x passes the lower end
        return bound is None or (x >= bound if inclusive else x > bound)

    def below(x, bound, inclusive):  # x passes the upper end
        return bound is None or (x <= bound if inclusive else x < bound)

    if not below(lo, b, b_inclusive) or not above(hi, a, a_inclusive):
        return NONE
    if (
        a is not None
        and b is not None
        and (a > b or (a == b and not (a_inclusive and b_inclusive)))
    ):
        return NONE
    return ALL if above(lo, a, a_inclusive) and below(hi, b, b_inclusive) else SOME


def _valued(expr: Expr, entry: dict[str, Any]) -> str:
    """Verdict of a comparison on a string or set-valued column with a known value set."""
    values = entry.get("values")
    if values is None:
        return SOME
    have = set(values)
    if entry["type"] == "strings":
        if not isinstance(expr, Contains):
            return SOME
        wanted = set(expr.values)
        if expr.mode == "all":
            if not wanted:
                return ALL  # every present row holds the empty set
            return NONE if not wanted <= have else SOME
        return NONE if not wanted & have else SOME
    if isinstance(expr, IsIn):
        wanted = set(expr.values)
        return NONE if not wanted & have else ALL if have <= wanted else SOME
    if not isinstance(expr, Compare) or expr.op not in ("==", "!="):
        return SOME
    equal = NONE if expr.value not in have else ALL if have == {expr.value} else SOME
    if expr.op == "==":
        return equal
    return {NONE: ALL, ALL: NONE}.get(equal, SOME)
