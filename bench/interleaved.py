"""Unfiltered QPS of fanns (codes, f16 rows, float rows) beside hnswlib, runs interleaved.

On a shared machine the load changes between one method's sweep and the
next; here every round runs each method once at each ef, and the QPS quoted
is the median over rounds of the process's CPU time (queries on one thread).
Indexes are built once (2 threads) and cached in ``--cache``. With
``--one-graph`` the float-row index is built once and every other storage
loads the same graph with its encoding derived on load (the comparison is
then of storages alone, not of two concurrent builds).

    python bench/interleaved.py --dataset ../shared/datasets/arxiv-mini --ef 20,40,80
    python -m fanns.datasets lift ../shared/datasets/arxiv-mini /tmp/mini-4096
    python -m fanns.datasets groundtruth /tmp/mini-4096 --workloads unfiltered
    python bench/interleaved.py --dataset /tmp/mini-4096 --ef 20,40,80
    python bench/interleaved.py --dataset /tmp/mini-4096 --storages sq8,f16,f32 --one-graph
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fanns
from fanns._fileformat import read_index_file, write_index_file
from fanns._progress import text_bar
from fanns.datasets import read_fvecs, read_ivecs_padded


def _build(path: str, make) -> None:
    if not os.path.exists(path):
        make(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--ef", default="20,40,80")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--cache", default="bench-results/interleaved")
    parser.add_argument("--storages", default="sq8,f32", help="fanns storages, comma-separated")
    parser.add_argument("--one-graph", action="store_true", help="one graph for every storage")
    args = parser.parse_args()
    import hnswlib

    base = np.ascontiguousarray(read_fvecs(os.path.join(args.dataset, "database_vectors.fvecs")))
    queries = np.ascontiguousarray(read_fvecs(os.path.join(args.dataset, "query_vectors.fvecs")))
    queries = queries[: args.queries]
    truth = read_ivecs_padded(os.path.join(args.dataset, "ground_truth.ivecs"))[: len(queries), :10]
    os.makedirs(args.cache, exist_ok=True)
    tag = f"{os.path.basename(os.path.normpath(args.dataset))}-M{args.M}-efc{args.ef_construction}"
    indexes = {}
    for storage in args.storages.split(","):
        path = os.path.join(args.cache, f"{tag}-{storage}.fanns")
        built = "f32" if args.one_graph else storage
        if args.one_graph:
            path = os.path.join(args.cache, f"{tag}-one-graph-{storage}.fanns")
        source = os.path.join(args.cache, f"{tag}-one-graph-f32.fanns") if args.one_graph else path
        _build(
            source,
            lambda p, s=built: fanns.Index.build(
                base, M=args.M, ef_construction=args.ef_construction, storage=s, threads=2
            ).save(p),
        )
        if not os.path.exists(path):
            # The float-row graph's file with another storage: the encoding is derived on load.
            meta, sections = read_index_file(source, "hnsw")
            meta["params"]["storage"] = storage
            write_index_file(path, "hnsw", meta, sections)
        indexes[f"fanns-{storage}"] = fanns.Index.load(path, progress=text_bar(f"loading {storage}"))
    peer = hnswlib.Index(space="l2", dim=base.shape[1])
    path = os.path.join(args.cache, f"{tag}-hnswlib.bin")

    def make_peer(p: str) -> None:
        built = hnswlib.Index(space="l2", dim=base.shape[1])
        built.init_index(len(base), M=args.M, ef_construction=args.ef_construction)
        built.set_num_threads(2)
        built.add_items(base)
        built.save_index(p)

    _build(path, make_peer)
    peer.load_index(path)
    peer.set_num_threads(1)

    def run(name: str, ef: int) -> np.ndarray:
        if name == "hnswlib":
            peer.set_ef(ef)
            return peer.knn_query(queries, 10)[0]
        return indexes[name].search(queries, 10, ef=ef, threads=1).ids

    efs = [int(e) for e in args.ef.split(",")]
    names = [*indexes, "hnswlib"]
    seconds: dict = {}
    recall: dict = {}
    for _ in range(args.rounds):
        for ef in efs:
            for name in names:
                start = time.process_time()
                ids = run(name, ef)
                seconds.setdefault((ef, name), []).append(time.process_time() - start)
                recall[ef, name] = np.mean(
                    [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(ids, truth)]
                )
    print(f"{args.dataset}: {base.shape[0]} x {base.shape[1]}, {len(queries)} queries")
    print("| ef | method | recall@10 | QPS (CPU) | vs hnswlib |")
    print("|---:|---|---:|---:|---:|")
    for ef in efs:
        peer_qps = len(queries) / np.median(seconds[ef, "hnswlib"])
        for name in names:
            qps = len(queries) / np.median(seconds[ef, name])
            print(f"| {ef} | {name} | {recall[ef, name]:.4f} | {qps:,.0f} | {qps / peer_qps:.2f}x |")
    print("\nmemory_bytes(by_part=True), MiB:")
    for name, index in indexes.items():
        parts = index.memory_bytes(by_part=True)
        print(name, {k: round(v / 2**20, 1) for k, v in parts.items() if v})


if __name__ == "__main__":
    main()
