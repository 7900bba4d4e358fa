"""Sparse rows as the engine takes them: a CSR batch (documents or queries)
checked once, and the scalar checks of :mod:`fanns.sparse`."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class _Csr:
    indptr: np.ndarray  # int64 (n + 1)
    indices: np.ndarray  # uint32 (nnz)
    data: np.ndarray  # float32 (nnz)
    n_cols: int

    @property
    def n_rows(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def rows(self, picked: np.ndarray) -> _Csr:
        """The batch of rows ``picked`` (an int array), in that order."""
        starts = self.indptr[picked]
        lengths = self.indptr[picked + 1] - starts
        indptr = np.zeros(len(picked) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # entry j of the new batch is entry j - indptr[row] of its row's old run
        take = np.arange(indptr[-1], dtype=np.int64) + np.repeat(starts - indptr[:-1], lengths)
        return _Csr(indptr, self.indices[take], self.data[take], self.n_cols)


def _is_int(value: Any) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _csr_from_dicts(rows: Sequence[Any], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indices: list[int] = []
    data: list[float] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(
                f"{name} row {i} is {type(row).__name__}; expected a dict {{term_id: weight}}"
            )
        for term, weight in row.items():
            if not _is_int(term):
                raise TypeError(f"{name} row {i}: term id {term!r} is not an integer")
            if isinstance(weight, (bool, np.bool_)) or not isinstance(
                weight, (numbers.Real, np.floating, np.integer)
            ):
                raise TypeError(f"{name} row {i}: weight of term {term} is not a real number")
            indices.append(int(term))
            data.append(float(weight))
        indptr[i + 1] = len(indices)
    return indptr, np.asarray(indices, dtype=np.int64), np.asarray(data, dtype=np.float64)


def _as_csr(
    matrix: Any, name: str, *, n_cols: int | None = None, max_weight: float | None = None
) -> _Csr:
    """Validate ``matrix`` (CSR-like, convertible with ``.tocsr()``, or a list of dicts).
    A batch this function already returned is taken as it is (it was checked)."""
    if isinstance(matrix, _Csr) and max_weight is None and (n_cols is None or matrix.n_cols <= n_cols):
        return matrix
    if isinstance(matrix, Mapping):
        raise TypeError(f"{name} is a single dict; pass a list of dicts (one per row)")
    if isinstance(matrix, np.ndarray):
        raise TypeError(
            f"{name} is a dense numpy array; pass a sparse CSR matrix "
            "(e.g. scipy.sparse.csr_matrix(array)) or a list of {term_id: weight} dicts"
        )
    fmt = getattr(matrix, "format", None)
    if hasattr(matrix, "tocsr") and (fmt not in (None, "csr") or not hasattr(matrix, "indptr")):
        matrix = matrix.tocsr()
    if all(hasattr(matrix, a) for a in ("indptr", "indices", "data", "shape")):
        shape = tuple(matrix.shape)
        if len(shape) != 2 or not all(_is_int(s) and s >= 0 for s in shape):
            raise ValueError(f"{name} must be 2-D with a valid shape, got {shape}")
        n_rows, width = int(shape[0]), int(shape[1])
        indptr = np.asarray(matrix.indptr)
        indices = np.asarray(matrix.indices)
        data = np.asarray(matrix.data)
    elif isinstance(matrix, (list, tuple)):
        indptr, indices, data = _csr_from_dicts(matrix, name)
        n_rows = len(matrix)
        width = int(indices.max()) + 1 if indices.size else 0
    else:
        raise TypeError(
            f"{name} must be a sparse CSR matrix (indptr, indices, data, shape; CSC/COO are "
            f"converted with .tocsr()) or a list of {{term_id: weight}} dicts, "
            f"not {type(matrix).__name__}"
        )
    for arr, what in ((indptr, "indptr"), (indices, "indices")):
        if arr.ndim != 1 or not (arr.size == 0 or arr.dtype.kind in "iu"):
            raise TypeError(f"{name}.{what} must be a 1-D integer array")
    if data.ndim != 1 or not (data.size == 0 or data.dtype.kind in "iuf"):
        raise TypeError(f"{name}.data must be a 1-D array of real numbers, not {data.dtype}")
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{name}.indptr has {indptr.shape[0]} entries for {n_rows} rows")
    indptr = indptr.astype(np.int64, copy=False)
    if indptr[0] != 0 or (n_rows > 1 and not (indptr[1:] >= indptr[:-1]).all()):
        raise ValueError(f"{name}.indptr must start at 0 and never decrease")
    nnz = int(indptr[-1])
    if nnz < 0 or nnz > indices.shape[0] or nnz > data.shape[0]:
        raise ValueError(f"{name}.indptr points past the end of indices/data")
    indices = indices[:nnz]
    data = data[:nnz]
    weights = data.astype(np.float32)
    if nnz:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0:
            row = int(np.searchsorted(indptr, int(np.argmin(indices)), side="right") - 1)
            raise ValueError(f"{name} row {row} has a negative term id ({lo})")
        if hi >= width:
            row = int(np.searchsorted(indptr, int(np.argmax(indices)), side="right") - 1)
            raise ValueError(f"{name} row {row} has term id {hi}, outside the {width} columns")
        w_lo, w_hi = float(weights.min()), float(weights.max())
        limit = np.inf if max_weight is None else max_weight
        if not (w_lo >= 0 and w_hi <= limit and np.isfinite(w_hi)):  # NaN fails every test
            bad = ~np.isfinite(weights) | (weights < 0) | (weights > limit)
            j = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(indptr, j, side="right") - 1)
            problem = (
                "NaN or infinite"
                if not np.isfinite(weights[j])
                else "negative"
                if weights[j] < 0
                else f"above {max_weight:g} (the f16 range of the forward index)"
            )
            raise ValueError(f"{name} row {row} has a {problem} weight ({data[j]!r})")
    if n_cols is not None and width > n_cols:
        raise ValueError(
            f"{name} have {width} columns (term ids up to {width - 1}) but the index "
            f"has only {n_cols} terms"
        )
    if width >= 2**32:
        raise ValueError(f"{name} has {width} columns; at most 2**32 terms are supported")
    return _Csr(
        indptr=np.ascontiguousarray(indptr),
        indices=np.ascontiguousarray(indices, dtype=np.uint32),
        data=np.ascontiguousarray(weights),
        n_cols=width,
    )


def _as_fraction(value: Any, name: str, *, low: float, high: float, low_open: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating)):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    value = float(value)
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or value != value:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value}")
    return value
