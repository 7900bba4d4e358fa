"""One shard: a :class:`fanns.Index` over some rows and the global ids of those rows.

:class:`ShardServer` is a plain class; :class:`fanns.distributed.ShardedIndex`
runs one per shard as a threaded Ray actor. Its local rows are numbered
``0..rows-1`` in increasing global id, so the index's tie order (by local id)
is the global tie order.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns._fileformat import read_index_file, write_index_file
from fanns.attributes import bitmap_from_ids
from fanns.distributed.stats import shard_statistics
from fanns.index import Index

_IDS_KIND = "shard-ids"
_HASH_CHUNK = 1 << 22


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardServer:
    """Holds one shard; every method returns plain data (arrays, dicts)."""

    def __init__(self, shard: int) -> None:
        self._shard = int(shard)
        self._index: Index | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()
        self._counters = {
            "searches": 0,
            "queries": 0,
            "explains": 0,
            "search_seconds": 0.0,
            "search_cpu_seconds": 0.0,
        }

    # ------------------------------------------------------------- building
    def build(
        self,
        vectors: np.ndarray,
        columns: dict[str, Any],
        types: dict[str, str],
        ids: np.ndarray,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """Build the shard's index over its rows (already in global id order)."""
        self._index = Index.build(
            vectors, attributes=columns, attribute_types=types or None, **params
        )
        self._ids = np.ascontiguousarray(ids, dtype=np.int64)
        return self.info()

    def load(self, index_path: str, ids_path: str, checksums: dict[str, str]) -> dict[str, Any]:
        """Read the shard's files after checking them against the manifest's checksums."""
        for path, expected in ((index_path, checksums["index"]), (ids_path, checksums["ids"])):
            if not os.path.isfile(path):
                raise ValueError(f"shard {self._shard}: file {path!r} is missing")
            if file_sha256(path) != expected:
                raise ValueError(f"shard {self._shard}: {path!r} does not match its checksum")
        index = Index.load(index_path)
        meta, sections = read_index_file(ids_path, _IDS_KIND)
        ids = sections.get("ids")
        if ids is None or ids.dtype != np.dtype("<i8") or ids.shape != (len(index),):
            raise ValueError(f"{ids_path!r} does not hold one int64 id per row of the shard")
        if meta.get("shard") != self._shard:
            raise ValueError(f"{ids_path!r} belongs to shard {meta.get('shard')!r}")
        self._index, self._ids = index, np.array(ids)
        return self.info()

    def save(self, index_path: str, ids_path: str) -> dict[str, str]:
        """Write the shard's index and ids atomically; return their checksums."""
        index = self._require()
        index.save(index_path)
        write_index_file(ids_path, _IDS_KIND, {"shard": self._shard}, {"ids": self._ids})
        return {"index": file_sha256(index_path), "ids": file_sha256(ids_path)}

    def info(self) -> dict[str, Any]:
        """Rows, memory and attribute statistics of the shard."""
        index = self._require()
        return {
            "shard": self._shard,
            "rows": len(index),
            "dim": index.dim,
            "metric": index.metric,
            "params": index.params,
            "memory_bytes": int(index.memory_bytes()) + int(self._ids.nbytes),
            "stats": shard_statistics(index.attributes),
            "pid": os.getpid(),
        }

    def counters(self) -> dict[str, Any]:
        """Calls served since the actor started (searches, queries searched, explains),
        the seconds spent in :meth:`fanns.Index.search` and the CPU seconds of the
        calling thread there (all of the search's CPU time when ``threads=1``)."""
        with self._lock:
            return dict(self._counters, shard=self._shard)

    # ---------------------------------------------------------------- search
    def search(
        self,
        queries: np.ndarray,
        rows: np.ndarray | None,
        distinct: list[Any],
        query_filter: np.ndarray,
        k: int,
        options: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search queries ``rows`` of the batch (all when None) with filter
        ``distinct[query_filter[i]]`` each (-1: none); return global ids."""
        index = self._require()
        q = queries if rows is None else queries[rows]
        local = [self._local_filter(item) for item in distinct]
        per_query = [None if j < 0 else local[j] for j in query_filter.tolist()]
        start, cpu = time.perf_counter(), time.thread_time()
        result = index.search(q, k, filter=per_query, **options)
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
        with self._lock:
            self._counters["searches"] += 1
            self._counters["queries"] += int(q.shape[0])
            self._counters["search_seconds"] += elapsed
            self._counters["search_cpu_seconds"] += cpu
        found = result.ids >= 0
        ids = np.where(found, self._ids[np.where(found, result.ids, 0)], -1)
        return ids, result.distances, result.plans

    def explain(self, filter: Any, options: dict[str, Any]) -> dict[str, Any]:
        """:meth:`fanns.Index.explain` on this shard, with its shard number."""
        index = self._require()
        with self._lock:
            self._counters["explains"] += 1
        out = index.explain(self._local_filter(filter), **options)
        out["shard"] = self._shard
        return out

    def _local_filter(self, item: Any) -> Any:
        """A bitmap of global ids or a mask over global ids, as this shard's local bitmap;
        expressions pass unchanged (they are compiled against the shard's attributes)."""
        if isinstance(item, (BitMap, FrozenBitMap)):
            wanted = np.asarray(item.to_array(), dtype=np.int64)
            return bitmap_from_ids(np.flatnonzero(np.isin(self._ids, wanted)))
        if isinstance(item, np.ndarray) and item.dtype == np.bool_:
            return bitmap_from_ids(np.flatnonzero(item[self._ids]))
        return item

    def _require(self) -> Index:
        if self._index is None:
            raise RuntimeError(f"shard {self._shard} holds no index yet")
        return self._index
