"""Typed column pieces of an attribute file, joined into store columns.

:class:`_ColumnBuilder` turns one attribute's values (a block at a time, or
all at once from the engine's JSON-lines reader) into typed pieces and, at
the end, into the column ``AttributeStore.from_input`` would make of the
same values; used by :func:`fanns.datasets.read_attribute_store`.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any

import numpy as np

from fanns.attributes._common import _NULL, NUMERIC_TYPES, _NullColumn
from fanns.attributes.building import (
    _category,
    _column_from_values,
    _infer_type,
    _numeric_from_array,
)
from fanns.attributes.numeric import _NumericColumn
from fanns.attributes.postings import _Dictionary, _SetColumn, _stable_order, _StringColumn


class _ColumnBuilder:
    """One attribute's values, block by block, as typed pieces:

    ("none", count)               every value missing
    ("int", int64, valid)         ints (missing as 0, invalid)
    ("bool", int64, valid)        bools, likewise
    ("float", float64)            numbers with a float among them (missing as NaN)
    ("str", int32 codes)          strings: codes in this builder's vocabulary, -1 missing
    ("list", lengths, codes, valid)  lists of strings, flattened
    ("raw", list)                 anything else, kept as values (decided at the end)
    """

    def __init__(self, name: str, missing: int) -> None:
        self.name = name
        self.categories: set[str] = set()
        # string -> code; codes are unique, increasing, not contiguous
        # (setdefault runs with the next counter value whether or not the
        # string is new: no Python-level branch per string)
        self.vocabulary: dict[str, int] = {}
        # or, from the engine's reader, the strings as a list by code (0 to n - 1)
        self.words: list[str] | None = None
        self._counter = itertools.count()
        self.pieces: list[tuple] = [("none", missing)] if missing else []

    def add(self, values: list) -> None:
        types = set(map(type, values))
        categories = {_category(t) for t in types}
        categories.discard("none")
        self.categories |= categories
        self.pieces.append(self._piece(values, categories, type(None) in types))

    def _codes(self, strings) -> np.ndarray:
        return np.fromiter(
            map(self.vocabulary.setdefault, strings, self._counter), np.int64, len(strings)
        )

    def _piece(self, values: list, categories: set[str], missing: bool) -> tuple:
        if not categories:
            return ("none", len(values))
        if missing:
            valid = np.fromiter(
                map(operator.is_not, values, itertools.repeat(None)), bool, len(values)
            )
        else:
            valid = np.ones(len(values), dtype=bool)
        if categories <= {"int"} or categories == {"bool"}:
            try:
                present = [0 if v is None else v for v in values] if missing else values
                ints = np.array(present, dtype=np.int64)
            except OverflowError:
                return ("raw", values)
            return ("bool" if categories == {"bool"} else "int", ints, valid)
        if categories <= {"int", "float"}:
            present = [math.nan if v is None else v for v in values] if missing else values
            return ("float", np.array(present, np.float64))
        if categories == {"str"}:
            if not missing:
                return ("str", self._codes(values))
            codes = np.full(len(values), -1, dtype=np.int64)
            codes[valid] = self._codes(list(itertools.compress(values, valid.tolist())))
            return ("str", codes)
        if categories == {"list"}:
            present = list(itertools.compress(values, valid.tolist())) if missing else values
            flat = list(itertools.chain.from_iterable(present))
            if not set(map(type, flat)) <= {str} or not set(map(type, present)) <= {list}:
                return ("raw", values)
            lengths = np.zeros(len(values), dtype=np.int64)
            lengths[valid] = np.fromiter(map(len, present), np.int64, len(present))
            return ("list", lengths, self._codes(flat), valid)
        return ("raw", values)

    def _values(self) -> list:
        """Every value as Python objects (the general path)."""
        words = self.words
        if words is None:
            words = {code: word for word, code in self.vocabulary.items()}
        out: list = []
        for piece in self.pieces:
            tag = piece[0]
            if tag == "none":
                out.extend([None] * piece[1])
            elif tag in ("int", "bool"):
                cast = bool if tag == "bool" else int
                out.extend(
                    cast(v) if ok else None for v, ok in zip(piece[1].tolist(), piece[2].tolist())
                )
            elif tag == "float":
                out.extend(None if math.isnan(v) else v for v in piece[1].tolist())
            elif tag == "str":
                out.extend(words[c] if c >= 0 else None for c in piece[1].tolist())
            elif tag == "list":
                flat = [words[c] for c in piece[2].tolist()]
                bounds = np.concatenate([[0], np.cumsum(piece[1])]).tolist()
                out.extend(
                    flat[bounds[i] : bounds[i + 1]] if ok else None
                    for i, ok in enumerate(piece[3].tolist())
                )
            else:
                out.extend(piece[1])
        return out

    def finish(self, declared: str | None) -> Any:
        """The column, typed as ``from_input`` types it; pieces that do not
        fit one of the fast cases go through its general path."""
        tags = {piece[0] for piece in self.pieces} - {"none"}
        n = sum(p[1] if p[0] == "none" else len(p[1]) for p in self.pieces)
        kind = declared
        if kind is None and "raw" not in tags:
            try:
                kind = _infer_type(self.name, self.categories)
            except (TypeError, ValueError):
                kind = None  # the general path says why (or copes: NaN as missing)
        bools = "bool" in self.categories
        if kind == _NULL and not tags:
            return _NullColumn(n)
        if kind == "bool" and tags <= {"bool"}:
            ints, valid = self._joined_ints(n)
            return _NumericColumn(kind, ints.astype(np.uint8), valid)
        if kind in NUMERIC_TYPES and not bools and tags <= {"int"}:
            ints, valid = self._joined_ints(n)
            return _NumericColumn(kind, ints.astype(np.float64) if kind == "float" else ints, valid)
        if kind in NUMERIC_TYPES and not bools and tags <= {"int", "float"}:
            return _numeric_from_array(self.name, kind, self._joined_floats(n))
        if kind == "string" and tags <= {"str"}:
            dictionary, remap = self._dictionary()
            codes = self._joined(n, lambda p: p[1], -1, np.int64)
            out = np.full(n, -1, dtype=np.int32)
            present = codes >= 0  # none when the column holds no value at all
            out[present] = remap[codes[present]]
            return _StringColumn(dictionary, out)
        if kind == "strings" and tags <= {"list"}:
            dictionary, remap = self._dictionary()
            lengths = self._joined(n, lambda p: p[1], 0, np.int64)
            valid = self._joined(n, lambda p: p[3], False, bool)
            pieces = [p[2] for p in self.pieces if p[0] == "list"]
            codes = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            return _SetColumn(dictionary, offsets, remap[codes].astype(np.int32), valid)
        return _column_from_values(self.name, self._values(), declared)

    def _joined(self, n: int, part, fill, dtype) -> np.ndarray:
        out = np.empty(n, dtype=dtype)
        at = 0
        for piece in self.pieces:
            count = piece[1] if piece[0] == "none" else len(piece[1])
            out[at : at + count] = fill if piece[0] == "none" else part(piece)
            at += count
        return out

    def _joined_ints(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            self._joined(n, lambda p: p[1], 0, np.int64),
            self._joined(n, lambda p: p[2], False, bool),
        )

    def _joined_floats(self, n: int) -> np.ndarray:
        def as_float(piece):
            if piece[0] == "float":
                return piece[1]
            return np.where(piece[2], piece[1].astype(np.float64), math.nan)

        return self._joined(n, as_float, math.nan, np.float64)

    def _dictionary(self) -> tuple[_Dictionary, np.ndarray]:
        """The sorted dictionary, and the position in it of every code."""
        if self.words is not None:
            keys, codes = self.words, np.arange(len(self.words), dtype=np.int64)
            self.words = None
        else:
            keys = list(self.vocabulary)
            codes = np.fromiter(self.vocabulary.values(), np.int64, len(keys))
            self.vocabulary = {}  # its strings live on in keys; the table itself goes now
        order = _sort_order(keys)
        remap = np.zeros(int(codes.max(initial=-1)) + 1, dtype=np.int32)
        remap[codes[order]] = np.arange(len(keys), dtype=np.int32)
        words = np.array(keys, dtype=object)[order].tolist()  # a list of exactly n
        return _Dictionary(words), remap


# Bytes of each string's UTF-8 prefix sorted by numpy (longer strings sharing
# it are ordered again by Python).
_PREFIX_BYTES = 16


def _sort_order(words: list[str]) -> np.ndarray:
    """The positions of ``words`` (distinct strings) in Python's sorted order.

    Sorted by numpy on each string's first ``_PREFIX_BYTES`` bytes of UTF-8
    (whose byte order is the code point order ``str`` compares by), then runs
    of equal prefixes by Python: a sort of fixed-width keys with no Python
    call per comparison. Strings holding NUL (which numpy's byte strings drop
    at the end) are all sorted by Python.
    """
    n = len(words)
    prefixes = None if n < 64 else _utf8_prefixes(words, _PREFIX_BYTES)
    if prefixes is None:
        return np.array(sorted(range(n), key=words.__getitem__), dtype=np.int64)
    order = _stable_order(prefixes)  # a block at a time (Ctrl-C lands between blocks)
    ranked = prefixes[order]
    tied = np.flatnonzero(ranked[1:] == ranked[:-1])
    if tied.size:
        # runs of equal prefixes: [start, stop) in the sorted order
        breaks = np.flatnonzero(np.diff(tied) > 1)
        starts = np.concatenate([tied[:1], tied[breaks + 1]])
        stops = np.concatenate([tied[breaks], tied[-1:]]) + 2
        for start, stop in zip(starts.tolist(), stops.tolist()):
            order[start:stop] = sorted(order[start:stop].tolist(), key=words.__getitem__)
    return order


_PREFIX_CHUNK = 1 << 14


def _utf8_prefixes(words: list[str], width: int) -> np.ndarray | None:
    """Each word's first ``width`` bytes of UTF-8 as a ``S{width}`` array
    (NUL-padded), or None if a word holds NUL. Encoded a chunk of words at a
    time, joined: no bytes object per word."""
    out = np.empty(len(words), dtype=f"S{width}")
    columns = np.arange(width)
    for first in range(0, len(words), _PREFIX_CHUNK):
        part = words[first : first + _PREFIX_CHUNK]
        data = np.frombuffer(("\0".join(part) + "\0").encode("utf-8", "surrogatepass"), np.uint8)
        ends = np.flatnonzero(data == 0)
        if len(ends) != len(part):
            return None
        begins = np.zeros_like(ends)
        begins[1:] = ends[:-1] + 1
        at = begins[:, None] + columns
        inside = at < ends[:, None]
        block = np.zeros((len(part), width), dtype=np.uint8)
        block[inside] = data[at[inside]]
        out[first : first + len(part)] = block.view(f"S{width}").ravel()
    return out
