"""Benchmarks of the mutable index (issue #13), on arXiv-mini (50k x 384).

    python bench/mutable.py insert  [--repeats 3]   # adds vs hnswlib add_items
    python bench/mutable.py churn   [--rounds 5]    # delete 50% + upsert, recall and memory
    python bench/mutable.py serve   [--seconds 20]  # search QPS beside 1,000 upserts/s

Every run prints one JSON line per measurement; results and the design are in
bench/README.md. Times are wall-clock and process CPU seconds side by side;
the machine is shared, so compare peers measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time

import numpy as np

import fanns
from fanns.datasets.vecs import read_fvecs, read_ivecs_padded

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "arxiv-mini")
M, EF_CONSTRUCTION, EF, K = 16, 200, 64, 10


def load(data: str):
    base = np.ascontiguousarray(
        read_fvecs(os.path.join(data, "database_vectors.fvecs")), np.float32
    )
    queries = np.ascontiguousarray(
        read_fvecs(os.path.join(data, "query_vectors.fvecs")), np.float32
    )
    truth = read_ivecs_padded(os.path.join(data, "ground_truth.ivecs"))[:, :K]
    return base, queries, truth


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(a, b)) for a, b in zip(ids, truth))
    return hits / truth.size


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- insert
def insert(base, args) -> None:
    """Rows 25k..50k added in batches of 1,000 onto an index holding rows 0..25k."""
    import hnswlib

    start, batch = 25_000, 1_000
    ratios = []
    for repeat in range(args.repeats):
        index = fanns.Index.build(base[:start], M=M, ef_construction=EF_CONSTRUCTION, threads=2)

        def fanns_adds(index=index):
            for lo in range(start, len(base), batch):
                index.add(base[lo : lo + batch], ids=np.arange(lo, lo + batch), threads=2)

        peer = hnswlib.Index(space="l2", dim=base.shape[1])
        peer.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION)
        peer.add_items(base[:start], np.arange(start), num_threads=2)

        def hnswlib_adds(peer=peer):
            for lo in range(start, len(base), batch):
                peer.add_items(base[lo : lo + batch], np.arange(lo, lo + batch), num_threads=2)

        # Alternate which goes first, against drift on a shared machine.
        runs = [("fanns", fanns_adds), ("hnswlib", hnswlib_adds)]
        if repeat % 2:
            runs.reverse()
        seconds = {name: timed(fn) for name, fn in runs}
        ratio = seconds["hnswlib"][0] / seconds["fanns"][0]
        ratios.append(ratio)
        emit(
            bench="insert",
            repeat=repeat,
            rows=len(base) - start,
            fanns_wall=round(seconds["fanns"][0], 2),
            fanns_cpu=round(seconds["fanns"][1], 2),
            hnswlib_wall=round(seconds["hnswlib"][0], 2),
            hnswlib_cpu=round(seconds["hnswlib"][1], 2),
            throughput_ratio=round(ratio, 3),
            cpu_ratio=round(seconds["hnswlib"][1] / seconds["fanns"][1], 3),
            segments=index.segments,
        )
        del index, peer
    emit(bench="insert", median_throughput_ratio=round(statistics.median(ratios), 3))


# ---------------------------------------------------------------- churn
def churn(base, queries, truth, args) -> None:
    """Delete half the rows at random and upsert them back, ``rounds`` times."""
    rng = np.random.default_rng(0)
    fresh = fanns.Index.build(base, M=M, ef_construction=EF_CONSTRUCTION, threads=2)
    fresh_recall = recall(fresh.search(queries, k=K, ef=EF).ids, truth)
    fresh_memory = fresh.memory_bytes()
    emit(bench="churn", round=0, recall=round(fresh_recall, 4), memory=fresh_memory)
    index = fresh
    for round_ in range(1, args.rounds + 1):
        gone = rng.choice(len(base), size=len(base) // 2, replace=False)
        index.delete(gone)
        for lo in range(0, len(gone), 1_000):
            ids = gone[lo : lo + 1_000]
            index.upsert(base[ids], ids=ids, threads=2)
        before = recall(index.search(queries, k=K, ef=EF).ids, truth)
        memory_before = index.memory_bytes()
        compact_wall, _ = timed(lambda: index.compact(threads=2))
        after = recall(index.search(queries, k=K, ef=EF).ids, truth)
        emit(
            bench="churn",
            round=round_,
            recall_before_compact=round(before, 4),
            recall_after_compact=round(after, 4),
            fresh_recall=round(fresh_recall, 4),
            memory_before_compact=memory_before,
            memory_after_compact=index.memory_bytes(),
            memory_ratio=round(index.memory_bytes() / fresh_memory, 4),
            compact_seconds=round(compact_wall, 1),
        )


# ---------------------------------------------------------------- serve
def serve(base, queries, truth, args) -> None:
    """QPS of 2 search threads on an idle index, then beside a thread that
    upserts 1,000 rows (the same vectors, so answers stay comparable) a second.
    Each repeat measures idle then busy on the index as the previous repeats
    left it (with their upserts' tombstones)."""
    index = fanns.Index.build(base, M=M, ef_construction=EF_CONSTRUCTION, threads=2)

    def measure(writing: bool) -> dict:
        stop = threading.Event()
        counts = [0, 0]
        found: list = [None, None]
        upserts = [0]

        def searcher(t):
            results = []
            while not stop.is_set():
                for lo in range(0, len(queries), 100):
                    results.append(index.search(queries[lo : lo + 100], k=K, ef=EF, threads=1).ids)
                    counts[t] += len(queries[lo : lo + 100])
            found[t] = np.concatenate(results)

        def writer():
            rng = np.random.default_rng(1)
            next_tick = time.perf_counter()
            while not stop.is_set():
                ids = rng.choice(len(base), size=1_000, replace=False)
                index.upsert(base[ids], ids=ids, threads=1)
                upserts[0] += 1
                next_tick += 1.0
                stop.wait(max(0.0, next_tick - time.perf_counter()))

        threads = [threading.Thread(target=searcher, args=(t,)) for t in (0, 1)]
        if writing:
            threads.append(threading.Thread(target=writer))
        wall, cpu = time.perf_counter(), time.process_time()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        ids = np.concatenate(found)
        reps = len(ids) // len(queries)
        r = recall(ids[: reps * len(queries)], np.tile(truth, (reps, 1)))
        return {
            "qps": round(sum(counts) / wall, 1),
            "recall": round(r, 4),
            "upsert_batches": upserts[0],
            "cpu": round(time.process_time() - cpu, 1),
        }

    ratios = []
    for repeat in range(args.repeats):
        idle = measure(False)
        busy = measure(True)
        ratios.append(busy["qps"] / idle["qps"])
        emit(bench="serve", repeat=repeat, idle=idle, busy=busy, qps_ratio=round(ratios[-1], 3))
    emit(bench="serve", median_qps_ratio=round(statistics.median(ratios), 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=["insert", "churn", "serve"])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    base, queries, truth = load(args.data)
    emit(
        bench=args.bench,
        fanns=fanns.__version__ if hasattr(fanns, "__version__") else None,
        simd=fanns.simd_level(),
        cpus=os.cpu_count(),
    )
    if args.bench == "insert":
        insert(base, args)
    elif args.bench == "churn":
        churn(base, queries, truth, args)
    else:
        serve(base, queries, truth, args)


if __name__ == "__main__":
    main()
