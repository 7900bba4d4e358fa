"""Sharded index on a local Ray instance against one fanns.Index: recall and driver overhead.

For each workload (the dataset's unfiltered, em, r, emis and the synthetic sel-1,
sel-0.1) and each shard count, one batch of queries is searched at the same
``ef`` by a single :class:`fanns.Index` and by a :class:`ShardedIndex`, and this
prints recall@k of both and, per batch: the sharded wall time, the time each
shard spent in its own search (reported by the actors), and the rest, which is
the driver's and Ray's overhead (checking and shipping the batch, scheduling,
returning and merging the answers).

    nice -n 5 python bench/sharded.py --dataset ../shared/datasets/arxiv-mini \\
        --shards 1,2,4 --ef 64 --out bench-results/sharded.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import fanns
from fanns.bench.recall import mean_recall
from fanns.bench.workloads import synthetic_workload
from fanns.datasets import load_arxiv_fanns
from fanns.datasets.groundtruth import exact_knn
from fanns.distributed import ShardedIndex
from fanns.distributed.result import merge_shard_results

WORKLOADS = ("unfiltered", "em", "r", "emis", "sel-1", "sel-0.1")


def _workloads(ds, names, nq, k):
    """(filter for the batch, ground truth) per workload name."""
    out = {}
    queries = ds.queries[:nq]
    for name in names:
        if name.startswith("sel-"):
            mask = synthetic_workload(name, ds.vectors, queries).filters.shared_mask
            truth = exact_knn(ds.vectors, queries, k, masks=[mask] * nq)
            out[name] = (mask, truth)
            continue
        workload = ds.workloads[name]
        filters = [workload.filter(i) for i in range(nq)]
        truth = [np.asarray(row)[:k] for row in ds.ground_truth[name][:nq]]
        out[name] = (None if all(f is None for f in filters) else filters, truth)
    return out


def _timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def _merge_seconds(nq, k, shards, repeats=5):
    """Driver-side merge of one batch's answers from ``shards`` shards, alone."""
    rng = np.random.default_rng(0)
    parts = {
        s: (
            rng.integers(0, 10**6, size=(nq, k)),
            np.sort(rng.random((nq, k), dtype=np.float32), axis=1),
            np.full(nq, "graph"),
            None,
        )
        for s in range(shards)
    }
    return _timed(lambda: merge_shard_results(parts, nq, k, shards), repeats)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="../shared/datasets/arxiv-mini")
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--ef", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--max-queries", type=int, default=1000)
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="search threads per shard")
    parser.add_argument(
        "--build-threads", type=int, default=1, help="build threads per shard (1: reproducible)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = parser.parse_args()

    import ray

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ds = load_arxiv_fanns(args.dataset)
    nq, k, ef = min(args.max_queries, ds.nq), args.k, args.ef
    queries = ds.queries[:nq]
    names = [w for w in args.workloads.split(",") if w]
    loads = _workloads(ds, names, nq, k)
    params = {"M": args.M, "ef_construction": args.ef_construction, "threads": args.build_threads}
    search = {"ef": ef, "threads": args.threads}

    start = time.perf_counter()
    single = fanns.Index.build(ds.vectors, attributes=ds.attributes, **params)
    report = {
        "n": len(ds),
        "dim": ds.dim,
        "nq": nq,
        "ef": ef,
        "k": k,
        "threads_per_shard": args.threads,
        "single": {
            "build_s": time.perf_counter() - start,
            "memory_bytes": single.memory_bytes(),
            "workloads": {},
        },
        "sharded": {},
    }
    for name, (flt, truth) in loads.items():
        result, seconds = _timed(
            lambda flt=flt: single.search(queries, k, filter=flt, **search), args.repeats
        )
        report["single"]["workloads"][name] = {
            "recall": mean_recall(result.ids, truth, k),
            "batch_s": seconds,
        }
    for shards in [int(s) for s in args.shards.split(",")]:
        start = time.perf_counter()
        index = ShardedIndex.build(ds.vectors, attributes=ds.attributes, shards=shards, **params)
        entry = {
            "build_s": time.perf_counter() - start,
            "memory_bytes": index.memory_bytes(by_shard=True),
            "merge_s": _merge_seconds(nq, k, shards),
            "workloads": {},
        }
        for name, (flt, truth) in loads.items():
            walls, busiest, total = [], [], []
            for _ in range(args.repeats):
                before = [c["search_seconds"] for c in index.shard_counters()]
                begin = time.perf_counter()
                result = index.search(queries, k, filter=flt, **search)
                walls.append(time.perf_counter() - begin)
                spent = [c["search_seconds"] - b for c, b in zip(index.shard_counters(), before)]
                busiest.append(max(spent))
                total.append(sum(spent))
            wall, slowest = statistics.median(walls), statistics.median(busiest)
            # With more shards than cores the shards cannot all run at once.
            busy = max(slowest, statistics.median(total) / min(shards, args.num_cpus))
            entry["workloads"][name] = {
                "recall": mean_recall(result.ids, truth, k),
                "batch_s": wall,
                "slowest_shard_s": slowest,
                "shards_sum_s": statistics.median(total),
                "overhead_s": wall - busy,
                "overhead_fraction": (wall - busy) / wall,
            }
        report["sharded"][str(shards)] = entry
        index.close()
    ray.shutdown()
    _print(report)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


def _print(report: dict) -> None:
    single = report["single"]["workloads"]
    print(f"n={report['n']} dim={report['dim']} nq={report['nq']} ef={report['ef']}")
    memory = report["single"]["memory_bytes"] / 2**20
    print(f"single: build {report['single']['build_s']:.1f} s, memory {memory:.1f} MiB")
    header = "| shards | workload | recall | single recall | batch ms | single ms | "
    print(header + "slowest shard ms | sum of shards ms | overhead ms | overhead |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shards, entry in report["sharded"].items():
        for name, w in entry["workloads"].items():
            print(
                f"| {shards} | {name} | {w['recall']:.4f} | {single[name]['recall']:.4f} | "
                f"{w['batch_s'] * 1e3:.0f} | {single[name]['batch_s'] * 1e3:.0f} | "
                f"{w['slowest_shard_s'] * 1e3:.0f} | {w['shards_sum_s'] * 1e3:.0f} | "
                f"{w['overhead_s'] * 1e3:.0f} | {w['overhead_fraction']:.1%} |"
            )
        memory = sum(entry["memory_bytes"]) / 2**20
        print(
            f"shards={shards}: build {entry['build_s']:.1f} s, memory {memory:.1f} MiB, "
            f"merge alone {entry['merge_s'] * 1e3:.2f} ms per batch"
        )


if __name__ == "__main__":
    main()
