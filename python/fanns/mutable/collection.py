"""The segments of a mutable :class:`fanns.Index` and the writes that change them.

Design (see also ``bench/README.md``):

* A :class:`Snapshot` is an immutable tuple of segments (``segment.py``):
  each a read-optimised single-graph index (HNSW graph, row codes,
  attributes, range graph) with an int64 external id per row and a live mask.
* Searches read ``Segments.snapshot`` once and search that snapshot to the
  end (``searching.py``); they take no lock. A write builds a new snapshot
  beside the current one and publishes it with one attribute assignment, so a
  search sees either all of a write or none of it, and a search that starts
  after a write returned never sees a row that write deleted.
* Writers are serialised: a second writer waits on a lock until the first
  has published (``threading.Lock``); no write is rejected for contention.
* Deletes only make tombstones (a new live mask over the same graph).
  Added rows are inserted, copy-on-write, into a copy of the last segment's
  graph with the insertion a build uses, so they join the big graph at the
  cost of an HNSW insertion plus one copy of the segment; a new segment
  starts when the last one holds ``max_segment_rows`` rows. Upserts and
  attribute updates delete the old row and add the new one.
* :meth:`Segments.compact` rebuilds the live rows into fresh segments with
  no tombstones.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from fanns._validation import as_count, as_matrix, normalise_rows
from fanns.attributes import AttributeStore
from fanns.mutable.segment import (
    Segment,
    column_types,
    delete_rows,
    make_segment,
    merged_columns,
)

MISSING = ("raise", "ignore")
# Rows per segment before adds start a new one (a copy-on-write extension
# copies the whole last segment, so this bounds the cost of one add).
DEFAULT_SEGMENT_ROWS = 1 << 21


class Rows(NamedTuple):
    """Rows returned by :meth:`fanns.Index.get`: ``ids`` (int64), ``vectors``
    (float32, normalised for cosine) and ``attributes`` (name -> list)."""

    ids: np.ndarray
    vectors: np.ndarray
    attributes: dict[str, list]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The segments of an index at one moment, and the next id ``add`` hands
    out when the caller gives none."""

    segments: tuple[Segment, ...]
    next_id: int

    @property
    def live_count(self) -> int:
        return sum(s.live_count for s in self.segments)

    @property
    def plain(self) -> bool:
        """One segment, no deletion, ids 0..n-1: the index is a plain built index."""
        return len(self.segments) == 1 and self.segments[0].identity

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment, row) of the live row holding each id; -1 where none does."""
        where = np.full(len(ids), -1, dtype=np.int64)
        rows = np.full(len(ids), -1, dtype=np.int64)
        for s, segment in enumerate(self.segments):
            found = segment.rows_of(ids)
            hit = found >= 0
            where[hit] = s
            rows[hit] = found[hit]
        return where, rows

    def live_ids(self) -> np.ndarray:
        """Ids of the live rows, segment by segment, in row order."""
        parts = [s.ids[s.live_rows()] for s in self.segments]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


MAX_ID = 2**63 - 2  # largest external id


def as_ids(ids: Any, n: int, name: str = "ids", *, new: bool = False) -> np.ndarray:
    """``ids`` as a 1-D int64 array of ``n`` distinct values, or a clear error;
    ``new`` ids (to add) must also lie in [0, MAX_ID]: -1 pads results.

    Example:
        >>> as_ids([5, 7], 2).tolist()
        [5, 7]
    """
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{name} must be integers, not {type(ids).__name__}")
    array = np.asarray(ids)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or (array.size == 0 and array.dtype == np.float64)
    ):
        raise TypeError(f"{name} must be integers, not {array.dtype}")
    if array.dtype == np.uint64 and array.size and int(array.max()) > 2**63 - 1:
        raise ValueError(f"{name} must fit in int64")
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} entries for {n} vectors")
    if new and array.size and (int(array.min()) < 0 or int(array.max()) > MAX_ID):
        # -1 pads results that hold fewer than k rows; the next default id must fit too
        raise ValueError(f"{name} must be in [0, 2**63 - 2]")
    array = array.astype(np.int64)
    if len(array) > 1:
        ordered = np.sort(array)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if len(repeated):
            raise ValueError(f"{name} holds duplicates, e.g. {int(repeated[0])}")
    return array


def _id_list(ids: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:5])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")


class Segments:
    """The mutable state behind a :class:`fanns.Index`: its schema, the current
    :class:`Snapshot` and the writer lock. Used through ``fanns.Index``."""

    def __init__(
        self,
        *,
        dim: int,
        metric: str,
        build: dict,
        attribute_types: dict[str, str],
        snapshot: Snapshot,
        max_segment_rows: int = DEFAULT_SEGMENT_ROWS,
    ) -> None:
        self.dim = dim
        self.metric = metric
        self.build = dict(build)
        self.attribute_types = dict(attribute_types)
        self.snapshot = snapshot
        self.max_segment_rows = max_segment_rows
        self._lock = threading.Lock()

    def writing(self) -> threading.Lock:
        """The writer lock (``with segments.writing(): ...``)."""
        return self._lock

    # ----------------------------------------------------------- reading
    def live_vectors(self, snap: Snapshot) -> np.ndarray:
        """A read-only copy of the live rows' vectors, in ``snap.live_ids()`` order."""
        parts = [s.core.vectors[s.live_rows()] for s in snap.segments]
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
        vectors.flags.writeable = False
        return vectors

    def live_store(self, snap: Snapshot) -> AttributeStore:
        """The live rows' attributes, in ``snap.live_ids()`` order."""
        stores = [s.core._store for s in snap.segments]
        rows = [s.live_rows() for s in snap.segments]
        columns = merged_columns(stores, rows, None, 0)
        types = column_types(stores, self.attribute_types)
        used = {k: v for k, v in types.items() if k in columns}
        return AttributeStore.from_input(columns, snap.live_count, used)

    def get(self, ids) -> Rows:
        snap = self.snapshot
        ids = as_ids(ids, np.size(ids))
        where, rows = snap.locate(ids)
        if (where < 0).any():
            raise KeyError(f"ids not in the index: {_id_list(ids[where < 0])}")
        vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
        for s in np.unique(where).tolist():
            picked = where == s
            vectors[picked] = snap.segments[s].core.vectors[rows[picked]]
        return Rows(ids, vectors, self._columns_of(snap, where, rows))

    def contains(self, ids) -> np.ndarray:
        array = np.asarray(ids)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"ids must be integers, not {array.dtype}")
        flat = array.reshape(-1).astype(np.int64)
        return (self.snapshot.locate(flat)[0] >= 0).reshape(array.shape)

    def _columns_of(self, snap: Snapshot, where: np.ndarray, rows: np.ndarray) -> dict:
        """Attribute columns of the given (segment, row) pairs, in that order."""
        names: list[str] = []
        for segment in snap.segments:
            names.extend(n for n in segment.core._store.names if n not in names)
        columns = {name: [None] * len(rows) for name in names}
        for s in np.unique(where).tolist():
            store = snap.segments[s].core._store
            picked = np.flatnonzero(where == s)
            for name in store.names:
                column = store.column(name)
                for i, row in zip(picked.tolist(), rows[picked].tolist()):
                    columns[name][i] = column[row]
        return columns

    # ----------------------------------------------------------- writing
    def add(self, vectors, ids, attributes, threads, *, replace: bool) -> None:
        """Add rows; with ``replace`` (upsert) rows with the same ids go first."""
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        with self._lock:
            snap = self.snapshot
            data = self._vectors(vectors)
            m = len(data)
            if ids is None:
                if snap.next_id + m - 1 > MAX_ID:
                    raise ValueError("the default ids are used up (2**63 - 2 reached): pass ids=")
                ids = np.arange(snap.next_id, snap.next_id + m, dtype=np.int64)
            ids = as_ids(ids, m, new=True)
            columns = self._new_columns(attributes, m)
            if replace:
                snap = self._without(snap, ids, missing="ignore")
            else:
                present = snap.locate(ids)[0] >= 0
                if present.any():
                    raise ValueError(
                        f"ids already in the index: {_id_list(ids[present])} "
                        "(use upsert to replace them)"
                    )
            self.snapshot = self._appended(snap, data, ids, columns, threads)

    def delete(self, ids, missing: str) -> int:
        if missing not in MISSING:
            raise ValueError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        with self._lock:
            snap = self.snapshot
            ids = as_ids(ids, np.size(ids))
            before = snap.live_count
            snap = self._without(snap, ids, missing=missing)
            self.snapshot = snap
            return before - snap.live_count

    def update_attributes(self, ids, values, threads) -> None:
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        with self._lock:
            snap = self.snapshot
            ids = as_ids(ids, np.size(ids))
            where, rows = snap.locate(ids)
            if (where < 0).any():
                raise KeyError(f"ids not in the index: {_id_list(ids[where < 0])}")
            changes = self._new_columns(values, len(ids))
            if not changes:
                raise ValueError("update_attributes needs at least one attribute")
            columns = self._columns_of(snap, where, rows)
            columns.update(changes)
            vectors = np.zeros((len(ids), self.dim), dtype=np.float32)
            for s in np.unique(where).tolist():
                picked = where == s
                vectors[picked] = snap.segments[s].core.vectors[rows[picked]]
            snap = self._without(snap, ids, missing="raise")
            self.snapshot = self._appended(snap, vectors, ids, columns, threads)

    def compact(self, threads) -> None:
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        with self._lock:
            snap = self.snapshot
            if len(snap.segments) <= 1 and all(s.live is None for s in snap.segments):
                return
            segments = [s for s in snap.segments if s.live_count > 0]
            rows = [s.live_rows() for s in segments]
            vectors = np.concatenate(
                [s.core.vectors[r] for s, r in zip(segments, rows)]
                or [np.zeros((0, self.dim), dtype=np.float32)]
            )
            ids = np.concatenate([s.ids[r] for s, r in zip(segments, rows)] or [np.zeros(0, int)])
            stores = [s.core._store for s in segments]
            columns = merged_columns(stores, rows, None, 0)
            types = column_types(stores, self.attribute_types)
            fresh = []
            for start in range(0, len(ids), self.max_segment_rows):
                part = slice(start, start + self.max_segment_rows)
                sub = {name: values[part] for name, values in columns.items()}
                fresh.append(self._built(vectors[part], ids[part], sub, types, threads))
            self.snapshot = Snapshot(tuple(fresh), snap.next_id)

    # ----------------------------------------------------------- helpers
    def _vectors(self, vectors) -> np.ndarray:
        data = as_matrix(vectors, "vectors", dim=self.dim, allow_1d=True)
        if data.shape[0] >= 2**32 - 1:
            raise ValueError("at most 2**32 - 2 vectors per call")
        return normalise_rows(data, "vectors") if self.metric == "cosine" else data

    def _new_columns(self, attributes, m: int) -> dict[str, list]:
        """Validated attribute columns of ``m`` new rows, typed like the index's."""
        if attributes is None:
            return {}
        if isinstance(attributes, Mapping):
            names = list(attributes)
        elif isinstance(attributes, Sequence) and not isinstance(attributes, (str, bytes)):
            names = sorted(
                {k for record in attributes if isinstance(record, Mapping) for k in record}
            )
        else:
            names = []
        known = column_types([s.core._store for s in self.snapshot.segments], self.attribute_types)
        types = {name: known[name] for name in names if name in known}
        store = AttributeStore.from_input(attributes, m, types)
        return {name: store.column(name) for name in store.names}

    def _without(self, snap: Snapshot, ids: np.ndarray, *, missing: str) -> Snapshot:
        where, rows = snap.locate(ids)
        if missing == "raise" and (where < 0).any():
            raise KeyError(f"ids not in the index: {_id_list(ids[where < 0])}")
        segments = list(snap.segments)
        for s in np.unique(where[where >= 0]).tolist():
            segments[s] = delete_rows(segments[s], rows[where == s])
        kept = tuple(s for s in segments if s.live_count > 0)
        return Snapshot(kept, snap.next_id)

    def _appended(self, snap, data, ids, columns, threads) -> Snapshot:
        m = len(ids)
        if m == 0:
            return snap
        next_id = max(snap.next_id, int(ids.max()) + 1)
        segments = list(snap.segments)
        types = column_types([s.core._store for s in segments], self.attribute_types)
        if segments and segments[-1].n + m <= self.max_segment_rows:
            segments[-1] = self._extended(segments[-1], data, ids, columns, types, threads)
        else:
            # the caller's rows are copied: they may change after the call
            segments.append(self._built(data, ids, columns, types, threads, copy=True))
        return Snapshot(tuple(segments), next_id)

    def _built(self, data, ids, columns, types, threads, copy=None) -> Segment:
        """A new segment over the given rows, built as ``Index.build`` builds."""
        from fanns.index import Index

        used = {name: kind for name, kind in types.items() if name in columns}
        built = Index.build(
            data,
            attributes=columns or None,
            attribute_types=used or None,
            metric=self.metric,
            threads=threads,
            copy=copy,
            **self.build,
        )
        return make_segment(built._segments.snapshot.segments[0].core, ids)

    def _extended(self, segment: Segment, data, ids, columns, types, threads) -> Segment:
        """``segment`` with rows added to a copy of its graph."""
        from fanns.index import Index, _build_range_graph, _range_attribute_kind

        core = segment.core
        n = segment.n + len(ids)
        merged = merged_columns([core._store], [np.arange(segment.n)], columns, len(ids))
        store = AttributeStore.from_input(
            merged, n, {k: v for k, v in types.items() if k in merged}
        )
        engine = core._engine.copy()
        engine.extend(data, threads)
        graph = None
        attribute = core._range_attribute
        if attribute is not None:
            graph = _build_range_graph(
                engine,
                store,
                attribute,
                _range_attribute_kind(store, attribute),
                self.metric,
                core._params["M"],
                core._params["ef_construction"],
                self.build.get("range_leaf_size", 128),
                self.build.get("range_quantized", True),
                threads,
            )
        extended = Index._create(engine, self.metric, core._params, store, attribute, graph)
        mask = None
        if segment.live is not None:
            mask = np.concatenate([segment.live.mask, np.ones(len(ids), dtype=bool)])
        return make_segment(extended, np.concatenate([segment.ids, ids]), mask)
