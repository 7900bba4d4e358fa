"""The dense index: HNSW over float32 vectors with typed attributes and filters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fanns import _core, hybrid
from fanns._built import Built
from fanns._engine_file import METRICS, STORAGES, new_engine  # noqa: F401 (fanns.index.METRICS)
from fanns._index_build import _build_range_graph, _range_attribute_kind, graph_params
from fanns._index_files import IndexFiles
from fanns._index_search import IndexSearch
from fanns._progress import run_cancellable
from fanns._validation import as_count, as_rows, normalise_rows
from fanns.attributes import AttributeStore
from fanns.mutable import Segments, Snapshot, as_ids, make_segment
from fanns.mutable.api import Mutations
from fanns.range_graph import RangeGraph
from fanns.sparse import SparseIndex

_SEGMENT_PARTS = ("_engine", "_store", "_range_graph", "_holds_borrowed", "_sparse")


class Index(IndexSearch, IndexFiles, Built, Mutations):
    """Approximate k-NN index over dense vectors, with optional attribute filters.

    Build one with :meth:`Index.build`, start an empty one with
    :meth:`Index.create`, or read one with :meth:`Index.load`. Every row has
    an external int64 id (``ids=``; default 0..n-1) and results return those
    ids. Rows can be added, deleted, upserted and have their attributes
    updated while other threads search (see :meth:`add`); the index is then a
    snapshot of immutable segments with deleted rows masked in every plan
    (``fanns/mutable/``).

    Example:
        >>> import numpy as np, fanns
        >>> rng = np.random.default_rng(0)
        >>> vectors = rng.standard_normal((1000, 32)).astype(np.float32)
        >>> years = rng.integers(2000, 2025, size=1000)
        >>> index = fanns.Index.build(vectors, attributes={"year": years})
        >>> result = index.search(vectors[:3], k=5, filter=fanns.field("year") >= 2020)
        >>> result.ids.shape
        (3, 5)
    """

    _MADE_BY = "fanns.Index.build(vectors, ...) or fanns.Index.load(path)"

    @classmethod
    def _create(
        cls,
        engine,
        metric: str,
        params: dict,
        store: AttributeStore,
        range_attribute: str | None = None,
        range_graph: RangeGraph | None = None,
        sparse=None,
    ) -> Index:
        self = cls._blank()
        self._sparse = sparse  # hybrid search: a SparseIndex over the same rows, or None
        self._range_attribute = range_attribute
        self._range_graph = range_graph
        self._engine = engine
        self._metric = metric
        self._params = params
        self._store = store
        # Whether the arrays the engine reads in place are the index's own
        # (a conversion, a file read into memory) rather than the caller's
        # array or a memory map: they count in memory_bytes() then.
        self._holds_borrowed = True
        # A single-graph index is either what users hold (its rows under
        # _segments, a snapshot of segments) or one such segment, whose
        # deleted rows _live masks. Users never hold a segment.
        self._segments: Segments | None = None
        self._live = None
        return self

    def _with_live(self, live) -> Index:
        """This segment with ``live`` (None: every row) as its live rows,
        sharing the graph, rows, attributes and range graph."""
        segment = type(self)._blank()
        segment.__dict__.update(self.__dict__)
        segment._live = live
        return segment

    @classmethod
    def _holding(cls, core: Index, ids, build: dict, attribute_types: dict | None) -> Index:
        """The user-facing index over the single segment ``core`` (ids
        default to 0..n-1)."""
        n = len(core)
        ids = np.arange(n, dtype=np.int64) if ids is None else ids
        segment = make_segment(core, ids)
        next_id = int(ids.max()) + 1 if n else 0
        segments = Segments(
            dim=core.dim,
            metric=core._metric,
            build=build,
            attribute_types=dict(attribute_types or {}),
            snapshot=Snapshot((segment,), max(next_id, 0)),
        )
        return cls._holding_segments(segments, core._params, core._range_attribute)

    def __getattr__(self, name: str):
        # The graph-level parts (engine, attribute store, range graph) of an
        # index with one segment are that segment's.
        if name in _SEGMENT_PARTS and self.__dict__.get("_segments") is not None:
            segments = self._segments.snapshot.segments
            if len(segments) == 1:
                return getattr(segments[0].core, name)
            if name == "_sparse":
                return None  # several segments: built or grown without sparse vectors
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def _holding_segments(cls, segments: Segments, params: dict, range_attribute) -> Index:
        self = cls._blank()
        self._segments = segments
        self._metric = segments.metric
        self._params = params
        self._range_attribute = range_attribute
        self._live = None
        self._saved_files: dict = {}
        return self

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        vectors,
        *,
        attributes: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | AttributeStore | None = None,
        attribute_types: Mapping[str, str] | None = None,
        metric: str = "l2",
        M: int = 16,
        ef_construction: int = 200,
        threads: int = 0,
        seed: int = 0,
        gamma: int = 1,
        m_beta: int | None = None,
        range_attribute: str | None = None,
        range_leaf_size: int = 128,
        range_quantized: bool = True,
        storage: str = "sq8",
        copy: bool | None = None,
        progress: Callable[[int, int], Any] | None = None,
        ids=None,
        sparse=None,
        sparse_params: Mapping[str, Any] | None = None,
    ) -> Index:
        """Build an index over ``vectors`` (n, dim).

        Args:
            vectors: 2-D array-like of real numbers; stored as float32. A
                float32 array whose columns are adjacent floats (a memory
                map, the strided view ``fanns.datasets.read_fvecs`` returns,
                a slice of rows) is read as it is, without a copy: see
                ``copy``. Values are checked (finite, bounded) row by row,
                and cosine rows normalised in blocks, without full-size
                temporaries.
            attributes: per-row attributes for filtering: a mapping of name to a
                column of length n, or a sequence of n dicts (JSON-lines
                records). Types are inferred: int, float, bool, str
                (categorical), list of str (set-valued); None means missing.
                An ``AttributeStore`` (e.g. from
                ``fanns.datasets.read_attribute_store``, which parses a
                JSON-lines file straight into columns) is used as it is.
            attribute_types: optional explicit types by name (``"int"``,
                ``"float"``, ``"bool"``, ``"string"``, ``"strings"``, ``"date"``).
            metric: ``"l2"`` (squared Euclidean), ``"ip"`` (inner product) or
                ``"cosine"`` (vectors normalised on insert).
            M: links per node (level 0 keeps 2*M).
            ef_construction: candidate list size while building.
            threads: build threads; 0 uses every core. The GIL is released.
            seed: seed of the level generator; with ``threads=1`` the graph is
                identical for the same seed and data.
            gamma: ACORN-gamma expansion of the level-0 lists. 1 builds a plain
                HNSW graph (level 0 keeps 2*M links chosen for diversity);
                gamma > 1 keeps up to M*gamma links: the nearest ``m_beta``,
                then further ones not already reachable in two hops. Denser
                lists keep restrictive filters' passing rows connected, at
                gamma/2 times the link memory and a slower build.
            m_beta: links kept unconditionally when gamma > 1 (default 2*M).
            range_attribute: name of an ordered (int, float or date) attribute
                to build a range graph over. Filters that are, or contain as a
                conjunct, a range on it (``field(a).between(lo, hi)``,
                ``field(a) >= lo``, ...) are then answered by that graph when
                the planner finds it cheaper; other conjuncts are checked as
                a predicate during its traversal. The range graph reads the
                index's own vectors where they are (rows read in place with a
                stride, such as a ``read_fvecs`` view, too: no copy); it adds ``(M + 1) * 4`` bytes of links
                per row and tree depth (about ``log2(n / range_leaf_size)``
                depths) and takes several times an HNSW build.
            range_leaf_size: smallest segment of the range graph's tree.
            range_quantized: the range graph searches on an encoding of
                the rows, scoring its best ``ef`` candidates again on the
                float vectors (several times faster on ranges): the index's
                own 8-bit codes under ``storage="sq8"`` and f16 rows under
                ``"f16"`` (no second copy), and under ``"f32"`` 8-bit codes
                of its own (about ``dim + 4`` bytes a row, reported as
                ``range_codes`` by :meth:`memory_bytes`). False: the range
                graph reads the float rows.
            storage: what searches read. ``"sq8"`` (default): an 8-bit code
                per row and dimension (``dim + 4`` bytes a row, beside the
                float rows); graph traversals and scans compare codes and
                score their ``ef`` best candidates again on the float rows,
                so every returned distance is exact. ``"f16"``: a float16 copy
                of every row (``2 * dim`` bytes a row, beside the float rows),
                searched and rescored the same way; its distances are nearly
                exact, so few candidates need rescoring. ``"f32"``: the float
                rows only. The graph is built on the float rows either way.
            copy: whether the index keeps a copy of the float rows. ``None``
                (default): rows of a read-only memory-mapped file in a layout
                the engine reads (a ``read_fvecs`` view,
                ``np.memmap(..., mode="r")``) are read in place, so only codes
                and links take memory of their own; anything else is copied. ``False``: read in place
                also a writable array (which must then not be changed while
                the index lives); a layout the engine cannot read raises
                ValueError. ``True``: always copy. Rows the index had to
                convert or normalise are never copied a second time.
            progress: called as ``progress(rows_inserted, n)`` about ten
                times a second while the graph is built (from the calling
                thread). Ctrl-C during the build, or an exception raised by
                the callback, stops the build within about a second and is
                raised from ``build`` (KeyboardInterrupt for Ctrl-C); nothing
                is kept.
            ids: external ids of the rows (n distinct integers, int64);
                default 0..n-1. Results, :meth:`get` and :meth:`delete` use them.
            sparse: optional sparse vectors of the same rows (a CSR matrix or
                a list of ``{term_id: weight}`` dicts, as for
                :meth:`fanns.SparseIndex.build`): the index then also answers
                sparse and hybrid searches (``search(..., sparse=...)``), with
                the same ids and attributes.
            sparse_params: keywords of :meth:`fanns.SparseIndex.build` for the
                sparse side (``n_postings``, ``block_size``, ``summary_cap``,
                ``summary_energy``, ``knn``, ``n_terms``, ``seed``).

        Returns:
            A new :class:`Index`.

        Example:
            >>> index = fanns.Index.build(vectors, metric="cosine", M=32)
        """
        params = graph_params(metric, storage, M, ef_construction, seed, gamma, m_beta)
        M, M0, ef_construction = params["M"], params["M0"], params["ef_construction"]
        seed, gamma, m_beta = params["seed"], params["gamma"], params["m_beta"]
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        if copy is not None and not isinstance(copy, (bool, np.bool_)):
            raise TypeError(f"copy must be True, False or None, not {type(copy).__name__}")
        data, borrow = as_rows(vectors, "vectors", copy=copy)
        if data.shape[0] >= 2**32 - 1:
            raise ValueError("at most 2**32 - 2 vectors per index")
        if ids is not None:
            ids = as_ids(ids, data.shape[0], new=True)
        if metric == "cosine":
            data, borrow = normalise_rows(data, "vectors"), True
        store = AttributeStore.from_input(attributes, data.shape[0], attribute_types)
        if range_attribute is not None:
            range_kind = _range_attribute_kind(store, range_attribute)
            range_leaf_size = as_count(range_leaf_size, "range_leaf_size", minimum=2)
            if range_leaf_size > 2**24:
                raise ValueError(f"range_leaf_size must be <= 2**24, got {range_leaf_size}")
            if not isinstance(range_quantized, (bool, np.bool_)):
                raise TypeError(
                    f"range_quantized must be True or False, not {type(range_quantized).__name__}"
                )
        # --- hybrid hook: the sparse side over the same rows, sharing the attributes
        if sparse is None and sparse_params is not None:
            raise ValueError("sparse_params needs sparse= (the sparse vectors of the rows)")
        sparse_side = (
            None
            if sparse is None
            else hybrid.build_sparse_side(sparse, sparse_params, data.shape[0], store, threads)
        )
        if sparse_side is not None and ids is not None:
            raise ValueError("an index with sparse vectors takes the default ids (0..n-1) for now")
        engine = new_engine(data.shape[1], metric, params)
        run_cancellable(
            lambda: engine.build(data, threads, borrow),
            done=engine.progress,
            cancel=engine.cancel,
            total=data.shape[0],
            progress=progress,
        )
        range_graph = None
        if range_attribute is not None:
            range_graph = _build_range_graph(
                engine,
                store,
                range_attribute,
                range_kind,
                metric,
                M,
                ef_construction,
                range_leaf_size,
                bool(range_quantized),
                threads,
            )
        core = cls._create(engine, metric, params, store, range_attribute, range_graph, sparse_side)
        core._holds_borrowed = not (isinstance(vectors, np.ndarray) and np.may_share_memory(data, vectors))
        build = {
            "M": M,
            "ef_construction": ef_construction,
            "seed": seed,
            "gamma": gamma,
            "m_beta": None if gamma == 1 else m_beta,
            "storage": storage,
            "range_attribute": range_attribute,
            "range_leaf_size": int(range_leaf_size),
            "range_quantized": bool(range_quantized),
        }
        return cls._holding(core, ids, build, attribute_types)

    # ----------------------------------------------------------- properties
    def __len__(self) -> int:
        if self._segments is not None:
            return self._segments.snapshot.live_count
        return int(self._engine.size)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        if self._segments is not None:
            return self._segments.dim
        return int(self._engine.dim)

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return self._metric

    @property
    def storage(self) -> str:
        """What searches read: ``"sq8"`` (8-bit codes), ``"f16"`` (float16 rows), both
        with exact rescoring, or ``"f32"``."""
        return self._params["storage"]

    @property
    def attributes(self) -> AttributeStore:
        """The attribute columns, readable by name: ``index.attributes["year"]``;
        rows in the order of :attr:`ids` (a copy once rows were added or deleted)."""
        if self._segments is not None:
            snap = self._segments.snapshot
            if snap.plain:
                return snap.segments[0].core._store
            return self._segments.live_store(snap)
        return self._store

    @property
    def vectors(self) -> np.ndarray:
        """Read-only (n, dim) float32 view of the stored vectors (normalised for
        cosine), in the order of :attr:`ids` (a copy once rows were added or deleted)."""
        if self._segments is not None:
            snap = self._segments.snapshot
            if snap.plain:
                return snap.segments[0].core.vectors
            return self._segments.live_vectors(snap)
        return self._engine.vectors()

    @property
    def ids(self) -> np.ndarray:
        """External ids of the live rows, in the order of :attr:`vectors`."""
        return self._segments.snapshot.live_ids()

    @property
    def segments(self) -> int:
        """Number of segments (1 after a build or :meth:`compact`)."""
        return len(self._segments.snapshot.segments)

    @property
    def sparse(self) -> SparseIndex | None:
        """The sparse side of a hybrid index (built with ``sparse=``), or None."""
        return self._sparse

    def memory_bytes(self, *, by_part: bool = False) -> int | dict[str, int]:
        """Bytes held by the index; ``by_part=True`` gives a dict per component:
        ``links`` (the graph), ``codes`` (8-bit rows), ``f16`` (float16 rows),
        ``rows`` (float rows),
        ``attributes``, ``ids`` (external ids, their lookup and deleted-row
        masks), with a range graph ``range_graph`` and ``range_codes``, and
        with sparse vectors ``sparse``.
        Deleted rows count until :meth:`compact`. Rows, codes and links read
        in place from the caller's array or a memory-mapped file are not
        counted (the operating system pages them in and out)."""
        if self._segments is not None:
            parts: dict[str, int] = {"ids": 0}
            for segment in self._segments.snapshot.segments:
                for name, size in segment.core.memory_bytes(by_part=True).items():
                    parts[name] = parts.get(name, 0) + size
                parts["ids"] += segment.memory_bytes()
            return parts if by_part else sum(parts.values())
        parts = {name: int(size) for name, size in self._engine.memory_parts().items()}
        if self._holds_borrowed:
            for name, size in self._engine.borrowed_parts().items():
                parts[name] += int(size)
        parts["attributes"] = int(self._store.memory_bytes())
        if self._range_graph is not None:
            codes = self._range_graph.code_bytes
            parts["range_graph"] = int(self._range_graph.memory_bytes()) - codes
            parts["range_codes"] = codes
        if self._sparse is not None:
            parts["sparse"] = (
                sum(self._sparse.memory_bytes(by_part=True).values()) - parts["attributes"]
            )
        return parts if by_part else sum(parts.values())

    def __repr__(self) -> str:
        if self._segments is None:
            return f"<fanns.Index segment n={len(self)} dim={self.dim}>"
        snap = self._segments.snapshot
        stored = {name for s in snap.segments for name in s.core._store.names}
        fields = {
            "n": len(self),
            "dim": self.dim,
            "metric": repr(self.metric),
            "M": self._params["M"],
            "ef_construction": self._params["ef_construction"],
            "storage": repr(self.storage),
            "attributes": f"[{', '.join(sorted(stored)) if stored else 'none'}]",
        }
        if self._range_attribute is not None:
            fields["range_graph"] = repr(self._range_attribute)
        if not snap.plain:
            fields["segments"] = len(snap.segments)
            fields["deleted"] = sum(s.n - s.live_count for s in snap.segments)
        if self._sparse is not None:
            fields["sparse"] = f"({self._sparse.n_terms} terms, nnz={self._sparse.nnz})"
        return self._describe(fields, after=f"simd={_core.simd_level()}")
