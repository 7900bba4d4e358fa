"""Argument checks shared by the index classes: clear exceptions, never a crash."""

from __future__ import annotations

import numbers
import os

import numpy as np


def as_matrix(data, name: str, *, dim: int | None = None, allow_1d: bool = False) -> np.ndarray:
    """Return ``data`` as a C-contiguous float32 matrix, or raise TypeError/ValueError."""
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
    out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise ValueError(f"{name} contain NaN or infinite values (first in row {bad})")
    return out


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
    """
    wide = matrix.astype(np.float64)
    peak = np.abs(wide).max(axis=1)
    if (peak == 0).any():
        bad = int(np.flatnonzero(peak == 0)[0])
        raise ValueError(f"{name} row {bad} is all zeros: the cosine metric needs a direction")
    wide /= peak[:, None]
    wide /= np.linalg.norm(wide, axis=1)[:, None]
    return np.ascontiguousarray(wide, dtype=np.float32)


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
