"""``python -m fanns``: a small end-to-end run on generated data, no network needed.

Builds an index over a synthetic arXiv-like dataset, answers unfiltered and
filtered queries, and prints recall@10 against exact search and queries per
second. Options: ``--n``, ``--dim``, ``--nq``, ``--threads``, ``--seed``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fanns
from fanns._progress import text_bar
from fanns.datasets import synthetic_arxiv


def _recall(found: np.ndarray, truth: list) -> float:
    scores = []
    for row, true in zip(found, truth):
        true = [int(t) for t in true[:10]]
        if not true:
            scores.append(1.0)
            continue
        scores.append(len(set(row.tolist()) & set(true)) / len(true))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fanns", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="database rows")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension")
    parser.add_argument("--nq", type=int, default=200, help="queries")
    parser.add_argument("--threads", type=int, default=0, help="build threads (0: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"fanns {fanns.__version__} | SIMD kernels: {fanns.simd_level()}")
    start = time.perf_counter()
    data = synthetic_arxiv(args.n, args.dim, nq=args.nq, seed=args.seed)
    print(
        f"generated {len(data.vectors):,} x {data.vectors.shape[1]} synthetic arXiv rows "
        f"and {len(data.queries)} queries in {time.perf_counter() - start:.1f} s"
    )

    start = time.perf_counter()
    index = fanns.Index.build(
        data.vectors, attributes=data.attributes, threads=args.threads, progress=text_bar("building")
    )
    print(f"built {index!r} in {time.perf_counter() - start:.1f} s")

    print(f"\n{'workload':<12}{'recall@10':>10}{'QPS (1 thread)':>16}  plans")
    for name, workload in data.workloads.items():
        truth = data.ground_truth.get(name)
        if truth is None:
            continue
        filters = workload.filters() if name != "unfiltered" else None
        index.search(data.queries[:10], k=10, filter=None if filters is None else filters[:10])
        start = time.perf_counter()
        result = index.search(data.queries, k=10, filter=filters, threads=1)
        elapsed = time.perf_counter() - start
        kinds, counts = np.unique(result.plans, return_counts=True)
        plans = ", ".join(f"{k}:{c}" for k, c in zip(kinds, counts))
        qps = len(data.queries) / elapsed
        print(f"{name:<12}{_recall(result.ids, truth):>10.3f}{qps:>16,.0f}  {plans}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
