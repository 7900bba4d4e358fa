"""Sparse per-query cost as the collection grows: build once, then time saved indexes.

The SPLADE-like documents come from the bench's cache
(``splade_like_docs_{n}_seed1.npz``), the queries and ground truth are those of
``python -m fanns.bench.sparse`` (``splade_sets`` with ``queries="independent"``: seed 2, ~43 terms;
``exact_topk``). ``build`` writes ``{out}/splade_{n}.fanns`` (``SparseIndex.save``)
and ``{out}/splade_{n}_truth.npy``; ``time`` loads them and prints, per setting,
the CPU microseconds per query of one batch call on one thread (``--clock cpu``
as in the bench) and recall@10, as one JSON line per setting. Run ``time``
under two builds of fanns (two venvs) alternately to compare them on the same
index file.

    python bench/sparse_growth.py build --docs 100000 --cache CACHE --out DIR
    python bench/sparse_growth.py time --docs 100000 --out DIR --label main
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from fanns.bench.sparse import exact_topk, recall_at_k
from fanns.datasets.bm25 import splade_like_sparse
from fanns.sparse import SparseIndex

# The settings of bench/sparse.md's "cost per query as the collection grows" table.
SETTINGS = [
    {"query_cut": 3, "rerank": 30},
    {"query_cut": 3},
    {"query_cut": 4},
    {"query_cut": 10},
]


def queries(n_queries: int):
    # as fanns.bench.sparse.splade_sets(..., queries="independent"), the growth table's queries
    return splade_like_sparse(n_queries, nnz_mean=43, seed=2, weight_sigma=1.0)


def paths(out: str, n_docs: int) -> tuple[str, str]:
    return os.path.join(out, f"splade_{n_docs}.fanns"), os.path.join(out, f"splade_{n_docs}_truth.npy")


def build(args) -> None:
    import scipy.sparse as sp

    docs = sp.load_npz(os.path.join(args.cache, f"splade_like_docs_{args.docs}_seed1.npz")).tocsr()
    q = queries(args.queries)
    index_path, truth_path = paths(args.out, args.docs)
    t = time.perf_counter()
    truth = exact_topk(docs, q)
    print(f"truth {time.perf_counter() - t:.1f}s", file=sys.stderr)
    np.save(truth_path, truth)
    t = time.perf_counter()
    index = SparseIndex.build(docs, threads=args.threads)
    print(f"build {time.perf_counter() - t:.1f}s", file=sys.stderr)
    index.save(index_path)


# Phases (``phases`` mode), plan=accumulate: rerank 10 -> 100 adds 90 rescored
# rows; query_cut 3 -> 10 adds seven lists' postings (at most 2,000 each).
PHASES = [
    {"plan": "accumulate", "query_cut": 3, "rerank": 10},
    {"plan": "accumulate", "query_cut": 3, "rerank": 100},
    {"plan": "accumulate", "query_cut": 10, "rerank": 10},
    {"plan": "accumulate", "query_cut": 10, "rerank": 100},
]


def run_time(args) -> None:
    if args.window is not None:
        import fanns.sparse

        if not hasattr(fanns.sparse, "_ACCUMULATOR_WINDOW"):
            raise SystemExit("--window: this build of fanns has one accumulator only")
        fanns.sparse._ACCUMULATOR_WINDOW = args.window
    index_path, truth_path = paths(args.out, args.docs)
    index = SparseIndex.load(index_path)
    truth = np.load(truth_path)
    q = queries(truth.shape[0])
    index.search(q, k=10, threads=1)  # warm-up: scratch allocated, pages touched
    for setting in PHASES if args.mode == "phases" else SETTINGS:
        t = time.process_time()
        result = index.search(q, k=10, threads=1, **setting)
        cpu = time.process_time() - t
        row = {
            "label": args.label,
            "docs": args.docs,
            "setting": " ".join(f"{k}={v}" for k, v in setting.items()),
            "us_per_query": 1e6 * cpu / q.shape[0],
            "recall": recall_at_k(result.ids, truth),
            "ids_sha": hashlib.sha256(result.ids.tobytes() + result.scores.tobytes()).hexdigest()[:12],
        }
        print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("build", "time", "phases"))
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--cache",
        required=True,
        help="directory holding splade_like_docs_N_seed1.npz (python -m fanns.bench.sparse --splade-cache DIR)",
    )
    parser.add_argument("--out", required=True, help="directory of the saved indexes and truths")
    parser.add_argument("--threads", type=int, default=2, help="build threads")
    parser.add_argument("--label", default="", help="a name for the build being timed")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="documents per accumulator window (builds that have windows; 2**31: one array)",
    )
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.mode == "build":
        build(args)
    else:
        run_time(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
