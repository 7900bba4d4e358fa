"""Filter expressions over vector attributes, and their compilation to bitsets.

Build a filter from :func:`field` with comparison operators and combine
filters with ``&`` (and), ``|`` (or) and ``~`` (not)::

    >>> from fanns.filters import field
    >>> recent_ml = (field("year") >= 2020) & field("cats").contains("cs.LG")
    >>> recent_ml
    (field('year') >= 2020) & field('cats').contains('cs.LG')

Operators by attribute type:

=====================  ==================================================
int, float, date       ``==  !=  <  <=  >  >=``, ``between``, ``isin``
bool                   ``==  !=``, ``isin``
string (categorical)   ``==  !=``, ``isin``
strings (set-valued)   ``contains``, ``contains_any``, ``contains_all``
any                    ``is_null``
=====================  ==================================================

Missing values
    A missing value never matches a comparison, ``between``, ``isin`` or
    ``contains*`` -- including ``!=``: ``field("a") != 1`` keeps only rows
    where ``a`` is present and differs from 1. ``~`` is the complement over all
    rows, so ``~(field("a") == 1)`` also keeps the rows where ``a`` is missing.
    ``field("a").is_null()`` selects the missing rows.

Parenthesise comparisons when combining them: ``&`` binds tighter than
``==`` in Python. Filters have no truth value (``bool(f)`` raises
``TypeError``), which catches ``and`` / ``or`` / ``not`` and chained comparisons
such as ``1 < field("a") < 3``; write ``field("a").between(lo, hi)`` for an
inclusive range.

A compiled filter is a :class:`pyroaring.BitMap` of passing row ids
(:func:`compile_filter`); the search engine receives it as a packed ``uint64``
bitset (:func:`to_bitset`). :func:`prepare_filters` does both for a batch of
queries, compiling each distinct filter once.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns.attributes import NUMERIC_TYPES, AttributeStore, bitmap_from_ids, bitmap_ids

__all__ = [
    "Expr",
    "Field",
    "FilterGroups",
    "PreparedFilters",
    "compile_filter",
    "compile_groups",
    "field",
    "find_range",
    "group_filters",
    "prepare_filters",
    "split_conjuncts",
    "to_bitset",
]

Scalar = Union[bool, int, float, str]
Bitmap = Union[BitMap, FrozenBitMap]

_ORDERING = ("<", "<=", ">", ">=")
_OPERATORS = ("==", "!=", *_ORDERING)
_NULL = "null"

# Deepest nesting of &, | and ~ a filter may have (a chain of one operator
# is one level): compiling, hashing and printing an expression recurse once
# per level, so a limit keeps them far from Python's recursion limit.
MAX_DEPTH = 100

_NO_TRUTH_VALUE = (
    "a filter expression has no truth value. Combine filters with & (and), | (or) and "
    "~ (not) instead of and/or/not, put each comparison in parentheses, and write "
    "field(name).between(lo, hi) instead of a chained comparison like lo <= field(name) <= hi"
)


# ----------------------------------------------------------------------------
# values


def _scalar(name: str, value: Any, what: str) -> Scalar:
    """Normalise one comparison value to bool / int / float / str, or raise."""
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        value = value.item()
    if value is None:
        raise TypeError(
            f"{what} on attribute {name!r} got None; use field({name!r}).is_null() "
            "to select missing values"
        )
    if isinstance(value, (Expr, Field)):
        raise TypeError(f"{what} on attribute {name!r} needs a constant, not {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(
            f"{what} on attribute {name!r} got NaN, which matches nothing; "
            f"use field({name!r}).is_null() to select missing values"
        )
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        raise TypeError(
            f"{what} on attribute {name!r} needs a single value, not a "
            f"{type(value).__name__}; use field({name!r}).isin(values) to match several"
        )
    raise TypeError(
        f"{what} on attribute {name!r} got a {type(value).__name__} value; "
        "use bool, int, float or str"
    )


def _number(name: str, value: Any, what: str) -> int | float:
    value = _scalar(name, value, what)
    if isinstance(value, bool) or isinstance(value, str):
        raise TypeError(
            f"{what} on attribute {name!r} needs a number, got a {type(value).__name__} "
            f"value {value!r}; ordering comparisons apply to int, float and date attributes"
        )
    return value


def _string(name: str, value: Any, what: str) -> str:
    if isinstance(value, np.str_):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(
            f"{what} on attribute {name!r} needs a str value, got {type(value).__name__} {value!r}"
        )
    return value


def _values(name: str, values: Any, what: str) -> list:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{what} on attribute {name!r} needs a list of values, not a "
            f"{type(values).__name__}; wrap a single value in a list"
        )
    if isinstance(values, (Expr, Field)):
        raise TypeError(f"{what} on attribute {name!r} needs a list of constants")
    return list(values)


def _uniform_values(name: str, values: Any, what: str) -> tuple[tuple, tuple] | None:
    """``(values, key)`` for a list or array of values of one type (int, float
    or str), deduplicated in first-seen order, with a key of the type and the
    sorted values; None for anything else (the per-value path handles it).
    Linear or n log n in C, so isin() over a million values stays fast."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "iuf":
            return None
        array = values
    elif isinstance(values, (list, tuple)) and values:
        types = set(map(type, values))
        if types == {str}:
            unique = tuple(dict.fromkeys(values))
            return unique, ("str", tuple(sorted(unique)))
        if types == {int}:
            try:
                array = np.array(values, dtype=np.int64)
            except OverflowError:
                return None
        elif types == {float}:
            array = np.array(values, dtype=np.float64)
        else:
            return None
    else:
        return None
    if array.dtype.kind == "f" and np.isnan(array).any():
        _scalar(name, float("nan"), what)  # raises the NaN error
    if array.size == 0:
        return None
    unique, first = np.unique(array, return_index=True)
    ordered = array[np.sort(first)]
    kind = "float" if array.dtype.kind == "f" else "int"
    return tuple(ordered.tolist()), (kind, tuple(unique.tolist()))


def _tag(value: Scalar) -> tuple[str, Scalar]:
    return (type(value).__name__, value)


def _fmt(value: Scalar) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "float('inf')" if value > 0 else "float('-inf')"
    return repr(value)


def _fmt_list(values: Sequence[Scalar]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _dedupe(values: Iterable[Scalar]) -> tuple:
    seen: dict = {}
    for value in values:
        seen.setdefault(_tag(value), value)
    return tuple(seen.values())


# ----------------------------------------------------------------------------
# expression tree


class Expr:
    """A filter expression: an immutable tree of comparisons joined by ``&``, ``|``, ``~``.

    Two expressions are equal (and hash equal) when their :meth:`key` is.

    Example:
        >>> f = (field("a") == 1) | field("b").is_null()
        >>> f == ((field("a") == 1) | field("b").is_null())
        True
    """

    __slots__ = ("_key", "_depth")

    def __init__(self, key: tuple | None, depth: int = 1) -> None:
        if depth > MAX_DEPTH:
            raise ValueError(
                f"filter expression nests deeper than {MAX_DEPTH} levels of &, | and ~; "
                "combine many terms at one level instead, e.g. field(a).isin(values) or "
                "a & b & c rather than (a & (b | (c & ...)))"
            )
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_depth", depth)

    def key(self) -> tuple:
        """Structural, hashable identity of the expression (``a & b`` and ``b & a`` agree)."""
        return self._key

    def attributes(self) -> set[str]:
        """Names of the attributes this expression reads."""
        raise NotImplementedError

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("filter expressions are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("filter expressions are immutable")

    def __bool__(self) -> bool:
        raise TypeError(_NO_TRUTH_VALUE)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self.key() == other.key()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self.key() != other.key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key())

    def __and__(self, other: Any) -> Expr:
        return And((self, _operand(other, "&")))

    def __rand__(self, other: Any) -> Expr:
        return And((_operand(other, "&"), self))

    def __or__(self, other: Any) -> Expr:
        return Or((self, _operand(other, "|")))

    def __ror__(self, other: Any) -> Expr:
        return Or((_operand(other, "|"), self))

    def __invert__(self) -> Expr:
        return Not(self)

    def __reduce__(self) -> tuple:
        return (type(self), self._args())

    def _args(self) -> tuple:
        raise NotImplementedError


def _operand(other: Any, op: str) -> Expr:
    if isinstance(other, Expr):
        return other
    if isinstance(other, Field):
        raise TypeError(
            f"{other!r} is not a filter by itself; compare it first, e.g. ({other!r} == value)"
        )
    raise TypeError(
        f"cannot combine a filter with a {type(other).__name__} using {op}; if you wrote "
        "field(a) == x & field(b) == y, add parentheses: (field(a) == x) & (field(b) == y)"
    )


def _wrap(expr: Expr) -> str:
    text = repr(expr)
    return f"({text})" if isinstance(expr, (Compare, And, Or)) else text


class Compare(Expr):
    """``field(name) <op> value`` with op one of ``== != < <= > >=``."""

    __slots__ = ("name", "op", "value")

    def __init__(self, name: str, op: str, value: Scalar) -> None:
        if op not in _OPERATORS:
            raise ValueError(f"unknown comparison operator {op!r}")
        what = f"field({name!r}) {op} ..."
        value = _number(name, value, what) if op in _ORDERING else _scalar(name, value, what)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)
        super().__init__(("cmp", name, op, _tag(value)))

    def _args(self) -> tuple:
        return (self.name, self.op, self.value)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}) {self.op} {_fmt(self.value)}"


class Between(Expr):
    """``lo <= field(name) <= hi`` (both ends inclusive)."""

    __slots__ = ("name", "lo", "hi")

    def __init__(self, name: str, lo: int | float, hi: int | float) -> None:
        what = f"field({name!r}).between()"
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "lo", _number(name, lo, what))
        object.__setattr__(self, "hi", _number(name, hi, what))
        super().__init__(("between", name, _tag(self.lo), _tag(self.hi)))

    def _args(self) -> tuple:
        return (self.name, self.lo, self.hi)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).between({_fmt(self.lo)}, {_fmt(self.hi)})"


class IsIn(Expr):
    """``field(name)`` equals one of ``values`` (an empty list matches nothing)."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: Iterable[Scalar]) -> None:
        what = f"field({name!r}).isin()"
        uniform = _uniform_values(name, values, what)
        if uniform is not None:  # one type throughout: deduplicated and keyed in bulk
            items, key = uniform
        else:
            items = _dedupe(_scalar(name, v, what) for v in _values(name, values, what))
            key = tuple(sorted(_tag(v) for v in items))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", items)
        super().__init__(("isin", name, key))

    def _args(self) -> tuple:
        return (self.name, self.values)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).isin({_fmt_list(self.values)})"


class Contains(Expr):
    """Set-valued membership: ``mode`` is ``"one"``, ``"any"`` or ``"all"``."""

    __slots__ = ("name", "mode", "values")

    _METHODS = {"one": "contains", "any": "contains_any", "all": "contains_all"}

    def __init__(self, name: str, mode: str, values: Iterable[str]) -> None:
        if mode not in self._METHODS:
            raise ValueError(f"unknown contains mode {mode!r}")
        what = f"field({name!r}).{self._METHODS[mode]}()"
        items = _dedupe(_string(name, v, what) for v in _values(name, values, what))
        if mode == "one" and len(items) != 1:
            raise ValueError(f"{what} takes exactly one value")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "values", items)
        key_values = tuple(sorted(items))
        super().__init__(("contains", name, "any" if mode == "one" else mode, key_values))

    def _args(self) -> tuple:
        return (self.name, self.mode, self.values)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        method = self._METHODS[self.mode]
        if self.mode == "one":
            return f"field({self.name!r}).contains({self.values[0]!r})"
        return f"field({self.name!r}).{method}({_fmt_list(self.values)})"


class IsNull(Expr):
    """Rows where the attribute is missing."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)
        super().__init__(("is_null", name))

    def _args(self) -> tuple:
        return (self.name,)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).is_null()"


class _Junction(Expr):
    """Terms joined by one operator. A chain ``a | b | c | ...`` built one
    operator at a time costs O(1) per step: nested junctions of the same kind
    are flattened, and the key computed, only when first needed."""

    __slots__ = ("_parts", "_terms")
    _tag_name = ""
    _symbol = ""

    def __init__(self, terms: Iterable[Expr]) -> None:
        parts = tuple(terms)
        depth = 1
        for term in parts:
            if not isinstance(term, Expr):
                raise TypeError(f"cannot combine a filter with a {type(term).__name__}")
            # A junction of the same kind merges into this one: no new level.
            depth = max(depth, term._depth if type(term) is type(self) else term._depth + 1)
        if not parts:
            raise ValueError(f"{type(self).__name__} needs at least one term")
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_terms", None)
        super().__init__(None, depth)

    @property
    def terms(self) -> tuple[Expr, ...]:
        """The terms, with nested junctions of the same kind merged in."""
        if self._terms is None:
            flat: list[Expr] = []
            stack = list(reversed(self._parts))
            while stack:
                term = stack.pop()
                if type(term) is not type(self):
                    flat.append(term)
                elif term._terms is not None:
                    flat.extend(term._terms)
                else:
                    stack.extend(reversed(term._parts))
            object.__setattr__(self, "_terms", tuple(flat))
        return self._terms

    def key(self) -> tuple:
        if self._key is None:
            keys = tuple(sorted((t.key() for t in self.terms), key=repr))
            object.__setattr__(self, "_key", (self._tag_name, keys))
        return self._key

    def _args(self) -> tuple:
        return (self.terms,)

    def attributes(self) -> set[str]:
        return set().union(*(t.attributes() for t in self.terms))

    def __repr__(self) -> str:
        return f" {self._symbol} ".join(_wrap(t) for t in self.terms)


class And(_Junction):
    """All terms pass."""

    __slots__ = ()
    _tag_name = "and"
    _symbol = "&"


class Or(_Junction):
    """At least one term passes."""

    __slots__ = ()
    _tag_name = "or"
    _symbol = "|"


class Not(Expr):
    """Complement over all rows (rows with missing values included)."""

    __slots__ = ("term",)

    def __init__(self, term: Expr) -> None:
        if not isinstance(term, Expr):
            raise TypeError(f"~ needs a filter, not a {type(term).__name__}")
        object.__setattr__(self, "term", term)
        super().__init__(None, term._depth + 1)

    def key(self) -> tuple:
        if self._key is None:
            object.__setattr__(self, "_key", ("not", self.term.key()))
        return self._key

    def _args(self) -> tuple:
        return (self.term,)

    def attributes(self) -> set[str]:
        return self.term.attributes()

    def __repr__(self) -> str:
        return "~" + _wrap(self.term)


class Field:
    """An attribute reference; comparing it builds a filter expression.

    Example:
        >>> field("year").between(2019, 2021)
        field('year').between(2019, 2021)
        >>> field("authors").contains_any(["Ada", "Alan"])
        field('authors').contains_any(['Ada', 'Alan'])
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"an attribute name must be a non-empty str, got {name!r}")
        object.__setattr__(self, "name", name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("fields are immutable")

    def __reduce__(self) -> tuple:
        return (Field, (self.name,))

    def __repr__(self) -> str:
        return f"field({self.name!r})"

    def __eq__(self, value: Any) -> Expr:  # type: ignore[override]
        return Compare(self.name, "==", value)

    def __ne__(self, value: Any) -> Expr:  # type: ignore[override]
        return Compare(self.name, "!=", value)

    def __lt__(self, value: Any) -> Expr:
        return Compare(self.name, "<", value)

    def __le__(self, value: Any) -> Expr:
        return Compare(self.name, "<=", value)

    def __gt__(self, value: Any) -> Expr:
        return Compare(self.name, ">", value)

    def __ge__(self, value: Any) -> Expr:
        return Compare(self.name, ">=", value)

    def between(self, lo: int | float, hi: int | float) -> Expr:
        """``lo <= value <= hi``; matches nothing when ``lo > hi``."""
        return Between(self.name, lo, hi)

    def isin(self, values: Iterable[Scalar]) -> Expr:
        """Value equals one of ``values``; ``isin([])`` matches nothing."""
        return IsIn(self.name, values)

    def contains(self, value: str) -> Expr:
        """Set-valued attribute holds ``value``."""
        return Contains(self.name, "one", [value])

    def contains_any(self, values: Iterable[str]) -> Expr:
        """Set-valued attribute holds at least one of ``values`` (``[]`` matches nothing)."""
        return Contains(self.name, "any", values)

    def contains_all(self, values: Iterable[str]) -> Expr:
        """Set-valued attribute holds every one of ``values`` (``[]``: every present row)."""
        return Contains(self.name, "all", values)

    def is_null(self) -> Expr:
        """Attribute is missing."""
        return IsNull(self.name)

    def _not_a_filter(self, *_: Any) -> Expr:
        raise TypeError(
            f"{self!r} is not a filter by itself; compare it first, e.g. ({self!r} == value), "
            "and put each comparison in parentheses when combining with & or |"
        )

    __and__ = __rand__ = __or__ = __ror__ = __invert__ = _not_a_filter


def field(name: str) -> Field:
    """Refer to attribute ``name`` in a filter expression.

    Example:
        >>> (field("year") >= 2020) & ~field("venue").isin(["arXiv"])
        (field('year') >= 2020) & ~field('venue').isin(['arXiv'])
    """
    return Field(name)


# ----------------------------------------------------------------------------
# compilation


def _mismatch(name: str, kind: str, value: Any) -> TypeError:
    return TypeError(
        f"attribute {name!r} holds {kind} values; cannot compare it with the "
        f"{type(value).__name__} value {value!r}"
    )


def _check_value(name: str, kind: str, value: Scalar) -> None:
    if kind == _NULL:
        return
    if kind in NUMERIC_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise _mismatch(name, kind, value)


def _scalar_kind(store: AttributeStore, name: str, what: str) -> str:
    kind = store.type_of(name)
    if kind == "strings":
        raise TypeError(
            f"attribute {name!r} is set-valued (strings); {what} does not apply to it. "
            f"Use field({name!r}).contains(v), .contains_any(values) or .contains_all(values)"
        )
    return kind


class _Compiler:
    def __init__(self, store: AttributeStore, n: int) -> None:
        self.store = store
        self.n = n

    def run(self, expr: Expr) -> Bitmap:
        method = getattr(self, "_" + type(expr).__name__.lower(), None)
        if method is None:
            raise TypeError(f"cannot compile a {type(expr).__name__}")
        return method(expr)

    def _compare(self, expr: Compare) -> Bitmap:
        name, op, value = expr.name, expr.op, expr.value
        kind = _scalar_kind(self.store, name, f"{op}")
        _check_value(name, kind, value)
        if kind == _NULL:
            return BitMap()
        if kind == "string":
            if op in _ORDERING:
                raise TypeError(
                    f"attribute {name!r} is a categorical string; {op} is not supported "
                    "(use ==, != or isin)"
                )
            equal = self.store.value_bitmap(name, value)
            return equal if op == "==" else self.store.valid_bitmap(name) - equal
        if kind == "bool":
            if op in _ORDERING:
                raise TypeError(f"attribute {name!r} is bool; {op} is not supported (use ==)")
            equal = self.store.range_bitmap(name, int(value), int(value))
            return equal if op == "==" else self.store.valid_bitmap(name) - equal
        if op == "==":
            return self.store.range_bitmap(name, value, value)
        if op == "!=":
            return self.store.valid_bitmap(name) - self.store.range_bitmap(name, value, value)
        if op in ("<", "<="):
            return self.store.range_bitmap(name, None, value, True, op == "<=")
        return self.store.range_bitmap(name, value, None, op == ">=", True)

    def _between(self, expr: Between) -> Bitmap:
        kind = _scalar_kind(self.store, expr.name, "between()")
        if kind == _NULL:
            return BitMap()
        if kind not in NUMERIC_TYPES:
            raise TypeError(
                f"attribute {expr.name!r} is {kind}; between() applies to int, float and "
                "date attributes"
            )
        return self.store.range_bitmap(expr.name, expr.lo, expr.hi)

    def _isin(self, expr: IsIn) -> Bitmap:
        name = expr.name
        kind = self.store.type_of(name)
        if kind == "strings":
            raise TypeError(
                f"attribute {name!r} is set-valued (strings); use "
                f"field({name!r}).contains_any(values) instead of isin()"
            )
        for value in {type(v): v for v in expr.values}.values():  # one check per type
            _check_value(name, kind, value)
        if kind == _NULL or not expr.values:
            return BitMap()
        if kind == "string":
            bitmaps = [self.store.value_bitmap(name, v) for v in expr.values]
            return BitMap.union(*bitmaps)
        return self.store.isin_bitmap(name, [int(v) if kind == "bool" else v for v in expr.values])

    def _contains(self, expr: Contains) -> Bitmap:
        name = expr.name
        kind = self.store.type_of(name)
        if kind == _NULL:
            return BitMap()
        if kind != "strings":
            hint = " (use == or isin for a categorical string)" if kind == "string" else ""
            raise TypeError(
                f"{Contains._METHODS[expr.mode]}() needs a set-valued (strings) attribute; "
                f"attribute {name!r} is {kind}{hint}"
            )
        if not expr.values:
            return BitMap() if expr.mode != "all" else self.store.valid_bitmap(name)
        bitmaps = [self.store.value_bitmap(name, v) for v in expr.values]
        if expr.mode == "all":
            bitmaps.sort(key=len)
            return BitMap.intersection(*bitmaps)
        return BitMap.union(*bitmaps)

    def _isnull(self, expr: IsNull) -> Bitmap:
        return self.store.null_bitmap(expr.name)

    def _and(self, expr: And) -> Bitmap:
        bitmaps = sorted((self.run(t) for t in expr.terms), key=len)
        return BitMap.intersection(*bitmaps)

    def _or(self, expr: Or) -> Bitmap:
        return BitMap.union(*(self.run(t) for t in expr.terms))

    def _not(self, expr: Not) -> Bitmap:
        return self.run(expr.term).flip(0, self.n)


def _check_store(store: AttributeStore | None, n: int) -> AttributeStore:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if store is None:
        return AttributeStore(int(n))
    if not isinstance(store, AttributeStore):
        raise TypeError(f"store must be an AttributeStore, not {type(store).__name__}")
    if len(store) != n:
        raise ValueError(f"the attribute store has {len(store)} rows but the index has {n}")
    return store


def compile_filter(filter: Any, store: AttributeStore | None, n: int) -> BitMap:
    """Return the ids in ``[0, n)`` that pass ``filter``, as a new :class:`pyroaring.BitMap`.

    ``filter`` is an expression built with :func:`field`, a ``BitMap`` /
    ``FrozenBitMap`` of ids, or a boolean mask of length ``n``.

    Example:
        >>> store = AttributeStore.from_input({"year": [2018, 2021, None, 2024]}, n=4)
        >>> list(compile_filter(field("year") > 2020, store, 4))
        [1, 3]
        >>> list(compile_filter(~(field("year") > 2020), store, 4))
        [0, 2]
    """
    store = _check_store(store, n)
    n = int(n)
    if isinstance(filter, Expr):
        result = _Compiler(store, n).run(filter)
        # the compiler builds new BitMaps; only FrozenBitMaps may be shared with the store
        return result if type(result) is BitMap else BitMap(result)
    if isinstance(filter, (BitMap, FrozenBitMap)):
        if len(filter) and filter.max() >= n:
            raise ValueError(f"filter bitmap holds id {filter.max()}, but the index has {n} ids")
        return BitMap(filter)
    if isinstance(filter, Field):
        raise TypeError(f"{filter!r} is not a filter by itself; compare it, e.g. {filter!r} == v")
    if filter is None or isinstance(filter, (bool, np.bool_, str, bytes, Mapping)):
        raise TypeError(
            f"a filter must be an expression, a pyroaring.BitMap of ids or a boolean mask, "
            f"not {type(filter).__name__}"
        )
    if isinstance(filter, np.ndarray) or isinstance(filter, Sequence):
        mask = np.asarray(filter)
        if mask.dtype != np.bool_:
            if mask.size == 0 and mask.dtype == np.float64:
                mask = mask.astype(bool)
            else:
                raise TypeError(
                    f"a filter mask must have dtype bool, got {mask.dtype}; pass ids as a "
                    "pyroaring.BitMap"
                )
        if mask.ndim != 1 or len(mask) != n:
            raise ValueError(f"a filter mask must have shape ({n},), got {mask.shape}")
        return bitmap_from_ids(np.flatnonzero(mask))
    raise TypeError(
        "a filter must be an expression, a pyroaring.BitMap of ids or a boolean mask, "
        f"not {type(filter).__name__}"
    )


def to_bitset(bitmap: Bitmap, n: int) -> np.ndarray:
    """Pack ``bitmap`` into ``ceil(n / 64)`` ``uint64`` words: bit ``i % 64`` of word ``i // 64``.

    Example:
        >>> to_bitset(BitMap([0, 3, 64]), 65).tolist()
        [9, 1]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    words = (n + 63) // 64
    if not isinstance(bitmap, (BitMap, FrozenBitMap)):
        raise TypeError(f"to_bitset needs a pyroaring.BitMap, not {type(bitmap).__name__}")
    if len(bitmap) == 0:
        return np.zeros(words, dtype=np.uint64)
    if bitmap.max() >= n:
        raise ValueError(f"bitmap holds id {bitmap.max()}, outside [0, {n})")
    mask = np.zeros(words * 64, dtype=bool)
    mask[bitmap_ids(bitmap)] = True
    packed = np.packbits(mask, bitorder="little")
    return packed.view("<u8").astype(np.uint64, copy=False)


# ----------------------------------------------------------------------------
# batches of queries


@dataclass(frozen=True)
class PreparedFilters:
    """Compiled filters for one search call.

    ``bitsets[j]``, ``bitmaps[j]``, ``counts[j]`` and ``expressions[j]`` describe
    the ``j``-th distinct filter; query ``i`` uses filter ``query_filter[i]``
    (``-1``: unfiltered). A filter left uncompiled (see :func:`compile_groups`)
    has ``None`` bitmap and bitset and count ``-1``.
    """

    bitsets: list[np.ndarray | None]
    query_filter: np.ndarray
    counts: np.ndarray
    expressions: list[Any]

    def __len__(self) -> int:
        return len(self.bitsets)

    @property
    def bitmaps(self) -> list[BitMap | None]:
        """The passing ids of each distinct filter as a ``pyroaring.BitMap``
        (made from its bitset on each access)."""
        return [None if b is None else _bitset_ids(b) for b in self.bitsets]


def _bitset_ids(bitset: np.ndarray) -> BitMap:
    ids = np.flatnonzero(np.unpackbits(bitset.view(np.uint8), bitorder="little"))
    return bitmap_from_ids(ids)


def _looks_like_mask(items: Sequence[Any]) -> bool:
    return len(items) > 0 and isinstance(items[0], (bool, np.bool_))


@dataclass(frozen=True)
class FilterGroups:
    """The distinct filters of a batch, before compilation.

    Query ``i`` uses ``distinct[query_filter[i]]`` (``-1``: unfiltered).
    """

    distinct: list[Any]
    query_filter: np.ndarray


def group_filters(filter: Any, n: int, nq: int) -> FilterGroups:
    """Collect the distinct filters of a batch of ``nq`` queries over ``n`` rows.

    ``filter`` is ``None`` (no filtering), one filter for every query, or a
    list/tuple of ``nq`` filters (``None`` entries are unfiltered). Identical
    expressions (same :meth:`Expr.key`) and the same bitmap or mask object
    are one group. Nothing is compiled or checked against the attributes:
    see :func:`compile_groups`.

    Example:
        >>> g = group_filters([field("a") > 1, None, field("a") > 1], 3, 3)
        >>> len(g.distinct), g.query_filter.tolist()
        (1, [0, -1, 0])
    """
    if isinstance(nq, bool) or not isinstance(nq, (int, np.integer)) or nq < 0:
        raise ValueError(f"nq must be a non-negative integer, got {nq!r}")
    nq = int(nq)
    if filter is None:
        per_query: list[Any] = [None] * nq
    elif isinstance(filter, np.ndarray) and filter.dtype == object:
        per_query = list(filter)
    elif isinstance(filter, (list, tuple)) and not _looks_like_mask(filter):
        if len(filter) == 0 and nq != 0 and n == 0:
            per_query = [filter] * nq
        else:
            per_query = list(filter)
    else:
        per_query = [filter] * nq
    if len(per_query) != nq:
        raise ValueError(
            f"a list of filters needs one entry per query: got {len(per_query)} for {nq} queries"
        )
    slots: dict[tuple, int] = {}
    distinct: list[Any] = []
    query_filter = np.full(nq, -1, dtype=np.int32)
    for i, item in enumerate(per_query):
        if item is None:
            continue
        key = ("expr", item.key()) if isinstance(item, Expr) else ("object", id(item))
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(distinct)
            distinct.append(item)
        query_filter[i] = slot
    return FilterGroups(distinct=distinct, query_filter=query_filter)


def compile_groups(
    groups: FilterGroups,
    store: AttributeStore | None,
    n: int,
    *,
    skip: Collection[int] = (),
) -> PreparedFilters:
    """Compile every distinct filter of ``groups`` except those numbered in ``skip``.

    A skipped filter has ``None`` for its bitmap and bitset and ``-1`` for its
    count; its expression is kept.

    Example:
        >>> store = AttributeStore.from_input({"a": [1, 2, 3]}, n=3)
        >>> g = group_filters([field("a") > 1, field("a") == 1], 3, 2)
        >>> compile_groups(g, store, 3, skip={1}).counts.tolist()
        [2, -1]
    """
    store = _check_store(store, n)
    bitsets: list[np.ndarray | None] = []
    counts: list[int] = []
    for j, item in enumerate(groups.distinct):
        if j in skip:
            bitsets.append(None)
            counts.append(-1)
            continue
        packed = _range_bitset(item, store) if isinstance(item, Expr) else None
        if packed is None:
            bitmap = compile_filter(item, store, n)
            packed = (to_bitset(bitmap, n), len(bitmap))
        bitsets.append(packed[0])
        counts.append(packed[1])
    return PreparedFilters(
        bitsets=bitsets,
        query_filter=groups.query_filter,
        counts=np.array(counts, dtype=np.int64),
        expressions=list(groups.distinct),
    )


def _range_bitset(expr: Expr, store: AttributeStore) -> tuple[np.ndarray, int] | None:
    """The bitset and count of a lone range or comparison on a numeric column,
    packed straight from the column's sorted order (the compiler's answer
    without a bitmap); ``None`` for any other expression."""
    if isinstance(expr, Between):
        name, lo, hi, lo_inclusive, hi_inclusive = expr.name, expr.lo, expr.hi, True, True
    elif isinstance(expr, Compare) and expr.op in ("==", "<", "<=", ">", ">="):
        name, op, value = expr.name, expr.op, expr.value
        if op == "==":
            lo, hi, lo_inclusive, hi_inclusive = value, value, True, True
        elif op in ("<", "<="):
            lo, hi, lo_inclusive, hi_inclusive = None, value, True, op == "<="
        else:
            lo, hi, lo_inclusive, hi_inclusive = value, None, op == ">=", True
    else:
        return None
    if name not in store or store.type_of(name) not in NUMERIC_TYPES:
        return None  # the compiler raises or answers
    if isinstance(expr, Compare):
        _check_value(name, store.type_of(name), expr.value)
    return store.range_bitset(name, lo, hi, lo_inclusive, hi_inclusive)


def prepare_filters(filter: Any, store: AttributeStore | None, n: int, nq: int) -> PreparedFilters:
    """Compile the filter(s) of a batch of ``nq`` queries, each distinct one once.

    ``filter`` is ``None`` (no filtering), one filter for every query, or a
    list/tuple of ``nq`` filters (``None`` entries are unfiltered). Identical
    expressions (same :meth:`Expr.key`) and the same bitmap or mask object are
    compiled once.

    Example:
        >>> store = AttributeStore.from_input({"a": [1, 2, 3]}, n=3)
        >>> p = prepare_filters([field("a") > 1, None, field("a") > 1], store, 3, 3)
        >>> p.query_filter.tolist(), p.counts.tolist()
        ([0, -1, 0], [2])
    """
    store = _check_store(store, n)
    groups = group_filters(filter, n, nq)
    one_for_all = not (
        filter is None
        or (isinstance(filter, np.ndarray) and filter.dtype == object)
        or (isinstance(filter, (list, tuple)) and not _looks_like_mask(filter))
    )
    if nq == 0 and one_for_all:
        compile_filter(filter, store, n)  # still report a bad filter
    return compile_groups(groups, store, n)


# ----------------------------------------------------------------------------
# structure helpers for planners


def split_conjuncts(expr: Expr | None) -> list[Expr]:
    """Top-level AND terms of ``expr`` (``[]`` for ``None``).

    Example:
        >>> split_conjuncts((field("a") > 1) & (field("b") == "x") & field("c").is_null())
        [field('a') > 1, field('b') == 'x', field('c').is_null()]
    """
    if expr is None:
        return []
    if isinstance(expr, And):
        return list(expr.terms)
    if isinstance(expr, Expr):
        return [expr]
    raise TypeError(f"split_conjuncts needs a filter expression, not {type(expr).__name__}")


def _as_range(term: Expr, attribute: str) -> tuple | None:
    if isinstance(term, Between) and term.name == attribute:
        return (term.lo, term.hi, True, True)
    if not isinstance(term, Compare) or term.name != attribute:
        return None
    value = term.value
    if isinstance(value, (bool, str)):
        return None
    if term.op == "==":
        return (value, value, True, True)
    if term.op in ("<", "<="):
        return (None, value, True, term.op == "<=")
    if term.op in (">", ">="):
        return (value, None, term.op == ">=", True)
    return None


def find_range(
    expr: Expr | None, attribute: str, *, store: AttributeStore | None = None
) -> tuple[int | float | None, int | float | None, bool, bool, Expr | None] | None:
    """Find a numeric range on ``attribute`` among the top-level AND terms of ``expr``.

    Returns ``(lo, hi, lo_inclusive, hi_inclusive, rest)`` or ``None`` if no
    term is a range on ``attribute``. ``lo`` / ``hi`` are ``None`` for an open
    end (its flag is then ``True``); several range terms are intersected, so the
    range may be empty (``lo > hi``). ``rest`` is the AND of the other terms, or
    ``None``. With ``store``, only int, float and date attributes qualify.

    Example:
        >>> f = (field("date") >= 20250101) & (field("date") < 20250201) & (field("n") == 1)
        >>> find_range(f, "date")
        (20250101, 20250201, True, False, field('n') == 1)
    """
    if store is not None and (
        attribute not in store or store.type_of(attribute) not in NUMERIC_TYPES
    ):
        return None
    lo: int | float | None = None
    hi: int | float | None = None
    lo_inclusive = hi_inclusive = True
    found = False
    rest: list[Expr] = []
    for term in split_conjuncts(expr):
        bounds = _as_range(term, attribute)
        if bounds is None:
            rest.append(term)
            continue
        found = True
        t_lo, t_hi, t_lo_inc, t_hi_inc = bounds
        if t_lo is not None:
            if lo is None or t_lo > lo:
                lo, lo_inclusive = t_lo, t_lo_inc
            elif t_lo == lo:
                lo_inclusive = lo_inclusive and t_lo_inc
        if t_hi is not None:
            if hi is None or t_hi < hi:
                hi, hi_inclusive = t_hi, t_hi_inc
            elif t_hi == hi:
                hi_inclusive = hi_inclusive and t_hi_inc
    if not found:
        return None
    remainder = None if not rest else rest[0] if len(rest) == 1 else And(rest)
    return lo, hi, lo_inclusive, hi_inclusive, remainder
