"""Benchmark harness: ``python -m fanns.bench`` sweeps fanns and peer libraries over filtered
workloads and reports recall against exact ground truth, single-thread QPS, build time and
memory.

Example:
    >>> from fanns.bench import BenchConfig
    >>> BenchConfig(methods=["bruteforce"]).methods
    ['bruteforce']
"""

from __future__ import annotations

from fanns.bench.config import BenchConfig, parse_config
from fanns.bench.harness import measure_point, run_benchmark
from fanns.bench.recall import mean_recall, recall_per_query
from fanns.bench.results import BuildRecord, Point, Results


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m fanns.bench`` (see :mod:`fanns.bench.__main__`)."""
    from fanns.bench.__main__ import main as run_main

    return run_main(argv)


__all__ = [
    "BenchConfig",
    "BuildRecord",
    "Point",
    "Results",
    "main",
    "mean_recall",
    "measure_point",
    "parse_config",
    "recall_per_query",
    "run_benchmark",
]
