"""Range filters on arxiv-mini with a range graph over update_date (CPU time, one thread).

    python bench/range_routing.py build sq8 1 /tmp/sq8.fanns [rows]   # storage, range_quantized
    python bench/range_routing.py time /tmp/sq8.fanns LABEL [--only-r] [--reps 10]
    python bench/range_routing.py wide /tmp/sq8.fanns

``time`` prints one JSON line: per workload and ef, the best of ``--reps``
batch searches of 200 queries (ms of CPU per query), the plans and recall@10
against an exact search of the same filters. Run two builds of fanns
(``PYTHONPATH=...``) on the same file in turns to compare them. ``wide``
compares wide pure ranges answered on the main graph (the planner's rule)
with the same ranges forced onto the range graph.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import fanns
import fanns.routing as routing
from fanns import datasets, field

DATA = "/work/shared/datasets/arxiv-mini"


def recall(ids: np.ndarray, want: np.ndarray) -> float:
    hit = sum(len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) for a, b in zip(ids, want))
    return hit / max(1, int((want >= 0).sum()))


def build(args) -> None:
    src = datasets.load_arxiv_fanns(DATA)
    vectors = np.ascontiguousarray(src.vectors, dtype=np.float32)
    attributes = list(src.attributes)
    if args.rows:
        vectors, attributes = vectors[: args.rows], attributes[: args.rows]
    start = time.time()
    index = fanns.Index.build(
        vectors,
        attributes=attributes,
        M=16,
        ef_construction=200,
        seed=0,
        storage=args.storage,
        range_attribute="update_date",
        range_quantized=bool(args.quantized),
    )
    print("built in", round(time.time() - start, 1), "s", index.memory_bytes(by_part=True))
    index.save(args.out)


def timed(index, queries, filters, ef: int, reps: int):
    best = None
    for _ in range(reps):
        start = time.process_time()
        result = index.search(queries, 10, ef=ef, filter=filters, threads=1)
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
    return 1000 * best / len(queries), result


def time_searches(args) -> None:
    src = datasets.load_arxiv_fanns(DATA)
    index = fanns.Index.load(args.index)
    queries = np.ascontiguousarray(src.queries[:200], dtype=np.float32)
    workload = src.workloads["r"]
    r = [workload.filter(i) for i in range(200)]
    sets = {"r": r}
    if not args.only_r:
        sets["r&authors>=4"] = [f & (field("number_of_authors") >= 4) for f in r]
    out = {"label": args.label}
    for name, filters in sets.items():
        truth = index.search(queries, 10, filter=filters, exact_threshold=10**9, threads=1).ids
        for ef in (10, 20, 40, 80):
            ms, result = timed(index, queries, filters, ef, args.reps)
            plans = dict(zip(*np.unique(result.plans, return_counts=True)))
            out[f"{name}@{ef}"] = {
                "cpu_ms_per_query": round(ms, 4),
                "plans": {str(k): int(v) for k, v in plans.items()},
                "recall": round(recall(result.ids, truth), 4),
            }
    print(json.dumps(out))


def wide(args) -> None:
    src = datasets.load_arxiv_fanns(DATA)
    index = fanns.Index.load(args.index)
    queries = np.ascontiguousarray(src.queries[:200], dtype=np.float32)
    dates = np.sort([a["update_date"] for a in src.attributes if a.get("update_date")])
    rng = np.random.default_rng(0)
    ask = routing._ask

    def every_pure_range(decide, routes, passing):
        return [True] * len(routes) if passing is None else ask(decide, routes, passing)

    for percent in (40, 55, 65, 80, 95):
        width = int(len(dates) * percent / 100)
        starts = rng.integers(0, len(dates) - width, size=len(queries))
        filters = [field("update_date").between(int(dates[s]), int(dates[s + width - 1])) for s in starts]
        truth = index.search(queries, 10, filter=filters, exact_threshold=10**9, threads=1).ids
        for ef in (10, 20, 40, 80):
            row = {}
            for mode in ("planner", "range graph") * 3:
                routing._ask = every_pure_range if mode == "range graph" else ask
                try:
                    ms, result = timed(index, queries, filters, ef, 1)
                finally:
                    routing._ask = ask
                row.setdefault(mode, []).append(ms)
                row[mode + " recall"] = round(recall(result.ids, truth), 4)
            print(percent, ef, {k: round(float(np.median(v)), 3) if isinstance(v, list) else v for k, v in row.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("storage")
    b.add_argument("quantized", type=int)
    b.add_argument("out")
    b.add_argument("rows", type=int, nargs="?")
    t = sub.add_parser("time")
    t.add_argument("index")
    t.add_argument("label")
    t.add_argument("--only-r", action="store_true")
    t.add_argument("--reps", type=int, default=3)
    w = sub.add_parser("wide")
    w.add_argument("index")
    args = parser.parse_args()
    {"build": build, "time": time_searches, "wide": wide}[args.command](args)


if __name__ == "__main__":
    main()
