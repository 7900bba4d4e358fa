"""Limit the OpenBLAS thread pools loaded in this process, so NumPy matrix products run
on one core while queries are timed."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache

_PREFIXES = ("", "scipy_")
_SUFFIXES = ("", "64_")


def _loaded_openblas_paths() -> list[str]:
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6 and "openblas" in parts[-1].lower():
                    if parts[-1] not in paths:
                        paths.append(parts[-1])
    except OSError:
        return []
    return paths


@cache
def _pool_controls(path: str) -> tuple[object, object] | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


def openblas_threads() -> dict[str, int]:
    """Thread count of every OpenBLAS library loaded in this process, by file name.

    Example:
        >>> isinstance(openblas_threads(), dict)
        True
    """
    out: dict[str, int] = {}
    for path in _loaded_openblas_paths():
        controls = _pool_controls(path)
        if controls is not None:
            out[path.rsplit("/", 1)[-1]] = int(controls[0]())
    return out


@lru_cache(maxsize=1)
def _numpy_pools() -> tuple[tuple[object, object], ...]:
    """Controls of the OpenBLAS pools loaded once NumPy has run a matrix product (looked up
    once: scanning the process's mappings on every call would cost more than small queries)."""
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))
    pools = (_pool_controls(path) for path in _loaded_openblas_paths())
    return tuple(p for p in pools if p is not None)


@contextmanager
def limit_blas_threads(threads: int = 1) -> Iterator[bool]:
    """Run the block with NumPy's OpenBLAS pools (and any other OpenBLAS loaded by then) set
    to ``threads``; restore afterwards.

    Yields ``True`` when at least one pool was limited (``False``: nothing to limit found).

    Example:
        >>> import numpy as np
        >>> with limit_blas_threads(1):
        ...     _ = np.ones((4, 4)) @ np.ones((4, 4))
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    saved = []
    for getter, setter in _numpy_pools():
        saved.append((setter, int(getter())))
        setter(threads)
    try:
        yield bool(saved)
    finally:
        for setter, previous in saved:
            setter(previous)
