"""Filtered sparse search beside what users can do without it.

``python -m fanns.bench.sparse_filtered``: on BM25 vectors of arxiv-mini
(title queries), for filters passing 0.1 %, 1 %, 10 % and 50 % of the
documents, drawn three ways:

* ``uncorrelated``: the same random documents for every query;
* ``correlated``: per query, drawn from its ``2 p n`` best documents (the
  filter keeps what the query wants);
* ``anti-correlated``: per query, drawn from the documents below its
  ``max(100, p n)`` best (the filter removes what the query wants most);

it compares, one thread, recall@10 against the exact filtered answer (float64,
ties by smaller id) and QPS:

* ``fanns.SparseIndex`` with the filter (defaults; ``--weights f32,f16``
  builds one index per forward-index weight format, side by side);
* ``pyseismic-lsr`` (no filters) asked for ``k'`` results, filtered afterwards;
* exact scoring of the passing documents with SciPy (``X[passing] @ q``).

Recall is given twice: by ids, and tie-aware as ann-benchmarks counts it (a
returned id counts when its true score is at least the true k-th score
times ``1 - 1e-3``), which does not count a document exchanged for a
(near-)tie as a miss. fanns' rows also give, in brackets, recall against the
exact answer over the weights its forward index stores (the f16-rounded ones
for ``weights="f16"``).

Example:
    $ python -m fanns.bench.sparse_filtered --data ../shared/datasets/arxiv-mini --queries 200
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from fanns.bench.sparse import K, add_data_argument, recall_at_k, top_positive
from fanns.datasets.bm25 import bm25_queries, bm25_vectors, load_texts
from fanns.sparse import SparseIndex

FRACTIONS = (0.001, 0.01, 0.1, 0.5)
KINDS = ("uncorrelated", "correlated", "anti-correlated")


def masks_for(scores: np.ndarray, fraction: float, kind: str, seed: int) -> np.ndarray:
    """(nq, n) bool: the documents each query's filter passes."""
    nq, n = scores.shape
    m = max(1, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    out = np.zeros((nq, n), dtype=bool)
    if kind == "uncorrelated":
        out[:, rng.choice(n, size=m, replace=False)] = True
        return out
    for i in range(nq):
        order = np.argsort(-scores[i], kind="stable")
        if kind == "correlated":
            pool = order[: min(n, 2 * m)]
        else:
            pool = order[min(n - m, max(100, m)) :]
        out[i, rng.choice(pool, size=min(m, pool.size), replace=False)] = True
    return out


# ann-benchmarks' relative epsilon for its tie-aware recall.
TIE_EPSILON = 1e-3


def filtered_truth(scores: np.ndarray, masks: np.ndarray) -> np.ndarray:
    masked = np.where(masks, scores, 0.0)
    return top_positive(masked)


def tie_aware_recall(found: np.ndarray, truth: np.ndarray, scores: np.ndarray) -> float:
    """ann-benchmarks' recall: a returned id counts when its true score is at
    least the true k-th score times ``1 - TIE_EPSILON`` (at most k a query)."""
    hits = total = 0
    for i, (a, b) in enumerate(zip(found, truth)):
        b = b[b >= 0]
        if b.size == 0:
            continue
        total += b.size
        a = a[a >= 0]
        kth = scores[i, b[-1]]
        hits += min(b.size, int(np.sum(scores[i, a] >= kth * (1 - TIE_EPSILON))))
    return hits / total if total else 1.0


def run_fanns(index: SparseIndex, queries, masks: np.ndarray) -> tuple[np.ndarray, float, str]:
    filters = [masks[i] for i in range(masks.shape[0])]
    t = time.process_time()
    result = index.search(queries, K, filter=filters, threads=1)
    elapsed = time.process_time() - t
    names, counts = np.unique(result.plans, return_counts=True)
    plans = ", ".join(f"{a} {b / counts.sum():.0%}" for a, b in zip(names, counts))
    return result.ids, masks.shape[0] / elapsed, plans


def run_exact(docs, queries, masks: np.ndarray) -> tuple[np.ndarray, float]:
    """SciPy: score the passing rows of each query exactly, take the top 10."""
    out = np.full((masks.shape[0], K), -1, dtype=np.int64)
    qt = queries.T.tocsc()
    t = time.process_time()
    for i in range(masks.shape[0]):
        rows = np.flatnonzero(masks[i])
        s = (docs[rows] @ qt[:, i]).toarray().ravel()
        keep = np.flatnonzero(s > 0)
        if keep.size > K:  # every document tied with the k-th, then ties by id
            kth = -np.partition(-s[keep], K - 1)[K - 1]
            keep = keep[s[keep] >= kth]
        keep = keep[np.lexsort((rows[keep], -s[keep]))][:K]
        out[i, : keep.size] = rows[keep]
    return out, masks.shape[0] / (time.process_time() - t)


def run_seismic(peer, form, masks: np.ndarray, k_prime: int, cut: int, heap: float):
    t = time.process_time()
    found = peer.search(form, k_prime, cut, heap)
    elapsed = time.process_time() - t
    out = np.full((masks.shape[0], K), -1, dtype=np.int64)
    for i, row in enumerate(found):
        row = row[row >= 0]
        row = row[masks[i, row]][:K]
        out[i, : row.size] = row
    return out, masks.shape[0] / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fanns.bench.sparse_filtered", description=__doc__.split("\n\n")[0]
    )
    add_data_argument(parser)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--seismic-setting", default="10,0.4", help="query_cut,heap_factor[;query_cut,heap_factor]"
    )
    parser.add_argument("--k-prime", default="100,1000,10000")
    parser.add_argument("--no-seismic", action="store_true")
    parser.add_argument(
        "--weights", default="f32", help="fanns forward-index weights, comma-separated: f32, f16"
    )
    args = parser.parse_args(argv)
    formats = args.weights.split(",")

    texts, query_texts = load_texts(args.data)
    docs, vocabulary = bm25_vectors(texts)
    docs = docs.tocsr()
    queries = bm25_queries(query_texts[: args.queries], vocabulary).tocsr()
    scores = (queries.astype(np.float64) @ docs.astype(np.float64).T).toarray()
    rounded = docs.astype(np.float64)  # the weights an f16 index stores
    rounded.data = docs.data.astype(np.float16).astype(np.float64)
    stored = {"f32": scores, "f16": (queries.astype(np.float64) @ rounded.T).toarray()}
    indexes = {w: SparseIndex.build(docs, weights=w) for w in formats}
    for index in indexes.values():
        # The first filtered query that needs them builds the cut postings (the
        # full lists' remainder); build them before timing.
        index.search(queries[:1], K, filter=np.ones(docs.shape[0], dtype=bool), exact_threshold=0)
    peer = form = None
    if not args.no_seismic:
        from fanns.bench.sparse_peers import SeismicPeer

        peer = SeismicPeer(docs)
        form = peer.queries(queries)
    settings = [
        (int(c), float(h)) for c, h in (x.split(",") for x in args.seismic_setting.split(";"))
    ]
    k_primes = [int(k) for k in args.k_prime.split(",")]
    print(f"{docs.shape[0]} docs, {queries.shape[0]} queries; QPS from CPU time, one thread")
    for weights, index in indexes.items():
        parts = index.memory_bytes(by_part=True)
        print(
            f"fanns weights={weights}: memory {sum(parts.values()) / 2**20:.1f} MiB, of which "
            f"forward {parts['forward'] / 2**20:.1f}, cut postings (filter_tails) "
            f"{parts['filter_tails'] / 2**20:.1f} MiB"
        )
    print()
    print(
        "| filter | passing | fanns weights | fanns recall: ids / tie-aware (vs stored weights) "
        "| fanns QPS | fanns plans | exact recall: ids / tie-aware | exact QPS "
        "| seismic post-filter (k' (query_cut, heap_factor): recall ids / tie-aware, QPS) "
        "| fanns / best alternative at recall >= 0.95 |"
    )
    print("|---|---:|---|---:|---:|---|---:|---:|---|---:|")
    for kind in KINDS:
        for fraction in FRACTIONS:
            masks = masks_for(scores, fraction, kind, seed=int(fraction * 1e4) + len(kind))
            truth = filtered_truth(scores, masks)
            e_ids, e_qps = run_exact(docs, queries, masks)
            e_r, e_t = recall_at_k(e_ids, truth), tie_aware_recall(e_ids, truth, scores)
            alternatives = [(e_r, e_qps)]
            seismic = []
            runs = [(k, c, h) for c, h in settings for k in k_primes if k <= docs.shape[0]]
            for k_prime, cut, heap in runs if peer is not None else []:
                s_ids, s_qps = run_seismic(peer, form, masks, k_prime, cut, heap)
                s_r, s_t = recall_at_k(s_ids, truth), tie_aware_recall(s_ids, truth, scores)
                seismic.append(f"{k_prime} ({cut}, {heap}): {s_r:.3f} / {s_t:.3f}, {s_qps:,.0f}")
                alternatives.append((s_r, s_qps))
            best = max((q for rr, q in alternatives if rr >= 0.95), default=None)
            for weights, index in indexes.items():
                ids, qps, plans = run_fanns(index, queries, masks)
                r, t = recall_at_k(ids, truth), tie_aware_recall(ids, truth, scores)
                r_stored = recall_at_k(ids, filtered_truth(stored[weights], masks))
                ratio = f"{qps / best:.1f}x" if best and r >= 0.95 else "—"
                print(
                    f"| {kind} | {masks.mean():.1%} | {weights} | {r:.3f} / {t:.3f} ({r_stored:.3f}) "
                    f"| {qps:,.0f} | {plans} | {e_r:.3f} / {e_t:.3f} | {e_qps:,.0f} "
                    f"| {'; '.join(seismic)} | {ratio} |",
                    flush=True,
                )
            print(f"  {kind} {fraction}: done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
