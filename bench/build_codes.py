"""Graph construction on 8-bit codes against construction on float rows and hnswlib.

Builds, side by side in one process and in rotating order, per round:

    codes    storage="sq8", insertion searches on codes (the default)
    floats   storage="sq8", insertion on float rows throughout (the engine's
             ``build_on_codes=False``: the graph as built before)
    hnswlib  hnswlib 0.8 on the same rows

with the same M, ef_construction and threads, and reports the process CPU
time of each build, the ratios to hnswlib, and recall@10 at each ef (both
fanns graphs searched the same way, on codes with exact rescoring).

    python bench/build_codes.py --dataset ../shared/datasets/arxiv-mini --rounds 3
    python bench/build_codes.py --dataset ../shared/datasets/arxiv-mini --lift 4096 --rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from fanns import _core
from fanns.datasets import lift_vectors, read_fvecs, read_ivecs_padded
from fanns.datasets.lift import _QUERY_STREAM

K = 10


def load(args):
    base = read_fvecs(os.path.join(args.dataset, "database_vectors.fvecs"))
    queries = read_fvecs(os.path.join(args.dataset, "query_vectors.fvecs"))[: args.queries]
    base = np.ascontiguousarray(base[: args.rows] if args.rows else base, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    if args.lift:
        base = lift_vectors(base, dim=args.lift)
        queries = lift_vectors(queries, dim=args.lift, stream=_QUERY_STREAM)
    if args.rows or args.lift:
        truth = exact_truth(base, queries)
    else:
        truth = read_ivecs_padded(os.path.join(args.dataset, "ground_truth.ivecs"))[: len(queries), :K]
    return base, queries, truth


def exact_truth(base, queries):
    norms = (base.astype(np.float64) ** 2).sum(1)
    out = []
    for lo in range(0, len(queries), 100):
        q = queries[lo : lo + 100].astype(np.float64)
        d = norms[None, :] - 2.0 * q @ base.T.astype(np.float64)
        out.append(np.argsort(d, axis=1, kind="stable")[:, :K])
    return np.concatenate(out)


def recall(ids, truth):
    return sum(len(np.intersect1d(a, b)) for a, b in zip(ids, truth)) / truth.size


def fanns_builder(base, args, on_codes):
    def build():
        engine = _core.HnswIndex(
            base.shape[1], "l2", args.M, 2 * args.M, args.ef_construction, 0, 0, "sq8", on_codes
        )
        engine.build(base, args.threads)
        return engine

    def search(engine, queries, ef):
        ids, _, _ = engine.search(queries, K, ef, 1, [], [], None, {})
        return ids

    return build, search


def hnswlib_builder(base, args):
    import hnswlib

    def build():
        index = hnswlib.Index(space="l2", dim=base.shape[1])
        index.init_index(max_elements=len(base), M=args.M, ef_construction=args.ef_construction)
        index.add_items(base, np.arange(len(base)), num_threads=args.threads)
        return index

    def search(index, queries, ef):
        index.set_ef(max(ef, K))
        ids, _ = index.knn_query(queries, k=K, num_threads=1)
        return ids

    return build, search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--rows", type=int, default=0, help="first rows only (0: all)")
    parser.add_argument("--lift", type=int, default=0, help="lift rows and queries to this dimension")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="16,24,32,48,64,96")
    parser.add_argument("--methods", default="codes,floats,hnswlib")
    args = parser.parse_args()
    efs = [int(e) for e in args.ef.split(",")]
    base, queries, truth = load(args)
    print(json.dumps({"rows": base.shape[0], "dim": base.shape[1], "queries": len(queries)}), flush=True)
    builders = {
        "codes": fanns_builder(base, args, True),
        "floats": fanns_builder(base, args, False),
        "hnswlib": hnswlib_builder(base, args),
    }
    methods = args.methods.split(",")
    cpu = {m: [] for m in methods}
    recalls = {m: {ef: [] for ef in efs} for m in methods}
    for r in range(args.rounds):
        order = methods[r % len(methods) :] + methods[: r % len(methods)]
        for m in order:
            build, search = builders[m]
            wall, c0 = time.perf_counter(), time.process_time()
            index = build()
            c = time.process_time() - c0
            wall = time.perf_counter() - wall
            cpu[m].append(c)
            row = {"round": r, "method": m, "build_cpu_s": round(c, 2), "build_wall_s": round(wall, 2)}
            for ef in efs:
                value = recall(search(index, queries, ef), truth)
                recalls[m][ef].append(value)
                row[f"recall@ef{ef}"] = round(value, 4)
            print(json.dumps(row), flush=True)
            del index
    summary = {"median_cpu_s": {m: round(statistics.median(v), 2) for m, v in cpu.items()}}
    if "hnswlib" in cpu:
        for m in methods:
            if m != "hnswlib":
                ratios = [a / b for a, b in zip(cpu[m], cpu["hnswlib"])]
                summary[f"{m}/hnswlib cpu (median of rounds)"] = round(statistics.median(ratios), 3)
    summary["median_recall"] = {
        m: {ef: round(statistics.median(v), 4) for ef, v in per.items()} for m, per in recalls.items()
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
