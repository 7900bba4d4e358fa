"""Compiling a filter expression, bitmap or mask to the ids that pass it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns.attributes import NUMERIC_TYPES, AttributeStore, bitmap_from_ids, bitmap_ids, pack_mask
from fanns.filters.expressions import Contains, Expr, Field
from fanns.filters.values import _NULL, _ORDERING

if TYPE_CHECKING:
    from fanns.filters.expressions import And, Between, Compare, IsIn, IsNull, Not, Or
    from fanns.filters.values import Bitmap, Scalar


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
    mask = np.zeros(n, dtype=bool)
    mask[bitmap_ids(bitmap)] = True
    return pack_mask(mask)
