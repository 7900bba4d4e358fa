"""Reading a JSON-lines attribute file straight into typed columns.

``read_jsonl`` followed by ``AttributeStore.from_input(records)`` holds one
dict per row (2.7M of them for the large arXiv set) before a single column
exists. :func:`read_attribute_store` reads the file into typed columns with
no Python object per value: the engine's JSON-lines reader
(``_core.JsonlColumns``, ``cpp/jsonl_columns.h``) parses a block of whole
lines at a time into a kind and an 8-byte slot per row and column (numbers,
bools, string codes, list lengths) and codes every string in its column's
vocabulary; the columns are then typed as ``from_input`` types them.

The engine's reader is strict and reads only what it reads exactly as
Python's ``json`` does; any other line (malformed, or holding a value it
does not take: nested objects, arrays of numbers, integers beyond int64,
NaN, lone surrogates, a key twice, ...) makes the whole file be read again
by the Python reader below, which gives the values or names the file and
line of the error as :func:`~fanns.datasets.arxiv.iter_jsonl` does. That
reader decodes each line in place (``JSONDecoder.raw_decode``, one object a
line) a block at a time, and types a block's columns at once.

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

import numpy as np

from fanns import _core
from fanns.attributes import AttributeStore
from fanns.attributes.building import _check_types
from fanns.datasets._attribute_columns import _ColumnBuilder, _sort_order  # noqa: F401 (tests)
from fanns.datasets.arxiv import jsonl_line

_BLOCK_LINES = 2048
# Bytes the engine's reader is handed at a time (cut after a line break).
_NATIVE_BLOCK = 1 << 22
# Strings taken out of the engine's reader at a time.
_WORDS_AT_ONCE = 1 << 18


def read_attribute_store(
    path: str | os.PathLike,
    *,
    limit: int | None = None,
    types: Mapping[str, str] | None = None,
    block_lines: int = _BLOCK_LINES,
    progress: Callable[[int, int], object] | None = None,
    native: bool = True,
) -> AttributeStore:
    """The first ``limit`` records (default: all) of a JSON-lines file as an
    :class:`~fanns.attributes.AttributeStore`.

    Types are inferred as ``AttributeStore.from_input`` infers them (or taken
    from ``types``); a key missing from a record is a missing value. Errors
    name the file and line (bad JSON, a line that is not an object) or the
    attribute (values that fit no type). ``progress(done, total)`` hears the
    bytes of the file read after each block, and ``(total, total)`` once the
    store is built; an exception it raises (KeyboardInterrupt, as Ctrl-C
    does between two blocks) stops the read. ``native=False`` skips the
    engine's reader (the Python reader parses ``block_lines`` lines at a time).

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
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    declared = _check_types(types)
    size = max(os.path.getsize(path), 1)
    progress = _never_back(progress)
    builders = _native_builders(path, limit, size, progress) if native else None
    if builders is None:
        builders, rows = _python_builders(path, limit, block_lines, size, progress)
    else:
        builders, rows = builders
    for name in builders:  # as from_input checks them
        if not name:
            raise TypeError(f"attribute names must be non-empty strings, got {name!r}")
    unknown = [name for name in declared if name not in builders]
    if unknown:
        raise KeyError(f"types names attribute {unknown[0]!r}, which is not in the attributes")
    columns = {name: b.finish(declared.get(name)) for name, b in builders.items()}
    store = AttributeStore(rows, columns)
    if progress is not None:
        progress(size, size)
    return store


def _never_back(progress):
    """``progress`` told the most bytes reported so far: when the engine's
    reader refuses a line, the Python reader reads the file again from its
    start, and the fraction must not go back."""
    if progress is None:
        return None
    high = [0]

    def report(done: int, total: int) -> None:
        high[0] = max(high[0], done)
        progress(high[0], total)

    return report


def _native_builders(path: str, limit: int | None, size: int, progress):
    """``(builders, rows)`` from the engine's reader, or None when it refused
    a line (the Python reader then reads the file)."""
    reader = _core.JsonlColumns()
    cap = (1 << 63) - 1 if limit is None else limit
    position = 0
    with open(path, "rb") as f:
        rest = b""
        while reader.rows < cap:
            block = f.read(_NATIVE_BLOCK)
            data = rest + block
            if not data:
                break
            if block:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # no line break yet: read on
                    rest = data
                    continue
                data, rest = data[:cut], data[cut:]
            else:
                rest = b""  # the last line, without its line break
            if reader.feed(data, cap) < 0:
                return None
            position += len(data)
            if progress is not None:
                progress(min(position, size - 1), size)
    rows = reader.rows
    builders = {}
    for index, column in enumerate(reader.finish()):
        n_words = column["n_words"]
        words: list[str] = []
        for start in range(0, n_words, _WORDS_AT_ONCE):
            words += reader.words(index, start, min(n_words, start + _WORDS_AT_ONCE))
        builders[column["name"]] = _native_builder(column, words, rows)
    return builders, rows


_KINDS = ("none", "bool", "int", "float", "str", "list")


def _native_builder(column: dict, words: list[str], rows: int) -> _ColumnBuilder:
    """A builder holding the engine reader's column as one piece, as
    :class:`_ColumnBuilder` would have made it of the same values."""
    builder = _ColumnBuilder(column["name"], 0)
    builder.words = words
    kinds, slots = column["kinds"], column["slots"]
    categories = {_KINDS[k] for k in range(1, 6) if column["seen"] >> k & 1}
    builder.categories = categories
    valid = kinds != 0
    if not categories:
        piece: tuple = ("none", rows)
    elif categories <= {"int"} or categories == {"bool"}:
        piece = ("bool" if categories == {"bool"} else "int", slots, valid)
    elif categories <= {"int", "float"}:
        floats = slots.view(np.float64).copy()
        ints = kinds == 2
        floats[ints] = slots[ints].astype(np.float64)
        floats[~valid] = math.nan
        piece = ("float", floats)
    elif categories == {"str"}:
        piece = ("str", np.where(valid, slots, -1))
    elif categories == {"list"}:
        piece = ("list", np.where(valid, slots, 0), column["list_codes"].astype(np.int64), valid)
    else:
        piece = ("raw", _native_values(kinds, slots, column["list_codes"], words))
    builder.pieces = [piece]
    return builder


def _native_values(
    kinds: np.ndarray, slots: np.ndarray, list_codes: np.ndarray, words: list
) -> list:
    """A column of mixed kinds as Python values (the general path types it)."""
    floats = slots.view(np.float64).tolist()
    flat = [words[c] for c in list_codes.tolist()]
    out: list = []
    at = 0
    for kind, slot, real in zip(kinds.tolist(), slots.tolist(), floats):
        if kind == 0:
            out.append(None)
        elif kind == 1:
            out.append(bool(slot))
        elif kind == 2:
            out.append(slot)
        elif kind == 3:
            out.append(real)
        elif kind == 4:
            out.append(words[slot])
        else:
            out.append(flat[at : at + slot])
            at += slot
    return out


def _python_builders(path: str, limit: int | None, block_lines: int, size: int, progress):
    """``(builders, rows)`` from the Python reader, a block of lines at a time."""
    builders: dict[str, _ColumnBuilder] = {}
    rows = 0
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
    return builders, rows


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
            # After the object only what json calls whitespace (str.strip takes more).
            if type(record) is not dict or (end != len(line) and line[end:].strip(" \t\n\r")):
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
