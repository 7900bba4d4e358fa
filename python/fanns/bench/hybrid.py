"""Benchmark of hybrid dense + sparse search: ``python -m fanns.bench.hybrid``.

On arxiv-mini (MiniLM vectors and BM25 vectors of the same abstracts; queries:
the query vectors and BM25 of the query titles) it reports, per fusion rule
and filter:

* recall@10 of the fused top 10 against the exact fusion of the two exact
  rankings (same rule, ``--ref-depth`` candidates a side, default 100), at
  each ``depth`` swept;
* CPU time per query of the hybrid call (one call per query, one thread)
  beside the two searches it runs, one after the other per query (what a
  caller fusing by hand does), and each in a loop of its own (which keeps
  each one's data in cache: a lower bound), dense and sparse at
  ``k=depth``, the dense one at the hybrid call's ``ef = 2 * depth``) and
  at ``k=10`` with their defaults, runs interleaved over ``--rounds`` rounds
  (the median of each is quoted, and the median of the per-round ratios).

Example:
    $ python -m fanns.bench.hybrid --data ../shared/datasets/arxiv-mini --queries 300
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import fanns
from fanns import field
from fanns._progress import text_bar
from fanns.bench.sparse import add_data_argument, recall_at_k
from fanns.datasets import read_fvecs
from fanns.datasets.arxiv import read_jsonl
from fanns.datasets.bm25 import bm25_queries, bm25_vectors, load_texts
from fanns.filters import compile_filter
from fanns.hybrid import DEFAULT_EF_PER_DEPTH, FUSIONS, exact_fusion

K = 10


def load(data: str, nq: int):
    """Dense and sparse rows and queries, and the attribute records, of arxiv-mini."""
    base = np.ascontiguousarray(read_fvecs(os.path.join(data, "database_vectors.fvecs")))
    queries = np.ascontiguousarray(read_fvecs(os.path.join(data, "query_vectors.fvecs")))[:nq]
    texts, query_texts = load_texts(data)
    docs, vocabulary = bm25_vectors(texts)
    sparse_queries = bm25_queries(query_texts[:nq], vocabulary)
    records = read_jsonl(os.path.join(data, "database_attributes.jsonl"))
    attributes = {
        "update_date": [r.get("update_date") for r in records],
        "main_categories": [r.get("main_categories") or [] for r in records],
    }
    return base, queries, docs, sparse_queries, attributes


def filters(index: fanns.Index) -> dict:
    """The filters measured, by name (with their share of passing rows)."""
    dates = np.asarray(index.attributes["update_date"], dtype=np.float64)
    return {
        "none": None,
        "cs (category)": field("main_categories").contains("cs"),
        "update_date >= 90th pct": field("update_date") >= int(np.nanpercentile(dates, 90)),
        "math and date >= median": field("main_categories").contains("math")
        & (field("update_date") >= int(np.nanpercentile(dates, 50))),
    }


def mask_of(index: fanns.Index, flt) -> np.ndarray | None:
    if flt is None:
        return None
    mask = np.zeros(len(index), dtype=bool)
    mask[np.fromiter(compile_filter(flt, index.attributes, len(index)), dtype=np.int64)] = True
    return mask


def reference(index, base, docs16, queries, sparse_queries, mask, fusion, depth):
    """Exact fusion in chunks of 50 queries (the exact scores are (chunk, n) arrays)."""
    out = []
    for start in range(0, len(queries), 50):
        stop = min(start + 50, len(queries))
        out.append(
            exact_fusion(
                base,
                docs16,
                queries[start:stop],
                sparse_queries[start:stop],
                K,
                metric=index.metric,
                depth=depth,
                mask=mask,
                fusion=fusion,
            )[0]
        )
    return np.concatenate(out)


def cpu_per_query(call, nq: int) -> float:
    """CPU seconds per query of ``call(i)`` for every query i, in µs."""
    t = time.process_time()
    for i in range(nq):
        call(i)
    return (time.process_time() - t) / nq * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fanns.bench.hybrid", description=__doc__.split("\n\n")[0]
    )
    add_data_argument(parser)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--depths", default="20,50,100,200")
    parser.add_argument("--ref-depth", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timing-queries", type=int, default=200)
    parser.add_argument("--timing-only", action="store_true", help="skip the recall table")
    parser.add_argument("--filters", default="", help="which filters (0-3, e.g. 01); default all")
    parser.add_argument("--cache", default=None, help="save / reuse the built index here")
    parser.add_argument("--rerank", default="", help="sparse rerank values to sweep (e.g. 100,200)")
    args = parser.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]

    base, queries, docs, sparse_queries, attributes = load(args.data, args.queries)
    nq = queries.shape[0]
    if args.cache and os.path.exists(args.cache):
        index = fanns.Index.load(args.cache, progress=text_bar("loading"))
        build_s = float("nan")
    else:
        t = time.perf_counter()
        index = fanns.Index.build(base, sparse=docs, attributes=attributes, threads=2)
        build_s = time.perf_counter() - t
        if args.cache:
            index.save(args.cache)
    print(f"{index!r} (build {build_s:.1f} s, 2 threads)", file=sys.stderr)
    docs16 = docs.tocsr().copy()
    docs16.sum_duplicates()
    docs16.data = docs16.data.astype(np.float16).astype(np.float32)
    sq = sparse_queries.tocsr()

    print(
        f"{nq} queries, {len(index)} rows; recall@10 against exact fusion at depth {args.ref_depth}"
    )
    print()
    print(
        "| filter | passing | fusion | depth | sparse rerank | recall@10 "
        "| sources (dense / sparse / both) |"
    )
    print("|---|---:|---|---:|---:|---:|---|")
    reranks = [None] + [int(r) for r in args.rerank.split(",") if r]
    named = filters(index)
    if args.filters:
        named = {name: flt for i, (name, flt) in enumerate(named.items()) if str(i) in args.filters}
    for name, flt in named.items() if not args.timing_only else ():
        mask = mask_of(index, flt)
        share = 1.0 if mask is None else mask.mean()
        for fusion in FUSIONS:
            truth = reference(index, base, docs16, queries, sq, mask, fusion, args.ref_depth)
            for depth in depths:
                for rerank in reranks:
                    options = None if rerank is None else {"rerank": rerank}
                    result = index.search(
                        queries,
                        K,
                        sparse=sq,
                        fusion=fusion,
                        depth=depth,
                        filter=flt,
                        sparse_options=options,
                    )
                    s = result.sources[result.ids >= 0]
                    mix = f"{np.mean(s == 1):.2f} / {np.mean(s == 2):.2f} / {np.mean(s == 3):.2f}"
                    print(
                        f"| {name} | {share:.1%} | {fusion} | {depth} | {rerank or 'default'} | "
                        f"{recall_at_k(result.ids, truth):.3f} | {mix} |",
                        flush=True,
                    )
    print()
    timing(index, queries, sq, named, depths, args)
    return 0


def _calls(index, queries, singles, depth, flt) -> dict:
    """The hybrid call and the searches it runs, alone, per query (one thread)."""

    def dense(i, k, ef=None):
        return index.search(queries[i], k, ef=ef, filter=flt, threads=1)

    def sparse(i, k):
        return index.search(None, k, sparse=singles[i], filter=flt, threads=1)

    return {
        "hybrid": lambda i: index.search(
            queries[i], K, sparse=singles[i], depth=depth, filter=flt, threads=1
        ),
        "dense": lambda i: dense(i, depth, DEFAULT_EF_PER_DEPTH * depth),  # as the hybrid call
        "both": lambda i: (dense(i, depth, DEFAULT_EF_PER_DEPTH * depth), sparse(i, depth)),
        "sparse": lambda i: sparse(i, depth),
        "dense10": lambda i: dense(i, K),
        "sparse10": lambda i: sparse(i, K),
    }


def timing(index, queries, sq, named, depths, args) -> None:
    n = min(args.timing_queries, queries.shape[0])
    singles = [sq[i] for i in range(n)]
    print(
        "| filter | depth | hybrid µs | dense then sparse µs | hybrid / (dense then sparse) "
        "| dense k=depth µs | sparse k=depth µs | hybrid / sum of separate loops "
        "| dense k=10 µs | sparse k=10 µs | hybrid / sum at k=10 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, flt in named.items():
        for depth in depths:
            calls = _calls(index, queries, singles, depth, flt)
            times: dict[str, list[float]] = {key: [] for key in calls}
            keys = list(calls)
            for r in range(args.rounds):  # each round in another order
                for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
                    times[key].append(cpu_per_query(calls[key], n))
            t = {key: np.array(v) for key, v in times.items()}
            ratio = np.median(t["hybrid"] / (t["dense"] + t["sparse"]))
            ratio10 = np.median(t["hybrid"] / (t["dense10"] + t["sparse10"]))
            paired = np.median(t["hybrid"] / t["both"])
            med = {key: float(np.median(v)) for key, v in t.items()}
            print(
                f"| {name} | {depth} | {med['hybrid']:,.0f} | {med['both']:,.0f} | {paired:.2f} | "
                f"{med['dense']:,.0f} | {med['sparse']:,.0f} | {ratio:.2f} | "
                f"{med['dense10']:,.0f} | {med['sparse10']:,.0f} | {ratio10:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    raise SystemExit(main())
