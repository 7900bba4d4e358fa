"""The dense index: HNSW over float32 vectors with typed attributes and filters."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fanns import _core, hybrid
from fanns._fileformat import read_index_file, write_index_file
from fanns._validation import (
    as_count,
    as_matrix,
    as_path,
    check_result_count,
    normalise_rows,
)
from fanns.attributes import AttributeStore
from fanns.filters import PreparedFilters
from fanns.range_graph import RangeGraph
from fanns.result import SearchResult
from fanns.routing import RoutedFilters, route_filters
from fanns.sparse import SparseIndex, SparseSearchResult

if TYPE_CHECKING:
    from fanns.hybrid import HybridSearchResult

METRICS = ("l2", "ip", "cosine")
STORAGES = ("sq8", "f32")
_PLAN_NAMES = np.array(list(_core.PLAN_NAMES))
_PLAN_DTYPE = "<U8"
_FILE_KIND = "hnsw"
_PARAM_KEYS = ("M", "M0", "ef_construction", "seed", "gamma", "m_beta")
_SECTION_DTYPES = {
    "vectors": np.dtype("<f4"),
    "links0": np.dtype("<u4"),
    "levels": np.dtype("u1"),
    "upper_offsets": np.dtype("<u8"),
    "upper_links": np.dtype("<u4"),
}
_ENGINE_SECTIONS = ("vectors", "links0", "levels", "upper_offsets", "upper_links")


class Index:
    """Approximate k-NN index over dense vectors, with optional attribute filters.

    Build one with :meth:`Index.build` or read one with :meth:`Index.load`.

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

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("use fanns.Index.build(vectors, ...) or fanns.Index.load(path)")

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
        self = object.__new__(cls)
        self._sparse = sparse  # hybrid search: a SparseIndex over the same rows, or None
        self._range_attribute = range_attribute
        self._range_graph = range_graph
        self._engine = engine
        self._metric = metric
        self._params = params
        self._store = store
        self._planner_overrides: dict = {}
        return self

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        vectors,
        *,
        attributes: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
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
        sparse=None,
        sparse_params: Mapping[str, Any] | None = None,
    ) -> Index:
        """Build an index over ``vectors`` (n, dim).

        Args:
            vectors: 2-D array-like of real numbers; stored as float32.
            attributes: per-row attributes for filtering: a mapping of name to a
                column of length n, or a sequence of n dicts (JSON-lines
                records). Types are inferred: int, float, bool, str
                (categorical), list of str (set-valued); None means missing.
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
                index's own vectors; it adds ``(M + 1) * 4`` bytes of links
                per row and tree depth (about ``log2(n / range_leaf_size)``
                depths) and takes several times an HNSW build.
            range_leaf_size: smallest segment of the range graph's tree.
            range_quantized: the range graph also keeps an 8-bit code of
                every row (about ``dim + 4`` bytes each) and searches on them,
                scoring its best ``ef`` candidates again on the float vectors:
                several times faster on ranges, for a quarter of the vectors'
                memory.
            storage: what searches read. ``"sq8"`` (default): an 8-bit code
                per row and dimension (``dim + 4`` bytes a row, beside the
                float rows); graph traversals and scans compare codes and
                score their ``ef`` best candidates again on the float rows,
                so every returned distance is exact. ``"f32"``: the float rows
                only. The graph is built on the float rows either way.
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
        if not isinstance(metric, str) or metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        if not isinstance(storage, str) or storage not in STORAGES:
            raise ValueError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
        M = as_count(M, "M", minimum=2, maximum=512)
        ef_construction = as_count(ef_construction, "ef_construction", minimum=1)
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        seed = as_count(seed, "seed", minimum=0, maximum=2**63 - 1)
        gamma = as_count(gamma, "gamma", minimum=1)
        if gamma == 1:
            if m_beta is not None:
                raise ValueError("m_beta applies only with gamma > 1")
            M0, m_beta = 2 * M, 0
        else:
            M0 = M * gamma
            if M0 > 1024:
                raise ValueError(f"M * gamma must be at most 1024, got {M0}")
            m_beta = min(2 * M, M0) if m_beta is None else as_count(m_beta, "m_beta", minimum=1)
            if m_beta > M0:
                raise ValueError(f"m_beta must be at most M * gamma = {M0}, got {m_beta}")
        data = as_matrix(vectors, "vectors")
        if data.shape[0] >= 2**32 - 1:
            raise ValueError("at most 2**32 - 2 vectors per index")
        if metric == "cosine":
            data = normalise_rows(data, "vectors")
        store = AttributeStore.from_input(attributes, data.shape[0], attribute_types)
        params = {
            "M": M,
            "M0": M0,
            "ef_construction": ef_construction,
            "seed": seed,
            "gamma": gamma,
            "m_beta": m_beta,
            "storage": storage,
        }
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
        engine = _core.HnswIndex(data.shape[1], metric, M, M0, ef_construction, seed, m_beta, storage)
        engine.build(data, threads)
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
        return cls._create(engine, metric, params, store, range_attribute, range_graph, sparse_side)

    # ----------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self._engine.size)

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self._engine.dim)

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return self._metric

    @property
    def params(self) -> dict:
        """Construction parameters (M, M0, ef_construction, seed, gamma, m_beta, storage)."""
        return dict(self._params)

    @property
    def storage(self) -> str:
        """What searches read: ``"sq8"`` (8-bit codes, exact rescoring) or ``"f32"``."""
        return self._params["storage"]

    @property
    def attributes(self) -> AttributeStore:
        """The attribute columns, readable by name: ``index.attributes["year"]``."""
        return self._store

    @property
    def vectors(self) -> np.ndarray:
        """Read-only (n, dim) float32 view of the stored vectors (normalised for cosine)."""
        return self._engine.vectors()

    @property
    def sparse(self) -> SparseIndex | None:
        """The sparse side of a hybrid index (built with ``sparse=``), or None."""
        return self._sparse

    def memory_bytes(self, *, by_part: bool = False) -> int | dict[str, int]:
        """Bytes held by the index; ``by_part=True`` gives a dict per component:
        ``links`` (the graph), ``codes`` (8-bit rows), ``rows`` (float rows),
        ``attributes``, with a range graph ``range_graph`` and
        ``range_codes``, with sparse vectors ``sparse``."""
        parts = {name: int(size) for name, size in self._engine.memory_parts().items()}
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
        names = ", ".join(self._store.names) if len(self._store.names) else "none"
        return (
            f"<fanns.Index n={len(self)} dim={self.dim} metric={self.metric!r} "
            f"M={self._params['M']} ef_construction={self._params['ef_construction']} "
            f"storage={self.storage!r} "
            f"attributes=[{names}] "
            + (f"range_graph={self._range_attribute!r} " if self._range_graph is not None else "")
            + (
                f"sparse=({self._sparse.n_terms} terms, nnz={self._sparse.nnz}) "
                if self._sparse is not None
                else ""
            )
            + f"memory={self.memory_bytes() / 2**20:.1f} MiB "
            f"simd={_core.simd_level()}>"
        )

    # --------------------------------------------------------------- search
    def search(
        self,
        queries,
        k: int = 10,
        *,
        ef: int | None = None,
        filter=None,
        threads: int = 0,
        exact_threshold: int | None = None,
        sparse=None,
        fusion: str = "rrf",
        fusion_k: float = hybrid.DEFAULT_FUSION_K,
        weights=None,
        depth: int | None = None,
        sparse_options: Mapping[str, Any] | None = None,
    ) -> SearchResult | HybridSearchResult | SparseSearchResult:
        """Find the k nearest rows to each query that pass ``filter``.

        With ``sparse=`` (on an index built with ``sparse=``) the search is
        hybrid: the dense and the sparse search each fetch their ``depth``
        best rows passing ``filter`` and ``fusion`` combines the two lists
        (:mod:`fanns.hybrid`); ``queries=None`` with ``sparse=`` is a
        sparse-only search.

        Args:
            queries: (nq, dim) or (dim,) array-like.
            k: neighbours per query.
            ef: candidate list size of the graph search (larger: slower, more
                accurate). Defaults to ``max(k, 64)``.
            filter: None, a filter expression (``fanns.field("year") >= 2020``),
                a ``pyroaring.BitMap`` of row ids, a boolean mask of length n,
                or a list of those with one entry per query.
            threads: query threads; 0 uses every core. Results do not depend
                on it. The GIL is released.
            sparse: sparse query rows (CSR matrix or list of ``{term_id:
                weight}`` dicts), one per dense query.
            fusion: ``"rrf"`` (reciprocal rank fusion, ``sum w / (fusion_k +
                rank)``), ``"dbsf"`` (scores normalised by mean ± 3 std, then
                weighted) or ``"weighted"`` (min-max normalised, weighted).
            fusion_k: the rank constant of ``"rrf"`` (60 as in Milvus and
                Weaviate; Qdrant uses 2).
            weights: ``(dense, sparse)`` multipliers of each side's
                contribution (default equal).
            depth: candidates each side fetches (default
                ``max(k, 100)``; at least ``k``).
            sparse_options: keywords of :meth:`fanns.SparseIndex.search` for
                the sparse side (``query_cut``, ``heap_factor``, ``rerank``,
                ``plan``, ``exact_threshold``, ``use_knn``). ``ef`` and
                ``exact_threshold`` apply to the dense side (there ``ef``
                defaults to ``2 * depth``).
            exact_threshold: filters passing at most this many rows are
                answered by a scan of the passing rows instead of a graph
                traversal (default ``4 * ef * M0``, where the scan costs about
                what a filtered traversal does). With ``storage="sq8"`` the
                scan reads codes, keeps the ``max(ef, 2 * k)`` best by code
                and scores them exactly (plan ``"scan"``); when no more than
                four times that many rows pass, or on float rows, it scores
                every passing row exactly (plan ``"exact"``). Ranges the range graph
                answers are scanned when they hold at most this many rows
                (default ``64 * ef`` there, ``16 * ef`` without row codes: its
                scans read a range's rows as one block, and its traversal
                stays inside the range); on codes such a scan keeps the
                ``ef`` best.

        Returns:
            :class:`SearchResult` with ``ids`` (int64), ``distances`` (float32)
            and ``plans``; rows are padded with -1 / inf when fewer than k rows
            pass. Hybrid: :class:`fanns.HybridSearchResult` (``ids``, fused
            ``scores``, larger is better, ``plans``, ``sources``: which side
            found each row); sparse-only: :class:`fanns.SparseSearchResult`.

        Example:
            >>> ids, distances = index.search(queries, k=10, filter=fanns.field("cat") == "cs.LG")
            >>> fused = index.search(queries, k=10, sparse=sparse_queries, fusion="rrf")
        """
        # --- hybrid hook: sparse= (or queries=None) goes to fanns.hybrid
        if (
            sparse is not None
            or queries is None
            or hybrid.fusion_arguments_given(fusion, fusion_k, weights, depth, sparse_options)
        ):
            return hybrid.search(
                self,
                queries,
                k,
                sparse=sparse,
                fusion=fusion,
                fusion_k=fusion_k,
                weights=weights,
                depth=depth,
                sparse_options=sparse_options,
                ef=ef,
                filter=filter,
                threads=threads,
                exact_threshold=exact_threshold,
            )
        k = as_count(k, "k", minimum=1)
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        ef = as_count(ef, "ef", minimum=1, allow_none=True)
        ef = max(k, 64) if ef is None else max(ef, k)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        check_result_count(q.shape[0], k, len(self))
        if self._metric == "cosine":
            q = normalise_rows(q, "queries")
        planner = self._planner(exact_threshold, ef)
        user_threshold = None if exact_threshold is None else planner["exact_threshold"]
        routed = self._route(filter, q.shape[0], planner["exact_threshold"])
        prepared = routed.prepared
        on_range = routed.routed_queries()
        ids = np.full((q.shape[0], k), -1, dtype=np.int64)
        distances = np.full((q.shape[0], k), np.inf, dtype=np.float32)
        plans = np.empty(q.shape[0], dtype=_PLAN_DTYPE)
        main = np.flatnonzero(~on_range)
        if len(main):
            bitsets, counts, query_filter = _subset_filters(prepared, prepared.query_filter[main])
            main_ids, main_distances, main_plans = self._engine.search(
                q[main] if len(main) < q.shape[0] else q,
                k,
                ef,
                threads,
                bitsets,
                counts,
                query_filter,
                planner,
            )
            ids[main], distances[main], plans[main] = (
                main_ids,
                main_distances,
                _PLAN_NAMES[main_plans],
            )
        members = np.flatnonzero(on_range)
        if len(members):
            groups = prepared.query_filter[members]
            routes = routed.routes
            start = np.array([routes[j].start for j in groups.tolist()], dtype=np.uint64)
            stop = np.array([routes[j].stop for j in groups.tolist()], dtype=np.uint64)
            # Only filters with other conjuncts than the range carry a predicate.
            rest = np.array([routes[j].has_rest for j in groups.tolist()], dtype=bool)
            bitsets, _, query_filter = _subset_filters(prepared, np.where(rest, groups, -1))
            r_ids, r_distances, r_plans = self._range_graph.search_positions(
                q[members],
                k,
                start,
                stop,
                ef=ef,
                bitsets=bitsets,
                query_filter=query_filter,
                threads=threads,
                exact_threshold=user_threshold,
            )
            ids[members], distances[members], plans[members] = r_ids, r_distances, r_plans
        return SearchResult(ids=ids, distances=distances, plans=plans)

    def _route(self, filter, nq: int, exact_threshold: int) -> RoutedFilters:
        return route_filters(
            filter,
            self._store,
            len(self),
            nq,
            range_graph=self._range_graph,
            attribute=self._range_attribute,
            exact_threshold=exact_threshold,
        )

    def _planner(self, exact_threshold: int | None, ef: int) -> dict:
        if exact_threshold is None:
            # An exact scan of this many rows costs about what a filtered
            # traversal at this ef does (measured on arxiv-mini, bench/README.md).
            exact_threshold = 4 * ef * self._params["M0"]
        planner = {"exact_threshold": as_count(exact_threshold, "exact_threshold", minimum=0)}
        planner.update(self._planner_overrides)
        return planner

    def explain(
        self, filter=None, *, k: int = 10, ef: int | None = None, exact_threshold: int | None = None
    ) -> dict:
        """Say how a query with ``filter`` would start: plan, passing rows, selectivity.

        The traversal plans can still change per query (a neighbourhood the
        filter mostly excludes switches to two-hop traversal; a traversal that
        runs over budget finishes with an exact scan); ``SearchResult.plans``
        reports what each query did.

        Example:
            >>> index.explain(fanns.field("year") >= 2020)
            {'plan': 'acorn', 'passing': 1234, 'n': 10000, 'selectivity': 0.1234, ...}
        """
        k = as_count(k, "k", minimum=1)
        ef = as_count(ef, "ef", minimum=1, allow_none=True)
        ef = max(k, 64) if ef is None else max(ef, k)
        planner = self._planner(exact_threshold, ef)
        routed = self._route(filter, 1, planner["exact_threshold"])
        prepared = routed.prepared
        filtered = len(prepared.bitsets) > 0
        route = routed.routes.get(0)
        threshold = planner["exact_threshold"]
        if route is not None:
            passing = int(prepared.counts[0]) if route.has_rest else route.in_range
            threshold = (
                planner["exact_threshold"]
                if exact_threshold is not None
                else self._range_graph.default_exact_threshold(ef)
            )
            plan = self._range_graph.plan_for(
                route.in_range, passing if route.has_rest else None, ef, threshold, k=k
            )
        else:
            passing = int(prepared.counts[0]) if filtered else len(self)
            plan = self._engine.plan_for(passing, filtered, ef, k, planner)
        return {
            "plan": plan,
            "passing": passing,
            "n": len(self),
            "selectivity": passing / len(self) if len(self) else 0.0,
            "filter": repr(filter) if filtered else None,
            "exact_threshold": threshold,
            "range_graph": route is not None,
        }

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike) -> None:
        """Write the index (graph, vectors, attributes) to ``path`` atomically."""
        path = as_path(path)
        state = self._engine.state()
        sections = {f"hnsw/{name}": state[name] for name in _ENGINE_SECTIONS}
        attr_meta, attr_sections = self._store.to_sections()
        sections.update(attr_sections)
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
            "entry": int(state["entry"]),
            "max_level": int(state["max_level"]),
            "attributes": attr_meta,
            "range": range_meta,
        }
        write_index_file(path, _FILE_KIND, meta, sections)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Index:
        """Read an index written by :meth:`save`; a corrupt file raises ValueError."""
        path = as_path(path)
        meta, sections = read_index_file(path, _FILE_KIND)
        try:
            metric = meta["metric"]
            params = {key: int(meta["params"][key]) for key in _PARAM_KEYS}
            # Files from before storage was a choice searched float rows.
            params["storage"] = meta["params"].get("storage", "f32")
            dim = int(meta["dim"])
            state = {name: sections[f"hnsw/{name}"] for name in _ENGINE_SECTIONS}
            state["entry"] = int(meta["entry"])
            state["max_level"] = int(meta["max_level"])
            attr_meta = meta["attributes"]
            range_meta = meta.get("range")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r} is corrupt (missing or bad field: {exc})") from exc
        _check_loaded(path, metric, dim, params, state)
        engine = _core.HnswIndex(
            dim,
            metric,
            params["M"],
            params["M0"],
            params["ef_construction"],
            params["seed"],
            params["m_beta"],
            params["storage"],
        )
        engine.restore(state)
        store = AttributeStore.from_sections(attr_meta, sections)
        if len(store) != engine.size:
            raise ValueError(f"{path!r} is corrupt (attribute rows do not match vectors)")
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
                # The index's vectors were checked above and are read-only: share them.
                range_graph = RangeGraph._restore(
                    range_meta["graph"],
                    graph_sections,
                    engine.vectors(),
                    trusted=True,
                    codes_from=engine,
                )
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{path!r} is corrupt (range graph: {exc})") from exc
            if not _range_graph_matches(range_graph, store, range_attribute, metric, engine.size):
                raise ValueError(f"{path!r} is corrupt (range graph does not match the index)")
        sparse_side = None
        if meta.get("sparse") is not None:  # hybrid hook: share the loaded attributes
            sparse_side = SparseIndex._restore(path, meta["sparse"], sections, lambda: store)
        return cls._create(engine, metric, params, store, range_attribute, range_graph, sparse_side)


def _subset_filters(
    prepared: PreparedFilters, query_filter: np.ndarray
) -> tuple[list[np.ndarray], list[int], np.ndarray | None]:
    """The bitsets, counts and renumbered per-query indices of the distinct
    filters that ``query_filter`` (indices into ``prepared``, -1: none) uses."""
    used = np.unique(query_filter[query_filter >= 0])
    if len(used) == 0:
        return [], [], None
    renumber = np.full(len(prepared.bitsets), -1, dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    subset = np.where(query_filter >= 0, renumber[np.maximum(query_filter, 0)], -1)
    bitsets = [prepared.bitsets[j] for j in used.tolist()]
    if any(b is None for b in bitsets):
        raise RuntimeError("a filter the engine needs was left uncompiled")
    counts = [int(prepared.counts[j]) for j in used.tolist()]
    return bitsets, counts, subset.astype(np.int32)


def _range_graph_matches(
    graph: RangeGraph, store: AttributeStore, attribute: str, metric: str, n: int
) -> bool:
    """Whether a loaded range graph orders exactly the rows of ``attribute`` by their values."""
    if graph.n != n or graph.metric != metric or attribute not in store:
        return False
    if store.type_of(attribute) not in ("int", "float", "date"):
        return False
    rows, values = store.sorted_order(attribute)
    order, keys = graph.order, graph.keys
    if len(order) != len(rows) or not np.array_equal(np.sort(order), np.sort(rows)):
        return False
    by_row = np.zeros(n, dtype=np.float64 if keys.dtype == np.float64 else np.int64)
    by_row[rows] = values
    return bool(np.array_equal(by_row[order], keys))


def _range_attribute_kind(store: AttributeStore, attribute: str) -> str:
    """The column type of ``attribute``, checked to be one a range graph orders."""
    if not isinstance(attribute, str):
        raise TypeError(
            f"range_attribute must be an attribute name, not {type(attribute).__name__}"
        )
    kind = store.type_of(attribute)  # KeyError naming it when unknown
    if kind not in ("int", "float", "date"):
        raise TypeError(
            f"range_attribute {attribute!r} is a {kind} column; "
            "a range graph needs int, float or date"
        )
    return kind


def _build_range_graph(
    engine,
    store: AttributeStore,
    attribute: str,
    kind: str,
    metric: str,
    M: int,
    ef_construction: int,
    leaf_size: int,
    quantized: bool,
    threads: int,
) -> RangeGraph:
    """A range graph over the ordered attribute ``attribute`` of the store,
    reading the vectors of the built ``engine``."""
    n = int(engine.size)
    rows, values = store.sorted_order(attribute)
    keys = np.zeros(n, dtype=np.float64 if kind == "float" else np.int64)
    valid = np.zeros(n, dtype=bool)
    keys[rows] = values
    valid[rows] = True
    params = {
        "M": M,
        # 64 candidates per point and depth: on arxiv-mini recall@10 within
        # 0.01 of 100 at equal search ef, for a markedly shorter build.
        "ef_construction": min(ef_construction, 64),
        "leaf_size": leaf_size,
        "quantized": quantized,
        "seed": 0,
    }
    # The graph reads the index's own (read-only) vectors, and its row codes
    # when it keeps them: no second copy of either.
    return RangeGraph._build_over(
        engine.vectors(), keys, valid, metric, params, threads, owns_rows=False, codes_from=engine
    )


def _check_loaded(path: str, metric, dim: int, params: dict, state: dict) -> None:
    """Reject a file whose fields are out of range before the engine sees them."""

    def corrupt(what: str) -> ValueError:
        return ValueError(f"{path!r} is corrupt ({what})")

    if metric not in METRICS or not 0 < dim < 2**31:
        raise corrupt("metric or dimension")
    if params["storage"] not in STORAGES:
        raise corrupt(f"unknown storage {params['storage']!r}")
    M, M0 = params["M"], params["M0"]
    if not (2 <= M <= 512 and M <= M0 <= 1024 and 0 <= params["m_beta"] <= M0):
        raise corrupt("graph degree parameters")
    if not (1 <= params["ef_construction"] < 2**31 and 0 <= params["seed"] < 2**63):
        raise corrupt("construction parameters")
    if not (0 <= state["entry"] < 2**32 and -1 <= state["max_level"] <= 30):
        raise corrupt("entry point or top level")
    for name, dtype in _SECTION_DTYPES.items():
        if state[name].dtype != dtype:
            raise corrupt(f"section {name!r} has type {state[name].dtype}, expected {dtype}")
    if not np.isfinite(state["vectors"]).all():
        raise corrupt("non-finite vector values")
