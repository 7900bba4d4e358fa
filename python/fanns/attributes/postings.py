"""String columns, categorical and set-valued: a dictionary and a posting list per value."""

from __future__ import annotations

import functools
import sys
import threading
from bisect import bisect_left
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns.attributes._common import (
    _CACHE_MAX_ENTRIES,
    _CACHE_MIN_CARDINALITY,
    _bitmap_bytes,
    _Column,
    bitmap_from_ids,
)

if TYPE_CHECKING:
    from fanns.attributes._common import Bitmap


class _Dictionary:
    """Sorted distinct strings; the code of a string is its position.

    A dictionary read from a file keeps its UTF-8 bytes and offsets as they
    are (often a memory map) and decodes them only when :attr:`values` is
    asked for: :meth:`code` searches the bytes, whose order is the strings'
    order (UTF-8 keeps code-point order), so opening an index with millions
    of distinct authors costs no Python string per author.
    """

    def __init__(self, values: list[str] | None, encoded=None, where: str = "") -> None:
        self._values = values
        self._encoded = encoded  # (bytes as uint8, int64 offsets) while not decoded
        self._where = where
        self._size = len(values) if values is not None else len(encoded[1]) - 1
        self._bytes: int | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def values(self) -> list[str]:
        """The strings, in order (decoded and checked on first use for a file's dictionary)."""
        if self._values is None:
            self._values = self._decode(self._where, *self._encoded)
        return self._values

    def code(self, value: str) -> int:
        if self._values is None:
            return self._code_in_bytes(value)
        position = bisect_left(self._values, value)
        if position < len(self._values) and self._values[position] == value:
            return position
        return -1

    def _code_in_bytes(self, value: str) -> int:
        if not isinstance(value, str):  # what bisect over the strings raises
            raise TypeError(f"values of a string column are str, not {type(value).__name__}")
        data, offsets = self._encoded
        key = value.encode("utf-8", "surrogatepass")
        lo, hi = 0, self._size
        while lo < hi:
            mid = (lo + hi) // 2
            if data[int(offsets[mid]) : int(offsets[mid + 1])].tobytes() < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < self._size and data[int(offsets[lo]) : int(offsets[lo + 1])].tobytes() == key:
            return lo
        return -1

    def encode(self) -> tuple[np.ndarray, np.ndarray]:
        if self._encoded is not None:
            return self._encoded
        encoded = [v.encode("utf-8", "surrogatepass") for v in self._values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        if encoded:
            np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets

    @classmethod
    def decode(cls, where: str, data: np.ndarray, offsets: np.ndarray, *, lazy: bool = False) -> _Dictionary:
        """A dictionary from its saved bytes and offsets; ValueError if they do
        not match. With ``lazy`` only the offsets are checked now, the strings
        (valid UTF-8, sorted, distinct) when :attr:`values` is first read."""
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(data):
            raise ValueError(f"{where}: dictionary offsets do not match the dictionary bytes")
        if lazy:  # offsets out of order only cut wrong slices of the bytes: checked when decoded
            return cls(None, (data, offsets), where)
        if np.any(offsets[1:] < offsets[:-1]):
            raise ValueError(f"{where}: dictionary offsets are not increasing")
        return cls(cls._decode(where, data, offsets), (data, offsets), where)

    @staticmethod
    def _decode(where: str, data: np.ndarray, offsets: np.ndarray) -> list[str]:
        if np.any(offsets[1:] < offsets[:-1]):
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
        return values

    def memory_bytes(self) -> int:
        encoded = 0 if self._encoded is None else sum(int(a.nbytes) for a in self._encoded)
        if self._values is None:
            return encoded
        if self._bytes is None:
            self._bytes = sum(map(sys.getsizeof, self._values)) + sys.getsizeof(self._values)
        return self._bytes + encoded


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


# Codes sorted a block at a time, so that Ctrl-C (which Python handles between
# two calls) stops a rebuild of millions of postings within a block's time.
_SORT_BLOCK = 1 << 20


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """``np.argsort(codes, kind="stable")``, in blocks of ``_SORT_BLOCK``: each
    block is sorted alone, then one stable sort merges the sorted runs (a
    merge, as the sort finds the runs: a fraction of a whole sort's time)."""
    n = len(codes)
    if n <= _SORT_BLOCK:
        return np.argsort(codes, kind="stable")
    order = np.empty(n, dtype=np.int64)
    for start in range(0, n, _SORT_BLOCK):
        stop = min(n, start + _SORT_BLOCK)
        order[start:stop] = np.argsort(codes[start:stop], kind="stable") + start
    return order[np.argsort(codes[order], kind="stable")]


class _PostingColumn(_Column):
    """Shared part of categorical and set-valued columns: a posting list per string."""

    dictionary: _Dictionary

    def _build_postings(
        self, codes: np.ndarray, rows: np.ndarray, saved: tuple[np.ndarray, np.ndarray] | None
    ) -> None:
        """The posting lists: ``saved`` (``postings, posting_offsets`` read
        from a file, checked by the caller) or sorted from the codes."""
        if saved is None:
            order = _stable_order(codes)
            self.postings = rows[order].astype(np.uint32)
            counts = np.bincount(codes, minlength=len(self.dictionary))
            self.posting_offsets = np.zeros(len(self.dictionary) + 1, dtype=np.int64)
            np.cumsum(counts, out=self.posting_offsets[1:])
        else:
            self.postings, self.posting_offsets = saved
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

    def _posting_sections(self) -> dict[str, np.ndarray]:
        return {"postings": self.postings, "posting_offsets": self.posting_offsets}

    def _posting_bytes(self) -> int:
        with self._lock:
            cached = sum(_bitmap_bytes(b) for b in self._cache.values())
        return (
            self.postings.nbytes
            + self.posting_offsets.nbytes
            + self.dictionary.memory_bytes()
            + self._null_bytes()
            + cached
        )


class _StringColumn(_PostingColumn):
    kind = "string"

    def __init__(
        self,
        dictionary: _Dictionary,
        codes: np.ndarray,
        postings: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.n = len(codes)
        self.dictionary = dictionary
        self.codes = np.asarray(codes, dtype=np.int32)
        if postings is None:
            rows = np.flatnonzero(self.codes >= 0)
            self._build_postings(self.codes[rows], rows, None)
        else:
            self._build_postings(None, None, postings)
        self._set_null(functools.partial(np.greater_equal, self.codes, 0))  # no cycle: a mapped file is let go with the column

    def to_list(self) -> list:
        values = self.dictionary.values
        return [values[c] if c >= 0 else None for c in self.codes.tolist()]

    def sections(self) -> dict[str, np.ndarray]:
        data, offsets = self.dictionary.encode()
        return {
            "dict_bytes": data,
            "dict_offsets": offsets,
            "codes": self.codes,
            **self._posting_sections(),
        }

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
        postings: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.n = len(valid)
        self.dictionary = dictionary
        self.row_offsets = np.asarray(row_offsets, dtype=np.int64)
        self.codes = np.asarray(codes, dtype=np.int32)
        self.valid_mask = np.asarray(valid, dtype=bool)
        rows = None
        if postings is None:
            lengths = np.diff(self.row_offsets)
            rows = np.repeat(np.arange(self.n, dtype=np.uint32), lengths)
        self._build_postings(self.codes, rows, postings)
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
            **self._posting_sections(),
        }

    def memory_bytes(self) -> int:
        arrays = (self.row_offsets, self.codes, self.valid_mask)
        return sum(a.nbytes for a in arrays) + self._posting_bytes()
