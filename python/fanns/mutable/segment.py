"""One segment of a mutable index: an immutable single-graph index over some
rows, the external id of each row, and which rows are still live.

A segment never changes once made. Deleting rows makes a new segment that
shares the graph, codes, attributes and range graph and carries a new live
mask; adding rows to a segment makes a new one from a copy of the graph with
the rows inserted (:func:`extend_segment`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from fanns.attributes import AttributeStore, pack_mask

_ROW = np.dtype(np.int64)
_uids = itertools.count(1)


def _popcount(words: np.ndarray) -> int:
    """Set bits in an array of uint64 words."""
    counter = getattr(np, "bitwise_count", None)
    if counter is not None:
        return int(counter(words).sum(dtype=np.int64))
    return int(np.unpackbits(words.view(np.uint8)).sum(dtype=np.int64))


@dataclass(frozen=True, eq=False)
class LiveRows:
    """The rows of a segment that are not deleted, as a mask and as the
    engine's bitset. ``key_order`` is the range graph's row order, when the
    segment has one (to count live rows inside a range)."""

    mask: np.ndarray
    words: np.ndarray
    count: int
    key_order: np.ndarray | None = None

    @classmethod
    def from_mask(cls, mask: np.ndarray, key_order: np.ndarray | None = None) -> LiveRows:
        mask = np.ascontiguousarray(mask, dtype=bool)
        mask.flags.writeable = False
        words = pack_mask(mask)
        words.flags.writeable = False
        return cls(mask=mask, words=words, count=_popcount(words), key_order=key_order)


@dataclass(frozen=True, eq=False)
class RowIds:
    """External ids of rows ``0..n-1`` and which rows are live (``live`` is
    None when none is deleted).

    ``lookup_ids`` / ``lookup_rows`` are the live rows' ids, sorted, and their
    rows: a vectorised id -> row lookup. ``identity``: no row deleted and ids
    0..n-1, so rows and ids are the same thing.

    Example:
        >>> rows = RowIds.make([10, 30, 20]).without(np.array([1]))
        >>> rows.rows_of(np.array([20, 30, 10])).tolist(), rows.live_count
        ([2, -1, 0], 2)
    """

    ids: np.ndarray
    live: LiveRows | None
    lookup_ids: np.ndarray
    lookup_rows: np.ndarray
    identity: bool

    @staticmethod
    def fields(ids, live_mask: np.ndarray | None = None, key_order=None) -> dict:
        """The fields of a RowIds over ``ids`` with ``live_mask`` (None or all
        True: nothing deleted); ``key_order`` as for :class:`LiveRows`."""
        ids = np.array(ids, dtype=_ROW)
        ids.flags.writeable = False
        live = None
        rows = np.arange(len(ids), dtype=_ROW)
        if live_mask is not None and not bool(np.all(live_mask)):
            live = LiveRows.from_mask(live_mask, key_order)
            rows = np.flatnonzero(live.mask)
        present = ids if live is None else ids[rows]
        if len(present) < 2 or bool(np.all(present[1:] > present[:-1])):
            lookup_ids, lookup_rows = present, rows  # already sorted (default ids): no sort
        else:
            order = np.argsort(present, kind="stable")
            lookup_ids, lookup_rows = present[order], rows[order]
        for array in (lookup_ids, lookup_rows):
            array.flags.writeable = False
        # Ascending ids from 0 without a deleted row are the row numbers.
        identity = live is None and (len(ids) == 0 or (ids[0] == 0 and ids[-1] == len(ids) - 1))
        identity = identity and lookup_ids is ids
        return dict(
            ids=ids, live=live, lookup_ids=lookup_ids, lookup_rows=lookup_rows, identity=identity
        )

    @classmethod
    def make(cls, ids, live_mask: np.ndarray | None = None, key_order=None) -> RowIds:
        return cls(**cls.fields(ids, live_mask, key_order))

    def without_mask(self, rows: np.ndarray) -> np.ndarray:
        """The live mask once ``rows`` are deleted too."""
        mask = np.ones(self.n, dtype=bool) if self.live is None else self.live.mask.copy()
        mask[rows] = False
        return mask

    def without(self, rows: np.ndarray) -> RowIds:
        """These ids with ``rows`` deleted."""
        key_order = None if self.live is None else self.live.key_order
        return RowIds.make(self.ids, self.without_mask(rows), key_order)

    @property
    def n(self) -> int:
        """Rows, deleted ones included."""
        return len(self.ids)

    @property
    def live_count(self) -> int:
        return self.n if self.live is None else self.live.count

    def live_rows(self) -> np.ndarray:
        """Row numbers of the live rows, ascending."""
        if self.live is None:
            return np.arange(self.n, dtype=_ROW)
        return np.flatnonzero(self.live.mask)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The live row holding each id, or -1."""
        if len(self.lookup_ids) == 0:
            return np.full(len(ids), -1, dtype=_ROW)
        pos = np.searchsorted(self.lookup_ids, ids)
        pos = np.minimum(pos, len(self.lookup_ids) - 1)
        found = self.lookup_ids[pos] == ids
        return np.where(found, self.lookup_rows[pos], -1)

    def external(self, rows: np.ndarray) -> np.ndarray:
        """The ids of result rows (-1 stays -1)."""
        if self.identity:
            return rows
        return np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)

    def memory_bytes(self) -> int:
        """Bytes of the ids, the lookup and the live mask."""
        total = self.ids.nbytes + self.lookup_rows.nbytes
        if self.lookup_ids is not self.ids:  # sorted ids are their own lookup
            total += self.lookup_ids.nbytes
        if self.live is not None:
            total += self.live.mask.nbytes + self.live.words.nbytes
        return total


@dataclass(frozen=True, eq=False)
class Segment(RowIds):
    """Rows ``0..n-1`` of ``core`` (a single-graph :class:`fanns.Index` whose
    filters mask the deleted rows) with their ids. ``uid`` names the graph
    (it changes only when the graph does), so saving can skip segments
    already on disk."""

    core: object = None
    uid: int = field(default_factory=lambda: next(_uids))


def make_segment(
    core, ids: np.ndarray, live_mask: np.ndarray | None = None, *, uid=None
) -> Segment:
    """A segment over ``core``'s rows; ``live_mask`` None or all True means no
    row is deleted. The core gets the live rows as its tombstone filter."""
    key_order = None
    deleting = live_mask is not None and not bool(np.all(live_mask))
    if deleting and core._range_graph is not None:
        key_order = np.asarray(core._range_graph.order, dtype=_ROW)
    fields = RowIds.fields(ids, live_mask, key_order)
    uid = next(_uids) if uid is None else uid
    return Segment(core=core._with_live(fields["live"]), uid=uid, **fields)


def delete_rows(segment: Segment, rows: np.ndarray) -> Segment:
    """The segment with ``rows`` deleted (same graph, new live mask)."""
    return make_segment(segment.core, segment.ids, segment.without_mask(rows), uid=segment.uid)


def merged_columns(
    stores: list[AttributeStore],
    rows: list[np.ndarray],
    extra: dict[str, list] | None,
    extra_n: int,
) -> dict[str, list]:
    """The attribute columns of the given rows of each store, in order, then
    ``extra`` (columns of ``extra_n`` new rows); a column missing on either
    side is None there."""
    names: list[str] = []
    for store in stores:
        names.extend(name for name in store.names if name not in names)
    names.extend(name for name in (extra or {}) if name not in names)
    columns: dict[str, list] = {}
    for name in names:
        values: list = []
        for store, picked in zip(stores, rows):
            if name in store:
                column = store.column(name)
                values.extend(column[i] for i in picked.tolist())
            else:
                values.extend([None] * len(picked))
        if extra is not None:
            values.extend(extra.get(name, [None] * extra_n))
        columns[name] = values
    return columns


def column_types(stores: list[AttributeStore], declared: dict[str, str]) -> dict[str, str]:
    """The declared types, and every typed column's type of ``stores`` (columns
    with no values yet have none)."""
    types = dict(declared)
    for store in stores:
        for name, kind in store.types.items():
            if kind in ("int", "float", "bool", "string", "strings", "date"):
                types.setdefault(name, kind)
    return types
