"""Loading an attribute file into a filterable store: today's records path
(``read_jsonl`` then ``AttributeStore.from_input``) against the column
reader (``fanns.datasets.read_attribute_store``: the engine's JSON-lines
reader; ``columns-python``: its Python fall-back alone).

Each load runs in a fresh process; it reports CPU time and peak resident
memory above the process's state after imports. Loaders alternate, rounds
repeat, medians are reported.

    nice -n 5 python bench/attribute_loading.py FILE [FILE ...] --rounds 3
    python bench/attribute_loading.py --generate 1000000 OUT.jsonl   # from arxiv-mini

Generated files repeat arxiv-mini's records with every author name made
distinct per repetition (so the dictionaries grow as a real file's would).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

LOADERS = ("records", "columns", "columns-python", "read_jsonl")
ARXIV = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "arxiv-mini")


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_one(loader: str, path: str) -> dict:
    import resource
    import time

    from fanns.attributes import AttributeStore
    from fanns.datasets import read_attribute_store, read_jsonl

    base = _rss()
    cpu = time.process_time()
    if loader == "records":
        records = read_jsonl(path)
        store = AttributeStore.from_input(records, len(records))
        del records
    elif loader == "columns":
        store = read_attribute_store(path)
    elif loader == "columns-python":  # the Python reader alone (no engine reader)
        store = read_attribute_store(path, native=False)
    else:
        store = read_jsonl(path)
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    held = store.memory_bytes() if loader != "read_jsonl" else None
    return {
        "cpu_s": cpu,
        "peak_above_base_mib": (peak - base) / 2**20,
        "store_mib": held and held / 2**20,
    }


def generate(n: int, out: str) -> None:
    lines = (
        open(os.path.join(ARXIV, "database_attributes.jsonl"), encoding="utf-8").read().splitlines()
    )
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            record = json.loads(lines[i % len(lines)])
            rep = i // len(lines)
            if rep and record.get("authors"):
                record["authors"] = [f"{a} {rep}" for a in record["authors"]]
            f.write(json.dumps(record) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--generate", type=int, default=0, help="write N records to the one file given"
    )
    parser.add_argument(
        "--loaders",
        default=",".join(LOADERS),
        help="comma-separated subset of " + ", ".join(LOADERS),
    )
    parser.add_argument("--one", choices=LOADERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.generate, args.files[0])
        return 0
    if args.one:
        print(json.dumps(run_one(args.one, args.files[0])))
        return 0
    loaders = [name for name in LOADERS if name in args.loaders.split(",")]
    if "records" not in loaders:
        parser.error("--loaders must include records (the baseline)")
    for path in args.files:
        runs: dict[str, list[dict]] = {name: [] for name in loaders}
        for _ in range(args.rounds):
            for name in loaders:
                out = subprocess.run(
                    [sys.executable, __file__, path, "--one", name],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(out.stdout))
                print(json.dumps({"loader": name, **runs[name][-1]}), file=sys.stderr, flush=True)
        size = os.path.getsize(path) / 2**20
        print(f"{path} ({size:.0f} MiB, {args.rounds} rounds, medians)")
        base = {
            k: statistics.median(r[k] for r in runs["records"])
            for k in ("cpu_s", "peak_above_base_mib")
        }
        for name in loaders:
            cpu = statistics.median(r["cpu_s"] for r in runs[name])
            peak = statistics.median(r["peak_above_base_mib"] for r in runs[name])
            held = runs[name][0]["store_mib"]
            ratios = ", ".join(
                f"{r['cpu_s'] / b['cpu_s']:.2f}" for r, b in zip(runs[name], runs["records"])
            )
            print(f"  {name:10s} cpu per round vs records: {ratios}")
            print(
                f"  {name:10s} cpu {cpu:7.2f} s ({cpu / base['cpu_s']:.2f}x)  peak +{peak:8.1f} MiB "
                f"({peak / base['peak_above_base_mib']:.2f}x)"
                + (f"  store {held:.1f} MiB" if held else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
