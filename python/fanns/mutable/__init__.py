"""External ids, adds, deletes, upserts and compaction for :class:`fanns.Index`.

An index is a snapshot of immutable segments (``segment.py``) behind a writer
lock (``collection.py``); searches merge the segments' answers
(``searching.py``), deleted rows are masked inside every plan
(``tombstones.py``), and a changed index saves as a directory of
single-index files with a manifest (``files.py``).
"""

from fanns.mutable.collection import MISSING, Rows, Segments, Snapshot, as_ids
from fanns.mutable.files import is_segment_directory, load_segments, save_segments
from fanns.mutable.searching import explain_snapshot, search_snapshot
from fanns.mutable.segment import make_segment
from fanns.mutable.tombstones import mask_deleted

__all__ = [
    "MISSING",
    "Rows",
    "Segments",
    "Snapshot",
    "as_ids",
    "explain_snapshot",
    "is_segment_directory",
    "load_segments",
    "make_segment",
    "mask_deleted",
    "save_segments",
    "search_snapshot",
]
