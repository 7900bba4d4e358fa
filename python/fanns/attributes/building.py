"""Columns from user input (type inference, records, arrays) and from saved sections."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fanns.attributes._common import (
    _I64_MAX,
    _MAX_ROWS,
    _NULL,
    ATTRIBUTE_TYPES,
    NUMERIC_TYPES,
    _NullColumn,
)
from fanns.attributes.numeric import _NumericColumn
from fanns.attributes.postings import _Dictionary, _encode_strings, _SetColumn, _StringColumn

if TYPE_CHECKING:
    from fanns.attributes._common import _Column


# ----------------------------------------------------------------------------
# value classification


def _category(t: type) -> str:
    if t is type(None):
        return "none"
    if issubclass(t, (bool, np.bool_)):
        return "bool"
    if issubclass(t, (int, np.integer)):
        return "int"
    if issubclass(t, (float, np.floating)):
        return "float"
    if issubclass(t, str):
        return "str"
    if issubclass(t, (list, tuple, set, frozenset, np.ndarray)):
        return "list"
    return "other"


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _describe(categories: Iterable[str]) -> str:
    return ", ".join(sorted(categories))


def _infer_type(name: str, categories: set[str]) -> str:
    if not categories:
        return _NULL
    if categories == {"bool"}:
        return "bool"
    if categories == {"int"}:
        return "int"
    if categories <= {"int", "float"}:
        return "float"
    if categories == {"str"}:
        return "string"
    if categories == {"list"}:
        return "strings"
    raise TypeError(
        f"attribute {name!r} mixes incompatible value types ({_describe(categories)}); "
        "declare its type or clean the column"
    )


_ALLOWED = {
    "int": {"int", "float"},
    "date": {"int", "float"},
    "float": {"int", "float"},
    "bool": {"bool"},
    "string": {"str"},
    "strings": {"list"},
}


# ----------------------------------------------------------------------------
# building columns from user input


def _numeric_from_list(name: str, kind: str, values: list, categories: set[str]) -> _Column:
    valid = np.fromiter(
        map(operator.is_not, values, itertools.repeat(None)), dtype=bool, count=len(values)
    )
    if kind == "bool":
        array_ = np.array([False if v is None else bool(v) for v in values], dtype=np.uint8)
        return _NumericColumn(kind, array_, valid)
    if "float" not in categories:
        try:
            ints = np.array([0 if v is None else v for v in values], dtype=np.int64)
        except OverflowError as exc:
            raise ValueError(
                f"attribute {name!r} holds an integer outside the int64 range"
            ) from exc
        if kind == "float":
            return _NumericColumn(kind, ints.astype(np.float64), valid)
        return _NumericColumn(kind, ints, valid)
    floats = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return _numeric_from_array(name, kind, floats)


def _numeric_from_array(name: str, kind: str, data: np.ndarray) -> _Column:
    """Build a numeric column from a 1-d numpy array of bool / int / float dtype."""
    if data.dtype.kind == "b":
        if kind != "bool":
            raise TypeError(f"attribute {name!r} is declared {kind} but holds bool values")
        return _NumericColumn(kind, data.astype(np.uint8), np.ones(len(data), dtype=bool))
    if kind == "bool":
        raise TypeError(f"attribute {name!r} is declared bool but holds {data.dtype} values")
    if data.dtype.kind in "iu":
        if data.dtype == np.uint64 and data.size and data.max() > np.uint64(_I64_MAX):
            raise ValueError(f"attribute {name!r} holds an integer outside the int64 range")
        target = np.float64 if kind == "float" else np.int64
        return _NumericColumn(kind, data.astype(target), np.ones(len(data), dtype=bool))
    floats = data.astype(np.float64)
    valid = ~np.isnan(floats)
    if kind == "float":
        return _NumericColumn(kind, floats, valid)
    present = floats[valid]
    if present.size:
        if not np.all(np.isfinite(present)) or np.any(present != np.floor(present)):
            bad = present[~np.isfinite(present) | (present != np.floor(present))][0]
            raise TypeError(
                f"attribute {name!r} is {kind} but holds the non-integer value {float(bad)!r}"
            )
        if present.min() < -(2.0**63) or present.max() >= 2.0**63:
            raise ValueError(f"attribute {name!r} holds an integer outside the int64 range")
    ints = np.zeros(len(floats), dtype=np.int64)
    ints[valid] = present.astype(np.int64)
    return _NumericColumn(kind, ints, valid)


def _string_from_list(values: list) -> _Column:
    dictionary, codes = _encode_strings(values)
    return _StringColumn(dictionary, codes)


def _strings_from_list(name: str, values: list) -> _Column:
    n = len(values)
    valid = np.fromiter(map(operator.is_not, values, itertools.repeat(None)), dtype=bool, count=n)
    present = list(itertools.compress(values, valid.tolist()))
    if any(issubclass(t, (set, frozenset)) for t in set(map(type, present))):
        present = [sorted(v) if isinstance(v, (set, frozenset)) else v for v in present]
    lengths = np.zeros(n, dtype=np.int64)
    lengths[valid] = np.fromiter(map(len, present), dtype=np.int64, count=len(present))
    flat = list(itertools.chain.from_iterable(present))
    element_categories = {_category(t) for t in set(map(type, flat))}
    if element_categories - {"str"}:
        raise TypeError(
            f"attribute {name!r} is set-valued (strings) but its lists hold "
            f"{_describe(element_categories - {'str'})} elements; only strings are supported"
        )
    dictionary, codes = _encode_strings(flat)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return _SetColumn(dictionary, offsets, codes, valid)


def _column_from_array(name: str, data: np.ndarray, declared: str | None) -> _Column | None:
    """Fast path for numpy columns; ``None`` means fall back to the generic path."""
    kind = data.dtype.kind
    if kind in "biuf":
        if declared in ("string", "strings"):
            raise TypeError(
                f"attribute {name!r} is declared {declared} but holds {data.dtype} values"
            )
        if declared is None:
            declared = {"b": "bool", "i": "int", "u": "int", "f": "float"}[kind]
            if kind == "f" and data.size and np.isnan(data).all():
                return _NullColumn(len(data))
        return _numeric_from_array(name, declared, data)
    if kind == "U":
        if declared not in (None, "string"):
            raise TypeError(f"attribute {name!r} is declared {declared} but holds str values")
        uniques, inverse = np.unique(data, return_inverse=True)
        dictionary = _Dictionary([str(v) for v in uniques.tolist()])
        return _StringColumn(dictionary, inverse.reshape(-1).astype(np.int32))
    if kind == "O":
        return None
    raise TypeError(
        f"attribute {name!r} has unsupported dtype {data.dtype}; "
        "use bool, integer, float, str or object columns"
    )


def _build_column(name: str, column: Any, n: int, declared: str | None) -> _Column:
    is_sequence = hasattr(column, "__len__") and hasattr(column, "__iter__")
    is_array = isinstance(column, np.ndarray) or hasattr(column, "__array__")
    if isinstance(column, (str, bytes, Mapping)) or not (is_sequence or is_array):
        raise TypeError(
            f"attribute {name!r} must be a sequence of {n} values, not {type(column).__name__}"
        )
    if is_array and not isinstance(column, (list, tuple)):
        data = np.asarray(column)
        if data.ndim != 1:
            raise ValueError(f"attribute {name!r} must be one-dimensional, got shape {data.shape}")
        if len(data) != n:
            raise ValueError(f"attribute {name!r} has {len(data)} values, expected {n}")
        built = _column_from_array(name, data, declared)
        if built is not None:
            return built
        values = data.tolist()
    else:
        if len(column) != n:
            raise ValueError(f"attribute {name!r} has {len(column)} values, expected {n}")
        values = list(column)
    return _column_from_values(name, values, declared)


def _column_from_values(name: str, values: list, declared: str | None) -> _Column:
    n = len(values)
    categories = {_category(t) for t in set(map(type, values))}
    categories.discard("none")
    if "other" in categories:
        odd = sorted(
            {type(v).__name__ for v in values if v is not None and _category(type(v)) == "other"}
        )
        raise TypeError(f"attribute {name!r} holds unsupported value types: {', '.join(odd)}")
    if "float" in categories and (
        categories - {"float", "int"} or declared in ("bool", "string", "strings")
    ):
        nan_only = all(_is_nan(v) for v in values if _category(type(v)) == "float")
        if nan_only:
            # NaN marks a missing entry in a non-numeric column
            values = [None if _is_nan(v) else v for v in values]
            categories.discard("float")
    if declared is None:
        kind = _infer_type(name, categories)
    else:
        kind = declared
        extra = categories - _ALLOWED[kind]
        if extra:
            raise TypeError(
                f"attribute {name!r} is declared {kind} but holds {_describe(extra)} values"
            )
    if kind == _NULL:
        return _NullColumn(n)
    if kind in NUMERIC_TYPES or kind == "bool":
        return _numeric_from_list(name, kind, values, categories)
    if kind == "string":
        return _string_from_list(values)
    return _strings_from_list(name, values)


class _SectionReader:
    def __init__(self, sections: Mapping[str, np.ndarray], prefix: str, name: str, used: set):
        self.sections = sections
        self.prefix = prefix
        self.name = name
        self.used = used

    def where(self) -> str:
        return f"attribute {self.name!r}"

    def get(self, part: str, dtype: Any, length: int | None = None) -> np.ndarray:
        key = self.prefix + part
        if key not in self.sections:
            raise ValueError(f"{self.where()}: missing section {key!r}")
        self.used.add(key)
        data = np.asarray(self.sections[key])
        if data.dtype != np.dtype(dtype) or data.ndim != 1:
            raise ValueError(
                f"{self.where()}: section {key!r} has dtype {data.dtype} and shape "
                f"{data.shape}, expected a 1-d {np.dtype(dtype)} array"
            )
        if length is not None and len(data) != length:
            raise ValueError(
                f"{self.where()}: section {key!r} has {len(data)} entries, expected {length}"
            )
        return data

    def dtype_of(self, part: str, allowed: tuple) -> np.dtype:
        """The dtype of a section that may hold any of ``allowed`` (the first
        when it holds another, so that :meth:`get` names the mismatch)."""
        key = self.prefix + part
        held = getattr(self.sections.get(key), "dtype", None)
        return held if held in [np.dtype(t) for t in allowed] else np.dtype(allowed[0])

    def dictionary(self, lazy: bool = False) -> _Dictionary:
        data = self.get("dict_bytes", np.uint8)
        offsets = self.get("dict_offsets", np.int64)
        return _Dictionary.decode(self.where(), data, offsets, lazy=lazy)

    def postings(self, n: int, total: int, codes: int) -> tuple[np.ndarray, np.ndarray]:
        """Saved posting lists (``total`` row ids for ``codes`` strings) after
        the checks that keep every lookup in range."""
        postings = self.get("postings", np.uint32, total)
        offsets = self.get("posting_offsets", np.int64, codes + 1)
        if offsets[0] != 0 or offsets[-1] != total or np.any(offsets[1:] < offsets[:-1]):
            raise ValueError(f"{self.where()}: posting offsets do not match the postings")
        if total and postings.max() >= n:
            raise ValueError(f"{self.where()}: postings hold rows out of range")
        return postings, offsets


def _column_from_sections(reader: _SectionReader, kind: Any, n: int, *, derived: bool, check: bool) -> _Column:
    """A column from its sections. ``derived``: the file also holds what is
    otherwise sorted on load (a numeric column's order, the posting lists),
    which is then read as it is after checks of its sizes and ranges, or,
    with ``check``, compared with the same sorted again from the values."""
    where = reader.where()
    if not isinstance(kind, str):  # decoded metadata: a list or dict here is damage, not a type
        raise ValueError(f"{where}: unknown attribute type {kind!r}")
    if kind == _NULL:
        return _NullColumn(n)
    if kind in NUMERIC_TYPES or kind == "bool":
        dtype = _NumericColumn._DTYPES[kind]
        if derived and kind in ("int", "date"):  # format 2 keeps integers narrow
            dtype = reader.dtype_of("values", (np.int8, np.int16, np.int32, np.int64))
        values = reader.get("values", dtype, n)
        valid = reader.get("valid", np.bool_, n)
        if kind == "bool" and np.any(values > 1):
            raise ValueError(f"{where}: bool values out of range")
        if kind == "float" and np.any(np.isnan(values) == valid):
            raise ValueError(f"{where}: NaN values do not match the validity mask")
        order = None
        if derived:
            order = reader.get("order", np.uint32, int(np.count_nonzero(valid)))
            if order.size and order.max() >= n:
                raise ValueError(f"{where}: sorted order holds rows out of range")
        column = _NumericColumn(kind, values, valid, order)
        if derived and check:
            _same_as_sorted(where, column, _NumericColumn(kind, values, valid))
        return column
    if kind == "string":
        dictionary = reader.dictionary(lazy=not check)
        codes = reader.get("codes", np.int32, n)
        if codes.size and (codes.min() < -1 or codes.max() >= len(dictionary)):
            raise ValueError(f"{where}: codes out of range of the dictionary")
        saved = None
        if derived:
            saved = reader.postings(n, int(np.count_nonzero(codes >= 0)), len(dictionary))
        column = _StringColumn(dictionary, codes, saved)
        if derived and check:
            _same_as_sorted(where, column, _StringColumn(dictionary, codes))
        return column
    if kind == "strings":
        dictionary = reader.dictionary(lazy=not check)
        row_offsets = reader.get("row_offsets", np.int64, n + 1)
        codes = reader.get("codes", np.int32)
        valid = reader.get("valid", np.bool_, n)
        starts, ends = row_offsets[:-1], row_offsets[1:]
        if row_offsets[0] != 0 or row_offsets[-1] != len(codes) or np.any(ends < starts):
            raise ValueError(f"{where}: row offsets do not match the codes")
        if codes.size and (codes.min() < 0 or codes.max() >= len(dictionary)):
            raise ValueError(f"{where}: codes out of range of the dictionary")
        missing = np.flatnonzero(~valid)
        if np.any(ends[missing] != starts[missing]):
            raise ValueError(f"{where}: a missing row holds values")
        saved = reader.postings(n, len(codes), len(dictionary)) if derived else None
        column = _SetColumn(dictionary, row_offsets, codes, valid, saved)
        if derived and check:
            _same_as_sorted(where, column, _SetColumn(dictionary, row_offsets, codes, valid))
        return column
    raise ValueError(f"{where}: unknown attribute type {kind!r}")


def _same_as_sorted(where: str, saved: _Column, sorted_again: _Column) -> None:
    """Raise unless the arrays a file saves beside a column's values (the
    sorted order, or the postings and their offsets) equal those sorted again."""
    parts = ("order",) if isinstance(saved, _NumericColumn) else ("postings", "posting_offsets")
    for part in parts:
        if not np.array_equal(getattr(saved, part), getattr(sorted_again, part)):
            raise ValueError(f"{where}: the saved sorted order does not match the values")


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, not {type(n).__name__}")
    n = int(n)
    if not 0 <= n < _MAX_ROWS:
        raise ValueError(f"n must be in [0, 2**32), got {n}")
    return n


def _check_types(types: Mapping[str, str] | None) -> dict[str, str]:
    if types is None:
        return {}
    if not isinstance(types, Mapping):
        raise TypeError(
            f"attribute types must be a mapping name -> type, not {type(types).__name__}"
        )
    for name, kind in types.items():
        if kind not in ATTRIBUTE_TYPES:
            raise ValueError(
                f"attribute {name!r} has unknown type {kind!r}; "
                f"choose one of {', '.join(ATTRIBUTE_TYPES)}"
            )
    return dict(types)


def _columns_from_records(records: Iterable[Any], n: int) -> dict[str, list]:
    if not isinstance(records, Sequence):
        records = list(records)
    if len(records) != n:
        raise ValueError(f"attributes hold {len(records)} records, expected {n}")
    kinds = set(map(type, records))
    for kind in kinds:
        if not issubclass(kind, Mapping):
            raise TypeError(f"attribute records must be mappings (dicts), found a {kind.__name__}")
    names = dict.fromkeys(itertools.chain.from_iterable(records))
    return {name: list(map(operator.methodcaller("get", name), records)) for name in names}
