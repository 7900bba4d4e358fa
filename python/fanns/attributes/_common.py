"""Constants, bitmap helpers and the column base classes shared by the attribute modules."""

from __future__ import annotations

import array
from typing import Union

import numpy as np
from pyroaring import BitMap, FrozenBitMap

#: Types a caller may declare for a column.
ATTRIBUTE_TYPES = ("int", "float", "bool", "string", "strings", "date")
#: Types with an order, usable with ``<``, ``between`` and range indexes.
NUMERIC_TYPES = frozenset({"int", "float", "date"})
_NULL = "null"
_MAX_ROWS = 1 << 32
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_SECTION_PREFIX = "attr/"
# 2: numeric columns' sorted orders and the posting lists are saved, not sorted on load.
_FORMAT = 2
_FORMATS_READ = (1, 2)
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


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean row mask as the engine's bitset: ``ceil(n / 64)`` uint64
    words, bit ``i % 64`` of word ``i // 64`` for row i, trailing bits clear.

    Example:
        >>> pack_mask(np.array([True, False, True])).tolist()
        [5]
    """
    n = len(mask)
    packed = np.zeros((n + 63) // 64 * 8, dtype=np.uint8)
    packed[: (n + 7) // 8] = np.packbits(mask, bitorder="little")
    return packed.view("<u8").astype(np.uint64, copy=False)


def bitmap_ids(bitmap: Bitmap) -> np.ndarray:
    """Return the ids in ``bitmap`` as a sorted ``uint32`` array.

    Example:
        >>> bitmap_ids(BitMap([3, 1])).tolist()
        [1, 3]
    """
    return np.asarray(bitmap.to_array()).astype(np.uint32, copy=False)


# ----------------------------------------------------------------------------
# columns


class _Column:
    kind: str
    n: int

    def _set_null(self, valid_mask) -> None:
        """``valid_mask``: the rows holding a value (a bool array, or a
        function giving it). The bitmaps of missing and present rows are
        made on first use: a column read from a file costs no pass over its
        rows for them until a filter asks."""
        self._valid_source = valid_mask
        self._null: FrozenBitMap | None = None
        self._valid: FrozenBitMap | None = None

    @property
    def null(self) -> FrozenBitMap:
        """Rows without a value (shared, read-only)."""
        if self._null is None:
            mask = self._valid_source() if callable(self._valid_source) else self._valid_source
            self._null = bitmap_from_ids(np.flatnonzero(~mask), frozen=True)
        return self._null

    @property
    def valid(self) -> FrozenBitMap:
        """Rows with a value (shared, read-only)."""
        if self._valid is None:
            self._valid = self.null.flip(0, self.n)
        return self._valid

    def _null_bytes(self) -> int:
        """Bytes of the null and valid bitmaps made so far."""
        return sum(_bitmap_bytes(b) for b in (self._null, self._valid) if b is not None)

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
        return self._null_bytes()
