"""Benchmark workloads: the dataset's own filtered query sets plus synthetic selectivity ones.

A workload is a set of queries, one filter per query (or none), and the exact ground truth.
Synthetic workloads run on any dataset and need no attributes; their filter is one row mask
shared by every query:

- ``sel-P``: a random P% of the rows, independent of the queries;
- ``anti-P``: the P% of rows farthest from every query, so the filter passes P% of the data
  but almost none of any query's nearest neighbours;
- ``corr-P``: the P% of rows nearest to some query, so most of each query's neighbours pass;
- ``range-P``: per query, a random window of P% of the rows ordered by ``update_date``,
  as a ``field("update_date").between(lo, hi)`` expression (needs that attribute).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

DATASET_WORKLOADS = ("unfiltered", "em", "r", "emis")
SYNTHETIC_KINDS = ("sel", "anti", "corr")
RANGE_ATTRIBUTE = "update_date"
_SYNTHETIC = re.compile(r"^(sel|anti|corr|range)-(\d+(?:\.\d*)?|\.\d+)$")


class FilterGroup:
    """Queries that share one filter, with the filter's forms computed on first use.

    ``mask`` is a bool array over the rows (``None``: every row passes). Methods may keep
    their own prepared form of the filter in ``cache`` so it is built once per workload.

    Example:
        >>> g = FilterGroup(np.array([0, 1]), np.array([True, False, True]))
        >>> g.ids.tolist(), g.count, list(g.bitmap)
        ([0, 2], 2, [0, 2])
    """

    def __init__(self, queries: np.ndarray, mask: np.ndarray | None, n: int | None = None):
        self.queries = np.asarray(queries, dtype=np.int64)
        self.mask = mask
        self.n = int(mask.shape[0]) if mask is not None else n
        self.cache: dict[str, Any] = {}

    @cached_property
    def ids(self) -> np.ndarray | None:
        """Sorted passing row ids (int64), ``None`` when unfiltered."""
        return None if self.mask is None else np.flatnonzero(self.mask).astype(np.int64)

    @cached_property
    def count(self) -> int | None:
        """Number of passing rows, ``None`` when unfiltered and the size is unknown."""
        if self.mask is None:
            return self.n
        return int(self.ids.size)

    @cached_property
    def bitmap(self) -> Any:
        """The passing ids as a ``pyroaring.BitMap``."""
        from pyroaring import BitMap

        if self.mask is None:
            raise ValueError("an unfiltered group has no bitmap")
        return BitMap(self.ids.astype(np.uint32))

    @cached_property
    def packed_bits(self) -> np.ndarray:
        """The mask packed 8 rows per byte, row ``i`` at bit ``i % 8`` of byte ``i // 8``."""
        if self.mask is None:
            raise ValueError("an unfiltered group has no bit mask")
        return np.packbits(self.mask, bitorder="little")


def _mask_digest(mask: np.ndarray) -> bytes:
    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()


def _check_mask(mask: Any, n: int, where: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise ValueError(
            f"{where}: expected a bool mask of shape ({n},), got {mask.dtype} {mask.shape}"
        )
    return mask


class QueryFilters:
    """The filters of one workload's queries, in the forms the methods take.

    ``kind`` is ``"none"`` (no filter), ``"shared"`` (one mask for every query) or
    ``"per_query"`` (``mask_fn(i)`` gives query ``i``'s mask). ``expressions`` optionally holds
    each query's fanns filter expression, for methods that filter on attributes themselves.

    Example:
        >>> f = QueryFilters(4, 3, shared_mask=np.array([True, False, True, True]))
        >>> f.kind, len(f.groups), f.pass_fraction()
        ('shared', 1, 0.75)
    """

    def __init__(
        self,
        n: int,
        nq: int,
        *,
        shared_mask: np.ndarray | None = None,
        mask_fn: Callable[[int], np.ndarray] | None = None,
        expressions: Sequence[Any] | None = None,
    ) -> None:
        if shared_mask is not None and mask_fn is not None:
            raise ValueError("give either shared_mask or mask_fn, not both")
        if expressions is not None and len(expressions) != nq:
            raise ValueError(f"expected {nq} filter expressions, got {len(expressions)}")
        self.n = int(n)
        self.nq = int(nq)
        self.shared_mask = (
            None if shared_mask is None else _check_mask(shared_mask, self.n, "shared filter")
        )
        self._mask_fn = mask_fn
        self.expressions = None if expressions is None else list(expressions)

    @property
    def kind(self) -> str:
        if self.shared_mask is not None:
            return "shared"
        if self._mask_fn is not None:
            return "per_query"
        return "none"

    @cached_property
    def groups(self) -> list[FilterGroup]:
        """Queries grouped by identical filter (one group when unfiltered or shared)."""
        everyone = np.arange(self.nq, dtype=np.int64)
        if self.kind == "none":
            return [FilterGroup(everyone, None, self.n)]
        if self.kind == "shared":
            return [FilterGroup(everyone, self.shared_mask)]
        members: dict[bytes, list[int]] = {}
        masks: dict[bytes, np.ndarray] = {}
        for i in range(self.nq):
            mask = _check_mask(self._mask_fn(i), self.n, f"filter of query {i}")
            key = _mask_digest(mask)
            members.setdefault(key, []).append(i)
            masks.setdefault(key, mask)
        return [FilterGroup(np.array(members[key]), masks[key]) for key in members]

    @cached_property
    def group_of_query(self) -> np.ndarray:
        """Index into :attr:`groups` for every query."""
        out = np.empty(self.nq, dtype=np.int64)
        for g, group in enumerate(self.groups):
            out[group.queries] = g
        return out

    def mask(self, i: int) -> np.ndarray | None:
        """Row mask of query ``i`` (``None``: unfiltered)."""
        return self.groups[int(self.group_of_query[i])].mask

    def masks(self) -> list[np.ndarray] | None:
        """Row mask of every query (shared arrays, not copies), ``None`` when unfiltered."""
        if self.kind == "none":
            return None
        return [self.mask(i) for i in range(self.nq)]

    def pass_fraction(self) -> float:
        """Mean share of rows that pass, over the queries."""
        if self.kind == "none" or self.nq == 0 or self.n == 0:
            return 1.0
        counts = np.array([g.count for g in self.groups], dtype=np.float64)
        sizes = np.array([g.queries.size for g in self.groups], dtype=np.float64)
        return float((counts * sizes).sum() / (self.nq * self.n))

    def digest(self) -> str:
        """Hex digest identifying these filters (for ground-truth caching)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.kind}:{self.n}:{self.nq}".encode())
        if self.kind != "none":
            for group in self.groups:
                h.update(_mask_digest(group.mask))
                h.update(group.queries.tobytes())
        return h.hexdigest()


@dataclass
class BenchWorkload:
    """One named workload: its filters, and (once known) its exact ground truth."""

    name: str
    filters: QueryFilters
    origin: str
    ground_truth: list[np.ndarray] | None = None
    given_truth: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def nq(self) -> int:
        return self.filters.nq


def parse_workload_name(name: str) -> tuple[str, float | None]:
    """Split a workload name into its kind and, for synthetic ones, the percentage of rows.

    Example:
        >>> parse_workload_name("sel-0.1"), parse_workload_name("emis")
        (('sel', 0.1), ('emis', None))
    """
    name = name.strip()
    if name in DATASET_WORKLOADS:
        return name, None
    match = _SYNTHETIC.match(name)
    if match is None:
        raise ValueError(
            f"unknown workload {name!r}: expected one of {', '.join(DATASET_WORKLOADS)} or "
            "sel-P / anti-P / corr-P / range-P with P a percentage such as 10 or 0.1"
        )
    percent = float(match.group(2))
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"workload {name!r}: the percentage must be in (0, 100], got {percent}")
    return match.group(1), percent


def _distance_to_nearest_query(
    vectors: np.ndarray, queries: np.ndarray, metric: str, chunk: int = 8192
) -> np.ndarray:
    base = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(queries, dtype=np.float32)
    if metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    q_norms = (q.astype(np.float64) ** 2).sum(axis=1)
    out = np.empty(base.shape[0], dtype=np.float64)
    for start in range(0, base.shape[0], chunk):
        block = base[start : start + chunk]
        dots = (block @ q.T).astype(np.float64)
        if metric == "l2":
            norms = (block.astype(np.float64) ** 2).sum(axis=1)
            dist = norms[:, None] - 2.0 * dots + q_norms[None, :]
        else:
            dist = 1.0 - dots
        out[start : start + chunk] = dist.min(axis=1)
    return out


def selectivity_mask(
    kind: str,
    percent: float,
    vectors: np.ndarray,
    queries: np.ndarray,
    *,
    metric: str = "l2",
    seed: int = 0,
) -> np.ndarray:
    """Row mask passing ``percent`` % of the rows (at least one), chosen by ``kind``.

    ``sel``: uniformly at random (masks of one seed are nested: sel-1 is inside sel-10);
    ``anti``: rows farthest from their nearest query; ``corr``: rows nearest to some query.

    Example:
        >>> x = np.arange(20, dtype=np.float32).reshape(10, 2)
        >>> selectivity_mask("anti", 20, x, x[:1]).nonzero()[0].tolist()
        [8, 9]
    """
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown selectivity kind {kind!r}: expected sel, anti or corr")
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    n = int(np.asarray(vectors).shape[0])
    count = min(n, max(1, int(round(n * percent / 100.0))))
    mask = np.zeros(n, dtype=bool)
    if kind == "sel":
        order = np.random.default_rng(seed).permutation(n)
    else:
        dist = _distance_to_nearest_query(vectors, queries, metric)
        order = np.argsort(-dist if kind == "anti" else dist, kind="stable")
    mask[order[:count]] = True
    return mask


def dataset_workload(name: str, dataset: Any, nq: int, n: int) -> BenchWorkload:
    """Wrap the dataset's own workload ``name`` (first ``nq`` queries) for the harness."""
    source = getattr(dataset, "workloads", {}).get(name)
    truth = getattr(dataset, "ground_truth", {}) or {}
    given = truth.get(name)
    if given is not None:
        given = [np.asarray(row) for row in list(given)[:nq]]
        if len(given) < nq:
            given = None
    if source is None:
        if name != "unfiltered":
            raise ValueError(
                f"the dataset has no {name!r} workload "
                f"(it has: {', '.join(sorted(getattr(dataset, 'workloads', {}))) or 'none'})"
            )
        return BenchWorkload(name, QueryFilters(n, nq), "dataset", given_truth=given)
    if len(source) < nq:
        raise ValueError(f"workload {name!r} has {len(source)} queries, fewer than {nq}")
    expressions = [source.filter(i) for i in range(nq)]
    if all(e is None for e in expressions):
        filters = QueryFilters(n, nq)
    else:
        filters = QueryFilters(
            n, nq, mask_fn=lambda i: source.mask(i, dataset), expressions=expressions
        )
    return BenchWorkload(name, filters, "dataset", given_truth=given)


def synthetic_workload(
    name: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    *,
    metric: str = "l2",
    seed: int = 0,
) -> BenchWorkload:
    """A ``sel-P`` / ``anti-P`` / ``corr-P`` workload over ``vectors`` for ``queries``.

    Example:
        >>> x = np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)
        >>> w = synthetic_workload("sel-10", x, x[:5])
        >>> w.filters.kind, w.filters.pass_fraction()
        ('shared', 0.1)
    """
    kind, percent = parse_workload_name(name)
    if percent is None:
        raise ValueError(f"{name!r} is a dataset workload, not a synthetic one")
    mask = selectivity_mask(kind, percent, vectors, queries, metric=metric, seed=seed)
    filters = QueryFilters(vectors.shape[0], queries.shape[0], shared_mask=mask)
    return BenchWorkload(name, filters, "synthetic")


def range_workload(
    name: str, attributes: Any, nq: int, *, seed: int = 0, attribute: str = RANGE_ATTRIBUTE
) -> BenchWorkload:
    """A ``range-P`` workload: per query, keys between two values spanning P% of the rows.

    Rows whose key is missing never pass. Windows start at a random row of the sorted keys.

    Example:
        >>> rows = [{"update_date": 20200101 + i} for i in range(100)]
        >>> w = range_workload("range-10", rows, 3)
        >>> round(w.filters.pass_fraction(), 2)
        0.1
    """
    from fanns.filters import field

    kind, percent = parse_workload_name(name)
    if kind != "range" or percent is None:
        raise ValueError(f"{name!r} is not a range-P workload")
    if attributes is None or len(attributes) == 0:
        raise ValueError(f"workload {name!r} needs the dataset's {attribute!r} attribute")
    raw = [row.get(attribute) if isinstance(row, dict) else None for row in attributes]
    valid = np.array([v is not None for v in raw])
    if not valid.any():
        raise ValueError(f"workload {name!r}: no row has a {attribute!r} value")
    keys = np.array([v if v is not None else 0 for v in raw], dtype=np.float64)
    ordered = np.sort(keys[valid])
    width = min(len(ordered), max(1, int(round(len(ordered) * percent / 100.0))))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ordered) - width + 1, size=nq)
    bounds = []
    for start in starts:
        lo, hi = ordered[start], ordered[start + width - 1]
        cast = int if float(lo).is_integer() and float(hi).is_integer() else float
        bounds.append((cast(lo), cast(hi)))
    expressions = [field(attribute).between(lo, hi) for lo, hi in bounds]

    def mask(i: int) -> np.ndarray:
        lo, hi = bounds[i]
        return valid & (keys >= lo) & (keys <= hi)

    filters = QueryFilters(len(raw), nq, mask_fn=mask, expressions=expressions)
    return BenchWorkload(name, filters, "synthetic")
