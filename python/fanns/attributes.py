"""Columnar store for the attributes attached to indexed vectors.

Each attribute is one column of ``n`` values, one per vector id. A column has a
type, given explicitly or inferred from its non-missing values:

``"int"``, ``"date"``, ``"float"``
    Ordered numbers, kept as a numpy array with a validity mask and a sorted
    order, so range lookups are two binary searches. ``"date"`` is an ordered
    integer (``YYYYMMDD``, epoch seconds, ...) and behaves like ``"int"``.
``"bool"``
    ``True`` / ``False``.
``"string"``
    Categorical strings: a sorted dictionary of distinct values, one code per
    row and one posting list (sorted row ids) per distinct value.
``"strings"``
    Set-valued: each row holds a list of strings (authors, categories, ...).
    Stored as a flat code array with per-row offsets plus one posting list per
    distinct string.
``"null"``
    Inferred for a column whose values are all missing; it matches nothing.

Missing values are ``None``, an absent key in a record, or NaN in a float
column. They never match a comparison.

Example:
    >>> store = AttributeStore.from_input(
    ...     [{"year": 2021, "cats": ["cs.LG"]}, {"year": 2019}], n=2
    ... )
    >>> store.types
    {'year': 'int', 'cats': 'strings'}
    >>> store["cats"]
    [['cs.LG'], None]
"""

from __future__ import annotations

import array
import itertools
import math
import operator
import sys
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

import numpy as np
from pyroaring import BitMap, FrozenBitMap

__all__ = ["ATTRIBUTE_TYPES", "NUMERIC_TYPES", "AttributeStore", "bitmap_from_ids", "bitmap_ids"]

#: Types a caller may declare for a column.
ATTRIBUTE_TYPES = ("int", "float", "bool", "string", "strings", "date")
#: Types with an order, usable with ``<``, ``between`` and range indexes.
NUMERIC_TYPES = frozenset({"int", "float", "date"})
_NULL = "null"
_MAX_ROWS = 1 << 32
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_SECTION_PREFIX = "attr/"
_FORMAT = 1
# Posting lists at least this long are kept as bitmaps after their first use.
_CACHE_MIN_CARDINALITY = 1024
_CACHE_MAX_ENTRIES = 256

Bitmap = Union[BitMap, FrozenBitMap]

_UINT32_CODE = next(code for code in "IL" if array.array(code).itemsize == 4)


def bitmap_from_ids(ids: np.ndarray, *, frozen: bool = False) -> Bitmap:
    """Build a roaring bitmap from an array of row ids (any order, duplicates allowed).

    Example:
        >>> list(bitmap_from_ids(np.array([5, 1, 5])))
        [1, 5]
    """
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= _MAX_ROWS):
        raise ValueError("row ids must lie in [0, 2**32)")
    ids = np.ascontiguousarray(ids, dtype=np.uint32)
    if ids.size > 1 and np.any(ids[1:] < ids[:-1]):
        ids = np.sort(ids)
    buffer = array.array(_UINT32_CODE, ids.tobytes())
    return FrozenBitMap(buffer) if frozen else BitMap(buffer)


def bitmap_ids(bitmap: Bitmap) -> np.ndarray:
    """Return the ids in ``bitmap`` as a sorted ``uint32`` array.

    Example:
        >>> bitmap_ids(BitMap([3, 1])).tolist()
        [1, 3]
    """
    return np.asarray(bitmap.to_array()).astype(np.uint32, copy=False)


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
# columns


class _Column:
    kind: str
    n: int
    null: FrozenBitMap
    valid: FrozenBitMap

    def _set_null(self, valid_mask: np.ndarray) -> None:
        self.null = bitmap_from_ids(np.flatnonzero(~valid_mask), frozen=True)
        self.valid = self.null.flip(0, self.n)

    def to_list(self) -> list:
        raise NotImplementedError

    def sections(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def memory_bytes(self) -> int:
        raise NotImplementedError


def _bitmap_bytes(bitmap: Bitmap) -> int:
    stats = bitmap.get_statistics()
    return int(
        stats["n_bytes_array_containers"]
        + stats["n_bytes_run_containers"]
        + stats["n_bytes_bitset_containers"]
    )


class _NullColumn(_Column):
    kind = _NULL

    def __init__(self, n: int) -> None:
        self.n = n
        self._set_null(np.zeros(n, dtype=bool))

    def to_list(self) -> list:
        return [None] * self.n

    def sections(self) -> dict[str, np.ndarray]:
        return {}

    def memory_bytes(self) -> int:
        return _bitmap_bytes(self.null)


class _NumericColumn(_Column):
    """Numbers (int64 / float64 / bool as uint8) with a sorted order of the valid rows."""

    _DTYPES = {"int": np.int64, "date": np.int64, "float": np.float64, "bool": np.uint8}

    def __init__(self, kind: str, values: np.ndarray, valid: np.ndarray) -> None:
        self.kind = kind
        self.n = len(values)
        values = np.array(values, dtype=self._DTYPES[kind])
        valid = np.array(valid, dtype=bool)
        values[~valid] = np.nan if kind == "float" else 0
        if kind in ("int", "date") and len(values):
            # keep integers in the narrowest dtype that holds them
            low, high = int(values.min()), int(values.max())
            for narrow in (np.int8, np.int16, np.int32):
                limits = np.iinfo(narrow)
                if limits.min <= low and high <= limits.max:
                    values = values.astype(narrow)
                    break
        values.flags.writeable = False
        valid.flags.writeable = False
        self.values = values
        self.valid_mask = valid
        rows = np.flatnonzero(valid)
        order = rows[np.argsort(values[rows], kind="stable")]
        self.order = order.astype(np.uint32)
        self.sorted_values = values[order]
        self._set_null(valid)

    # -- range lookups -------------------------------------------------------------
    def _float_index(self, bound: int | float, side: str) -> int:
        try:
            key = float(bound)
        except OverflowError:
            key = math.inf if bound > 0 else -math.inf
        if key != bound:
            # An int no float equals (above 2**53, or beyond the float range):
            # no float lies strictly between it and `key`, so values equal to
            # `key` are on key's side of the bound, inclusive or not.
            side = "left" if key > bound else "right"
        return int(np.searchsorted(self.sorted_values, key, side=side))

    def slice_for(
        self,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> tuple[int, int]:
        """Positions ``[start, stop)`` in the sorted order of rows whose value is in range."""
        size = len(self.sorted_values)
        if self.kind == "float":
            start = 0 if lo is None else self._float_index(lo, "left" if lo_inclusive else "right")
            stop = (
                size if hi is None else self._float_index(hi, "right" if hi_inclusive else "left")
            )
            return start, max(start, stop)
        # integer keys: turn the bounds into inclusive integers first
        if lo is None:
            lo_int = None
        elif isinstance(lo, float):
            if math.isinf(lo):
                if lo > 0:
                    return 0, 0
                lo_int = None
            else:
                lo_int = math.ceil(lo) if lo_inclusive else math.floor(lo) + 1
        else:
            lo_int = int(lo) if lo_inclusive else int(lo) + 1
        if hi is None:
            hi_int = None
        elif isinstance(hi, float):
            if math.isinf(hi):
                if hi < 0:
                    return 0, 0
                hi_int = None
            else:
                hi_int = math.floor(hi) if hi_inclusive else math.ceil(hi) - 1
        else:
            hi_int = int(hi) if hi_inclusive else int(hi) - 1
        if lo_int is not None:
            if lo_int > _I64_MAX:
                return 0, 0
            if lo_int < _I64_MIN:
                lo_int = None
        if hi_int is not None:
            if hi_int < _I64_MIN:
                return 0, 0
            if hi_int > _I64_MAX:
                hi_int = None
        if lo_int is not None and hi_int is not None and lo_int > hi_int:
            return 0, 0
        start = 0 if lo_int is None else self._int_index(lo_int, "left")
        stop = size if hi_int is None else self._int_index(hi_int, "right")
        return start, max(start, stop)

    def _int_index(self, key: int, side: str) -> int:
        limits = np.iinfo(self.sorted_values.dtype)
        if key < limits.min:
            return 0
        if key > limits.max:
            return len(self.sorted_values)
        return int(
            np.searchsorted(self.sorted_values, self.sorted_values.dtype.type(key), side=side)
        )

    def range_bitmap(
        self,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> BitMap:
        start, stop = self.slice_for(lo, hi, lo_inclusive, hi_inclusive)
        if start == 0 and stop == len(self.order):
            return BitMap(self.valid)
        return bitmap_from_ids(self.order[start:stop])

    def range_bitset(
        self,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> tuple[np.ndarray, int]:
        """The rows of :meth:`range_bitmap` packed straight into ``ceil(n / 64)``
        uint64 words (bit ``i % 64`` of word ``i // 64``), and their count: one
        scatter over a mask, with no sort and no bitmap."""
        start, stop = self.slice_for(lo, hi, lo_inclusive, hi_inclusive)
        words = (self.n + 63) // 64
        mask = np.zeros(words * 64, dtype=bool)
        mask[self.order[start:stop]] = True
        packed = np.packbits(mask, bitorder="little").view("<u8").astype(np.uint64, copy=False)
        return packed, stop - start

    def isin_bitmap(self, values: Sequence[int | float]) -> BitMap:
        keys = self._exact_keys(values)
        if keys is None:  # values no array holds exactly: one lookup each
            pieces = []
            for value in values:
                start, stop = self.slice_for(value, value)
                if stop > start:
                    pieces.append(self.order[start:stop])
            ids = np.concatenate(pieces) if pieces else np.zeros(0, np.uint32)
        else:
            ids = self.order[np.isin(self.sorted_values, keys)]
        if len(ids) == 0:
            return BitMap()
        return bitmap_from_ids(np.unique(ids))

    def _exact_keys(self, values: Sequence[int | float]) -> np.ndarray | None:
        """The values as an array compared exactly with the column's own
        dtype (ints with ints, floats with floats), dropping values no row can
        equal; None when they do not convert in bulk."""
        types = set(map(type, values))
        integer = self.kind != "float"
        try:
            if types <= {int}:
                array = np.array(values, dtype=np.int64)
                if integer:
                    return array
                as_float = array.astype(np.float64)
                exact = np.abs(array) <= 2**53  # every such int is a float exactly
                rest = np.flatnonzero(~exact)
                exact[rest] = [float(values[i]) == values[i] for i in rest.tolist()]
                return as_float[exact]
            if types <= {float}:
                array = np.array(values, dtype=np.float64)
                if not integer:
                    return array
                whole = array[(array == np.floor(array)) & (np.abs(array) < 2.0**63)]
                return whole.astype(np.int64)
        except OverflowError:
            return None
        return None

    # -- read back / save ----------------------------------------------------------
    def to_list(self) -> list:
        if self.kind == "bool":
            out = self.values.astype(bool).tolist()
        else:
            out = self.values.tolist()
        for row in np.flatnonzero(~self.valid_mask).tolist():
            out[row] = None
        return out

    def sections(self) -> dict[str, np.ndarray]:
        return {"values": self.values.astype(self._DTYPES[self.kind]), "valid": self.valid_mask}

    def memory_bytes(self) -> int:
        arrays = (self.values, self.valid_mask, self.order, self.sorted_values)
        return sum(a.nbytes for a in arrays) + _bitmap_bytes(self.null) + _bitmap_bytes(self.valid)


class _Dictionary:
    """Sorted distinct strings; the code of a string is its position."""

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self._bytes: int | None = None

    def __len__(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int:
        position = bisect_left(self.values, value)
        if position < len(self.values) and self.values[position] == value:
            return position
        return -1

    def encode(self) -> tuple[np.ndarray, np.ndarray]:
        encoded = [v.encode("utf-8", "surrogatepass") for v in self.values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        if encoded:
            np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets

    @classmethod
    def decode(cls, where: str, data: np.ndarray, offsets: np.ndarray) -> _Dictionary:
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(data):
            raise ValueError(f"{where}: dictionary offsets do not match the dictionary bytes")
        if np.any(np.diff(offsets) < 0):
            raise ValueError(f"{where}: dictionary offsets are not increasing")
        blob = data.tobytes()
        bounds = offsets.tolist()
        try:
            values = [
                blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(bounds, bounds[1:])
            ]
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where}: dictionary is not valid UTF-8") from exc
        if any(a >= b for a, b in zip(values, values[1:])):
            raise ValueError(f"{where}: dictionary is not sorted and distinct")
        return cls(values)

    def memory_bytes(self) -> int:
        if self._bytes is None:
            self._bytes = sum(map(sys.getsizeof, self.values)) + sys.getsizeof(self.values)
        return self._bytes


def _encode_strings(values: Iterable[Any]) -> tuple[_Dictionary, np.ndarray]:
    """Codes of ``values`` in their sorted dictionary; ``None`` gets -1."""
    values = values if isinstance(values, list) else list(values)
    distinct = dict.fromkeys(values)
    distinct.pop(None, None)
    ordered = sorted(distinct)
    index = dict(zip(ordered, range(len(ordered))))
    index[None] = -1
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
    if set(map(type, ordered)) - {str}:
        ordered = [str(v) for v in ordered]
    return _Dictionary(ordered), codes


class _PostingColumn(_Column):
    """Shared part of categorical and set-valued columns: a posting list per string."""

    dictionary: _Dictionary

    def _build_postings(self, codes: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(codes, kind="stable")
        self.postings = rows[order].astype(np.uint32)
        counts = np.bincount(codes, minlength=len(self.dictionary))
        self.posting_offsets = np.zeros(len(self.dictionary) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.posting_offsets[1:])
        self._cache: dict[int, FrozenBitMap] = {}
        self._lock = threading.Lock()

    def code_bitmap(self, code: int) -> Bitmap:
        """Rows holding the string with this code (a shared, read-only bitmap when cached)."""
        if code < 0:
            return BitMap()
        cached = self._cache.get(code)
        if cached is not None:
            return cached
        start, stop = self.posting_offsets[code], self.posting_offsets[code + 1]
        ids = self.postings[start:stop]
        if len(ids) < _CACHE_MIN_CARDINALITY:
            return bitmap_from_ids(ids)
        bitmap = bitmap_from_ids(ids, frozen=True)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[code] = bitmap
        return bitmap

    def value_bitmap(self, value: str) -> Bitmap:
        return self.code_bitmap(self.dictionary.code(value))

    def value_count(self, value: str) -> int:
        code = self.dictionary.code(value)
        if code < 0:
            return 0
        return int(self.posting_offsets[code + 1] - self.posting_offsets[code])

    def _posting_bytes(self) -> int:
        with self._lock:
            cached = sum(_bitmap_bytes(b) for b in self._cache.values())
        return (
            self.postings.nbytes
            + self.posting_offsets.nbytes
            + self.dictionary.memory_bytes()
            + _bitmap_bytes(self.null)
            + _bitmap_bytes(self.valid)
            + cached
        )


class _StringColumn(_PostingColumn):
    kind = "string"

    def __init__(self, dictionary: _Dictionary, codes: np.ndarray) -> None:
        self.n = len(codes)
        self.dictionary = dictionary
        self.codes = np.asarray(codes, dtype=np.int32)
        valid = self.codes >= 0
        rows = np.flatnonzero(valid)
        self._build_postings(self.codes[rows], rows)
        self._set_null(valid)

    def to_list(self) -> list:
        values = self.dictionary.values
        return [values[c] if c >= 0 else None for c in self.codes.tolist()]

    def sections(self) -> dict[str, np.ndarray]:
        data, offsets = self.dictionary.encode()
        return {"dict_bytes": data, "dict_offsets": offsets, "codes": self.codes}

    def memory_bytes(self) -> int:
        return self.codes.nbytes + self._posting_bytes()


class _SetColumn(_PostingColumn):
    kind = "strings"

    def __init__(
        self,
        dictionary: _Dictionary,
        row_offsets: np.ndarray,
        codes: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        self.n = len(valid)
        self.dictionary = dictionary
        self.row_offsets = np.asarray(row_offsets, dtype=np.int64)
        self.codes = np.asarray(codes, dtype=np.int32)
        self.valid_mask = np.asarray(valid, dtype=bool)
        lengths = np.diff(self.row_offsets)
        rows = np.repeat(np.arange(self.n, dtype=np.uint32), lengths)
        self._build_postings(self.codes, rows)
        self._set_null(self.valid_mask)

    def to_list(self) -> list:
        values = self.dictionary.values
        flat = [values[c] for c in self.codes.tolist()]
        bounds = self.row_offsets.tolist()
        valid = self.valid_mask.tolist()
        return [flat[bounds[i] : bounds[i + 1]] if valid[i] else None for i in range(self.n)]

    def sections(self) -> dict[str, np.ndarray]:
        data, offsets = self.dictionary.encode()
        return {
            "dict_bytes": data,
            "dict_offsets": offsets,
            "row_offsets": self.row_offsets,
            "codes": self.codes,
            "valid": self.valid_mask,
        }

    def memory_bytes(self) -> int:
        arrays = (self.row_offsets, self.codes, self.valid_mask)
        return sum(a.nbytes for a in arrays) + self._posting_bytes()


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


# ----------------------------------------------------------------------------
# the store


class AttributeStore:
    """Named attribute columns over ``n`` rows, with bitmap lookups for filters.

    Build one with :meth:`from_input`; read it back with :meth:`column` or
    ``store[name]``; save it with :meth:`to_sections` and rebuild it with
    :meth:`from_sections`.

    Example:
        >>> store = AttributeStore.from_input({"year": [2020, None, 2024]}, n=3)
        >>> store.column("year"), len(store), "year" in store
        ([2020, None, 2024], 3, True)
        >>> sorted(store.range_bitmap("year", 2021, None))
        [2]
    """

    def __init__(self, n: int, columns: Mapping[str, _Column] | None = None) -> None:
        self._n = int(n)
        self._columns: dict[str, _Column] = dict(columns or {})

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_input(
        cls,
        attributes: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None,
        n: int,
        types: Mapping[str, str] | None = None,
    ) -> AttributeStore:
        """Build a store from columns (``{name: values}``) or from ``n`` records (dicts).

        ``types`` optionally maps names to one of ``"int"``, ``"float"``,
        ``"bool"``, ``"string"``, ``"strings"``, ``"date"``; other columns are
        inferred. Raises ``ValueError`` for a column of the wrong length and
        ``TypeError`` for values that do not fit one type; both name the attribute.

        Example:
            >>> store = AttributeStore.from_input(
            ...     {"date": [20250101, 20250301]}, n=2, types={"date": "date"}
            ... )
            >>> store.types
            {'date': 'date'}
        """
        n = _check_n(n)
        declared = _check_types(types)
        if attributes is None:
            columns: dict[str, Any] = {}
        elif isinstance(attributes, Mapping):
            columns = dict(attributes)
        elif isinstance(attributes, (str, bytes)) or not isinstance(attributes, Iterable):
            raise TypeError(
                "attributes must be a mapping name -> column or a sequence of records (dicts), "
                f"not {type(attributes).__name__}"
            )
        else:
            columns = _columns_from_records(attributes, n)
        for name in columns:
            if not isinstance(name, str) or not name:
                raise TypeError(f"attribute names must be non-empty strings, got {name!r}")
        unknown = [name for name in declared if name not in columns]
        if unknown:
            raise KeyError(f"types names attribute {unknown[0]!r}, which is not in the attributes")
        built = {
            name: _build_column(name, column, n, declared.get(name))
            for name, column in columns.items()
        }
        return cls(n, built)

    # -- read back -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __getitem__(self, name: str) -> list:
        return self.column(name)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {c.kind}" for k, c in self._columns.items())
        return f"AttributeStore(n={self._n}, {{{inner}}})"

    @property
    def n(self) -> int:
        """Number of rows."""
        return self._n

    @property
    def names(self) -> list[str]:
        """Attribute names, in input order."""
        return list(self._columns)

    @property
    def types(self) -> dict[str, str]:
        """Mapping attribute name -> type."""
        return {name: column.kind for name, column in self._columns.items()}

    def _get(self, name: str) -> _Column:
        try:
            return self._columns[name]
        except (KeyError, TypeError):
            pass
        known = ", ".join(repr(k) for k in self._columns) or "none"
        raise KeyError(f"unknown attribute {name!r} (attributes: {known})")

    def type_of(self, name: str) -> str:
        """Type of attribute ``name``; ``KeyError`` naming it if unknown."""
        return self._get(name).kind

    def column(self, name: str) -> list:
        """Values of ``name`` as a list, ``None`` for missing (a list per row if set-valued)."""
        return self._get(name).to_list()

    # -- lookups used by filters ---------------------------------------------------
    def null_bitmap(self, name: str) -> Bitmap:
        """Rows where ``name`` is missing (read-only)."""
        return self._get(name).null

    def valid_bitmap(self, name: str) -> Bitmap:
        """Rows where ``name`` is present (read-only)."""
        return self._get(name).valid

    def _numeric(self, name: str) -> _NumericColumn:
        column = self._get(name)
        if not isinstance(column, _NumericColumn):
            raise TypeError(f"attribute {name!r} is {column.kind}, not numeric")
        return column

    def _postings(self, name: str) -> _PostingColumn:
        column = self._get(name)
        if not isinstance(column, _PostingColumn):
            raise TypeError(f"attribute {name!r} is {column.kind}, not string or strings")
        return column

    def range_bitmap(
        self,
        name: str,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> BitMap:
        """Rows of a numeric (or bool) column with ``lo <= value <= hi``; ``None`` = open end."""
        return self._numeric(name).range_bitmap(lo, hi, lo_inclusive, hi_inclusive)

    def range_bitset(
        self,
        name: str,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> tuple[np.ndarray, int]:
        """:meth:`range_bitmap` as packed uint64 words and a count (see
        ``filters.to_bitset`` for the layout), without building a bitmap."""
        return self._numeric(name).range_bitset(lo, hi, lo_inclusive, hi_inclusive)

    def isin_bitmap(self, name: str, values: Sequence[int | float]) -> BitMap:
        """Rows of a numeric (or bool) column equal to any of ``values``."""
        return self._numeric(name).isin_bitmap(values)

    def value_bitmap(self, name: str, value: str) -> Bitmap:
        """Rows of a string column equal to ``value`` (of a set column containing it).

        The result may be shared and must not be modified.
        """
        return self._postings(name).value_bitmap(value)

    def value_count(self, name: str, value: str) -> int:
        """Number of rows :meth:`value_bitmap` would return, without building it."""
        return self._postings(name).value_count(value)

    def sorted_order(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(row_ids, values)`` of the present rows of a numeric column, sorted by value."""
        column = self._numeric(name)
        return column.order, column.sorted_values

    def distinct_values(self, name: str) -> list[str]:
        """Sorted distinct strings of a string or set-valued column."""
        return list(self._postings(name).dictionary.values)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the store."""
        return sum(column.memory_bytes() for column in self._columns.values())

    # -- persistence ---------------------------------------------------------------
    def to_sections(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return ``(meta, sections)``: JSON-able metadata and plain numeric arrays.

        Section names start with ``"attr/"``.

        Example:
            >>> meta, sections = AttributeStore.from_input({"a": ["x", None]}, n=2).to_sections()
            >>> sorted(sections)
            ['attr/0/codes', 'attr/0/dict_bytes', 'attr/0/dict_offsets']
        """
        meta = {
            "format": _FORMAT,
            "n": self._n,
            "columns": [{"name": k, "type": c.kind} for k, c in self._columns.items()],
        }
        sections = {}
        for i, column in enumerate(self._columns.values()):
            for part, data in column.sections().items():
                sections[f"{_SECTION_PREFIX}{i}/{part}"] = np.ascontiguousarray(data)
        return meta, sections

    @classmethod
    def from_sections(
        cls, meta: Mapping[str, Any], sections: Mapping[str, np.ndarray]
    ) -> AttributeStore:
        """Rebuild a store saved with :meth:`to_sections`; ``ValueError`` if inconsistent.

        Sections whose names do not start with ``"attr/"`` are ignored.
        """
        if not isinstance(meta, Mapping):
            raise ValueError("attribute metadata must be a mapping")
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unsupported attribute store format {meta.get('format')!r}")
        n = meta.get("n")
        specs = meta.get("columns")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < _MAX_ROWS:
            raise ValueError(f"attribute metadata has an invalid row count {n!r}")
        if not isinstance(specs, list):
            raise ValueError("attribute metadata has no column list")
        own = {k: v for k, v in sections.items() if k.startswith(_SECTION_PREFIX)}
        used: set[str] = set()
        columns: dict[str, _Column] = {}
        for i, spec in enumerate(specs):
            if not isinstance(spec, Mapping):
                raise ValueError(f"attribute column {i} has invalid metadata")
            name, kind = spec.get("name"), spec.get("type")
            if not isinstance(name, str) or not name or name in columns:
                raise ValueError(f"attribute column {i} has an invalid or repeated name {name!r}")
            reader = _SectionReader(own, f"{_SECTION_PREFIX}{i}/", name, used)
            columns[name] = _column_from_sections(reader, kind, n)
        leftover = sorted(set(own) - used)
        if leftover:
            raise ValueError(f"unexpected attribute section {leftover[0]!r}")
        return cls(n, columns)


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

    def dictionary(self) -> _Dictionary:
        data = self.get("dict_bytes", np.uint8)
        offsets = self.get("dict_offsets", np.int64)
        return _Dictionary.decode(self.where(), data, offsets)


def _column_from_sections(reader: _SectionReader, kind: Any, n: int) -> _Column:
    where = reader.where()
    if kind == _NULL:
        return _NullColumn(n)
    if kind in NUMERIC_TYPES or kind == "bool":
        values = reader.get("values", _NumericColumn._DTYPES[kind], n)
        valid = reader.get("valid", np.bool_, n)
        if kind == "bool" and np.any(values > 1):
            raise ValueError(f"{where}: bool values out of range")
        if kind == "float" and np.any(np.isnan(values) == valid):
            raise ValueError(f"{where}: NaN values do not match the validity mask")
        return _NumericColumn(kind, values, valid)
    if kind == "string":
        dictionary = reader.dictionary()
        codes = reader.get("codes", np.int32, n)
        if codes.size and (codes.min() < -1 or codes.max() >= len(dictionary)):
            raise ValueError(f"{where}: codes out of range of the dictionary")
        return _StringColumn(dictionary, codes)
    if kind == "strings":
        dictionary = reader.dictionary()
        row_offsets = reader.get("row_offsets", np.int64, n + 1)
        codes = reader.get("codes", np.int32)
        valid = reader.get("valid", np.bool_, n)
        if row_offsets[0] != 0 or row_offsets[-1] != len(codes) or np.any(np.diff(row_offsets) < 0):
            raise ValueError(f"{where}: row offsets do not match the codes")
        if codes.size and (codes.min() < 0 or codes.max() >= len(dictionary)):
            raise ValueError(f"{where}: codes out of range of the dictionary")
        if np.any(np.diff(row_offsets)[~valid] != 0):
            raise ValueError(f"{where}: a missing row holds values")
        return _SetColumn(dictionary, row_offsets, codes, valid)
    raise ValueError(f"{where}: unknown attribute type {kind!r}")


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
