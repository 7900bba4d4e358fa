"""Reading a JSON-lines attribute file straight into typed columns.

``read_jsonl`` followed by ``AttributeStore.from_input(records)`` holds one
dict per row (2.7M of them for the large arXiv set) before a single column
exists. :func:`read_attribute_store` parses the file a block of lines at a
time and turns each block into typed pieces at once: numbers into int64 /
float64 arrays with a validity mask, strings and lists of strings into int32
codes of one growing dictionary per column. Only one block of records is
ever alive; the pieces are joined into the store's columns at the end, with
the same types and values ``from_input`` would give.

Each line of a block is decoded in place by the C decoder and must hold
exactly one JSON object; a block where that fails (a bad or blank line) is
parsed again line by line, which reports the file and line as
:func:`~fanns.datasets.arxiv.iter_jsonl` does. Columns are taken out of a
block with one C-level pass each (``operator.itemgetter``).

>>> store = read_attribute_store("database_attributes.jsonl")  # doctest: +SKIP
>>> store.types["update_date"], store.memory_bytes() > 0  # doctest: +SKIP
('int', True)
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from fanns.attributes import AttributeStore
from fanns.attributes._common import _NULL, NUMERIC_TYPES, _NullColumn
from fanns.attributes.building import (
    _category,
    _check_types,
    _column_from_values,
    _infer_type,
    _numeric_from_array,
)
from fanns.attributes.numeric import _NumericColumn
from fanns.attributes.postings import _Dictionary, _SetColumn, _StringColumn
from fanns.datasets.arxiv import jsonl_line

_BLOCK_LINES = 2048


def read_attribute_store(
    path: str | os.PathLike,
    *,
    limit: int | None = None,
    types: Mapping[str, str] | None = None,
    block_lines: int = _BLOCK_LINES,
    progress: Callable[[int, int], object] | None = None,
) -> AttributeStore:
    """The first ``limit`` records (default: all) of a JSON-lines file as an
    :class:`~fanns.attributes.AttributeStore`, parsed a block of
    ``block_lines`` lines at a time.

    Types are inferred as ``AttributeStore.from_input`` infers them (or taken
    from ``types``); a key missing from a record is a missing value. Errors
    name the file and line (bad JSON, a line that is not an object) or the
    attribute (values that fit no type). ``progress(done, total)`` hears the
    bytes of the file read after each block, and ``(total, total)`` once the
    store is built; an exception it raises stops the read.

    Example:
        >>> store = read_attribute_store("database_attributes.jsonl", limit=1000)  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, not {type(progress).__name__}")
    if isinstance(block_lines, bool) or not isinstance(block_lines, int) or block_lines < 1:
        raise ValueError(f"block_lines must be a positive integer, got {block_lines!r}")
    declared = _check_types(types)
    builders: dict[str, _ColumnBuilder] = {}
    rows = 0
    size = max(os.path.getsize(path), 1)
    for records, position in _record_blocks(path, limit, block_lines):
        count = len(records)
        columns = {}
        complete = True
        for name in builders:
            try:
                columns[name] = list(map(operator.itemgetter(name), records))
            except KeyError:
                columns[name] = list(map(operator.methodcaller("get", name), records))
                complete = False
        if not complete or sum(map(len, records)) != count * len(builders):
            # Keys this block adds (first seen first), missing in earlier rows.
            for name in dict.fromkeys(itertools.chain.from_iterable(records)):
                if name not in builders:
                    builders[name] = _ColumnBuilder(name, rows)
                    columns[name] = list(map(operator.methodcaller("get", name), records))
        del records
        for name, builder in builders.items():
            builder.add(columns.pop(name))
        rows += count
        if progress is not None:
            progress(min(position, size - 1), size)
    unknown = [name for name in declared if name not in builders]
    if unknown:
        raise KeyError(f"types names attribute {unknown[0]!r}, which is not in the attributes")
    columns = {name: b.finish(declared.get(name)) for name, b in builders.items()}
    store = AttributeStore(rows, columns)
    if progress is not None:
        progress(size, size)
    return store


_DECODER = json.JSONDecoder()


def _record_blocks(path: str, limit: int | None, block_lines: int) -> Iterator[tuple[list, int]]:
    """``(records, bytes read so far)`` for blocks of at most ``block_lines``
    lines, each record a dict, checked as
    :func:`~fanns.datasets.arxiv.iter_jsonl` checks them: blank lines only at
    the end of the file, every line one JSON object."""
    produced = 0
    first_line = 1
    blank_at: int | None = None
    with open(path, encoding="utf-8") as f:
        while limit is None or produced < limit:
            want = block_lines if limit is None else min(block_lines, limit - produced)
            lines = list(itertools.islice(f, want))
            if not lines:
                return
            records = None if blank_at is not None else _parse_block(lines)
            if records is None:
                records, blank_at = _parse_lines(path, lines, first_line, blank_at)
            first_line += len(lines)
            produced += len(records)
            if records:
                yield records, f.buffer.tell()


def _parse_block(lines: list[str]) -> list | None:
    """The lines' records, one JSON object a line, or None when a line is not
    exactly one object (then :func:`_parse_lines` names the line and the error).

    Each line is decoded where it starts and must end after one value, so a
    value cannot run on into the next line nor two share one. One parse of
    the block joined into an array was faster (keys shared within the
    block) but cannot tell: a record split over two lines beside a line
    holding two records parsed as one record a line.
    """
    decode = _DECODER.raw_decode
    records = []
    try:
        for line in lines:
            record, end = decode(line)
            if type(record) is not dict or (end != len(line) and line[end:].strip()):
                return None
            records.append(record)
    except (ValueError, RecursionError):
        return None
    return records


def _parse_lines(path: str, lines: list[str], first_line: int, blank_at: int | None):
    """The records of a block parsed line by line, with the line of any error;
    and the first blank line seen (only blank lines may follow it)."""
    records = []
    for lineno, line in enumerate(lines, first_line):
        record, blank_at = jsonl_line(path, lineno, line, blank_at)
        if record is not None:
            records.append(record)
    return records, blank_at


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
        self._counter = itertools.count()
        self.pieces: list[tuple] = [("none", missing)] if missing else []

    def add(self, values: list) -> None:
        types = set(map(type, values))
        categories = {_category(t) for t in types}
        categories.discard("none")
        self.categories |= categories
        self.pieces.append(self._piece(values, categories, type(None) in types))

    def _codes(self, strings) -> np.ndarray:
        return np.fromiter(map(self.vocabulary.setdefault, strings, self._counter), np.int64, len(strings))

    def _piece(self, values: list, categories: set[str], missing: bool) -> tuple:
        if not categories:
            return ("none", len(values))
        if missing:
            valid = np.fromiter(map(operator.is_not, values, itertools.repeat(None)), bool, len(values))
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
    order = np.argsort(prefixes, kind="stable")
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
