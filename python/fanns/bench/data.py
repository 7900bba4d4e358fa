"""Load the benchmark's dataset (an arXiv-for-FANNS directory or a synthetic one) and turn
the requested workload names into workloads over it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from fanns.bench.config import DEFAULT_SYNTHETIC_WORKLOADS, BenchConfig
from fanns.bench.workloads import (
    DATASET_WORKLOADS,
    BenchWorkload,
    dataset_workload,
    parse_workload_name,
    range_workload,
    synthetic_workload,
)


@dataclass
class BenchData:
    """The dataset as the harness uses it: float32 base vectors, the (possibly truncated)
    float32 queries, per-row attribute records, and the loaded dataset object."""

    name: str
    vectors: np.ndarray
    queries: np.ndarray
    attributes: list[dict[str, Any]] | None
    source: Any

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "dim": int(self.vectors.shape[1]),
            "nq": int(self.queries.shape[0]),
            "workloads": sorted(getattr(self.source, "workloads", {}) or {}),
        }


def load_data(config: BenchConfig) -> BenchData:
    """Load ``config.dataset`` and keep the first ``config.max_queries`` queries.

    Example:
        >>> data = load_data(BenchConfig(n=300, dim=8, nq=5, max_queries=3))
        >>> data.vectors.shape, data.queries.shape
        ((300, 8), (3, 8))
    """
    import fanns.datasets as datasets
    from fanns._progress import text_bar

    if config.dataset == "synthetic":
        source = datasets.synthetic_arxiv(config.n, config.dim, nq=config.nq, seed=config.seed)
        name = f"synthetic(n={config.n}, dim={config.dim}, nq={config.nq}, seed={config.seed})"
    else:
        bar = text_bar("reading attributes") if config.progress else None
        source = datasets.load_arxiv_fanns(config.dataset, progress=bar)
        name = os.path.basename(os.path.normpath(config.dataset))
    vectors = np.ascontiguousarray(source.vectors, dtype=np.float32)
    queries = np.ascontiguousarray(source.queries, dtype=np.float32)
    if vectors.ndim != 2 or queries.ndim != 2 or vectors.shape[1] != queries.shape[1]:
        raise ValueError(
            f"dataset vectors {vectors.shape} and queries {queries.shape} do not match"
        )
    if config.max_queries is not None:
        queries = queries[: config.max_queries]
    attributes = getattr(source, "attributes", None)
    return BenchData(name, vectors, queries, list(attributes) if attributes else None, source)


def workload_names(config: BenchConfig, data: BenchData) -> list[str]:
    """The requested workloads, or by default the dataset's own plus the synthetic defaults."""
    if config.workloads is not None:
        return list(config.workloads)
    own = getattr(data.source, "workloads", {}) or {}
    names = [w for w in DATASET_WORKLOADS if w == "unfiltered" or w in own]
    return names + list(DEFAULT_SYNTHETIC_WORKLOADS)


def make_workloads(config: BenchConfig, data: BenchData) -> list[BenchWorkload]:
    """Build every requested workload over ``data`` (ground truth is filled in later)."""
    out = []
    nq = int(data.queries.shape[0])
    for name in workload_names(config, data):
        kind, percent = parse_workload_name(name)
        if percent is None:
            out.append(dataset_workload(name, data.source, nq, data.n))
        elif kind == "range":
            attributes = getattr(data.source, "attributes", None)
            out.append(range_workload(name, attributes, nq, seed=config.seed))
        else:
            out.append(
                synthetic_workload(
                    name, data.vectors, data.queries, metric=config.metric, seed=config.seed
                )
            )
    return out
