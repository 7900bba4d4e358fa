"""Time to open a saved index with ``Index.load(path, mmap=True)`` as the row
count grows to the published large set's 2,735,264.

What a mapped load does is proportional to the rows, not to their width: the
float rows, codes and links are mapped and paged in by searches, while the
attribute columns, the levels and the checks of a load are per row. So the
row count is what this script scales; the width can stay small (``--dim``,
default 16) so that a 2.7M-row index builds here in minutes. The attributes
are the first ``--n`` records of an arXiv-for-FANNS ``database_attributes.jsonl``
(or one made by ``bench/attribute_loading.py --generate``: all eleven
attributes, authors made distinct per repetition), with a range graph on
``update_date``.

    python bench/mmap_load.py build --n 2735264 --attributes attrs.jsonl --dir /data/mm
    python bench/mmap_load.py load --dir /data/mm --rounds 5

``strip`` writes ``index-format1.fanns``, the same index as files were
before attribute orders and posting lists were saved (a load sorts them);
``load --file index-format1.fanns`` times it. ``load`` opens the index in a fresh process each round (default verify,
``"header"``) and reports the seconds to open it, then to answer a first
query unfiltered, a first query filtered by an author (a dictionary of
millions of strings) and one by a date range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def build(args) -> dict:
    import fanns
    from fanns.datasets import read_attribute_store

    started = time.perf_counter()
    store = read_attribute_store(args.attributes, limit=args.n)
    read_seconds = time.perf_counter() - started
    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(256, args.dim)).astype(np.float32)
    rows = centres[rng.integers(0, len(centres), len(store))]
    rows += 0.3 * rng.normal(size=rows.shape).astype(np.float32)
    started = time.perf_counter()
    index = fanns.Index.build(
        rows, attributes=store, M=args.M, ef_construction=args.ef_construction,
        range_attribute="update_date", threads=args.threads,
    )
    build_seconds = time.perf_counter() - started
    path = os.path.join(args.dir, "index.fanns")
    started = time.perf_counter()
    index.save(path)
    np.save(os.path.join(args.dir, "queries.npy"), rows[:: max(1, len(rows) // 100)][:100] + 0.01)
    return {
        "n": len(index),
        "dim": args.dim,
        "attributes_read_seconds": round(read_seconds, 1),
        "build_seconds": round(build_seconds, 1),
        "save_seconds": round(time.perf_counter() - started, 1),
        "file_mib": round(os.path.getsize(path) / 2**20, 1),
        "memory_mib": {k: round(v / 2**20, 1) for k, v in index.memory_bytes(by_part=True).items()},
    }


def strip(args) -> dict:
    """A copy of the index as files were before attribute orders and posting
    lists were saved (attribute format 1): a load sorts them again."""
    from fanns import _fileformat

    meta, sections = _fileformat.read_index_file(os.path.join(args.dir, "index.fanns"), "hnsw")
    derived = ("order", "postings", "posting_offsets")
    kept = {
        name: array for name, array in sections.items()
        if not (name.startswith("attr/") and name.rsplit("/", 1)[1] in derived)
    }
    for i, spec in enumerate(meta["attributes"]["columns"]):  # format 1 held integers as int64
        if spec["type"] in ("int", "date"):
            kept[f"attr/{i}/values"] = np.asarray(kept[f"attr/{i}/values"], dtype=np.int64)
    meta["attributes"] = {**meta["attributes"], "format": 1}
    _fileformat.write_index_file(os.path.join(args.dir, "index-format1.fanns"), "hnsw", meta, kept)
    return {"sections_dropped": len(sections) - len(kept)}


def load_once(directory: str, file: str = "index.fanns") -> dict:
    """One mapped load and first queries, in this (fresh) process."""
    import fanns

    queries = np.load(os.path.join(directory, "queries.npy"))
    started = time.perf_counter()
    index = fanns.Index.load(os.path.join(directory, file), mmap=True)
    out = {"load": time.perf_counter() - started}
    # The filters' values are read from the columns' arrays, not from
    # per-row Python lists (millions of them would dwarf the load).
    words = index.attributes._postings("authors").dictionary
    data, offsets = words.encode()
    middle = len(words) // 2
    author = data[offsets[middle] : offsets[middle + 1]].tobytes().decode("utf-8", "surrogatepass")
    dates = index.attributes.sorted_order("update_date")[1]
    lo, hi = (int(dates[int(q * (len(dates) - 1))]) for q in (0.40, 0.45))
    firsts = {
        "first_unfiltered": None,
        "first_author": fanns.field("authors").contains(author),
        "first_date_range": fanns.field("update_date").between(lo, hi),
    }
    for name, where in firsts.items():
        started = time.perf_counter()
        index.search(queries[:1], k=10, filter=where, threads=1)
        out[name] = time.perf_counter() - started
    return {key: round(value, 4) for key, value in out.items()} | {"n": len(index)}


def load(args) -> dict:
    rounds = []
    for _ in range(args.rounds):
        code = f"import sys, json; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
               f"import mmap_load; print(json.dumps(mmap_load.load_once({args.dir!r}, {args.file!r})))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        rounds.append(json.loads(done.stdout.strip().splitlines()[-1]))
    keys = [k for k in rounds[0] if k != "n"]
    return {
        "n": rounds[0]["n"],
        "rounds": rounds,
        "median_seconds": {k: round(statistics.median(r[k] for r in rounds), 4) for k in keys},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "strip", "load"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--attributes", help="database_attributes.jsonl (build)")
    parser.add_argument("--n", type=int, default=2_735_264)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--file", default="index.fanns", help="file in --dir to load")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    result = {"build": build, "strip": strip, "load": load}[args.command](args)
    print(json.dumps(result, indent=1))
    with open(os.path.join(args.dir, f"{args.command}-{os.path.basename(args.file)}.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
