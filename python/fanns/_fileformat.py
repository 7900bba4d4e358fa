"""One file format for every index kind.

Layout (all integers little-endian)::

    magic    8 bytes   b"FANNSIDX"
    version  u32
    header   u64 length, then UTF-8 JSON: {"kind", "meta", "sections": [...]}
             each section: {"name", "dtype", "shape", "offset", "nbytes", "crc32"}
    header crc32 u32
    payload  the sections' raw bytes, each 64-byte aligned

Files are written to a temporary file in the target's directory, flushed and
renamed into place, so a reader never sees a half-written index. Every size and
checksum is verified on load; any mismatch raises ``ValueError``.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

MAGIC = b"FANNSIDX"
VERSION = 1
_ALIGN = 64
_CHUNK = 1 << 24


def _crc32(buffer: memoryview) -> int:
    crc = 0
    for start in range(0, len(buffer), _CHUNK):
        crc = zlib.crc32(buffer[start : start + _CHUNK], crc)
    return crc


def _as_bytes(array: np.ndarray) -> memoryview:
    # reshape(-1): a view with a zero in its shape cannot be cast to bytes
    return memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")


def write_index_file(
    path: str | os.PathLike,
    kind: str,
    meta: Mapping[str, Any],
    sections: Mapping[str, np.ndarray],
) -> None:
    """Write ``sections`` (named arrays) and ``meta`` (JSON-able) atomically to ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: directory {directory!r} does not exist")
    table = []
    offset = 0
    payloads = []
    for name, array in sections.items():
        array = np.asarray(array)
        if array.dtype.hasobject:
            raise TypeError(f"section {name!r} holds Python objects and cannot be saved")
        data = _as_bytes(array)
        offset = (offset + _ALIGN - 1) // _ALIGN * _ALIGN
        table.append(
            {
                "name": name,
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "offset": offset,
                "nbytes": len(data),
                "crc32": _crc32(data),
            }
        )
        payloads.append((offset, data))
        offset += len(data)
    header = json.dumps({"kind": kind, "meta": dict(meta), "sections": table}).encode()
    prefix = MAGIC + struct.pack("<IQ", VERSION, len(header)) + header
    prefix += struct.pack("<I", zlib.crc32(header))
    base = len(prefix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fanns-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ValueError(f"cannot write {path!r}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(prefix)
            position = base
            for section_offset, data in payloads:
                pad = base + section_offset - position
                out.write(b"\0" * pad)
                out.write(data)
                position = base + section_offset + len(data)
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
    """Read and verify a file written by :func:`write_index_file`; return ``(meta, sections)``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc}") from exc
    fixed = len(MAGIC) + 12
    if len(blob) < fixed + 4 or blob[: len(MAGIC)] != MAGIC:
        raise ValueError(f"{path!r} is not a fanns index file (bad magic)")
    version, header_len = struct.unpack_from("<IQ", blob, len(MAGIC))
    if version != VERSION:
        raise ValueError(f"{path!r} has format version {version}; this fanns reads {VERSION}")
    if fixed + header_len + 4 > len(blob):
        raise ValueError(f"{path!r} is truncated (header)")
    header = blob[fixed : fixed + header_len]
    (header_crc,) = struct.unpack_from("<I", blob, fixed + header_len)
    if zlib.crc32(header) != header_crc:
        raise ValueError(f"{path!r} is corrupt (header checksum mismatch)")
    try:
        info = json.loads(header)
        kind, meta, table = info["kind"], info["meta"], info["sections"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path!r} is corrupt (unreadable header)") from exc
    if kind != expected_kind:
        raise ValueError(f"{path!r} holds a {kind!r} index, not a {expected_kind!r} index")
    base = fixed + header_len + 4
    view = memoryview(blob)
    sections: dict[str, np.ndarray] = {}
    for entry in table:
        try:
            name = entry["name"]
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(s) for s in entry["shape"])
            start = base + int(entry["offset"])
            nbytes = int(entry["nbytes"])
            crc = int(entry["crc32"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r} is corrupt (bad section table)") from exc
        if dtype.hasobject or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
            raise ValueError(f"{path!r} is corrupt (section {name!r} has inconsistent sizes)")
        if start < base or start + nbytes > len(blob):
            raise ValueError(f"{path!r} is truncated (section {name!r})")
        data = view[start : start + nbytes]
        if _crc32(data) != crc:
            raise ValueError(f"{path!r} is corrupt (section {name!r} checksum mismatch)")
        sections[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
    return meta, sections
