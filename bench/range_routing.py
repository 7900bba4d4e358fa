"""Range filters on arxiv-mini with a range graph over update_date (CPU time, one thread).

    python bench/range_routing.py build sq8 1 /tmp/sq8.fanns [rows]   # storage, range_quantized
    python bench/range_routing.py time /tmp/sq8.fanns LABEL [--only-r] [--reps 10]
    python bench/range_routing.py wide /tmp/sq8.fanns
    python bench/range_routing.py sweep /tmp/sq8.fanns [--data DIR] [--rows N] [--rounds 3]

``time`` prints one JSON line: per workload and ef, the best of ``--reps``
batch searches of 200 queries (ms of CPU per query), the plans and recall@10
against an exact search of the same filters. Run two builds of fanns
(``PYTHONPATH=...``) on the same file in turns to compare them. ``wide``
compares wide pure ranges answered on the main graph (the planner's rule)
with the same ranges forced onto the range graph. ``sweep`` answers pure
ranges of 2-95% of the rows forced onto each graph in turn (``force_route``)
at an ef sweep, one JSON line per width: ms of CPU per query (median of
``--rounds`` turns), recall@10 and plans per graph and ef. ``--data`` and
``--rows`` name the dataset and the rows the index was built from (build
takes ``--data`` too), e.g. a lifted 4096-d copy of arxiv-mini.
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


def load(args):
    return datasets.load_arxiv_fanns(getattr(args, "data", None) or DATA, count=getattr(args, "rows", None) or None)


def force_route(to_range: bool):
    """A stand-in for ``routing._ask`` that sends every pure range to the
    range graph (``to_range``) or to the main graph, and asks the planner
    for ranges with other conjuncts. Internal to this benchmark."""
    ask = routing._ask

    def forced(decide, routes, passing):
        return [to_range] * len(routes) if passing is None else ask(decide, routes, passing)

    return forced


def recall(ids: np.ndarray, want: np.ndarray) -> float:
    hit = sum(len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) for a, b in zip(ids, want))
    return hit / max(1, int((want >= 0).sum()))


def build(args) -> None:
    src = load(args)
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
    every_pure_range = force_route(True)

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


def sweep(args) -> None:
    src = load(args)
    index = fanns.Index.load(args.index)
    queries = np.ascontiguousarray(src.queries[:200], dtype=np.float32)
    keys = np.array([a.get("update_date") or 0 for a in src.attributes[: len(index)]])
    dates = np.sort(keys)
    rng = np.random.default_rng(0)
    ask = routing._ask
    modes = {"main": force_route(False), "range": force_route(True)}
    for percent in args.widths:
        width = max(1, int(len(dates) * percent / 100))
        starts = rng.integers(0, len(dates) - width + 1, size=len(queries))
        bounds = [(int(dates[s]), int(dates[s + width - 1])) for s in starts]
        filters = [field("update_date").between(lo, hi) for lo, hi in bounds]
        rows = float(np.mean([np.count_nonzero((keys >= lo) & (keys <= hi)) for lo, hi in bounds]))
        truth = index.search(queries, 10, filter=filters, exact_threshold=10**9, threads=1).ids
        out = {"percent": percent, "rows": round(rows), "n": len(index)}
        for ef in args.efs:
            times = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode, forced in modes.items():
                    routing._ask = forced
                    try:
                        ms, result = timed(index, queries, filters, ef, 1)
                    finally:
                        routing._ask = ask
                    times[mode].append(ms)
                    plans = dict(zip(*np.unique(result.plans, return_counts=True)))
                    out[f"{mode}@{ef}"] = {
                        "recall": round(recall(result.ids, truth), 4),
                        "plans": {str(k): int(v) for k, v in plans.items()},
                    }
            for mode in modes:
                out[f"{mode}@{ef}"]["ms"] = round(float(np.median(times[mode])), 4)
        print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("storage")
    b.add_argument("quantized", type=int)
    b.add_argument("out")
    b.add_argument("rows", type=int, nargs="?")
    b.add_argument("--data")
    t = sub.add_parser("time")
    t.add_argument("index")
    t.add_argument("label")
    t.add_argument("--only-r", action="store_true")
    t.add_argument("--reps", type=int, default=3)
    w = sub.add_parser("wide")
    w.add_argument("index")
    s = sub.add_parser("sweep")
    s.add_argument("index")
    s.add_argument("--data")
    s.add_argument("--rows", type=int)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--widths", type=float, nargs="+", default=[2, 5, 10, 20, 35, 50, 65, 80, 95])
    s.add_argument("--efs", type=int, nargs="+", default=[10, 20, 40, 80, 160])
    args = parser.parse_args()
    {"build": build, "time": time_searches, "wide": wide, "sweep": sweep}[args.command](args)


if __name__ == "__main__":
    main()
