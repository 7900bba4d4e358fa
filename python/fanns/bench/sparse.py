"""Benchmark of the sparse index: ``python -m fanns.bench.sparse``.

Compares, single-threaded, on BM25 vectors of the arXiv-for-FANNS abstracts
(queries: the query titles), on a synthetic Zipf set and on a synthetic
SPLADE-like set (``splade_like_sparse``: ~120 non-zeros per document, ~43 per
query, skewed weights, topical terms; queries written from documents by
``splade_like_queries``, or with ``--splade-queries independent`` drawn apart):

* ``fanns.SparseIndex`` swept over ``plan`` / ``query_cut`` / ``heap_factor`` /
  ``rerank`` (``plan="auto"`` is the default; ``"blocks"`` forces the blocked
  traversal);
* exact search with SciPy (``X @ q`` per query; ``Q @ X.T`` for the batch, top-k
  taken from the sparse product);
* a plain (unblocked) term-at-a-time inverted index with the same static
  pruning, compiled (``fanns.bench._plain_inverted.PlainInvertedIndex``), swept over its query
  cut and the number of accumulator candidates rescored exactly.

Reports recall@10 against exact search, QPS (one batch call, one thread),
per-query latency p50/p99 (one call per query, Python overhead included), build
time and memory, as Markdown.

Example:
    $ python -m fanns.bench.sparse --data ../shared/datasets/arxiv-mini
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fanns.bench._plain_inverted import PlainInvertedIndex
from fanns.datasets.bm25 import (
    bm25_queries,
    bm25_vectors,
    load_texts,
    splade_like_queries,
    splade_like_sparse,
    zipf_sparse,
)
from fanns.sparse import SparseIndex

K = 10
# Index memory by part of each fanns build, printed after the tables.
MEMORY_NOTES: list[str] = []
# The clock of the QPS columns: wall time, or this process's CPU time (``--clock cpu``:
# steadier on a shared machine; every method searches on one thread).
CLOCK: list[Callable[[], float]] = [time.perf_counter]


def clock() -> float:
    return CLOCK[0]()


@dataclass
class Row:
    dataset: str
    method: str
    setting: str
    recall: float
    qps: float
    p50_us: float
    p99_us: float
    build_s: float
    memory_mb: float
    scored: float | None = None


def exact_topk(docs, queries, k: int = K, chunk: int = 32) -> np.ndarray:
    """Top-k ids by exact inner product (float64), ties by smaller id, score > 0 only.

    Queries are scored ``chunk`` at a time, so that a million documents need
    a few hundred MiB, not one dense (n, nq) array.
    """
    docs64 = docs.astype(np.float64).tocsr()
    queries64 = queries.astype(np.float64).tocsr()
    parts = []
    for a in range(0, queries64.shape[0], chunk):
        scores = (docs64 @ queries64[a : a + chunk].T).toarray().T
        parts.append(top_positive(scores, k))
    return np.concatenate(parts) if parts else np.zeros((0, k), dtype=np.int64)


SPLADE_QUERIES = ("from-docs", "independent")


def splade_sets(
    n_docs: int, n_queries: int, cache: str | None = None, queries: str = "from-docs"
) -> tuple:
    """The SPLADE-like documents and queries of this bench (optionally cached as .npz).

    Queries: ~43 terms, weights a little more spread than documents' (as in
    real SPLADE queries; see ``python -m fanns.bench.sparse_stats``). With
    ``queries="from-docs"`` (the default) each is written from one document
    (``splade_like_queries``: as each MS MARCO query was written for one
    passage); ``"independent"`` draws them apart from the documents
    (``splade_like_sparse`` with another seed: the tables measured before the
    choice existed).
    """
    import scipy.sparse as sp

    if queries not in SPLADE_QUERIES:
        raise ValueError(f"queries must be one of {SPLADE_QUERIES}, got {queries!r}")

    def make_docs():
        return splade_like_sparse(n_docs, seed=1)

    docs = None
    if cache:
        # the generator's parameters are in the name: a cache of another
        # version of the generator is not reused
        signature = hashlib.sha256(
            repr(inspect.signature(splade_like_sparse)).encode()
        ).hexdigest()[:12]
        path = os.path.join(cache, f"splade_like_docs_{n_docs}_seed1_{signature}.npz")
        if os.path.isfile(path):
            docs = sp.load_npz(path).tocsr()
        else:
            docs = make_docs()
            os.makedirs(cache, exist_ok=True)
            partial = f"{path}.{os.getpid()}.partial.npz"
            sp.save_npz(partial, docs)
            os.replace(partial, path)  # a concurrent reader never sees half a file
    if docs is None:
        docs = make_docs()
    if queries == "independent":
        return docs, splade_like_sparse(n_queries, nnz_mean=43, seed=2, weight_sigma=1.0)
    return docs, splade_like_queries(docs, n_queries, seed=2)[0]


def top_positive(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Top-k ids per row of a dense (nq, n) score array, ties by smaller id, score > 0 only."""
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for i, row in enumerate(scores):
        cand = np.flatnonzero(row > 0)
        best = cand[np.lexsort((cand, -row[cand]))][:k]
        out[i, : best.size] = best
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = total = 0
    for a, b in zip(found, truth):
        b = b[b >= 0]
        total += b.size
        hits += np.intersect1d(a[a >= 0], b).size
    return hits / total if total else 1.0


def _latencies(call: Callable[[int], object], n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        call(i)
        out[i] = time.perf_counter() - t
    return out * 1e6


def _csr_args(m) -> tuple:
    m = m.tocsr()
    return (m.indptr.astype(np.int64), m.indices.astype(np.uint32), m.data.astype(np.float32))


def bench_scipy(name: str, docs, queries, truth, n_latency: int) -> list[Row]:
    def topk(scores: np.ndarray) -> np.ndarray:
        part = np.argpartition(-scores, min(K, scores.size - 1), axis=-1)[..., :K]
        order = np.take_along_axis(scores, part, -1)
        return np.take_along_axis(part, np.argsort(-order, axis=-1, kind="stable"), -1)

    memory = (docs.data.nbytes + docs.indices.nbytes + docs.indptr.nbytes) / 2**20
    rows = []
    t = clock()
    product = (queries @ docs.T).tocsr()  # (nq, n), only the documents sharing a term
    ids = np.full((queries.shape[0], K), -1, dtype=np.int64)
    for i in range(queries.shape[0]):
        a, b = product.indptr[i], product.indptr[i + 1]
        cols, vals = product.indices[a:b], product.data[a:b]
        best = cols[topk(vals)] if vals.size > K else cols[np.argsort(-vals, kind="stable")]
        ids[i, : best.size] = best
    batch_s = clock() - t
    lat = _latencies(lambda i: topk((docs @ queries[i].T).toarray().ravel()), n_latency)
    rows.append(
        Row(
            name,
            "scipy exact",
            "batch Q @ X.T (sparse)",
            recall_at_k(ids, truth),
            queries.shape[0] / batch_s,
            *np.percentile(lat, [50, 99]),
            0.0,
            memory,
        )
    )
    rows.append(
        Row(
            name,
            "scipy exact",
            "per query X @ q",
            recall_at_k(ids, truth),
            1e6 / lat.mean(),
            *np.percentile(lat, [50, 99]),
            0.0,
            memory,
        )
    )
    return rows


def bench_fanns(
    name: str,
    docs,
    queries,
    truth,
    sweep: Sequence[dict],
    n_latency: int,
    knn: int,
    weights: str = "f32",
) -> list[Row]:
    t = time.perf_counter()
    index = SparseIndex.build(docs, knn=knn, weights=weights)
    build_s = time.perf_counter() - t
    parts = index.memory_bytes(by_part=True)
    memory = sum(parts.values()) / 2**20
    print(f"  [{name}] {index!r}", file=sys.stderr)
    print(
        f"  [{name}] memory by part (MiB): "
        + ", ".join(f"{k}={v / 2**20:.1f}" for k, v in parts.items()),
        file=sys.stderr,
    )
    MEMORY_NOTES.append(
        f"- {name} (weights={weights}): " + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in parts.items() if v)
    )
    rows = []
    singles = [queries[i] for i in range(n_latency)]
    for setting in sweep:
        kwargs = dict(setting)
        t = clock()
        result = index.search(queries, k=K, threads=1, **kwargs)
        batch_s = clock() - t
        lat = _latencies(
            lambda i, kw=kwargs: index.search(singles[i], k=K, threads=1, **kw), n_latency
        )
        names, counts = np.unique(result.plans, return_counts=True)
        shares = ", ".join(
            f"{n} {c / result.plans.size:.0%}" for n, c in zip(names.tolist(), counts.tolist())
        )
        label = " ".join(f"{k}={v}" for k, v in kwargs.items())
        if kwargs.get("plan", "auto") == "auto":
            label += f" ({shares})"
        rows.append(
            Row(
                name,
                "fanns SparseIndex" + (f" knn={knn}" if knn else "") + ("" if weights == "f32" else f" weights={weights}"),
                label,
                recall_at_k(result.ids, truth),
                queries.shape[0] / batch_s,
                *np.percentile(lat, [50, 99]),
                build_s,
                memory,
                float(result.scored.mean()),
            )
        )
        print(
            f"  [{name}] fanns {rows[-1].setting}: recall={rows[-1].recall:.3f} "
            f"qps={rows[-1].qps:.0f}",
            file=sys.stderr,
        )
    return rows


def bench_plain(
    name: str,
    docs,
    queries,
    truth,
    n_postings: int,
    sweep: Sequence[tuple[int, int]],
    n_latency: int,
) -> list[Row]:
    t = time.perf_counter()
    plain = PlainInvertedIndex.build(*_csr_args(docs), docs.shape[1], n_postings, 0)
    build_s = time.perf_counter() - t
    memory = plain.memory_bytes() / 2**20
    qargs = _csr_args(queries)
    singles = [_csr_args(queries[i]) for i in range(n_latency)]
    rows = []
    for cut, rerank in sweep:
        t = clock()
        ids, _ = plain.search(*qargs, queries.shape[1], K, cut, rerank, 1)
        batch_s = clock() - t
        lat = _latencies(
            lambda i, c=cut, r=rerank: plain.search(*singles[i], queries.shape[1], K, c, r, 1),
            n_latency,
        )
        rows.append(
            Row(
                name,
                f"plain inverted (n_postings={n_postings})",
                f"query_cut={cut or 'all'} rerank={rerank}",
                recall_at_k(ids, truth),
                queries.shape[0] / batch_s,
                *np.percentile(lat, [50, 99]),
                build_s,
                memory,
            )
        )
        print(
            f"  [{name}] plain {rows[-1].setting}: recall={rows[-1].recall:.3f} "
            f"qps={rows[-1].qps:.0f}",
            file=sys.stderr,
        )
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "| dataset | method | setting | recall@10 | QPS | p50 µs | p99 µs | docs scored/q "
        "| build s | memory MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scored = f"{r.scored:.0f}" if r.scored is not None else ""
        lines.append(
            f"| {r.dataset} | {r.method} | {r.setting} | {r.recall:.3f} | {r.qps:,.0f} | "
            f"{r.p50_us:,.0f} | {r.p99_us:,.0f} | {scored} | {r.build_s:.1f} | {r.memory_mb:,.1f} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row], target: float = 0.95) -> str:
    lines = [f"Fastest setting with recall@10 >= {target} (QPS from the batch runs):", ""]
    for dataset in dict.fromkeys(r.dataset for r in rows):
        best: dict[str, Row] = {}
        for r in rows:
            if r.dataset != dataset or r.recall < target:
                continue
            key = "scipy" if r.method == "scipy exact" else r.method
            if r.setting.startswith("plan=blocks"):
                key += " (plan=blocks)"
            if key not in best or r.qps > best[key].qps:
                best[key] = r
        scipy_batch = next(
            (r for r in rows if r.dataset == dataset and r.setting.startswith("batch")), None
        )
        scipy_single = next(
            (r for r in rows if r.dataset == dataset and r.setting.startswith("per query")), None
        )
        plain = next((v for k, v in best.items() if k.startswith("plain")), None)
        for key, r in best.items():
            if not key.startswith("fanns"):
                continue
            parts = [f"- {dataset}: {key} `{r.setting}` recall {r.recall:.3f}, {r.qps:,.0f} QPS"]
            if scipy_batch:
                parts.append(f"{r.qps / scipy_batch.qps:.1f}x scipy batch")
            if scipy_single:
                parts.append(f"{r.qps / scipy_single.qps:.1f}x scipy per query")
            if plain:
                parts.append(f"{r.qps / plain.qps:.2f}x plain inverted (`{plain.setting}`)")
            lines.append(", ".join(parts))
        if not any(k.startswith("fanns") for k in best):
            lines.append(f"- {dataset}: no fanns setting reached recall {target}")
    return "\n".join(lines)


def peer_table(rows: list[Row], targets: Sequence[float] = (0.95, 0.97)) -> str:
    """Fastest setting of fanns and of each peer at each recall target, side by side."""
    lines = [
        "| dataset | recall@10 >= | fanns SparseIndex | peer | peer setting | ratio "
        "| build s fanns / peer | memory MiB fanns / peer |",
        "|---|---:|---|---|---|---:|---|---|",
    ]
    for dataset in dict.fromkeys(r.dataset for r in rows):
        mine = [r for r in rows if r.dataset == dataset and r.method.startswith("fanns")]
        peers = sorted({r.method for r in rows if r.dataset == dataset and r.method in PEERS})
        for target, peer in ((t, p) for t in targets for p in peers):
            a = max((r for r in mine if r.recall >= target), key=lambda r: r.qps, default=None)
            theirs = [r for r in rows if r.dataset == dataset and r.method == peer]
            b = max((r for r in theirs if r.recall >= target), key=lambda r: r.qps, default=None)
            fa = f"`{a.setting}`: {a.recall:.3f}, {a.qps:,.0f} QPS" if a else "not reached"
            fb = f"`{b.setting}`: {b.recall:.3f}, {b.qps:,.0f} QPS" if b else "not reached"
            ratio = f"{a.qps / b.qps:.2f}x" if a and b else "—"
            ref_a, ref_b = (a or (mine[0] if mine else None)), (b or theirs[0])
            build = f"{ref_a.build_s:.1f} / {ref_b.build_s:.1f}" if ref_a else ""
            memory = f"{ref_a.memory_mb:,.1f} / {ref_b.memory_mb:,.1f}" if ref_a else ""
            lines.append(
                f"| {dataset} | {target} | {fa} | {peer} | {fb} | {ratio} | {build} | {memory} |"
            )
    return "\n".join(lines)


# Methods a run may name in --methods, besides fanns, scipy and plain.
PEERS: set[str] = set()

FANNS_SWEEP: list[dict] = [
    {"plan": "auto", "query_cut": 10, "heap_factor": 0.6},  # the defaults
    {"plan": "auto", "query_cut": 8},
    {"plan": "auto", "query_cut": 6},
    {"plan": "auto", "query_cut": 8, "rerank": 50},
    {"plan": "auto", "query_cut": 10, "rerank": 50},
    {"plan": "auto", "query_cut": 20},
    {"plan": "blocks", "query_cut": 10, "heap_factor": 0.8},
    {"plan": "blocks", "query_cut": 10, "heap_factor": 0.6},
    {"plan": "blocks", "query_cut": 10, "heap_factor": 0.5},
    {"plan": "blocks", "query_cut": 6, "heap_factor": 0.6},
]
# A shorter sweep for large sets (``--fanns-sweep short``): the auto plan only.
FANNS_SHORT_SWEEP: list[dict] = [
    {"query_cut": 10},
    {"query_cut": 6},
    {"query_cut": 5},
    {"query_cut": 4},
    {"query_cut": 3},
    {"query_cut": 6, "rerank": 50},
    {"query_cut": 4, "rerank": 50},
    {"query_cut": 4, "rerank": 30},
    {"query_cut": 3, "rerank": 30},
]
PLAIN_SWEEP = [
    (0, 0),
    (0, 50),
    (0, 100),
    (10, 50),
    (6, 50),
    (10, 100),
    (8, 100),
    (6, 100),
    (20, 100),
]


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data``: the arXiv-for-FANNS directory (``$FANNS_ARXIV_MINI`` or the shared sample)."""
    parser.add_argument(
        "--data",
        default=os.environ.get(
            "FANNS_ARXIV_MINI", os.path.join("..", "shared", "datasets", "arxiv-mini")
        ),
        help="arXiv-for-FANNS directory with database_texts.jsonl.gz and query_texts.jsonl",
    )


def add_splade_queries_argument(parser: argparse.ArgumentParser) -> None:
    """``--splade-queries``: queries written from documents, or drawn apart from them."""
    parser.add_argument(
        "--splade-queries",
        choices=SPLADE_QUERIES,
        default="from-docs",
        help="SPLADE-like queries: each written from one document (default), or drawn "
        "independently of the documents (the tables measured before this option)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fanns.bench.sparse", description=__doc__.split("\n\n")[0]
    )
    add_data_argument(parser)
    parser.add_argument("--docs", type=int, default=None, help="use the first N abstracts")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--zipf-docs", type=int, default=20000)
    parser.add_argument("--zipf-terms", type=int, default=30000)
    parser.add_argument("--splade-docs", type=int, default=20000)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--knn", type=int, default=0, help="also build the k-NN graph")
    parser.add_argument("--plain-n-postings", type=int, default=2000)
    parser.add_argument(
        "--methods",
        default="scipy,fanns,plain",
        help="comma-separated: scipy, fanns, plain, seismic (pyseismic-lsr, the peers extra)",
    )
    parser.add_argument(
        "--sets", default="bm25,zipf,splade", help="comma-separated: bm25, zipf, splade"
    )
    parser.add_argument("--splade-cache", default=None, help="directory to keep generated docs")
    add_splade_queries_argument(parser)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="what the QPS columns divide by"
    )
    parser.add_argument("--fanns-sweep", choices=("full", "short"), default="full")
    parser.add_argument(
        "--fanns-weights",
        default="f32",
        help="comma-separated forward-index weights to build fanns with: f32 (default), f16",
    )
    parser.add_argument(
        "--seismic-build",
        action="append",
        default=[],
        help="build parameters of one Seismic index, e.g. "
        "'n_postings=4000,centroid_fraction=0.2,summary_energy=0.5' (repeatable; "
        "default: its own defaults)",
    )
    parser.add_argument(
        "--seismic-sweep",
        default=None,
        help="Seismic search settings 'query_cut,heap_factor[,n_knn];...' (n_knn > 0 scans "
        "its k-NN graph, built with --seismic-build nknn=N; default: a built-in sweep)",
    )
    parser.add_argument(
        "--seismic-index-cache",
        default=None,
        help="directory to save built Seismic indexes in and load them from (keyed by the "
        "documents, build parameters and version; the recorded build time and memory are reported)",
    )
    args = parser.parse_args(argv)
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter
    methods = set(args.methods.split(","))
    sets = set(args.sets.split(","))
    unknown = (methods - {"scipy", "fanns", "plain", "seismic"}) | (
        sets - {"bm25", "zipf", "splade"}
    )
    if unknown:
        parser.error(f"unknown method or set: {', '.join(sorted(unknown))}")

    rows: list[Row] = []
    datasets = []
    if "bm25" not in sets:
        pass
    elif os.path.isfile(os.path.join(args.data, "database_texts.jsonl.gz")):
        t = time.perf_counter()
        texts, query_texts = load_texts(args.data, limit=args.docs)
        docs, vocab = bm25_vectors(texts)
        queries = bm25_queries(query_texts[: args.queries], vocab)
        print(
            f"BM25: {docs.shape[0]} docs x {docs.shape[1]} terms, nnz {docs.nnz}, "
            f"{queries.shape[0]} queries ({time.perf_counter() - t:.1f}s)",
            file=sys.stderr,
        )
        datasets.append((f"BM25 arxiv-mini ({docs.shape[0] // 1000}k)", docs, queries))
    else:
        print(f"no texts under {args.data}: BM25 set skipped", file=sys.stderr)
    if "zipf" in sets:
        zdocs = zipf_sparse(args.zipf_docs, args.zipf_terms, nnz_mean=100, seed=1)
        zqueries = zipf_sparse(args.queries, args.zipf_terms, nnz_mean=20, seed=2)
        datasets.append(
            (f"Zipf ({args.zipf_docs // 1000}k, {args.zipf_terms // 1000}k terms)", zdocs, zqueries)
        )
    if "splade" in sets:
        sdocs, squeries = splade_sets(
            args.splade_docs, args.queries, args.splade_cache, args.splade_queries
        )
        datasets.append((f"SPLADE-like ({args.splade_docs // 1000}k)", sdocs, squeries))

    for name, docs, queries in datasets:
        truth = exact_topk(docs, queries)
        n_lat = min(args.latency_queries, queries.shape[0])
        if "scipy" in methods:
            rows += bench_scipy(name, docs, queries, truth, n_lat)
        if "fanns" in methods:
            sweep = FANNS_SWEEP if args.fanns_sweep == "full" else FANNS_SHORT_SWEEP
            for weights in args.fanns_weights.split(","):
                rows += bench_fanns(name, docs, queries, truth, sweep, n_lat, args.knn, weights)
        if "plain" in methods:
            rows += bench_plain(
                name, docs, queries, truth, args.plain_n_postings, PLAIN_SWEEP, n_lat
            )
        if "seismic" in methods:
            from fanns.bench.sparse_peers import (
                SEISMIC_SWEEP,
                bench_seismic,
                parse_build,
                parse_sweep,
                seismic_method,
            )

            PEERS.add(seismic_method())
            ssweep = parse_sweep(args.seismic_sweep) if args.seismic_sweep else SEISMIC_SWEEP
            for spec in args.seismic_build or [""]:
                rows += bench_seismic(
                    name, docs, queries, truth, n_lat, ssweep, args.seismic_index_cache,
                    **parse_build(spec),
                )

    print(markdown(rows))
    print()
    print("fanns SparseIndex memory by part (MiB):")
    print("\n".join(MEMORY_NOTES))
    print()
    print(summary(rows))
    if PEERS:
        print()
        print(peer_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
