"""Filters of a batch of queries, compiled once each, and structure helpers for planners."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap

from fanns.attributes import NUMERIC_TYPES, AttributeStore, bitmap_from_ids, pack_mask
from fanns.filters.compiler import _check_store, _check_value, compile_filter, to_bitset
from fanns.filters.expressions import And, Between, Compare, Expr

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
        return FilterGroups(distinct=[], query_filter=np.full(nq, -1, dtype=np.int32))
    if isinstance(filter, np.ndarray) and filter.dtype == object:
        per_query = list(filter)
    elif isinstance(filter, (list, tuple)) and not _looks_like_mask(filter):
        if len(filter) == 0 and nq != 0 and n == 0:
            per_query = [filter] * nq
        else:
            per_query = list(filter)
    else:
        # One filter for every query: one group, whatever nq.
        return FilterGroups(
            distinct=[filter] if nq else [], query_filter=np.zeros(nq, dtype=np.int32)
        )
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
        packed = _range_bitset(item, store) if isinstance(item, Expr) else _mask_bitset(item, n)
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


def _mask_bitset(mask: Any, n: int) -> tuple[np.ndarray, int] | None:
    """The bitset and count of a boolean mask array of length ``n``, packed
    straight from the mask (the compiler's answer without a bitmap, about 20x
    faster); ``None`` for anything else (the compiler checks it)."""
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (n,)):
        return None
    return pack_mask(mask), int(np.count_nonzero(mask))


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
