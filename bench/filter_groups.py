"""Peak memory of a search whose queries each carry a distinct filter, with
the filters compiled all at once (the budget set out of reach: the path every
search took before grouping) and a group at a time (the default budget).

The index: ``--n`` rows (2,735,264, the published large set's count) of
``--dim``-d random vectors, M=4, with an attribute store of the large set's
size (a float ``u`` uniform in [0, 1), an int ``year``); the batch: ``--nq``
queries, query ``i`` filtered by ``u`` in its own narrow band (``--band``:
about 1,400 rows, scanned exactly). Each mode runs in a fresh process (the index is built once
and saved; each process maps it), reporting the search's CPU time and the
kernel's high-water mark of resident memory (VmHWM) above the resident
memory just before the search (it includes the index pages the search
touches, the same in both modes); the answers of the two modes are compared.

    nice -n 5 python bench/filter_groups.py --dir /tmp/fg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _status(key: str) -> int:
    """A /proc/self/status field in bytes (VmRSS: resident now; VmHWM: the
    kernel's high-water mark of it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def build(args) -> None:
    import fanns

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    attributes = {"u": rng.random(args.n), "year": rng.integers(1990, 2026, size=args.n)}
    started = time.process_time()
    index = fanns.Index.build(vectors, attributes=attributes, M=4, ef_construction=16, storage="f32")
    index.save(os.path.join(args.dir, "index.fanns"))
    np.save(os.path.join(args.dir, "queries.npy"), rng.standard_normal((args.nq, args.dim)).astype(np.float32))
    print(json.dumps({"build_cpu_s": round(time.process_time() - started, 1)}))


def search(args, mode: str) -> dict:
    import fanns
    from fanns import field
    from fanns._progress import text_bar
    from fanns.filters import grouped

    index = fanns.Index.load(os.path.join(args.dir, "index.fanns"), mmap=True, progress=text_bar("loading"))
    queries = np.load(os.path.join(args.dir, "queries.npy"))
    nq = len(queries)
    filters = [field("u").between(i / nq, i / nq + args.band) for i in range(nq)]
    if mode == "all-at-once":
        grouped.FILTER_MEMORY_BUDGET = 1 << 62
    before = _status("VmRSS")
    cpu = time.process_time()
    result = index.search(queries, k=10, filter=filters, threads=1)
    cpu = time.process_time() - cpu
    peak = _status("VmHWM")
    np.save(os.path.join(args.dir, f"ids-{mode}.npy"), result.ids)
    np.save(os.path.join(args.dir, f"distances-{mode}.npy"), result.distances)
    plans = {str(p): int(c) for p, c in zip(*np.unique(result.plans, return_counts=True))}
    return {
        "mode": mode,
        "search_cpu_s": round(cpu, 2),
        "rss_before_search_mib": round(before / 2**20, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "peak_above_before_mib": round((peak - before) / 2**20, 1),
        "bitset_mib_per_filter": round((index.__len__() + 63) // 64 * 8 / 2**20, 3),
        "filters_per_group": grouped.filters_per_group(len(index))
        if mode == "grouped"
        else nq,
        "plans": plans,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--n", type=int, default=2_735_264)
    parser.add_argument("--dim", type=int, default=4)
    parser.add_argument("--nq", type=int, default=10_000)
    parser.add_argument("--band", type=float, default=0.0005, help="width of each query's band of u")
    parser.add_argument("--one", choices=("build", "all-at-once", "grouped"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    if args.one == "build":
        build(args)
        return 0
    if args.one:
        print(json.dumps(search(args, args.one)))
        return 0
    rest = [a for a in (argv if argv is not None else sys.argv[1:])]
    if not os.path.exists(os.path.join(args.dir, "index.fanns")):
        subprocess.run([sys.executable, __file__, *rest, "--one", "build"], check=True)
    for mode in ("grouped", "all-at-once"):
        out = subprocess.run(
            [sys.executable, __file__, *rest, "--one", mode], capture_output=True, text=True, check=True
        )
        print(out.stdout.strip(), flush=True)
    same = all(
        np.array_equal(
            np.load(os.path.join(args.dir, f"{part}-grouped.npy")),
            np.load(os.path.join(args.dir, f"{part}-all-at-once.npy")),
        )
        for part in ("ids", "distances")
    )
    print(json.dumps({"answers_equal": same}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
