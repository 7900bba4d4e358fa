"""Lift a dataset to a higher dimension: the same neighbourhoods at the width users run.

The published arXiv-for-FANNS sets are 4096-d; the sample kept for development
is 384-d. Lifting maps every row through one fixed random projection (the
same for database rows and queries), adds a little independent noise so the
rows span the whole space rather than a 384-d subspace, and normalises them
again. Neighbourhoods are kept up to that noise, so the lifted set measures
what 4096-d rows cost (bytes read per distance, cache footprint) on real
attribute distributions and filters.

>>> import numpy as np
>>> from fanns.datasets.lift import lift_vectors
>>> x = np.eye(3, 8, dtype=np.float32)
>>> lift_vectors(x, dim=64, seed=1).shape
(3, 64)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import numpy as np

from fanns.datasets.arxiv import GROUND_TRUTH_FILES
from fanns.datasets.vecs import fvecs_shape, iter_fvecs, write_fvecs

_CHUNK = 4096
_PROJECTION_STREAM = 0
_DATABASE_STREAM = 1
_QUERY_STREAM = 2


def projection(dim_in: int, dim: int, *, seed: int = 0) -> np.ndarray:
    """The fixed (dim_in, dim) projection a seed stands for: Gaussian entries
    of variance 1 / dim_in, so a unit row stays about unit length."""
    if dim_in < 1 or dim < 1:
        raise ValueError(f"dimensions must be positive, got {dim_in} and {dim}")
    rng = np.random.default_rng([seed, _PROJECTION_STREAM])
    return (rng.standard_normal((dim_in, dim)) / np.sqrt(dim_in)).astype(np.float32)


def lift_vectors(
    vectors,
    *,
    dim: int = 4096,
    noise: float = 0.1,
    seed: int = 0,
    stream: int = _DATABASE_STREAM,
    start: int = 0,
) -> np.ndarray:
    """Rows of ``vectors`` (n, d) lifted to ``dim``: projected, perturbed by
    Gaussian noise of norm about ``noise``, and L2-normalised (float32).

    ``seed`` fixes the projection; the noise of row ``start + i`` depends only
    on ``seed``, ``stream`` and that row number, so lifting a file in chunks
    gives the same rows as lifting it whole.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"vectors must have shape (n, d) with d > 0, got {x.shape}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a non-negative number, got {noise}")
    proj = projection(x.shape[1], dim, seed=seed)
    out = np.empty((x.shape[0], dim), dtype=np.float32)
    for begin in range(0, x.shape[0], _CHUNK):
        rows = x[begin : begin + _CHUNK]
        y = rows @ proj
        _normalise(y)
        first = start + begin
        rng = np.random.default_rng([seed, stream, first])
        y += rng.standard_normal(y.shape, dtype=np.float32) * np.float32(noise / np.sqrt(dim))
        _normalise(y)
        out[begin : begin + len(rows)] = y
    return out


def _normalise(rows: np.ndarray) -> None:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    np.divide(rows, norms, out=rows, where=norms > 0)


def lift_dataset(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    dim: int = 4096,
    noise: float = 0.1,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Write a lifted copy of a dataset directory in the published layout.

    Database and query vectors are lifted (database rows a chunk at a time, so
    the source need not fit in memory twice); attribute and text files are
    copied; ground truth is not (distances changed): compute it with
    ``python -m fanns.datasets groundtruth TARGET``. ``progress(done, total)``
    is called after each chunk of database rows. Returns the target path.
    """
    source, target = os.fspath(source), os.fspath(target)
    base = os.path.join(source, "database_vectors.fvecs")
    queries = os.path.join(source, "query_vectors.fvecs")
    for path in (base, queries):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: not a dataset directory")
    if os.path.abspath(source) == os.path.abspath(target):
        raise ValueError("source and target must differ")
    os.makedirs(target, exist_ok=True)
    skip = {"database_vectors.fvecs", "query_vectors.fvecs", *GROUND_TRUTH_FILES.values()}
    for name in sorted(os.listdir(source)):
        path = os.path.join(source, name)
        if name not in skip and os.path.isfile(path):
            shutil.copyfile(path, os.path.join(target, name))
    n, _ = fvecs_shape(base)
    lifted = np.empty((n, dim), dtype=np.float32)
    done = 0
    for block in iter_fvecs(base, _CHUNK):
        lifted[done : done + len(block)] = lift_vectors(
            block, dim=dim, noise=noise, seed=seed, start=done
        )
        done += len(block)
        if progress is not None:
            progress(done, n)
    write_fvecs(os.path.join(target, "database_vectors.fvecs"), lifted)
    del lifted
    query_rows = np.concatenate(list(iter_fvecs(queries, _CHUNK)))
    write_fvecs(
        os.path.join(target, "query_vectors.fvecs"),
        lift_vectors(query_rows, dim=dim, noise=noise, seed=seed, stream=_QUERY_STREAM),
    )
    return target
