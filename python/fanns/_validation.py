"""Argument checks shared by the index classes: clear exceptions, never a crash."""

from __future__ import annotations

import mmap
import numbers
import os

import numpy as np


# Rows per block when checking or normalising a large matrix: about this many bytes.
_BLOCK_BYTES = 1 << 25


def row_blocks(n: int, dim: int, itemsize: int = 4):
    """``(start, stop)`` row ranges of about 32 MiB each covering ``range(n)``."""
    step = max(1, _BLOCK_BYTES // max(1, dim * itemsize))
    for start in range(0, n, step):
        yield start, min(n, start + step)


def as_matrix(data, name: str, *, dim: int | None = None, allow_1d: bool = False) -> np.ndarray:
    """Return ``data`` as a C-contiguous float32 matrix, or raise TypeError/ValueError."""
    out = np.ascontiguousarray(_checked_array(data, name, dim=dim, allow_1d=allow_1d), dtype=np.float32)
    check_finite(out, name)
    return out


def as_rows(data, name: str, *, copy: bool | None = None) -> tuple[np.ndarray, bool]:
    """``(matrix, borrow)``: ``data`` as a float32 matrix the engine can read in
    place (columns adjacent, rows a whole number of floats apart), and
    whether the engine may read it in place rather than copy it.

    A float32 array in such a layout is returned as it is (a memory map or a
    strided ``.fvecs`` view is not read here); anything else is converted
    (one new array, which the engine then reads in place). ``copy``: see
    ``Index.build``. Values are checked by the engine as it takes the rows.

    Example:
        >>> rows, borrow = as_rows(np.zeros((2, 3), np.float32) + 1, "vectors")
    """
    array = _checked_array(data, name)
    if _readable_in_place(array):
        if copy is False:
            return array, True
        return array, copy is None and not array.flags.writeable and _file_backed(array)
    if copy is False:
        raise ValueError(
            f"{name} cannot be read in place (float32 with adjacent, aligned columns "
            f"needed; got {array.dtype} with strides {array.strides}); pass copy=None"
        )
    return np.ascontiguousarray(array, dtype=np.float32), True


def _file_backed(array: np.ndarray) -> bool:
    """Whether ``array`` views a memory-mapped file (``np.memmap``, ``mmap.mmap``)."""
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _readable_in_place(array: np.ndarray) -> bool:
    itemsize = 4
    return (
        array.dtype == np.dtype("=f4")
        and (array.shape[1] == 1 or array.strides[1] == itemsize)
        and (array.shape[0] == 1 or (array.strides[0] >= itemsize * array.shape[1]
                                     and array.strides[0] % itemsize == 0))
        and array.ctypes.data % itemsize == 0
    )


def check_finite(matrix: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first row with NaN or infinite values,
    reading ``matrix`` in blocks (no full-size temporary)."""
    for start, stop in row_blocks(matrix.shape[0], matrix.shape[1], matrix.dtype.itemsize):
        good = np.isfinite(matrix[start:stop]).all(axis=1)
        if not good.all():
            bad = start + int(np.flatnonzero(~good)[0])
            raise ValueError(f"{name} contain NaN or infinite values (first in row {bad})")


def _checked_array(data, name: str, *, dim: int | None = None, allow_1d: bool = False) -> np.ndarray:
    """``data`` as a 2-D array of real numbers (not converted), or TypeError/ValueError."""
    if isinstance(data, (str, bytes)):
        raise TypeError(f"{name} must be a 2-D array of real numbers, not {type(data).__name__}")
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if array.dtype == object:
        raise TypeError(
            f"{name} must hold real numbers (got an object array: ragged or mixed rows?)"
        )
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"{name} must hold real numbers, not {array.dtype}")
    if allow_1d and array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, dim), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} have dimension {array.shape[1]}, the index has {dim}")
    return array


def as_count(
    value, name: str, *, minimum: int = 1, maximum: int = 2**31 - 1, allow_none: bool = False
) -> int | None:
    """Validate an integer parameter in [minimum, maximum]."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def as_path(path, name: str = "path") -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, not {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def normalise_rows(matrix: np.ndarray, name: str) -> np.ndarray:
    """Unit-normalise rows for the cosine metric; zero rows have no direction.

    Rows are scaled by their largest magnitude first and normed in float64, so
    very large or very small (but finite) float32 rows normalise correctly.
    The result is one new float32 array; the float64 work runs in blocks of
    rows, so a memory-mapped input is read once and never held whole.
    """
    check_finite(matrix, name)
    out = np.empty(matrix.shape, dtype=np.float32)
    for start, stop in row_blocks(matrix.shape[0], matrix.shape[1], 8):
        wide = np.array(matrix[start:stop], dtype=np.float64)
        peak = np.abs(wide).max(axis=1)
        if (peak == 0).any():
            bad = start + int(np.flatnonzero(peak == 0)[0])
            raise ValueError(f"{name} row {bad} is all zeros: the cosine metric needs a direction")
        wide /= peak[:, None]
        wide /= np.linalg.norm(wide, axis=1)[:, None]
        out[start:stop] = wide
    return out


# Mirrors kMaxPaddedResults in cpp/validate.h.
MAX_PADDED_RESULTS = 2**24


def check_result_count(nq: int, k: int, n: int) -> None:
    """Reject a ``k`` whose (nq, k) output would be mostly padding and large.

    ``k`` above the ``n`` rows is allowed (rows are padded with -1) as long as
    the output holds at most ``MAX_PADDED_RESULTS`` entries.
    """
    if k > n and nq * k > MAX_PADDED_RESULTS:
        raise ValueError(
            f"k = {k} for {nq} queries asks for more results than the {n} rows can fill "
            f"(at most {MAX_PADDED_RESULTS} padded results per call)"
        )
