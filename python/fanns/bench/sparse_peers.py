"""Other sparse engines beside ``fanns.SparseIndex`` in ``python -m fanns.bench.sparse``.

``pyseismic-lsr`` (the Seismic authors' engine, Rust; ``pip install
".[peers]"`` on Linux x86-64) builds from an in-memory dataset of integer
components and answers queries given as string tokens; it has no filters.
Its memory is the growth of this process's resident set over the build, after
the input dataset is released, and its file size (``save``).

With a cache directory (``--seismic-index-cache``) a built index is saved
there under a key of the documents, the build parameters and the Seismic
version, beside a JSON record of its build time and memory; a later run on the
same documents loads it instead of building (a 1M-document build takes over an
hour on two cores) and reports the recorded build figures.

Example:
    $ python -m fanns.bench.sparse --methods fanns,seismic --no-synthetic
"""

from __future__ import annotations

import gc
import hashlib
import json
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
    "nknn": int,  # neighbours per document in its k-NN graph (searched with n_knn > 0)
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


def parse_sweep(spec: str) -> list[tuple]:
    """``'10,0.8;4,0.9,20'`` -> [(10, 0.8), (4, 0.9, 20)] (query_cut, heap_factor[, n_knn])."""
    out: list[tuple] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        fields = [f.strip() for f in part.split(",")]
        if len(fields) not in (2, 3):
            raise ValueError(
                f"Seismic search setting {part!r}: expected 'query_cut,heap_factor' "
                "or 'query_cut,heap_factor,n_knn'"
            )
        try:
            setting = (int(fields[0]), float(fields[1]), *(int(f) for f in fields[2:]))
        except ValueError as e:
            raise ValueError(f"Seismic search setting {part!r}: {e}") from e
        out.append(setting)
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


def index_key(docs, params: dict) -> str:
    """A short hash of the CSR documents, the build parameters and the Seismic version."""
    h = hashlib.sha256()
    h.update(repr((docs.shape, docs.nnz, sorted(params.items()), seismic_version())).encode())
    for part in (docs.indptr, docs.indices, docs.data):
        h.update(np.ascontiguousarray(part).view(np.uint8))
    return h.hexdigest()[:16]


class SeismicPeer:
    """A built ``seismic.SeismicIndex`` over CSR rows (document ids = row numbers)."""

    def __init__(self, docs, *, threads: int = 2, cache: str | None = None, **build) -> None:
        import seismic

        params = {**SEISMIC_BUILD, **build}
        docs = docs.tocsr().copy()
        docs.sum_duplicates()
        docs.sort_indices()
        # Components are 16-bit in the default classes; the LV ("large vocabulary")
        # classes take 32-bit ones (BM25 of arxiv-mini has 101,121 terms).
        self.large_vocabulary = docs.shape[1] > 65535
        index_class = seismic.SeismicIndexLV if self.large_vocabulary else seismic.SeismicIndex
        self.params = params
        self.loaded_from = None
        if cache:
            stem = os.path.join(cache, f"seismic_{docs.shape[0]}_{index_key(docs, params)}")
            if self._load(index_class, stem):
                return
        self._build(seismic, index_class, docs, threads)
        if cache:
            self._save(stem)

    def _build(self, seismic, index_class, docs, threads: int) -> None:
        gc.collect()
        before = current_rss_bytes() or 0
        t = time.perf_counter()
        dataset_class = (
            seismic.SeismicDatasetLV if self.large_vocabulary else seismic.SeismicDataset
        )
        dataset = dataset_class(dim=int(docs.shape[1]))
        dataset.add_documents_by_id(
            [str(i) for i in range(docs.shape[0])],
            docs.indices.astype(np.int64),
            docs.data.astype(np.float32),
            docs.indptr.astype(np.int64),
        )
        self.index = index_class.build_from_dataset(dataset, num_threads=threads, **self.params)
        self.build_s = time.perf_counter() - t
        del dataset
        gc.collect()
        self.memory_mb = max((current_rss_bytes() or 0) - before, 0) / 2**20
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "seismic")
            self.index.save(path)
            files = [os.path.join(tmp, f) for f in os.listdir(tmp)]
            self.file_mb = sum(os.path.getsize(f) for f in files) / 2**20

    def _record(self) -> dict:
        return {
            "version": seismic_version(),
            "params": self.params,
            "build_s": self.build_s,
            "memory_mb": self.memory_mb,
            "file_mb": self.file_mb,
        }

    def _save(self, stem: str) -> None:
        """The index at ``stem.index.seismic`` and its record at ``stem.json``, each atomically."""
        os.makedirs(os.path.dirname(stem), exist_ok=True)
        partial = f"{stem}.{os.getpid()}.partial"
        self.index.save(partial)  # writes partial + ".index.seismic"
        os.replace(f"{partial}.index.seismic", f"{stem}.index.seismic")
        with open(f"{partial}.json", "w") as f:
            json.dump(self._record(), f)
        os.replace(f"{partial}.json", f"{stem}.json")  # the record last: it marks a whole index

    def _load(self, index_class, stem: str) -> bool:
        """Load a saved index and its record; False if there is none (or not a whole one)."""
        path = f"{stem}.index.seismic"
        try:
            with open(f"{stem}.json") as f:
                record = json.load(f)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as e:
            raise ValueError(f"Seismic index record {stem}.json is unreadable: {e}") from e
        if record.get("version") != seismic_version() or record.get("params") != self.params:
            raise ValueError(
                f"Seismic index record {stem}.json names version {record.get('version')} and "
                f"{record.get('params')}, not {seismic_version()} and {self.params}"
            )
        if not os.path.isfile(path):
            raise ValueError(f"Seismic index {path} is missing beside its record")
        gc.collect()
        before = current_rss_bytes() or 0
        self.index = index_class.load(path)
        self.loaded_mb = max((current_rss_bytes() or 0) - before, 0) / 2**20
        self.build_s = float(record["build_s"])
        self.memory_mb = float(record["memory_mb"])
        self.file_mb = float(record["file_mb"])
        self.loaded_from = path
        return True

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

    def search(
        self, query_form, k: int, query_cut: int, heap_factor: float, n_knn: int = 0
    ) -> np.ndarray:
        ids, tokens, values = query_form
        found = self.index.batch_search(
            ids, tokens, values, k, query_cut, heap_factor, n_knn=n_knn, num_threads=1
        )
        out = np.full((len(ids), k), -1, dtype=np.int64)
        for row in found:  # rows carry their query id: do not rely on their order
            if row:
                docs = [int(doc) for _, _, doc in row][:k]
                out[int(row[0][0]), : len(docs)] = docs
        return out

    def search_one(
        self, query_form, i: int, k: int, query_cut: int, heap_factor: float, n_knn: int = 0
    ):
        ids, tokens, values = query_form
        return self.index.search(
            ids[i], tokens[i], values[i], k, query_cut, heap_factor, n_knn=n_knn
        )


def bench_seismic(
    name: str,
    docs,
    queries,
    truth,
    n_latency: int,
    sweep: Sequence[tuple] = SEISMIC_SWEEP,
    cache: str | None = None,
    **build,
) -> list[Row]:
    if any(len(s) > 2 and s[2] > 0 for s in sweep) and not build.get("nknn"):
        raise ValueError("Seismic search settings with n_knn > 0 need a build with nknn > 0")
    peer = SeismicPeer(docs, cache=cache, **build)
    loaded = (
        f" (loaded from {peer.loaded_from}: RSS +{peer.loaded_mb:.1f} MiB; build figures recorded)"
        if peer.loaded_from
        else ""
    )
    print(
        f"  [{name}] seismic {'LV ' if peer.large_vocabulary else ''}{peer.params}: "
        f"build {peer.build_s:.1f} s, "
        f"RSS +{peer.memory_mb:.1f} MiB, file {peer.file_mb:.1f} MiB{loaded}",
        file=sys.stderr,
    )
    form = peer.queries(queries)
    built = ",".join(f"{k}={v}" for k, v in peer.params.items() if SEISMIC_BUILD.get(k) != v)
    rows = []
    for cut, heap, *rest in sweep:
        knn = rest[0] if rest else 0
        t = clock()
        ids = peer.search(form, K, cut, heap, knn)
        batch_s = clock() - t
        lat = _latencies(
            lambda i, c=cut, h=heap, n=knn: peer.search_one(form, i, K, c, h, n), n_latency
        )
        rows.append(
            Row(
                name,
                seismic_method(),
                f"query_cut={cut} heap_factor={heap}"
                + (f" n_knn={knn}" if knn else "")
                + (f" ({built})" if built else ""),
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
