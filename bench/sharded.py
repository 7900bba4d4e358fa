"""Sharded index on a local Ray instance against one fanns.Index: recall and driver overhead.

For each workload (the dataset's unfiltered, em, r, emis and the synthetic sel-1,
sel-0.1) and each shard count, one batch of queries is searched at the same
``ef`` by a single :class:`fanns.Index` and by a :class:`ShardedIndex`, and this
prints recall@k of both and, per batch: the sharded wall time, the time the
shard that finished last spent in its own search (reported by the actors), the
rest, which is the driver's and Ray's overhead (checking and shipping the batch,
scheduling, returning and merging the answers), and the CPU time of the shards'
searches (exact with one search thread per shard) against the single index's.

    nice -n 5 python bench/sharded.py --dataset ../shared/datasets/arxiv-mini \\
        --shards 1,2,4 --ef 32,64 --out bench-results/sharded.json
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
from fanns._progress import text_bar
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
    """Result and median wall and calling-thread CPU seconds of ``fn()``."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.thread_time()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.thread_time() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


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
    return _timed(lambda: merge_shard_results(parts, nq, k, shards), repeats)[2]


def _sharded_batch(index, queries, k, flt, truth, ef, args) -> dict:
    """One batch on the sharded index, ``args.repeats`` times: medians of the timings."""
    runs = []
    for _ in range(args.repeats):
        before = index.shard_counters()
        begin = time.perf_counter()
        result = index.search(queries, k, filter=flt, ef=ef, threads=args.threads)
        wall = time.perf_counter() - begin
        after = index.shard_counters()
        spent = [a["search_seconds"] - b["search_seconds"] for a, b in zip(after, before)]
        cpu = [a["search_cpu_seconds"] - b["search_cpu_seconds"] for a, b in zip(after, before)]
        # Everything outside the search of the shard that finished last:
        # checking and shipping the batch, Ray's scheduling, the replies, the merge.
        runs.append((wall, max(spent), wall - max(spent), max(cpu), sum(cpu)))
    wall, slowest, overhead, cpu_max, cpu_sum = (statistics.median(c) for c in zip(*runs))
    return {
        "recall": mean_recall(result.ids, truth, k),
        "batch_s": wall,
        "slowest_shard_s": slowest,
        "overhead_s": overhead,
        "overhead_fraction": overhead / wall,
        "shard_cpu_max_s": cpu_max,
        "shard_cpu_sum_s": cpu_sum,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="../shared/datasets/arxiv-mini")
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--ef", default="64", help="comma-separated ef values")
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
    ds = load_arxiv_fanns(args.dataset, progress=text_bar("reading attributes"))
    nq, k = min(args.max_queries, ds.nq), args.k
    efs = [int(v) for v in args.ef.split(",")]
    queries = ds.queries[:nq]
    names = [w for w in args.workloads.split(",") if w]
    loads = _workloads(ds, names, nq, k)
    params = {"M": args.M, "ef_construction": args.ef_construction, "threads": args.build_threads}

    start = time.perf_counter()
    single = fanns.Index.build(ds.vectors, attributes=ds.attributes, **params)
    report = {
        "n": len(ds),
        "dim": ds.dim,
        "nq": nq,
        "k": k,
        "threads_per_shard": args.threads,
        "single": {
            "build_s": time.perf_counter() - start,
            "memory_bytes": single.memory_bytes(by_part=True),
            "workloads": {},
        },
        "sharded": {},
    }
    for name, (flt, truth) in loads.items():
        report["single"]["workloads"][name] = {}
        for ef in efs:
            result, seconds, cpu = _timed(
                lambda flt=flt, ef=ef: single.search(
                    queries, k, filter=flt, ef=ef, threads=args.threads
                ),
                args.repeats,
            )
            report["single"]["workloads"][name][str(ef)] = {
                "recall": mean_recall(result.ids, truth, k),
                "batch_s": seconds,
                "batch_cpu_s": cpu,
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
            entry["workloads"][name] = {
                str(ef): _sharded_batch(index, queries, k, flt, truth, ef, args) for ef in efs
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
    print(f"n={report['n']} dim={report['dim']} nq={report['nq']} k={report['k']}")
    memory = sum(report["single"]["memory_bytes"].values()) / 2**20
    print(f"single: build {report['single']['build_s']:.1f} s, memory {memory:.1f} MiB")
    print(
        "| shards | workload | ef | recall | single recall | batch ms | slowest shard ms | "
        "overhead ms | overhead | shard CPU ms (max / sum) | single CPU ms |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shards, entry in report["sharded"].items():
        for name, by_ef in entry["workloads"].items():
            for ef, w in by_ef.items():
                one = single[name][ef]
                print(
                    f"| {shards} | {name} | {ef} | {w['recall']:.4f} | {one['recall']:.4f} | "
                    f"{w['batch_s'] * 1e3:.0f} | {w['slowest_shard_s'] * 1e3:.0f} | "
                    f"{w['overhead_s'] * 1e3:.1f} | {w['overhead_fraction']:.1%} | "
                    f"{w['shard_cpu_max_s'] * 1e3:.0f} / {w['shard_cpu_sum_s'] * 1e3:.0f} | "
                    f"{one['batch_cpu_s'] * 1e3:.0f} |"
                )
        memory = sum(entry["memory_bytes"]) / 2**20
        print(
            f"shards={shards}: build {entry['build_s']:.1f} s, memory {memory:.1f} MiB, "
            f"merge alone {entry['merge_s'] * 1e3:.2f} ms CPU per batch"
        )


if __name__ == "__main__":
    main()
