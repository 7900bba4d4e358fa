"""Comparison values of filter expressions: checking, normalising, printing."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np
from pyroaring import BitMap, FrozenBitMap

Scalar = Union[bool, int, float, str]
Bitmap = Union[BitMap, FrozenBitMap]

_ORDERING = ("<", "<=", ">", ">=")
_OPERATORS = ("==", "!=", *_ORDERING)
_NULL = "null"


# ----------------------------------------------------------------------------
# values


class FilterPart:
    """Base of filter expressions and field references: values that are part
    of a filter, never a constant to compare with."""

    __slots__ = ()


def _scalar(name: str, value: Any, what: str) -> Scalar:
    """Normalise one comparison value to bool / int / float / str, or raise."""
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        value = value.item()
    if value is None:
        raise TypeError(
            f"{what} on attribute {name!r} got None; use field({name!r}).is_null() "
            "to select missing values"
        )
    if isinstance(value, FilterPart):
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
    if isinstance(values, FilterPart):
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
