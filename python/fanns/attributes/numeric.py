"""Numeric columns (int, float, date, bool): values with a sorted order for range lookups."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pyroaring import BitMap

from fanns.attributes._common import _I64_MAX, _I64_MIN, _Column, bitmap_from_ids, pack_mask


_NARROW_INTS = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32))


class _NumericColumn(_Column):
    """Numbers (int64 / float64 / bool as uint8) with a sorted order of the valid rows."""

    _DTYPES = {"int": np.int64, "date": np.int64, "float": np.float64, "bool": np.uint8}

    def __init__(
        self, kind: str, values: np.ndarray, valid: np.ndarray, order: np.ndarray | None = None
    ) -> None:
        """``order``: the valid rows sorted by value, ties by row (read from a
        file and checked by the caller); sorted here when None."""
        self.kind = kind
        self.n = len(values)
        valid = np.array(valid, dtype=bool) if order is None else np.asarray(valid, dtype=bool)
        if order is None:
            values = np.array(values, dtype=self._DTYPES[kind])
            values[~valid] = np.nan if kind == "float" else 0
        else:  # read from a file as saved (missing entries already hold NaN or 0): no copy
            narrow = kind in ("int", "date") and values.dtype in _NARROW_INTS
            values = np.asarray(values, dtype=values.dtype if narrow else self._DTYPES[kind])
        if kind in ("int", "date") and len(values) and values.dtype == np.int64:
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
        if order is None:
            rows = np.flatnonzero(valid)
            order = rows[np.argsort(values[rows], kind="stable")].astype(np.uint32)
        self.order = order
        self._sorted_values: np.ndarray | None = None
        self._set_null(valid)

    @property
    def sorted_values(self) -> np.ndarray:
        """The values in :attr:`order` (gathered on first use: a loaded
        column no filter ranges over costs no pass over its rows)."""
        if self._sorted_values is None:
            self._sorted_values = self.values[self.order]
        return self._sorted_values

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
        mask = np.zeros(self.n, dtype=bool)
        mask[self.order[start:stop]] = True
        return pack_mask(mask), stop - start

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
        return {  # integers as narrow as they are held (format 2)
            "values": self.values,
            "valid": self.valid_mask,
            "order": self.order,
        }

    def memory_bytes(self) -> int:
        arrays = (self.values, self.valid_mask, self.order)
        if self._sorted_values is not None:
            arrays += (self._sorted_values,)
        return sum(a.nbytes for a in arrays) + self._null_bytes()
