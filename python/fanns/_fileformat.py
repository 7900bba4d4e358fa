"""One file format for every index kind.

Layout, version 2 (all integers little-endian)::

    magic    8 bytes   b"FANNSIDX"
    version  u32       2
    header   u64 length, then UTF-8 JSON (space-padded to that length):
             {"kind", "meta", "payload_bytes", "sections": [...]}, each section
             {"name", "dtype", "shape", "offset", "nbytes", "crc32"}
    header crc32 u32
    zeros    up to the next multiple of 4096: the payload starts there
    payload  the sections' raw bytes, each at a multiple of 4096 from the
             payload start (``offset``), zeros between them

Every section starts on a page boundary, so :func:`open_index_file` can map
the file and hand out its sections as read-only arrays without reading them
(``mmap=True``): pages come in when first touched. Sections are written
straight from the arrays given (a strided array in row blocks of a few MiB),
so a save holds no copy of an index's rows, codes or links.

Files are written to a temporary file in the target's directory, flushed,
fsynced and renamed into place, so a reader never sees a half-written index
and an interrupted save (an exception, Ctrl-C) leaves the previous file as it
was. How much is checked on opening is the caller's choice (``verify``):

    False     the structure: magic, version, a readable header, every section
              inside the file with consistent sizes (what reading it safely
              needs; a truncated file always fails)
    "header"  also the header's checksum
    "full"    also every section's checksum and the zeros between sections:
              every byte of the file

Version 1 files (one unaligned payload, no page alignment) are still read,
into memory, whatever ``mmap`` says. Any mismatch raises ``ValueError``.

Opening reports progress in bytes of payload read and checked (``progress``,
a :class:`Meter`), a block of 16 MiB at a time; an exception the callback
raises (KeyboardInterrupt included) stops the open between two blocks. Opening
never writes, so a stopped open leaves the file as it was.
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

MAGIC = b"FANNSIDX"
VERSION = 2
_READABLE = (1, 2)
_PAGE = 4096
_CHUNK = 1 << 24
_FIXED = len(MAGIC) + 12  # magic, version, header length
# Largest header this reader accepts: a section table of a few thousand entries.
_MAX_HEADER = 1 << 26


class Meter:
    """Progress of a long read: ``callback(done, total)`` in bytes (or any
    unit), called after each block. ``done`` stays below ``total`` until
    :meth:`finish`, so ``done == total`` means the whole work (not only the
    part counted in bytes) is complete.

    Example:
        >>> meter = Meter(lambda done, total: None)
        >>> meter.expect(10); meter.advance(4); meter.finish()
    """

    def __init__(self, callback=None) -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"progress must be callable, not {type(callback).__name__}")
        self.callback = callback
        self.done = 0
        self.total = 0

    def expect(self, amount: int) -> None:
        self.total += int(amount)

    def advance(self, amount: int) -> None:
        self.done += int(amount)
        if self.callback is not None:
            total = max(self.total, 1)
            self.callback(min(self.done, total - 1), total)

    def finish(self) -> None:
        if self.callback is not None:
            total = max(self.total, 1)
            self.callback(total, total)


def _crc32(buffer: memoryview, crc: int = 0, meter: Meter | None = None) -> int:
    for start in range(0, len(buffer), _CHUNK):
        block = buffer[start : start + _CHUNK]
        crc = zlib.crc32(block, crc)
        if meter is not None:
            meter.advance(len(block))
    return crc


def _align(value: int) -> int:
    return (value + _PAGE - 1) // _PAGE * _PAGE


def _blocks(array: np.ndarray) -> Iterator[memoryview]:
    """The bytes of ``array`` in C order, in blocks of about 16 MiB; only
    blocks of a non-contiguous array are copied, one at a time."""
    if array.size == 0:
        return
    if array.flags.c_contiguous:
        data = memoryview(array.reshape(-1)).cast("B")
        for start in range(0, len(data), _CHUNK):
            yield data[start : start + _CHUNK]
        return
    if array.ndim == 0:
        yield memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")
        return
    row_bytes = max(1, array[0].nbytes)
    step = max(1, _CHUNK // row_bytes)
    for start in range(0, array.shape[0], step):
        block = np.ascontiguousarray(array[start : start + step])
        yield memoryview(block.reshape(-1)).cast("B")


def verify_mode(verify) -> bool | str:
    """``verify`` checked and normalised (True means "full")."""
    if verify is True:
        return "full"
    if verify is False or (isinstance(verify, str) and verify in ("header", "full")):
        return verify
    raise ValueError(f"verify must be False, 'header' or 'full', got {verify!r}")


def write_index_file(
    path: str | os.PathLike,
    kind: str,
    meta: Mapping[str, Any],
    sections: Mapping[str, np.ndarray],
) -> None:
    """Write ``sections`` (named arrays) and ``meta`` (JSON-able) atomically to ``path``.

    The arrays are read once, in order, and never copied whole: views of an
    engine's memory or of a memory map are written as they are.

    Example:
        >>> write_index_file("x.fanns", "demo", {"n": 3}, {"ids": np.arange(3)})  # doctest: +SKIP
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: directory {directory!r} does not exist")
    arrays, table, offset = [], [], 0
    for name, array in sections.items():
        array = np.asarray(array)
        if array.dtype.hasobject:
            raise TypeError(f"section {name!r} holds Python objects and cannot be saved")
        offset = _align(offset)
        entry = {
            "name": name,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "offset": offset,
            "nbytes": int(array.nbytes),
            "crc32": 0xFFFFFFFF,  # widest value: the header's room is reserved with it
        }
        table.append(entry)
        arrays.append(array)
        offset += entry["nbytes"]
    info = {"kind": kind, "meta": dict(meta), "payload_bytes": offset, "sections": table}
    room = len(json.dumps(info).encode())
    start = _align(_FIXED + room + 4)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fanns-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ValueError(f"cannot write {path!r}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.seek(start)
            position = start
            for entry, array in zip(table, arrays):
                out.write(b"\0" * (start + entry["offset"] - position))
                crc = 0
                for block in _blocks(array):
                    out.write(block)
                    crc = zlib.crc32(block, crc)
                entry["crc32"] = crc
                position = start + entry["offset"] + entry["nbytes"]
            header = json.dumps(info).encode()
            header += b" " * (room - len(header))
            out.seek(0)
            out.write(MAGIC + struct.pack("<IQ", VERSION, room) + header)
            out.write(struct.pack("<I", zlib.crc32(header)))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ValueError(f"cannot write {path!r}: {exc}") from exc
        raise


def read_index_file(
    path: str | os.PathLike, expected_kind: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and fully verify a file written by :func:`write_index_file`; return ``(meta, sections)``."""
    return open_index_file(path, expected_kind, mmap=False, verify="full")


def open_index_file(
    path: str | os.PathLike,
    expected_kind: str,
    *,
    mmap: bool = False,
    verify="full",
    meter: Meter | None = None,
    more_work: Callable[[dict[str, int]], int] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Open a file written by :func:`write_index_file`; return ``(meta, sections)``.

    With ``mmap=True`` the sections are read-only arrays over a memory map of
    the file (nothing is read until used; the map lives as long as any of
    them); otherwise each is read into an array of its own. ``verify``: see
    the module docstring. ``meter`` (a :class:`Meter`) is told the bytes to
    read and to check, and advanced block by block; its ``finish`` is left to
    the caller. ``more_work(nbytes by section name)``: the amount the caller
    will advance the meter by after this (its checks), expected up front so
    that the fraction ``done / total`` never goes back.

    Example:
        >>> meta, sections = open_index_file("x.fanns", "demo", mmap=True, verify="header")  # doctest: +SKIP
    """
    verify = verify_mode(verify)
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc}") from exc
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            fixed = f.read(_FIXED)
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc}") from exc
        if len(fixed) < _FIXED or fixed[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{path!r} is not a fanns index file (bad magic)")
        version, header_len = struct.unpack_from("<IQ", fixed, len(MAGIC))
        if version not in _READABLE:
            raise ValueError(
                f"{path!r} has format version {version}; this fanns reads versions "
                f"{', '.join(map(str, _READABLE))}"
            )
        if header_len > _MAX_HEADER or _FIXED + header_len + 4 > size:
            raise ValueError(f"{path!r} is truncated (header)")
        header = f.read(header_len + 4)
        (header_crc,) = struct.unpack_from("<I", header, header_len)
        header = header[:header_len]
        if (version == 1 or verify) and zlib.crc32(header) != header_crc:
            raise ValueError(f"{path!r} is corrupt (header checksum mismatch)")
        try:
            info = json.loads(header)
            kind, meta, table = info["kind"], info["meta"], info["sections"]
            payload = int(info["payload_bytes"]) if version >= 2 else size
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path!r} is corrupt (unreadable header)") from exc
        if kind != expected_kind:
            raise ValueError(f"{path!r} holds a {kind!r} index, not a {expected_kind!r} index")
        start = _FIXED + header_len + 4
        if version >= 2:
            start = _align(start)
            if start + payload != size:
                raise ValueError(
                    f"{path!r} is truncated or extended ({size} bytes, the header says "
                    f"{start + payload})"
                )
        entries = _section_table(path, table, start, size, aligned=version >= 2)
        if version == 1:
            return meta, _read_v1(path, f, entries, verify)
        if meter is not None:
            payload_bytes = sum(entry[5] for entry in entries)
            meter.expect(payload_bytes * ((not mmap) + (verify == "full")))
            if more_work is not None:
                meter.expect(more_work({entry[0]: entry[5] for entry in entries}))
        if mmap:
            try:
                mapped = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot map {path!r}: {exc}") from exc
            sections = {
                name: np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)
                for name, dtype, shape, offset, count, _, _ in entries
            }
        else:
            sections = {}
            for name, dtype, shape, offset, count, _, _ in entries:
                array = np.empty(shape, dtype=dtype)
                f.seek(offset)
                _read_into(path, name, f, array, meter)
                sections[name] = array
        if verify == "full":
            _verify_payload(path, f, entries, sections, _FIXED + header_len + 4, size, meter)
        return meta, sections


def _read_into(path: str, name: str, f, array: np.ndarray, meter: Meter | None) -> None:
    """Fill ``array`` from the file's position, a block at a time."""
    if array.nbytes == 0:
        return
    view = memoryview(array.reshape(-1)).cast("B")
    for start in range(0, len(view), _CHUNK):
        block = view[start : start + _CHUNK]
        try:
            got = f.readinto(block)
        except OSError as exc:
            raise ValueError(f"cannot read {path!r}: {exc}") from exc
        if got != len(block):
            raise ValueError(f"{path!r} is truncated (section {name!r})")
        if meter is not None:
            meter.advance(got)


def _section_table(path: str, table, start: int, size: int, *, aligned: bool) -> list[tuple]:
    """(name, dtype, shape, absolute offset, count, nbytes, crc) per section, checked
    to lie inside the file with sizes that agree."""
    entries = []
    try:
        for entry in table:
            name = str(entry["name"])
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(s) for s in entry["shape"])
            offset = start + int(entry["offset"])
            nbytes = int(entry["nbytes"])
            crc = int(entry["crc32"])
            if dtype.hasobject or any(s < 0 for s in shape) or int(entry["offset"]) < 0:
                raise ValueError("bad section entry")
            count = int(np.prod(shape, dtype=object)) if shape else 1
            if count * dtype.itemsize != nbytes:
                raise ValueError(f"section {name!r} has inconsistent sizes")
            if aligned and (offset - start) % _PAGE:
                raise ValueError(f"section {name!r} is not page-aligned")
            entries.append((name, dtype, shape, offset, count, nbytes, crc))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} is corrupt (bad section table: {exc})") from exc
    for name, _, _, offset, _, nbytes, _ in entries:
        if offset + nbytes > size:
            raise ValueError(f"{path!r} is truncated (section {name!r})")
    return entries


def _verify_payload(
    path: str, f, entries, sections, start: int, size: int, meter: Meter | None = None
) -> None:
    """Every section's checksum, and zeros in every byte between sections."""
    position = start
    for name, _, _, offset, _, nbytes, crc in sorted(entries, key=lambda e: e[3]):
        if offset < position:
            raise ValueError(f"{path!r} is corrupt (overlapping sections)")
        _check_zeros(path, f, position, offset)
        array = sections[name]
        data = memoryview(array.reshape(-1)).cast("B") if nbytes else memoryview(b"")
        if _crc32(data, meter=meter) != crc:
            raise ValueError(f"{path!r} is corrupt (section {name!r} checksum mismatch)")
        position = offset + nbytes
    _check_zeros(path, f, position, size)


def _check_zeros(path: str, f, begin: int, end: int) -> None:
    if end <= begin:
        return
    f.seek(begin)
    gap = f.read(end - begin)
    if gap.count(0) != len(gap):
        raise ValueError(f"{path!r} is corrupt (bytes between sections)")


def _read_v1(path: str, f, entries, verify) -> dict[str, np.ndarray]:
    """Sections of a version 1 file, read into arrays of their own."""
    sections = {}
    for name, dtype, shape, offset, count, nbytes, crc in entries:
        f.seek(offset)
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"{path!r} is truncated (section {name!r})")
        if verify == "full" and zlib.crc32(raw) != crc:
            raise ValueError(f"{path!r} is corrupt (section {name!r} checksum mismatch)")
        sections[name] = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape).copy()
    return sections
