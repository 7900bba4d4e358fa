"""Statistics of a sparse collection, to set synthetic data beside real learned sparse data.

``python -m fanns.bench.sparse_stats`` prints, for a CSR matrix of documents
and one of queries, the figures that decide how a blocked inverted index
behaves: non-zeros per row, how much of a row's L1 mass its largest terms
carry, how the weights spread, and how long the posting lists are.

Sets: the SPLADE-like generator (``--splade-docs``), BM25 of arxiv-mini
(``--data``), and any JSON-lines file of ``{"vector": {token: weight}}`` rows
(``--jsonl docs.jsonl,queries.jsonl``, the format Seismic's examples use).

Example:
    $ python -m fanns.bench.sparse_stats --splade-docs 100000 --sets splade
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable

import numpy as np

__all__ = ["posting_stats", "row_stats", "read_jsonl_vectors"]

TOP_SHARES = (0.1, 0.2)  # fraction of a row's non-zeros
TOP_COUNTS = (5, 10, 20)  # number of a row's largest terms


def _csr(m):
    m = m.tocsr()
    if m.nnz and (np.any(m.data < 0) or not np.all(np.isfinite(m.data))):
        raise ValueError("statistics expect finite non-negative weights")
    return m


def row_stats(m) -> dict[str, float]:
    """Per-row statistics (means over rows with at least one non-zero).

    * ``nnz_mean`` / ``nnz_p10`` / ``nnz_median`` / ``nnz_p90``: non-zeros per row;
    * ``top{p}%_mass``: mean share of a row's L1 mass in its ``ceil(p * nnz)``
      largest weights; ``top{c}_mass``: the same for its ``c`` largest;
    * ``terms_for_50%`` / ``terms_for_90%``: mean number of largest terms that
      reach half / nine tenths of the row's L1 mass;
    * ``max_over_mean``: mean ratio of a row's largest weight to its mean weight;
    * ``cv``: mean coefficient of variation (std / mean) of a row's weights;
    * ``weight_median`` / ``weight_p99``: over all non-zeros (the scale of the data).
    """
    m = _csr(m)
    lengths = np.diff(m.indptr)
    rows = np.flatnonzero(lengths)
    if rows.size == 0:
        raise ValueError("no non-empty rows")
    out: dict[str, float] = {
        "rows": float(m.shape[0]),
        "nnz_mean": float(lengths[rows].mean()),
        "nnz_p10": float(np.percentile(lengths[rows], 10)),
        "nnz_median": float(np.median(lengths[rows])),
        "nnz_p90": float(np.percentile(lengths[rows], 90)),
    }
    top_share = {p: np.empty(rows.size) for p in TOP_SHARES}
    top_count = {c: np.empty(rows.size) for c in TOP_COUNTS}
    need50 = np.empty(rows.size)
    need90 = np.empty(rows.size)
    max_mean = np.empty(rows.size)
    cv = np.empty(rows.size)
    for j, i in enumerate(rows):
        w = np.sort(m.data[m.indptr[i] : m.indptr[i + 1]].astype(np.float64))[::-1]
        total = w.sum()
        cum = np.cumsum(w) / total if total > 0 else np.ones_like(w)
        for p in TOP_SHARES:
            top_share[p][j] = cum[max(int(np.ceil(p * w.size)), 1) - 1]
        for c in TOP_COUNTS:
            top_count[c][j] = cum[min(c, w.size) - 1]
        need50[j] = np.searchsorted(cum, 0.5) + 1
        need90[j] = np.searchsorted(cum, 0.9) + 1
        mean = w.mean()
        max_mean[j] = w[0] / mean if mean > 0 else 0.0
        cv[j] = w.std() / mean if mean > 0 else 0.0
    for p in TOP_SHARES:
        out[f"top{p:.0%}_mass"] = float(top_share[p].mean())
    for c in TOP_COUNTS:
        out[f"top{c}_mass"] = float(top_count[c].mean())
    out["terms_for_50%"] = float(need50.mean())
    out["terms_for_90%"] = float(need90.mean())
    out["max_over_mean"] = float(max_mean.mean())
    out["cv"] = float(cv.mean())
    out["weight_median"] = float(np.median(m.data))
    out["weight_p99"] = float(np.percentile(m.data, 99))
    return out


def posting_stats(m) -> dict[str, float]:
    """Posting-list lengths (documents per term) of the terms that occur.

    ``df_max_share`` is the longest list over the number of rows;
    ``top1%_terms_postings`` the share of all postings in the 1 % longest
    lists; ``lists_over_1%`` the number of lists longer than 1 % of the rows;
    ``gini`` the Gini coefficient of the lengths (0: all equal);
    ``weight_icc`` how much of the spread of log weights is the term's own
    (one-way ANOVA intraclass correlation of the log weights grouped by term,
    terms in at least two rows; 0: a term's weight says nothing about its
    weight elsewhere, 1: a term has one weight everywhere).
    """
    m = _csr(m)
    df = np.bincount(m.indices, minlength=m.shape[1])
    df = np.sort(df[df > 0])[::-1].astype(np.float64)
    if df.size == 0:
        raise ValueError("no postings")
    n = m.shape[0]
    top = max(int(np.ceil(0.01 * df.size)), 1)
    asc = df[::-1]
    ranks = np.arange(1, df.size + 1)
    gini = float((2 * (ranks * asc).sum()) / (df.size * asc.sum()) - (df.size + 1) / df.size)
    return {
        "terms_used": float(df.size),
        "df_mean": float(df.mean()),
        "df_median": float(np.median(df)),
        "df_p90": float(np.percentile(df, 90)),
        "df_p99": float(np.percentile(df, 99)),
        "df_max_share": float(df[0] / n),
        "top1%_terms_postings": float(df[:top].sum() / df.sum()),
        "lists_over_1%": float((df > 0.01 * n).sum()),
        "gini": gini,
        "weight_icc": _weight_icc(m),
    }


def _weight_icc(m) -> float:
    counts = np.bincount(m.indices, minlength=m.shape[1])
    keep = counts[m.indices] >= 2
    if not keep.any():
        return float("nan")
    terms = m.indices[keep]
    x = np.log(np.maximum(m.data[keep].astype(np.float64), np.finfo(np.float32).tiny))
    n_i = np.bincount(terms, minlength=m.shape[1]).astype(np.float64)
    mean_of = np.bincount(terms, weights=x, minlength=m.shape[1]) / np.maximum(n_i, 1)
    n_i = n_i[n_i > 0]
    g, total = n_i.size, float(x.size)
    if g < 2:
        return float("nan")
    means = mean_of[np.flatnonzero(counts >= 2)]
    ms_between = (n_i * (means - x.mean()) ** 2).sum() / (g - 1)
    ms_within = ((x - mean_of[terms]) ** 2).sum() / (total - g)
    n0 = (total - (n_i**2).sum() / total) / (g - 1)
    return float((ms_between - ms_within) / (ms_between + (n0 - 1) * ms_within))


def read_jsonl_vectors(path: str | os.PathLike, vocabulary: dict[str, int] | None = None):
    """CSR rows of a JSON-lines file whose objects hold ``"vector": {token: weight}``.

    Tokens are numbered in order of first appearance (continuing ``vocabulary``
    when given, which is updated in place). Returns ``(matrix, vocabulary)``.
    """
    import scipy.sparse as sp

    vocab = {} if vocabulary is None else vocabulary
    indptr, indices, data = [0], [], []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f):
            if not line.strip():
                continue
            try:
                vector = json.loads(line)["vector"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no + 1}: no 'vector' object") from exc
            for token, weight in vector.items():
                indices.append(vocab.setdefault(token, len(vocab)))
                data.append(float(weight))
            indptr.append(len(indices))
    n_terms = max(len(vocab), 1)
    m = sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
        shape=(len(indptr) - 1, n_terms),
    )
    m.sum_duplicates()
    return m, vocab


def table(columns: dict[str, dict[str, float]], keys: Iterable[str]) -> str:
    names = list(columns)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in keys:
        cells = []
        for name in names:
            v = columns[name].get(key)
            cells.append("" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from fanns.bench.sparse import add_data_argument, add_splade_queries_argument

    parser = argparse.ArgumentParser(
        prog="python -m fanns.bench.sparse_stats", description=__doc__.split("\n\n")[0]
    )
    add_data_argument(parser)
    parser.add_argument("--sets", default="splade,bm25", help="comma-separated: splade, bm25")
    parser.add_argument("--splade-docs", type=int, default=100000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--splade-cache", default=None, help="directory of generated docs")
    add_splade_queries_argument(parser)
    parser.add_argument(
        "--jsonl", action="append", default=[], help="DOCS.jsonl,QUERIES.jsonl (repeatable)"
    )
    args = parser.parse_args(argv)
    sets: dict[str, tuple] = {}
    for spec in args.jsonl:
        doc_path, _, query_path = spec.partition(",")
        docs, vocab = read_jsonl_vectors(doc_path)
        queries = read_jsonl_vectors(query_path, vocab)[0] if query_path else None
        sets[os.path.basename(os.path.dirname(os.path.abspath(doc_path))) or doc_path] = (
            docs,
            queries,
        )
    wanted = set(args.sets.split(",")) - {""}
    if "splade" in wanted:
        from fanns.bench.sparse import splade_sets

        sets[f"SPLADE-like {args.splade_docs // 1000}k"] = splade_sets(
            args.splade_docs, args.queries, args.splade_cache, args.splade_queries
        )
    if "bm25" in wanted and os.path.isfile(os.path.join(args.data, "database_texts.jsonl.gz")):
        from fanns.datasets.bm25 import bm25_queries, bm25_vectors, load_texts

        texts, query_texts = load_texts(args.data)
        docs, vocab = bm25_vectors(texts)
        sets["BM25 arxiv-mini"] = (docs, bm25_queries(query_texts[: args.queries], vocab))
    if not sets:
        parser.error("no set to describe")
    doc_cols = {name: {**row_stats(d), **posting_stats(d)} for name, (d, _) in sets.items()}
    query_cols = {name: row_stats(q) for name, (_, q) in sets.items() if q is not None}
    print("Documents:\n")
    print(table(doc_cols, next(iter(doc_cols.values())).keys()))
    if query_cols:
        print("\nQueries:\n")
        print(table(query_cols, next(iter(query_cols.values())).keys()))
    print(file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
