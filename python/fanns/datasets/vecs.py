"""Readers and writers for the ``.fvecs`` / ``.ivecs`` vector file formats.

An ``.fvecs`` file is a sequence of records, each a little-endian ``int32``
dimension ``d`` followed by ``d`` little-endian ``float32`` values; every record
of a file has the same ``d``. An ``.ivecs`` file is a sequence of records, each
an ``int32`` count ``c`` followed by ``c`` ``int32`` values; counts may differ
from record to record (ground-truth files use that for short rows).

Readers check the file's structure and raise ``ValueError`` naming the path
when it is malformed. Writers write to a temporary file in the target's
directory and rename it into place, so a reader never sees a partial file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Union

import numpy as np

__all__ = [
    "fvecs_shape",
    "iter_fvecs",
    "read_fvecs",
    "read_ivecs",
    "read_ivecs_padded",
    "write_fvecs",
    "write_ivecs",
]

PathLike = Union[str, "os.PathLike[str]"]

_F4 = np.dtype("<f4")
_I4 = np.dtype("<i4")
_WRITE_CHUNK_BYTES = 1 << 26
# Above this many selected bytes, read_fvecs checks a sample of record headers
# instead of every one (a full check would touch every page of a huge file).
_FULL_CHECK_BYTES = 1 << 30
_SAMPLED_HEADERS = 4096


_UMASK_LOCK = threading.Lock()


def _new_file_mode() -> int:
    """Permissions of a newly created regular file under the current umask."""
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success flush, sync and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.

    >>> with atomic_write("/tmp/example.bin") as f:  # doctest: +SKIP
    ...     f.write(b"data")
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory
    )
    try:
        os.chmod(tmp, _new_file_mode())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_size(path: str) -> int:
    if not os.path.isfile(path):
        if os.path.exists(path):
            raise ValueError(f"{path!r} is not a regular file")
        raise FileNotFoundError(f"no such file: {path!r}")
    return os.path.getsize(path)


def _read_header(path: str, offset: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(4)
    if len(raw) != 4:
        raise ValueError(f"{path!r}: truncated record header at byte {offset}")
    return int(np.frombuffer(raw, dtype=_I4)[0])


def fvecs_shape(path: PathLike) -> tuple[int, int]:
    """Return ``(n, d)`` of an ``.fvecs`` file from its size and first header, without reading it.

    An empty file has shape ``(0, 0)``.

    >>> fvecs_shape("database_vectors.fvecs")  # doctest: +SKIP
    (50000, 384)
    """
    path = os.fspath(path)
    size = _file_size(path)
    if size == 0:
        return 0, 0
    if size < 4:
        raise ValueError(f"{path!r}: file of {size} bytes is too short for an .fvecs record")
    dim = _read_header(path, 0)
    if dim <= 0:
        raise ValueError(f"{path!r}: invalid dimension {dim} in the first record")
    record = 4 * (dim + 1)
    if size % record:
        raise ValueError(
            f"{path!r}: size {size} is not a multiple of the record size {record} "
            f"(dimension {dim}); the file is truncated or not an .fvecs file"
        )
    n = size // record
    last = _read_header(path, (n - 1) * record)
    if last != dim:
        raise ValueError(f"{path!r}: record {n - 1} has dimension {last}, the first has {dim}")
    return n, dim


def _check_headers(path: str, headers: np.ndarray, dim: int, first_row: int) -> None:
    bad = np.flatnonzero(headers != dim)
    if bad.size:
        row = first_row + int(bad[0])
        raise ValueError(
            f"{path!r}: record {row} has dimension {int(headers[bad[0]])}, expected {dim} "
            "(inconsistent dimensions)"
        )


def _select(n: int, start: int, count: int | None, path: str) -> tuple[int, int]:
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise TypeError(f"start must be an int, got {type(start).__name__}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer))):
        raise TypeError(f"count must be an int or None, got {type(count).__name__}")
    start = int(start)
    if start < 0 or start > n:
        raise ValueError(f"{path!r}: start={start} is outside the file's {n} rows")
    if count is None:
        count = n - start
    count = int(count)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if start + count > n:
        raise ValueError(f"{path!r}: rows {start}..{start + count} exceed the file's {n} rows")
    return start, count


def read_fvecs(
    path: PathLike,
    *,
    start: int = 0,
    count: int | None = None,
    mmap: bool = True,
) -> np.ndarray:
    """Read rows ``start .. start + count`` of an ``.fvecs`` file as a ``(count, d)`` float32 array.

    With ``mmap=True`` (default) the result is a read-only view of a memory map
    of the file (rows are strided: each skips its 4-byte header), so files larger
    than memory can be used; ``np.ascontiguousarray`` makes an in-memory copy.
    With ``mmap=False`` the rows are read into a new contiguous array. Record
    headers are all checked for selections up to 1 GiB, and a sample of them
    (plus the first and last) above that.

    >>> x = read_fvecs("database_vectors.fvecs", count=1000)  # doctest: +SKIP
    >>> x.shape, x.dtype
    ((1000, 384), dtype('float32'))
    """
    path = os.fspath(path)
    n, dim = fvecs_shape(path)
    start, count = _select(n, start, count, path)
    if count == 0:
        return np.empty((0, dim), dtype=np.float32)
    record = 4 * (dim + 1)
    offset = start * record
    if mmap:
        table = np.memmap(path, dtype=_F4, mode="r", offset=offset, shape=(count, dim + 1))
        headers = table.view(_I4)[:, 0]
        if count * record <= _FULL_CHECK_BYTES:
            _check_headers(path, np.asarray(headers), dim, start)
        else:
            rows = np.unique(
                np.concatenate(
                    [np.linspace(0, count - 1, _SAMPLED_HEADERS).astype(np.int64), [count - 1]]
                )
            )
            _check_headers(path, np.asarray(headers[rows]), dim, start)
        return table[:, 1:]
    with open(path, "rb") as f:
        f.seek(offset)
        table = np.fromfile(f, dtype=_F4, count=count * (dim + 1))
    if table.size != count * (dim + 1):
        raise ValueError(f"{path!r}: file ended early while reading rows {start}..{start + count}")
    table = table.reshape(count, dim + 1)
    _check_headers(path, table.view(_I4)[:, 0], dim, start)
    return np.ascontiguousarray(table[:, 1:]).astype(np.float32, copy=False)


def iter_fvecs(
    path: PathLike,
    chunk_rows: int = 65536,
    *,
    start: int = 0,
    count: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive C-contiguous float32 chunks of at most ``chunk_rows`` rows.

    Every record header is checked as its chunk is read.

    >>> total = sum(c.shape[0] for c in iter_fvecs("database_vectors.fvecs"))  # doctest: +SKIP
    """
    path = os.fspath(path)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
        raise TypeError(f"chunk_rows must be an int, got {type(chunk_rows).__name__}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    n, dim = fvecs_shape(path)
    start, count = _select(n, start, count, path)
    record = 4 * (dim + 1)
    with open(path, "rb") as f:
        f.seek(start * record)
        done = 0
        while done < count:
            rows = min(int(chunk_rows), count - done)
            raw = f.read(rows * record)
            if len(raw) != rows * record:
                raise ValueError(f"{path!r}: file ended early at row {start + done}")
            table = np.frombuffer(raw, dtype=_F4).reshape(rows, dim + 1)
            _check_headers(path, table.view(_I4)[:, 0], dim, start + done)
            yield np.ascontiguousarray(table[:, 1:], dtype=np.float32)
            done += rows


def _as_float_matrix(array: np.ndarray) -> np.ndarray:
    if isinstance(array, np.ndarray):
        arr = array
    else:
        arr = np.asarray(array)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"vectors must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[1] == 0 and arr.shape[0] > 0:
        raise ValueError("vectors must have at least one dimension")
    return arr


def write_fvecs(path: PathLike, array: np.ndarray) -> None:
    """Write a 2-D array ``(n, d)`` as an ``.fvecs`` file (float32), atomically and in chunks.

    Values must be finite and representable as float32. The input may be a
    memory-mapped array larger than memory.

    >>> write_fvecs("/tmp/x.fvecs", np.eye(3, dtype=np.float32))  # doctest: +SKIP
    """
    arr = _as_float_matrix(array)
    n, dim = arr.shape
    chunk = max(1, _WRITE_CHUNK_BYTES // (4 * (dim + 1))) if dim else 1
    with atomic_write(path) as f:
        for lo in range(0, n, chunk):
            part = np.asarray(arr[lo : lo + chunk])
            with np.errstate(over="ignore", invalid="ignore"):
                part32 = part.astype(_F4)
            if not np.isfinite(part32).all():
                bad = int(np.flatnonzero(~np.isfinite(part32).all(axis=1))[0]) + lo
                raise ValueError(
                    f"vectors row {bad} holds a NaN, an infinity or a value outside float32 range"
                )
            table = np.empty((part32.shape[0], dim + 1), dtype=_F4)
            table.view(_I4)[:, 0] = dim
            table[:, 1:] = part32
            f.write(table.tobytes())


def read_ivecs(path: PathLike) -> list[np.ndarray]:
    """Read an ``.ivecs`` file as a list of int32 arrays (rows may differ in length).

    >>> rows = read_ivecs("ground_truth_emis.ivecs")  # doctest: +SKIP
    >>> len(rows), rows[0].dtype
    (1000, dtype('int32'))
    """
    path = os.fspath(path)
    size = _file_size(path)
    if size % 4:
        raise ValueError(f"{path!r}: size {size} is not a multiple of 4; not an .ivecs file")
    data = np.fromfile(path, dtype=_I4)
    if data.size == 0:
        return []
    first = int(data[0])
    if first < 0:
        raise ValueError(f"{path!r}: record 0 has a negative count {first}")
    width = first + 1
    if data.size % width == 0:
        table = data.reshape(-1, width)
        if (table[:, 0] == first).all():
            values = table[:, 1:].astype(np.int32)
            return list(values)
    rows: list[np.ndarray] = []
    pos = 0
    total = data.size
    while pos < total:
        c = int(data[pos])
        if c < 0:
            raise ValueError(f"{path!r}: record {len(rows)} has a negative count {c}")
        end = pos + 1 + c
        if end > total:
            raise ValueError(
                f"{path!r}: record {len(rows)} declares {c} values but the file ends "
                f"after {total - pos - 1}; the file is truncated"
            )
        rows.append(data[pos + 1 : end].astype(np.int32))
        pos = end
    return rows


def read_ivecs_padded(path: PathLike, pad: int = -1) -> np.ndarray:
    """Read an ``.ivecs`` file as a 2-D int32 array, short rows padded with ``pad``.

    The width is the longest row's length; an empty file gives shape ``(0, 0)``.

    >>> gt = read_ivecs_padded("ground_truth_emis.ivecs")  # doctest: +SKIP
    >>> gt.shape
    (1000, 100)
    """
    rows = read_ivecs(path)
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), pad, dtype=np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _as_int_row(row: object, index: int) -> np.ndarray:
    arr = np.asarray(row)
    if arr.ndim != 1:
        raise ValueError(f"row {index} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=_I4)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"row {index} must hold integers, got dtype {arr.dtype}")
    info = np.iinfo(np.int32)
    if arr.min() < info.min or arr.max() > info.max:
        raise ValueError(f"row {index} holds values outside the int32 range")
    return arr.astype(_I4)


def write_ivecs(path: PathLike, rows: Sequence[Sequence[int]] | np.ndarray) -> None:
    """Write rows of integers (a 2-D array or a sequence of 1-D arrays) as an ``.ivecs`` file.

    The file is written atomically; values must fit in int32.

    >>> write_ivecs("/tmp/gt.ivecs", [np.array([3, 1]), np.array([2])])  # doctest: +SKIP
    """
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2:
            raise ValueError(
                f"rows must be a 2-D array or a sequence of 1-D arrays, got {rows.shape}"
            )
        items: Iterable = rows
    else:
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
            raise TypeError("rows must be a 2-D array or a sequence of 1-D integer arrays")
        items = rows
    converted = [_as_int_row(r, i) for i, r in enumerate(items)]
    with atomic_write(path) as f:
        buffer: list[bytes] = []
        pending = 0
        for r in converted:
            buffer.append(np.array([r.size], dtype=_I4).tobytes())
            buffer.append(r.tobytes())
            pending += 4 * (r.size + 1)
            if pending >= _WRITE_CHUNK_BYTES:
                f.write(b"".join(buffer))
                buffer.clear()
                pending = 0
        f.write(b"".join(buffer))
