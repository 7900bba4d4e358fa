"""The published large set's shape by simulation: rows that do not fit the
memory they are served from, built from a memory map, saved, opened with
``mmap=True`` and searched with the em / r / emis workloads.

The large arXiv-for-FANNS set is 2,735,264 x 4096 float32 (44.8 GB of rows)
for a 24 GiB machine. This script writes a set of the same layout and width
(arxiv-mini's 50k rows lifted to 4096-d, repeated with fresh noise up to
``--n`` rows, attributes repeated alongside), then runs each phase in a
process of its own and records its time and peak memory (resident anonymous
memory, the part the index needs, and resident file pages, the part the
kernel can drop and read again):

    prepare   lifted rows (.fvecs), attribute columns, queries, exact ground
              truth for the first --nq queries of every workload
    build     Index.build from the memory-mapped .fvecs (rows read in place),
              then save
    serve     Index.load(mmap=True), time to the first answer, then recall@10
              and single-thread QPS (CPU time) per workload and ef

Example (the numbers in bench/README.md):

    nice -n 5 python bench/large_shape.py all --n 300000 --dir /data/large-shape

``--limit-mib`` runs build and serve under a memory limit: ``systemd-run --scope
-p MemoryMax=...`` when the machine has a working systemd, otherwise
``RLIMIT_DATA`` (``prlimit --data``), which on Linux >= 4.7 caps the private
writable memory a process maps (heap, anonymous maps, thread stacks; not its
read-only file maps nor the page cache), so an allocation past it fails with
``MemoryError`` instead of the process growing. Each phase reports the limit
it ran under. Without ``--limit-mib`` peak memory is measured and reported only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

SOURCE_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "arxiv-mini")
WORKLOADS = ("unfiltered", "em", "r", "emis")
ATTRIBUTES = {"em": "number_of_sub_categories", "r": "update_date", "emis": "main_categories"}
K = 10


# ------------------------------------------------------------------ memory
class PeakMemory:
    """Samples /proc/self/status every 50 ms: peak RssAnon, RssFile and VmHWM (bytes)."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def status() -> dict[str, int]:
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0]) * 1024
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.05)

    def sample(self) -> None:
        now = self.status()
        for key in self.peak:
            self.peak[key] = max(self.peak[key], now.get(key, 0))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self.peak["VmHWM"] = self.status().get("VmHWM", 0)


def mib(value: float) -> float:
    return round(value / 2**20, 1)


# ----------------------------------------------------------------- prepare
def prepare(args) -> dict:
    from fanns.datasets import read_fvecs, read_jsonl
    from fanns.datasets.lift import lift_vectors
    from fanns.datasets.vecs import atomic_write
    from fanns.datasets.workloads import make_workload

    os.makedirs(args.dir, exist_ok=True)
    base = read_fvecs(os.path.join(args.source, "database_vectors.fvecs"))
    queries = read_fvecs(os.path.join(args.source, "query_vectors.fvecs"), count=args.nq)
    m = base.shape[0]
    n, dim = args.n, args.dim
    started = time.perf_counter()
    path = os.path.join(args.dir, "database_vectors.fvecs")
    header = np.int32(dim).tobytes()
    with atomic_write(path) as f:
        for start in range(0, n, 4096):
            rows = np.arange(start, min(n, start + 4096)) % m
            # Row i lifts source row i mod m with noise of its own (stream by row number).
            block = lift_vectors(base[rows], dim=dim, seed=args.seed, start=start)
            table = np.empty((len(block), dim + 1), dtype=np.float32)
            table[:, 0] = np.frombuffer(header, dtype=np.float32)[0]
            table[:, 1:] = block
            f.write(table.tobytes())
    lift_seconds = time.perf_counter() - started
    lifted_queries = lift_vectors(queries, dim=dim, seed=args.seed, stream=2)
    np.save(os.path.join(args.dir, "queries.npy"), lifted_queries)
    records = read_jsonl(os.path.join(args.source, "database_attributes.jsonl"))
    reps = np.arange(n) % m
    subs = np.array([r["number_of_sub_categories"] for r in records], dtype=np.int64)[reps]
    dates = np.array([r["update_date"] for r in records], dtype=np.int64)[reps]
    np.save(os.path.join(args.dir, "number_of_sub_categories.npy"), subs)
    np.save(os.path.join(args.dir, "update_date.npy"), dates)
    mains = [r["main_categories"] for r in records]
    with open(os.path.join(args.dir, "main_categories.json"), "w") as f:
        json.dump(mains, f)  # source rows; row i is source row i mod m
    # Exact ground truth for every workload, one pass over the rows.
    masks = {"unfiltered": None}
    for name in ("em", "r", "emis"):
        qrec = read_jsonl(os.path.join(args.source, f"{name}_query_attributes.jsonl"), limit=args.nq)
        workload = make_workload(name, qrec)
        small = np.stack([workload.mask(i, records) for i in range(len(qrec))])
        masks[name] = small[:, reps]
    started = time.perf_counter()
    truth = exact_top_k(read_fvecs(path), lifted_queries, masks, K)
    np.savez(os.path.join(args.dir, "truth.npz"), **truth)
    return {
        "rows": n,
        "dim": dim,
        "rows_gib": round(n * dim * 4 / 2**30, 2),
        "lift_seconds": round(lift_seconds, 1),
        "truth_seconds": round(time.perf_counter() - started, 1),
        "passing_fraction": {
            name: None if mask is None else round(float(mask.mean()), 5) for name, mask in masks.items()
        },
    }


def exact_top_k(base, queries, masks: dict, k: int) -> dict:
    """Top-k ids by 1 - <q, x> per workload (masks: (nq, n) bool or None), rows in blocks."""
    nq = queries.shape[0]
    best = {name: (np.full((nq, k), np.inf), np.full((nq, k), -1, np.int64)) for name in masks}
    step = 16384
    for start in range(0, base.shape[0], step):
        block = np.ascontiguousarray(base[start : start + step])
        dist = 1.0 - queries @ block.T
        ids = np.arange(start, start + len(block))
        for name, mask in masks.items():
            d = dist if mask is None else np.where(mask[:, start : start + len(block)], dist, np.inf)
            bd, bi = best[name]
            all_d = np.concatenate([bd, d], axis=1)
            all_i = np.concatenate([bi, np.broadcast_to(ids, d.shape)], axis=1)
            order = np.argsort(all_d, axis=1, kind="stable")[:, :k]
            best[name] = (np.take_along_axis(all_d, order, 1), np.take_along_axis(all_i, order, 1))
    return {name: np.where(np.isfinite(d), i, -1) for name, (d, i) in best.items()}


def attributes(directory: str, n: int) -> dict:
    mains = json.load(open(os.path.join(directory, "main_categories.json")))
    m = len(mains)
    return {
        "number_of_sub_categories": np.load(os.path.join(directory, "number_of_sub_categories.npy")),
        "update_date": np.load(os.path.join(directory, "update_date.npy")),
        "main_categories": [mains[i % m] for i in range(n)],
    }


# ------------------------------------------------------------------- build
def build(args) -> dict:
    import fanns
    from fanns.datasets import read_fvecs

    rows = read_fvecs(os.path.join(args.dir, "database_vectors.fvecs"))
    attrs = attributes(args.dir, rows.shape[0])
    started, cpu = time.perf_counter(), time.process_time()
    index = fanns.Index.build(
        rows, attributes=attrs, metric="ip", M=args.M, ef_construction=args.ef_construction,
        storage="sq8", threads=args.threads,
    )
    build_wall, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    parts = index.memory_bytes(by_part=True)
    path = os.path.join(args.dir, "index.fanns")
    started = time.perf_counter()
    index.save(path)
    save_wall = time.perf_counter() - started
    return {
        "build_seconds": round(build_wall, 1),
        "build_cpu_seconds": round(build_cpu, 1),
        "save_seconds": round(save_wall, 1),
        "file_gib": round(os.path.getsize(path) / 2**30, 3),
        "index_mib": {name: mib(size) for name, size in parts.items()},
        "rows_read_in_place_mib": mib(index._engine.borrowed_bytes()),
    }


# ------------------------------------------------------------------- serve
def serve(args) -> dict:
    import fanns
    from fanns._progress import text_bar
    from fanns.datasets import read_jsonl
    from fanns.datasets.workloads import make_workload

    queries = np.load(os.path.join(args.dir, "queries.npy"))
    truth = np.load(os.path.join(args.dir, "truth.npz"))
    filters = {"unfiltered": None}
    for name in ("em", "r", "emis"):
        qrec = read_jsonl(os.path.join(args.source, f"{name}_query_attributes.jsonl"), limit=len(queries))
        filters[name] = make_workload(name, qrec).filters()
    started = time.perf_counter()
    index = fanns.Index.load(
        os.path.join(args.dir, "index.fanns"), mmap=True, progress=text_bar("loading")
    )
    load_seconds = time.perf_counter() - started
    first = index.search(queries[:1], k=K, threads=1)
    first_seconds = time.perf_counter() - started
    out = {
        "load_seconds": round(load_seconds, 3),
        "first_answer_seconds": round(first_seconds, 3),
        "first_answer_ok": bool(first.ids[0, 0] >= 0),
        "workloads": {},
    }
    for name in WORKLOADS:
        rows = []
        for ef in args.efs:
            for rnd in ("cold", "warm") if ef == args.efs[0] else ("warm",):
                cpu, wall = time.process_time(), time.perf_counter()
                result = index.search(queries, k=K, ef=ef, filter=filters[name], threads=1)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                rows.append({
                    "ef": ef,
                    "pass": rnd,
                    "recall": round(recall(result.ids, truth[name]), 4),
                    "qps_cpu": round(len(queries) / cpu, 1),
                    "qps_wall": round(len(queries) / wall, 1),
                    "plans": {p: int(c) for p, c in zip(*np.unique(result.plans, return_counts=True))},
                })
        out["workloads"][name] = rows
    out["index_mib"] = {k: mib(v) for k, v in index.memory_bytes(by_part=True).items()}
    out["mapped_mib"] = mib(index._engine.borrowed_bytes())
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    scores = []
    for row, true in zip(found, truth):
        true = true[true >= 0]
        if len(true) == 0:
            scores.append(1.0 if (row < 0).all() else 0.0)
            continue
        scores.append(len(set(row.tolist()) & set(true.tolist())) / len(true))
    return float(np.mean(scores))


# -------------------------------------------------------------------- main
PHASES = {"prepare": prepare, "build": build, "serve": serve}


def run_phase(args) -> dict:
    with PeakMemory() as peak:
        started = time.perf_counter()
        result = PHASES[args.command](args)
    result["phase_seconds"] = round(time.perf_counter() - started, 1)
    result["peak_mib"] = {key: mib(value) for key, value in peak.peak.items()}
    data_limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
    result["rlimit_data_mib"] = None if data_limit == resource.RLIM_INFINITY else mib(data_limit)
    return result


def _systemd_works() -> bool:
    if not shutil.which("systemd-run"):
        return False
    probe = subprocess.run(["systemd-run", "--scope", "-q", "true"], capture_output=True)
    return probe.returncode == 0


def limited(cmd: list[str], limit_mib: int) -> tuple[list[str], dict]:
    """The phase command under a memory limit of ``limit_mib`` MiB, and how it is enforced."""
    if _systemd_works():
        return ["systemd-run", "--scope", "-q", "-p", f"MemoryMax={limit_mib}M", *cmd], {
            "kind": "systemd MemoryMax (cgroup: resident memory incl. page cache)",
            "mib": limit_mib,
        }
    limit = limit_mib * 2**20
    return ["prlimit", f"--data={limit}:{limit}", *cmd], {
        "kind": "RLIMIT_DATA (private writable mappings; file maps and page cache not counted)",
        "mib": limit_mib,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=[*PHASES, "all"])
    parser.add_argument("--dir", required=True, help="working directory (rows, index, results)")
    parser.add_argument("--source", default=os.path.normpath(SOURCE_DEFAULT), help="arxiv-mini directory")
    parser.add_argument("--n", type=int, default=300_000, help="database rows")
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--nq", type=int, default=300, help="queries per workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="build threads (0: every core)")
    parser.add_argument("--efs", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128, 256])
    parser.add_argument("--limit-mib", type=int, default=0, help="memory limit of build and serve (MemoryMax or RLIMIT_DATA)")
    parser.add_argument("--keep", action="store_true", help="keep the rows and the index file")
    args = parser.parse_args(argv)
    if args.command != "all":
        result = run_phase(args)
        print(json.dumps({args.command: result}))
        return 0
    results = {"args": {k: v for k, v in vars(args).items() if k != "command"}}
    for phase in PHASES:
        cmd = [sys.executable, __file__, phase, *sys.argv[2:]]
        if args.limit_mib and phase != "prepare":  # the library's phases; preparing is the harness's
            cmd, results["limit"] = limited(cmd, args.limit_mib)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            results[phase] = {"failed": done.returncode, "stderr": done.stderr[-2000:]}
            break
        results.update(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps({phase: results[phase]}), flush=True)
    with open(os.path.join(args.dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if not args.keep:
        for name in ("database_vectors.fvecs", "index.fanns"):
            try:
                os.unlink(os.path.join(args.dir, name))
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
