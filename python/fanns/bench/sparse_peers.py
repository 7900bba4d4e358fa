"""Other sparse engines beside ``fanns.SparseIndex`` in ``python -m fanns.bench.sparse``.

``pyseismic-lsr`` (the Seismic authors' engine, Rust; ``pip install
".[peers]"`` on Linux x86-64) builds from an in-memory dataset of integer
components and answers queries given as string tokens; it has no filters.
Its memory is the growth of this process's resident set over the build, after
the input dataset is released, and its file size (``save``).

Example:
    $ python -m fanns.bench.sparse --methods fanns,seismic --no-synthetic
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from fanns.bench.memory import current_rss_bytes
from fanns.bench.sparse import K, Row, _latencies, clock, recall_at_k

# Seismic's own defaults, then a sweep of its two search knobs.
SEISMIC_BUILD = {"n_postings": 3500, "centroid_fraction": 0.1, "summary_energy": 0.4}
# (BM25 queries have about 9 terms: query_cut 20 answered as 10 did.)
SEISMIC_SWEEP: list[tuple[int, float]] = [
    (cut, heap) for cut in (5, 10) for heap in (0.9, 0.7, 0.5, 0.4, 0.3)
]


BUILD_KEYS = {
    "n_postings": int,
    "centroid_fraction": float,
    "summary_energy": float,
    "max_fraction": float,
}


def parse_build(spec: str) -> dict:
    """``'n_postings=4000,summary_energy=0.5'`` -> build keyword arguments."""
    out: dict = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in BUILD_KEYS:
            raise ValueError(f"Seismic build parameter {part!r}: expected one of {list(BUILD_KEYS)}")
        out[key] = BUILD_KEYS[key](value)
    return out


def parse_sweep(spec: str) -> list[tuple[int, float]]:
    """``'10,0.8;4,0.9'`` -> [(10, 0.8), (4, 0.9)] (query_cut, heap_factor)."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        cut, sep, heap = part.partition(",")
        if not sep:
            raise ValueError(f"Seismic search setting {part!r}: expected 'query_cut,heap_factor'")
        out.append((int(cut), float(heap)))
    return out


def seismic_method() -> str:
    """The method name the rows of the peer carry."""
    return f"pyseismic-lsr {seismic_version()}"


def seismic_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("pyseismic-lsr")
    except Exception:  # not installed
        return None


class SeismicPeer:
    """A built ``seismic.SeismicIndex`` over CSR rows (document ids = row numbers)."""

    def __init__(self, docs, *, threads: int = 2, **build) -> None:
        import seismic

        params = {**SEISMIC_BUILD, **build}
        docs = docs.tocsr().copy()
        docs.sum_duplicates()
        docs.sort_indices()
        gc.collect()
        before = current_rss_bytes() or 0
        t = time.perf_counter()
        # Components are 16-bit in the default classes; the LV ("large vocabulary")
        # classes take 32-bit ones (BM25 of arxiv-mini has 101,121 terms).
        self.large_vocabulary = docs.shape[1] > 65535
        dataset_class = (
            seismic.SeismicDatasetLV if self.large_vocabulary else seismic.SeismicDataset
        )
        index_class = seismic.SeismicIndexLV if self.large_vocabulary else seismic.SeismicIndex
        dataset = dataset_class(dim=int(docs.shape[1]))
        dataset.add_documents_by_id(
            [str(i) for i in range(docs.shape[0])],
            docs.indices.astype(np.int64),
            docs.data.astype(np.float32),
            docs.indptr.astype(np.int64),
        )
        self.index = index_class.build_from_dataset(dataset, num_threads=threads, **params)
        self.build_s = time.perf_counter() - t
        del dataset
        gc.collect()
        self.memory_mb = max((current_rss_bytes() or 0) - before, 0) / 2**20
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "seismic")
            self.index.save(path)
            files = [os.path.join(tmp, f) for f in os.listdir(tmp)]
            self.file_mb = sum(os.path.getsize(f) for f in files) / 2**20
        self.params = params

    @staticmethod
    def queries(queries) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Seismic's query form: ids, string tokens and float32 values per query."""
        import seismic

        text = seismic.get_seismic_string()
        q = queries.tocsr()
        ids = np.array([str(i) for i in range(q.shape[0])], dtype=text)
        tokens = [q.indices[q.indptr[i] : q.indptr[i + 1]].astype(text) for i in range(q.shape[0])]
        values = [
            q.data[q.indptr[i] : q.indptr[i + 1]].astype(np.float32) for i in range(q.shape[0])
        ]
        return ids, tokens, values

    def search(self, query_form, k: int, query_cut: int, heap_factor: float) -> np.ndarray:
        ids, tokens, values = query_form
        found = self.index.batch_search(
            ids, tokens, values, k, query_cut, heap_factor, num_threads=1
        )
        out = np.full((len(ids), k), -1, dtype=np.int64)
        for row in found:  # rows carry their query id: do not rely on their order
            if row:
                docs = [int(doc) for _, _, doc in row][:k]
                out[int(row[0][0]), : len(docs)] = docs
        return out

    def search_one(self, query_form, i: int, k: int, query_cut: int, heap_factor: float):
        ids, tokens, values = query_form
        return self.index.search(ids[i], tokens[i], values[i], k, query_cut, heap_factor)


def bench_seismic(
    name: str,
    docs,
    queries,
    truth,
    n_latency: int,
    sweep: Sequence[tuple[int, float]] = SEISMIC_SWEEP,
    **build,
) -> list[Row]:
    peer = SeismicPeer(docs, **build)
    print(
        f"  [{name}] seismic {'LV ' if peer.large_vocabulary else ''}{peer.params}: "
        f"build {peer.build_s:.1f} s, "
        f"RSS +{peer.memory_mb:.1f} MiB, file {peer.file_mb:.1f} MiB",
        file=sys.stderr,
    )
    form = peer.queries(queries)
    built = ",".join(f"{k}={v}" for k, v in peer.params.items() if SEISMIC_BUILD.get(k) != v)
    rows = []
    for cut, heap in sweep:
        t = clock()
        ids = peer.search(form, K, cut, heap)
        batch_s = clock() - t
        lat = _latencies(lambda i, c=cut, h=heap: peer.search_one(form, i, K, c, h), n_latency)
        rows.append(
            Row(
                name,
                seismic_method(),
                f"query_cut={cut} heap_factor={heap}" + (f" ({built})" if built else ""),
                recall_at_k(ids, truth),
                queries.shape[0] / batch_s,
                *np.percentile(lat, [50, 99]),
                peer.build_s,
                peer.memory_mb,
            )
        )
        print(
            f"  [{name}] seismic {rows[-1].setting}: recall={rows[-1].recall:.3f} "
            f"qps={rows[-1].qps:.0f}",
            file=sys.stderr,
        )
    return rows
