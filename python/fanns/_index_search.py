"""Searching a dense index: filters compiled, routed (main graph or range
graph, as the planner decides) and searched; :meth:`Index.explain` asks the
same planner. Part of :class:`fanns.Index`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fanns import _core, hybrid
from fanns._validation import as_count, as_matrix, check_result_count, normalise_rows
from fanns.filters import PreparedFilters
from fanns.filters.grouped import search_in_groups
from fanns.mutable import explain_snapshot, mask_deleted, search_snapshot
from fanns.planner import Planner
from fanns.result import SearchResult
from fanns.routing import RoutedFilters, route_filters

if TYPE_CHECKING:
    from fanns.hybrid import HybridSearchResult
    from fanns.sparse import SparseSearchResult

_PLAN_NAMES = np.array(list(_core.PLAN_NAMES))
_PLAN_DTYPE = "<U8"
_DEFAULT_PLANNER = Planner()


class IndexSearch:
    """The search methods of :class:`fanns.Index`."""

    def search(
        self,
        queries,
        k: int = 10,
        *,
        ef: int | None = None,
        filter=None,
        threads: int = 0,
        exact_threshold: int | None = None,
        planner: Planner | None = None,
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
                or a list of those with one entry per query. Distinct
                filters that would compile into more than
                ``fanns.filters.grouped.FILTER_MEMORY_BUDGET`` bytes of
                bitsets are compiled and searched a group at a time (same
                answers).
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
                traversal; on the range graph, ranges (or passing rows in a
                range) of at most this many rows. Default None: the planner's
                cost model, counted in bytes of rows read, decides (a scan of
                up to ``4 * ef * M0`` passing rows reads no more than a
                filtered traversal, for a query alone; queries of one call
                that share a filter are scanned together, each row read once
                for up to 16 of them, which raises that to about ``13 * ef *
                M0`` rows for a group of 16, see ``explain(queries=...)``;
                on the range graph up to ``16 * ef``
                float rows, about ``64 * ef`` rows of codes or ``32 * ef`` f16
                rows). A scan reads the
                row codes (or f16 rows) and scores the ``max(ef, 2 * k)`` best
                again exactly (plan ``"scan"``) when that reads fewer bytes
                than scoring every passing row on its float row (more than
                about four times as many pass, six times with ``"f16"``);
                otherwise, and with ``storage="f32"``, it
                scores every passing row exactly (plan ``"exact"``).
            planner: the planner's other knobs, a :class:`fanns.Planner`
                (queries the range graph answers use its ``exact_threshold``
                only).

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
                planner=planner,
            )
        if self._segments is not None:
            # One read of the snapshot: the whole search sees one state.
            return search_snapshot(
                self._segments.snapshot,
                self.dim,
                queries,
                k,
                ef=ef,
                filter=filter,
                threads=threads,
                exact_threshold=exact_threshold,
                planner=planner,
            )
        k = as_count(k, "k", minimum=1)
        threads = as_count(threads, "threads", minimum=0, maximum=4096)
        ef = as_count(ef, "ef", minimum=1, allow_none=True)
        ef = max(k, 64) if ef is None else max(ef, k)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        check_result_count(q.shape[0], k, len(self))
        if self._metric == "cosine":
            q = normalise_rows(q, "queries")
        planner = self._planner(exact_threshold, planner)
        if filter is None and self._live is None:
            # Nothing to compile or route: a single query pays for no filter machinery.
            return self._search_main(q, k, ef, threads, ([], [], None), planner)
        # Many distinct per-query filters are compiled and searched a group at a time.
        return search_in_groups(
            lambda part, part_filter: self._search_compiled(part, k, ef, part_filter, threads, planner),
            q,
            filter,
            len(self),
        )

    def _search_compiled(self, q: np.ndarray, k: int, ef: int, filter, threads: int, planner: dict):
        """The search of checked arguments on one graph: filters compiled, routed, searched."""
        routed = self._route(filter, q.shape[0], planner, ef, k)
        return self._search_routed(q, k, ef, routed, threads, planner)

    def _search_main(self, q: np.ndarray, k: int, ef: int, threads: int, filters, planner: dict):
        """Every query on the main graph; ``filters``: (bitsets, counts, query_filter)."""
        ids, distances, plans = self._engine.search(q, k, ef, threads, *filters, planner)
        plans = _PLAN_NAMES[plans].astype(_PLAN_DTYPE, copy=False)
        return SearchResult(ids=ids, distances=distances, plans=plans)

    def _search_routed(
        self, q: np.ndarray, k: int, ef: int, routed: RoutedFilters, threads: int, planner: dict
    ):
        """The search of checked arguments whose filters ``routed`` has compiled and routed."""
        prepared = routed.prepared
        if not routed.routes:  # every query on the main graph
            filters = _subset_filters(prepared, prepared.query_filter)
            return self._search_main(q, k, ef, threads, filters, planner)
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
                exact_threshold=planner["exact_threshold"],
            )
            ids[members], distances[members], plans[members] = r_ids, r_distances, r_plans
        return SearchResult(ids=ids, distances=distances, plans=plans)

    def _route(self, filter, nq: int, planner: dict, ef: int, k: int) -> RoutedFilters:
        graph = self._range_graph
        row_bytes, degree, gathers = graph.route_shape() if graph is not None else (0.0, 0, False)
        routed = route_filters(
            filter,
            self._store,
            len(self),
            nq,
            range_graph=self._range_graph,
            attribute=self._range_attribute,
            decide=lambda widths, predicate, passing: self._engine.routes_to_range(
                len(self), widths, predicate, passing, ef, k, planner, row_bytes, degree, gathers
            ),
        )
        return routed if self._live is None else mask_deleted(routed, self._live)

    @staticmethod
    def _planner(exact_threshold: int | None, planner: Planner | None) -> dict:
        """The engine's planner parameters: ``planner``'s knobs, the
        ``exact_threshold`` keyword taking precedence."""
        exact_threshold = as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True)
        if planner is None:
            planner = _DEFAULT_PLANNER
        elif not isinstance(planner, Planner):
            raise TypeError(f"planner must be a fanns.Planner, not {type(planner).__name__}")
        return planner.engine_params(exact_threshold)

    def explain(
        self,
        filter=None,
        *,
        k: int = 10,
        ef: int | None = None,
        exact_threshold: int | None = None,
        planner: Planner | None = None,
        queries: int = 1,
    ) -> dict:
        """Say how a query with ``filter`` would start: plan, passing rows, selectivity.

        ``queries``: how many queries of one ``search`` call have this filter.
        Queries sharing a filter scan its passing rows together (on 8-bit
        codes, each row read once for the group), so a scan pays off for more
        passing rows in a batch than for a query alone (``exact_threshold`` in
        the answer says how many; ``Planner(group_scans=False)`` turns this
        off). A filter the range graph answers is planned per query.

        The traversal plans can still change per query (a neighbourhood the
        filter mostly excludes switches to two-hop traversal; a traversal that
        runs over budget finishes with a scan of the passing rows); ``SearchResult.plans``
        reports what each query did.

        Example:
            >>> index.explain(fanns.field("year") >= 2020)
            {'plan': 'acorn', 'passing': 1234, 'n': 10000, 'selectivity': 0.1234, ...}

        With several segments or deleted rows, ``plan`` is the largest
        segment's, ``passing`` counts live rows over every segment, and
        ``segments`` lists each segment's own answer.
        """
        if self._segments is not None:
            return explain_snapshot(
                self._segments.snapshot,
                filter,
                k=k,
                ef=ef,
                exact_threshold=exact_threshold,
                planner=planner,
                queries=queries,
            )
        k = as_count(k, "k", minimum=1)
        ef = as_count(ef, "ef", minimum=1, allow_none=True)
        ef = max(k, 64) if ef is None else max(ef, k)
        queries = as_count(queries, "queries", minimum=1)
        planner = self._planner(exact_threshold, planner)
        routed = self._route(filter, 1, planner, ef, k)
        prepared = routed.prepared
        filtered = len(prepared.bitsets) > 0
        route = routed.routes.get(0)
        if route is not None:
            passing = int(prepared.counts[0]) if route.has_rest else route.in_range
            graph = self._range_graph
            threshold = graph.scan_threshold(ef, k=k, exact_threshold=planner["exact_threshold"])
            plan = graph.plan_for(
                route.in_range, passing if route.has_rest else None, ef, planner["exact_threshold"], k=k
            )
        else:
            passing = int(prepared.counts[0]) if filtered else len(self)
            plan = self._engine.plan_for(passing, filtered, ef, k, planner, queries)
            threshold = self._engine.scan_threshold(ef, k, planner, queries)
        return {
            "plan": plan,
            "passing": passing,
            "n": len(self),
            "selectivity": passing / len(self) if len(self) else 0.0,
            "filter": repr(filter) if filtered else None,
            "exact_threshold": threshold,
            "range_graph": route is not None,
        }


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
