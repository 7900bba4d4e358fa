"""Chroma: an embedded (in-process) collection stored in a temporary directory, its HNSW index
built with the same ``M`` and ``ef_construction``, one metadata record per row, queried with
``where`` filters.

The swept knob is the collection's ``ef_search`` (``hnsw:search_ef`` in Chroma's older
metadata configuration). Chroma reads it when it loads an index, so a new value is set with
``collection.modify`` and the client is reopened (in the untimed warm-up run of each point).
Each group of queries sharing a filter is one ``query`` call. Telemetry is off.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from fanns.bench.machine import usable_cores
from fanns.bench.methods.base import BuildParams
from fanns.bench.methods.peer_base import PeerMethod
from fanns.bench.methods.peer_filters import LIST_TYPE, chroma_list_key, chroma_where

_SPACES = {"l2": "l2", "ip": "ip", "cosine": "cosine"}


def chroma_metadata(record: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """One row's Chroma metadata: scalars as they are, missing values left out, and each value
    of a list-valued attribute as a boolean key (:func:`chroma_list_key`).

    Example:
        >>> chroma_metadata({"n": 2, "cats": ["cs", "math"], "d": None},
        ...                 {"n": "int", "cats": "strings", "d": "date"})
        {'n': 2, 'cats=cs': True, 'cats=math': True}
    """
    out: dict[str, Any] = {}
    for name, kind in types.items():
        value = record.get(name)
        if value is None:
            continue
        if kind == LIST_TYPE:
            for item in value:
                out[chroma_list_key(name, str(item))] = True
        elif kind == "float":
            out[name] = float(value)
        else:
            out[name] = value
    return out


def chroma_client(path: str) -> Any:
    """A Chroma client storing its files under ``path``, with anonymised telemetry off."""
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(
        path=path, settings=Settings(anonymized_telemetry=False, allow_reset=True)
    )


def _stop_client(client: Any) -> None:
    """Stop a client's system and forget it, so the next client loads the index afresh."""
    from chromadb.api.client import SharedSystemClient

    system = getattr(client, "_system", None)
    if system is not None:
        system.stop()
    SharedSystemClient.clear_system_cache()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the warning Chroma raises on reading back a collection made without an
    embedding function (the benchmark passes embeddings, so it needs none)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="legacy embedding function config", category=DeprecationWarning
        )
        yield


class ChromaMethod(PeerMethod):
    """Chroma's HNSW with metadata filters.

    Example:
        >>> ChromaMethod().name, ChromaMethod.sweep_param
        ('chroma', 'ef_search')
    """

    name: ClassVar[str] = "chroma"
    requires: ClassVar[tuple[str, ...]] = ("chromadb",)
    sweep_param: ClassVar[str | None] = "ef_search"
    materialise_note = "rows tagged with boolean metadata key {key!r}, queried as {{{key!r}: True}}"

    def __init__(self) -> None:
        super().__init__()
        self._client: Any = None
        self._collection: Any = None
        self._ef: int | None = None

    def build_store(
        self,
        vectors: np.ndarray,
        records: list[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        with _quiet():
            self._add_rows(vectors, records, params)

    def _add_rows(
        self, vectors: np.ndarray, records: list[dict[str, Any]] | None, params: BuildParams
    ) -> None:
        self._client = chroma_client(self._path())
        hnsw = {
            "space": _SPACES[self._metric],
            "max_neighbors": int(params.M),
            "ef_construction": int(params.ef_construction),
            "ef_search": int(params.ef_construction),
            "num_threads": int(params.threads or usable_cores()),
        }
        self._collection = self._client.create_collection(
            name=f"fanns-bench-{uuid.uuid4().hex[:12]}",
            configuration={"hnsw": hnsw},
            embedding_function=None,
        )
        self._ef = int(params.ef_construction)
        types = self.schema.types
        batch = int(self._client.get_max_batch_size())
        n = vectors.shape[0]
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            metadatas = None
            if records is not None and types:
                metadatas = [chroma_metadata(records[i], types) or None for i in range(start, stop)]
            self._collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=vectors[start:stop],
                metadatas=metadatas,
            )

    def translate(self, expr: Any) -> Any:
        return chroma_where(expr, self.schema)

    def translation_note(self, expr: Any) -> str | None:
        lists = sorted(n for n in expr.attributes() if self.schema.type_of(n) == LIST_TYPE)
        if not lists:
            return None
        names = ", ".join(repr(n) for n in lists)
        example = chroma_list_key(lists[0], "<value>")
        return (
            f"list-valued attribute {names} stored as one boolean metadata key per value "
            f"({example!r}, set at build); contains() tests those keys"
        )

    def materialise(self, ids: np.ndarray, key: str) -> Any:
        batch = int(self._client.get_max_batch_size())
        with _quiet():
            self._tag_rows(ids, key, batch)
        return {key: True}

    def _tag_rows(self, ids: np.ndarray, key: str, batch: int) -> None:
        for start in range(0, ids.size, batch):
            chunk = ids[start : start + batch]
            self._collection.update(
                ids=[str(int(i)) for i in chunk], metadatas=[{key: True}] * int(chunk.size)
            )

    def selected_ids(self, where: Any) -> np.ndarray:
        with _quiet():
            found = self._collection.get(where=where, include=[])["ids"]
        return np.sort(np.array([int(i) for i in found], dtype=np.int64))

    def _path(self) -> str:
        return os.path.join(self.workdir, "chroma")

    def _set_ef(self, ef: int) -> None:
        if self._ef == ef:
            return
        name = self._collection.name
        self._collection.modify(configuration={"hnsw": {"ef_search": ef}})
        _stop_client(self._client)
        self._client = chroma_client(self._path())
        self._collection = self._client.get_collection(name)
        self._ef = ef

    def search_group(self, queries: np.ndarray, k: int, sweep_value: Any, where: Any) -> list:
        with _quiet():
            self._set_ef(int(sweep_value))
            result = self._collection.query(
                query_embeddings=queries, n_results=k, where=where, include=[]
            )
        return [[int(i) for i in row] for row in result["ids"]]

    def search_details(self, sweep_value: Any) -> dict[str, Any]:
        return {"ef_search": int(sweep_value)}

    def close(self) -> None:
        if self._client is not None:
            _stop_client(self._client)
        self._collection = None
        self._client = None
        super().close()
