"""Saving and loading a dense index (one file, or a directory of segments).
Part of :class:`fanns.Index`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from fanns._built import attribute_sections, attributes_from_file
from fanns._engine_file import engine_from_sections, engine_sections, restore_work
from fanns._fileformat import Meter, open_index_file, verify_mode, write_index_file
from fanns._index_build import _graph_params_of
from fanns._validation import as_count, as_path
from fanns.attributes import AttributeStore
from fanns.attributes.building import _check_types
from fanns.mutable import is_segment_directory, load_segments, save_segments
from fanns.range_graph import RangeGraph
from fanns.sparse import SparseIndex

if TYPE_CHECKING:
    from fanns.index import Index

_FILE_KIND = "hnsw"


class IndexFiles:
    """The file methods of :class:`fanns.Index`."""

    def save(self, path: str | os.PathLike) -> None:
        """Write the index (graph, rows, codes, attributes) to ``path`` atomically.

        Sections are written straight from the index's memory, page-aligned
        so that :meth:`load` can map them; an interrupted save leaves any
        previous file at ``path`` as it was. An index built with the default
        ids and never changed is one file. An index with external ids, added
        or deleted rows is a directory: one single-index file per segment,
        the ids and deleted rows, and a manifest replaced last, so a crash
        during a save leaves the previous save loadable (see
        ``fanns/mutable/files.py``). Writers wait for a save; searches do not.

        Example:
            >>> index.save("arxiv.fanns")
        """
        path = as_path(path)
        if self._segments is not None:
            with self._segments.writing():
                snap = self._segments.snapshot
                if snap.plain and not is_segment_directory(path):
                    snap.segments[0].core.save(path)
                else:
                    save_segments(self._segments, snap, path, self._saved_files)
            return
        engine_meta, sections = engine_sections(self._engine)
        range_meta = None
        if self._range_graph is not None:
            graph_meta, graph_sections = self._range_graph.state()
            range_meta = {"attribute": self._range_attribute, "graph": graph_meta}
            sections.update({f"range/{name}": array for name, array in graph_sections.items()})
        sparse_meta = None
        # hybrid hook: the sparse side's sections beside the dense ones
        if self._sparse is not None:
            sparse_meta, sparse_sections = self._sparse._state()
            sections.update(sparse_sections)
        meta = {
            "sparse": sparse_meta,
            "n": len(self),
            "dim": self.dim,
            "metric": self._metric,
            "params": self._params,
            **engine_meta,
            "range": range_meta,
        }
        attribute_sections(self._store, meta, sections)
        write_index_file(path, _FILE_KIND, meta, sections)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        mmap: bool = False,
        verify=None,
        progress: Callable[[int, int], Any] | None = None,
    ) -> Index:
        """Read an index written by :meth:`save`; a corrupt file raises ValueError.

        Args:
            path: the file.
            mmap: map the file instead of reading it: nothing is read or
                sorted in proportion to the file (attribute orders, posting
                lists and dictionaries are mapped too; what a load does per
                row is a few vectorised range checks), and the graph's
                links, the codes and the float rows are paged in as searches
                touch them (the float rows only to score the best candidates
                again). The file must not change while the index lives.
            verify: how much is checked before the index is returned:
                ``"full"`` (default without mmap) every byte's checksum,
                every row (finite) and every link (in range), and the
                attribute orders and posting lists sorted again to compare;
                ``"header"`` (default with mmap) the header's checksum, the
                sizes of every section, the levels and upper lists; ``False``
                the sizes only. Every mode checks that attribute orders and
                postings name rows in range. A truncated file fails in every mode. Damage a mode
                does not check can make answers wrong, never crash a search.
            progress: ``progress(done, total)``, called as the file is read
                and checked (bytes, a block of 16 MiB at a time, then the
                engine's checks of rows and links, about every 0.1 s; for a
                directory, its segments in turn) and with ``done == total``
                once the index is ready; ``fanns._progress.text_bar(label)``
                draws a bar. An exception it raises, or Ctrl-C (both land
                between two blocks, the engine's checks included: within
                milliseconds), stops the load and keeps nothing; a load never
                writes, so the file stays as it was.

        Example:
            >>> index = fanns.Index.load("arxiv.fanns", mmap=True)
        """
        path = as_path(path)
        if not isinstance(mmap, (bool, np.bool_)):
            raise TypeError(f"mmap must be True or False, not {type(mmap).__name__}")
        verify = verify_mode(("header" if mmap else "full") if verify is None else verify)
        meter = Meter(progress)
        if is_segment_directory(path):

            def segment_file(file: str, **options) -> Index:
                return cls.load(file, **options)._segments.snapshot.segments[0].core

            segments, written = load_segments(
                path, segment_file, {"mmap": bool(mmap), "verify": verify}, progress=progress
            )
            snap = segments.snapshot
            # What new segments are built with, checked even when segments
            # exist (adds use it); with none, also the index's parameters.
            try:
                built = _graph_params_of(segments.build, segments.metric)
                range_attribute = segments.build.get("range_attribute")
                if range_attribute is not None and not isinstance(range_attribute, str):
                    raise TypeError("range_attribute")
                leaf = as_count(segments.build.get("range_leaf_size", 128), "range_leaf_size", minimum=2)
                if leaf > 2**24:
                    raise ValueError("range_leaf_size")
                if not isinstance(segments.build.get("range_quantized", True), (bool, np.bool_)):
                    raise TypeError("range_quantized")
                as_count(segments.dim, "dim", minimum=1)
                _check_types(segments.attribute_types)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"{path!r} is corrupt (build parameters: {exc!r})") from exc
            params = snap.segments[0].core._params if snap.segments else built
            index = cls._holding_segments(segments, params, range_attribute)
            index._saved_files.update(written)
            meter.expect(1000 * len(snap.segments))
            meter.finish()
            return index
        check = verify == "full"
        meta, sections = open_index_file(
            path,
            _FILE_KIND,
            mmap=bool(mmap),
            verify=verify,
            meter=meter,
            more_work=lambda nbytes: restore_work(nbytes, check),
        )
        engine, metric, params = engine_from_sections(path, meta, sections, check=check, meter=meter)
        store = attributes_from_file(path, meta, sections, engine.size, "vectors", check=check)
        range_meta = meta.get("range")
        range_attribute = range_graph = None
        if range_meta is not None:
            try:
                graph_sections = {
                    name[len("range/") :]: array
                    for name, array in sections.items()
                    if name.startswith("range/")
                }
                range_attribute = range_meta["attribute"]
                if not isinstance(range_attribute, str):
                    raise TypeError("attribute name")
                # The index's rows are read-only (and checked with verify="full"): share them.
                range_graph = RangeGraph._restore(
                    range_meta["graph"],
                    graph_sections,
                    engine.vectors(),
                    trusted=True,
                    store_from=engine,
                    borrow_links=True,
                    check_links=check,
                    links_mapped=bool(mmap),
                )
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{path!r} is corrupt (range graph: {exc})") from exc
            if not _range_graph_matches(
                range_graph, store, range_attribute, metric, engine.size, rows=check
            ):
                raise ValueError(f"{path!r} is corrupt (range graph does not match the index)")
        sparse_side = None
        if meta.get("sparse") is not None:  # hybrid hook: share the loaded attributes
            sparse_side = SparseIndex._restore(path, meta["sparse"], sections, lambda _n: store)
            sparse_side._part_of_index = True
        core = cls._create(engine, metric, params, store, range_attribute, range_graph, sparse_side)
        core._holds_borrowed = not mmap
        build = {key: params[key] for key in ("M", "ef_construction", "seed", "gamma", "storage")}
        build["m_beta"] = None if params["gamma"] == 1 else params["m_beta"]
        build["range_attribute"] = range_attribute
        if range_graph is not None:
            build["range_leaf_size"] = int(range_graph.params.get("leaf_size", 128))
            build["range_quantized"] = bool(range_graph.quantized)
        index = cls._holding(core, None, build, None)
        meter.finish()
        return index


def _range_graph_matches(
    graph: RangeGraph, store: AttributeStore, attribute: str, metric: str, n: int, *, rows: bool
) -> bool:
    """Whether a loaded range graph fits the index: its sizes, metric and
    attribute, and with ``rows`` (a full verify) whether it orders exactly
    the rows of ``attribute`` by their values (a pass over every row)."""
    if graph.n != n or graph.metric != metric or attribute not in store:
        return False
    if store.type_of(attribute) not in ("int", "float", "date"):
        return False
    if not rows:
        return len(graph.order) == len(store._numeric(attribute).order)  # no gather of the values
    rows, values = store.sorted_order(attribute)
    order, keys = graph.order, graph.keys
    if len(order) != len(rows) or (len(order) and not 0 <= order.min() <= order.max() < n):
        return False
    # The same distinct rows on both sides, checked in linear time (no sort: a load stays fast).
    in_rows, in_order = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    in_rows[rows] = True
    in_order[order] = True
    if np.count_nonzero(in_rows) != len(rows) or not np.array_equal(in_rows, in_order):
        return False
    by_row = np.zeros(n, dtype=np.float64 if keys.dtype == np.float64 else np.int64)
    by_row[rows] = values
    return bool(np.array_equal(by_row[order], keys))
