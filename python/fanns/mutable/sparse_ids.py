"""External ids and deletes for :class:`fanns.SparseIndex` (a mixin).

A sparse index keeps its lists, summaries and forward index immutable; its
:class:`RowIds` (ids, live mask, id lookup) is one attribute, replaced whole
by a delete, so a search reads one consistent state. Deleted documents are
masked inside the filter every plan checks before it scores a document
(``tombstones.py``), and saved as two extra sections of the index file.
Adding documents means building again: ``SparseIndex.build`` over the old and
new rows, with ``ids=``.
"""

from __future__ import annotations

import threading

import numpy as np

from fanns.mutable.collection import MISSING, _id_list, as_ids
from fanns.mutable.segment import RowIds
from fanns.mutable.tombstones import mask_prepared


class SparseIds:
    """Methods of :class:`fanns.SparseIndex` that look up or delete rows by id."""

    _rows: RowIds

    def _init_rows(self, ids, live=None) -> None:
        n = int(self._engine.n_docs)
        self._rows = RowIds.make(np.arange(n, dtype=np.int64) if ids is None else ids, live)
        self._write_lock = threading.Lock()

    @property
    def ids(self) -> np.ndarray:
        """External ids of the live documents, in row order."""
        rows = self._rows
        return rows.ids[rows.live_rows()]

    def contains(self, ids) -> np.ndarray:
        """Whether each id is a live document (a boolean array of the ids' shape)."""
        array = np.asarray(ids)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"ids must be integers, not {array.dtype}")
        flat = array.reshape(-1).astype(np.int64)
        return (self._rows.rows_of(flat) >= 0).reshape(array.shape)

    def __contains__(self, id) -> bool:
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer)):
            return False
        return bool(self.contains([int(id)])[0])

    def delete(self, ids, *, missing: str = "raise") -> int:
        """Delete documents by id and return how many were deleted; an unknown
        id raises KeyError and deletes nothing, unless ``missing="ignore"``.
        Searches that start after the call never return them.

        Example:
            >>> index.delete([3, 9])
            2
        """
        if missing not in MISSING:
            raise ValueError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        if getattr(self, "_part_of_index", False):
            raise TypeError(
                "this sparse index is the sparse side of a fanns.Index, which cannot be "
                "changed yet: rebuild the index"
            )
        with self._write_lock:
            rows = self._rows
            ids = as_ids(ids, np.size(ids))
            found = rows.rows_of(ids)
            if missing == "raise" and (found < 0).any():
                raise KeyError(f"ids not in the index: {_id_list(ids[found < 0])}")
            found = found[found >= 0]
            if len(found):
                self._rows = rows.without(found)
            return len(found)

    def _live_filters(self, rows: RowIds, prepared):
        """The prepared filters with deleted documents masked (as is without any)."""
        if rows.live is None:
            return prepared
        return mask_prepared(prepared, rows.live)

    def _row_sections(self) -> dict[str, np.ndarray]:
        """File sections of the ids and deleted rows (none for a plain index)."""
        rows = self._rows
        if rows.identity:
            return {}
        live = np.ones(rows.n, dtype=np.uint8) if rows.live is None else rows.live.mask
        return {"rows/ids": rows.ids, "rows/live": np.asarray(live, dtype=np.uint8)}

    def _rows_from_sections(self, path: str, sections) -> None:
        ids, live = sections.get("rows/ids"), sections.get("rows/live")
        n = int(self._engine.n_docs)
        if ids is None and live is None:
            self._init_rows(None)
            return
        if ids is None or live is None or ids.dtype != np.dtype("<i8") or live.dtype != np.uint8:
            raise ValueError(f"{path!r} is corrupt (ids or deleted rows)")
        if len(ids) != n or len(live) != n or not np.isin(live, (0, 1)).all():
            raise ValueError(f"{path!r} is corrupt (ids or deleted rows)")
        alive = ids[live == 1]
        if len(np.unique(alive)) != len(alive):
            raise ValueError(f"{path!r} is corrupt (an id is live in two rows)")
        self._init_rows(ids, live.astype(bool))
