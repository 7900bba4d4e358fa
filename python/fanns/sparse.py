"""Sparse vectors: a Seismic-style blocked inverted index with attribute filters.

Documents and queries are sparse non-negative vectors (learned sparse
embeddings such as SPLADE, or lexical weights such as BM25); the score of a
document is its inner product with the query, larger is better.

The index (after Bruch, Nardini, Rulli and Venturini, "Efficient Inverted
Indexes for Approximate Retrieval over Learned Sparse Representations",
SIGIR 2024) keeps

* a forward index with every document's full vector (f32 weights, or f16
  with ``weights="f16"``);
* per term, the ``n_postings`` documents with the largest weights (static
  pruning), clustered into blocks of about ``block_size`` similar documents;
* per block, a summary: the per-term maximum over its documents, quantised to
  8 bits, for at most ``summary_cap`` terms (those with the largest total
  weight in the block, among terms whose own list spans several blocks) plus
  the list's own term;
* per posting, the document's weight for the list's term, quantised to 8 bits;
* optionally a k-NN graph (``knn`` neighbours per document) whose neighbours of
  the results are scored after the search (Seismic with a κ-NN graph, CIKM 2024).

A query visits the lists of its ``query_cut`` most promising terms (largest
``q_t * max_d w_{d,t}``), blocks in order of their summary score; a block
whose summary score is below ``heap_factor`` times the current k-th best
score ends the search. In a visited block, a document whose bound (the
block's score with the list term's part taken from the document's own
posting weight) is below that line is passed over, every other one is scored
exactly with the forward index (``plan="blocks"``).

The same pruned lists also serve plain accumulation (``plan="accumulate"``):
the quantised posting weights of the ``query_cut`` lists are added up per
document and the ``rerank`` best documents are scored exactly. With short
lists (a few thousand postings) this is cheaper than evaluating the block
summaries; ``plan="auto"`` (the default) picks, per query, the plan a cost
model expects to be cheaper, and ``SparseSearchResult.plans`` says which ran.
Filters are checked before scoring in every plan, and a filter passing few
documents is answered by scoring exactly the documents it passes. Other
filtered queries (``plan="auto"``) accumulate over the pruned lists and check
the answer against a bound on what the pruning hid (each term's largest cut
weight); when the bound is not met, the query is completed exactly, by
scoring the passing documents or by accumulating the full lists of its terms
over them, whichever a cost model expects cheaper. The full lists need the
postings that pruning cut, kept beside the index from the first filtered
query that needs them (``memory_bytes(by_part=True)["filter_tails"]``).

Example:
    >>> import scipy.sparse as sp, fanns
    >>> docs = sp.random(2000, 500, density=0.02, format="csr", random_state=0, dtype="float32")
    >>> years = [2000 + i % 25 for i in range(2000)]
    >>> index = fanns.SparseIndex.build(docs, attributes={"year": years})
    >>> result = index.search(docs[:3], k=5, filter=fanns.field("year") >= 2010)
    >>> result.ids.shape, result.scores.dtype
    ((3, 5), dtype('float32'))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fanns import _core
from fanns._built import Built, attribute_sections, attributes_from_file
from fanns._fileformat import Meter, open_index_file, verify_mode, write_index_file
from fanns._sparse_rows import _as_csr, _as_fraction, _Csr
from fanns._validation import as_count, as_path, check_result_count
from fanns.attributes import AttributeStore
from fanns.filters import prepare_filters
from fanns.filters.grouped import search_in_groups
from fanns.mutable.collection import as_ids
from fanns.mutable.searching import check_expression_filters
from fanns.mutable.sparse_ids import SparseIds
from fanns.result import BatchResult

__all__ = ["SparseIndex", "SparseSearchResult"]

# Defaults measured on BM25 vectors of arxiv-mini (50k abstracts, title
# queries; 3k in the tests) and on synthetic Zipf sets (20k rows; 8k in the
# tests); see bench/sparse.md. BM25-50k, one thread, query_cut=10:
#
#   summary_cap / block_size   summaries MiB   recall@10 / docs scored per query
#   none (all terms) / 16          700          1.000 / 4,095 at heap_factor 0.9
#   128 / 16                        95          0.945 / 741 at 0.9; 0.971 / 1,073 at 0.8
#   32 / 16                         27          0.934 / 718 at 0.65; 0.952 / 886 at 0.6
#   16 / 8                          30          0.942 / 657 at 0.5
#   64 / 32                         25          0.935 / 938 at 0.8; 0.965 / 1,350 at 0.7
#
# (forward index: 32 MiB). Uncapped summaries are near upper bounds and make
# the search visit most blocks; caps of 16-128 give about the same recall per
# document scored, so the cap is set by memory: 32 keeps summaries below the
# forward index. Ranking a block's terms by total weight rather than by maximum
# matters: with the maximum, cap 32 reached only 0.67 recall at heap_factor 0.6
# (rare terms crowd out the shared ones queries use). heap_factor 0.6 is the
# largest value with recall@10 >= 0.95 on both BM25-50k (0.952) and Zipf-20k
# (0.989; 0.961 at 0.7).
#
# plan="auto" runs accumulation for (nearly) every query on these sets and on
# SPLADE-like data (bench/sparse.md): with the defaults it reached recall
# 0.981 / 0.974 / 0.984 at 3,400 / 6,150 / 2,870 QPS on BM25-50k / Zipf-20k /
# SPLADE-like-20k, the blocked traversal 0.952 / 0.989 / 0.999 at 2,590 /
# 2,070 / 330 QPS. The default rerank (10 * k) is the smallest tried with
# recall >= 0.95 at query_cut=10 on all three (50 gave 0.955 / 0.947 / 0.972).
DEFAULT_N_POSTINGS = 2000
DEFAULT_BLOCK_SIZE = 16
DEFAULT_SUMMARY_ENERGY = 1.0
DEFAULT_SUMMARY_CAP = 32
DEFAULT_QUERY_CUT = 10
DEFAULT_HEAP_FACTOR = 0.6
DEFAULT_PLAN = "auto"
# Forward-index weights. f16 rounding (relative error up to 2^-11) reorders
# near-ties that float32 scoring orders correctly: with a filter removing each
# query's best half (BM25 arxiv-mini, anti-correlated 50 %) recall@10 was 0.941
# with f16 and 1.000 with f32, for 8 bytes an entry instead of 6 (forward index
# +33 %, the index +12.6 % there) and 8-18 % of the blocks plan's speed (the
# default plan: within noise); bench/sparse.md, "Forward-index weights: f32 by
# default".
DEFAULT_WEIGHTS = "f32"
WEIGHT_FORMATS = ("f32", "f16")
# Search used to build the k-NN graph (each document is a query).
_KNN_QUERY_CUT = 10
_KNN_HEAP_FACTOR = 0.9

_F16_MAX = 65504.0
_FILE_KIND = "sparse"
# 3: forward_values holds f32 weights or f16 bits (params["weights"]);
# 2: always f16 bits (read as weights="f16").
_FORMAT = 3
_FORMATS_READ = (2, 3)
_PLAN_NAMES = np.array(list(_core.PLAN_NAMES))  # the one plan enum (cpp/planner.h)
_PLAN_CODES = {"auto": 0, "blocks": 1, "accumulate": 2}
# How the engine completes a filtered query it cannot certify: 0 by its cost
# model; 1 (the passing rows) and 2 (the full lists) force one, and also
# complete certified queries (tests and calibration only).
_COMPLETION = 0
# Documents per accumulator window of the accumulate plan, when the collection
# has more (0: the engine's default: one accumulator up to 262,144 documents,
# else windows of 65,536); tests set it small so that small collections take
# the windowed path.
_ACCUMULATOR_WINDOW = 0
_SECTIONS: dict[str, np.dtype] = {
    "term_map": np.dtype(np.uint32),
    "forward_offsets": np.dtype(np.uint64),
    "forward_terms": np.dtype(np.uint32),
    "forward_values": np.dtype(np.uint16),
    "list_offsets": np.dtype(np.uint64),
    "block_offsets": np.dtype(np.uint64),
    "block_docs": np.dtype(np.uint32),
    "block_codes": np.dtype(np.uint8),
    "list_max": np.dtype(np.float32),
    "summary_vocabulary": np.dtype(np.uint32),
    "summary_offsets": np.dtype(np.uint64),
    "summary_entry_term": np.dtype(np.uint16),
    "summary_entry_code": np.dtype(np.uint8),
    "summary_list_code": np.dtype(np.uint8),
    "summary_steps": np.dtype(np.float32),
    "knn_neighbours": np.dtype(np.uint32),
}


@dataclass(frozen=True)
class _Explained:
    """Per query: the plan it starts with and the documents its filter passes (-1: none)."""

    plans: np.ndarray
    passing: np.ndarray


@dataclass(frozen=True, repr=False)
class SparseSearchResult(BatchResult):
    """The answer to a batch of sparse queries.

    Attributes:
        ids: int64 array (nq, k) of document ids, best first; -1 pads rows with
            fewer than k matching documents (documents sharing no term with the
            query score 0 and are never returned).
        scores: float32 array (nq, k) of inner products, descending; ``-inf``
            where ``ids`` is -1.
        plans: array (nq,) of str: ``"blocks"`` (blocked traversal with
            summaries), ``"accumulate"`` (accumulation over the pruned lists,
            then exact rescoring of the best), ``"exact"`` (every document the
            filter passes scored exactly), ``"full"`` (a filtered query whose
            pruned accumulation could not be certified, completed by
            accumulating the full lists of its terms over the passing
            documents) or ``"empty"`` (the filter passes nothing).
        scored: uint32 array (nq,): documents scored exactly with the forward
            index per query (the main cost of a query).

    Unpacks as ``ids, scores = index.search(...)``.
    """

    ids: np.ndarray
    scores: np.ndarray
    plans: np.ndarray
    scored: np.ndarray

    def __iter__(self):
        yield self.ids
        yield self.scores


class SparseIndex(Built, SparseIds):
    """Approximate top-k inner-product search over sparse vectors, with filters.

    Build one with :meth:`SparseIndex.build` or read one with :meth:`SparseIndex.load`.

    Example:
        >>> from fanns.datasets.bm25 import bm25_vectors, bm25_queries
        >>> docs, vocab = bm25_vectors(["sparse retrieval", "dense retrieval", "graphs"])
        >>> index = fanns.SparseIndex.build(docs)
        >>> index.search(bm25_queries(["sparse retrieval"], vocab), k=2).ids.tolist()
        [[0, 1]]
    """

    _MADE_BY = "fanns.SparseIndex.build(vectors, ...) or fanns.SparseIndex.load(path)"

    @classmethod
    def _create(cls, engine, params: dict, store: AttributeStore) -> SparseIndex:
        self = cls._blank()
        self._engine = engine
        self._params = params
        self._store = store
        self._init_rows(None)
        return self

    def _with_store(self, store: AttributeStore) -> SparseIndex:
        """The same engine filtered through another attribute store of the same
        rows (a hybrid :class:`fanns.Index` shares its store with its sparse side)."""
        if len(store) != len(self):
            raise ValueError(f"attribute store has {len(store)} rows, the index {len(self)}")
        side = type(self)._create(self._engine, self._params, store)
        side._part_of_index = True  # changed only through the index (which refuses for now)
        return side

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        vectors,
        *,
        attributes: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
        attribute_types: Mapping[str, str] | None = None,
        n_terms: int | None = None,
        n_postings: int | None = DEFAULT_N_POSTINGS,
        block_size: int = DEFAULT_BLOCK_SIZE,
        summary_energy: float = DEFAULT_SUMMARY_ENERGY,
        summary_cap: int | None = DEFAULT_SUMMARY_CAP,
        knn: int = 0,
        threads: int = 0,
        seed: int = 0,
        weights: str = DEFAULT_WEIGHTS,
        ids=None,
    ) -> SparseIndex:
        """Build an index over the rows of ``vectors``.

        Args:
            vectors: the documents: a CSR matrix (anything with ``indptr``,
                ``indices``, ``data`` and ``shape``; scipy CSC/COO matrices are
                converted with ``.tocsr()``) or a list of ``{term_id: weight}``
                dicts. Weights must be finite, non-negative and at most 65504
                (the f16 range, for either ``weights``); repeated terms in a
                row are summed.
            attributes: per-document attributes for filtering, as for
                :meth:`fanns.Index.build`.
            attribute_types: optional explicit attribute types by name.
            n_terms: number of term ids (columns); defaults to the matrix width
                (for dicts: the largest id + 1). Queries may not use more.
            n_postings: documents kept per term (static pruning, Seismic's λ);
                ``None`` keeps every posting (needed for exact search).
            block_size: average documents per block (Seismic's list length /
                β); lists are clustered into ``ceil(length / block_size)``
                blocks.
            summary_energy: fraction of each block summary's mass kept
                (Seismic's α), in (0, 1]: terms are kept, by total weight in
                the block, until this fraction of the total is reached (and
                at most ``summary_cap`` of them). ``1.0`` leaves the choice to
                ``summary_cap``.
            summary_cap: most terms per block summary besides the list's own
                term (``None``: no bound). Summaries then take at most about
                3 bytes x cap per block; the default keeps them below the
                forward index on BM25 and Zipf data (see bench/sparse.md).
            knn: neighbours per document in the optional k-NN graph (0: none);
                it costs a search per document at build time.
            threads: build threads; 0 uses every core. The GIL is released
                and the index does not depend on it.
            seed: seed of the random centroids of the block clustering.
            weights: how the forward index stores weights, which are the
                precision of every returned score: ``"f32"`` (default; scores
                are the float32 inner products of the given weights) or
                ``"f16"`` (6 bytes an entry instead of 8, a quarter less
                memory for the forward index; weights rounded to about three
                decimal digits, which can reorder near-tied documents).
            ids: external ids of the documents (distinct integers, int64);
                default 0..n-1. Results and :meth:`delete` use them.

        Returns:
            A new :class:`SparseIndex`.

        Example:
            >>> index = fanns.SparseIndex.build(docs, n_postings=None)  # exact-capable
        """
        threads = as_count(threads, "threads", minimum=0)
        seed = as_count(seed, "seed", minimum=0)
        if seed >= 2**64:
            raise ValueError("seed must be below 2**64")
        n_postings = as_count(n_postings, "n_postings", minimum=1, allow_none=True)
        block_size = as_count(block_size, "block_size", minimum=1)
        summary_energy = _as_fraction(
            summary_energy, "summary_energy", low=0.0, high=1.0, low_open=True
        )
        summary_cap = as_count(summary_cap, "summary_cap", minimum=1, allow_none=True)
        knn = as_count(knn, "knn", minimum=0)
        weights = _as_weight_format(weights)
        n_terms = as_count(n_terms, "n_terms", minimum=1, allow_none=True)
        csr = _as_csr(vectors, "vectors", max_weight=_F16_MAX)
        if n_terms is not None:
            if csr.n_cols > n_terms:
                raise ValueError(f"vectors have {csr.n_cols} columns but n_terms={n_terms}")
            csr = _Csr(csr.indptr, csr.indices, csr.data, n_terms)
        if csr.n_rows == 0:
            raise ValueError("vectors is empty (0 rows)")
        if csr.n_rows >= 2**32 - 1:
            raise ValueError("at most 2**32 - 2 documents per index")
        if knn >= csr.n_rows:
            raise ValueError(f"knn must be smaller than the number of documents ({csr.n_rows})")
        store = AttributeStore.from_input(attributes, csr.n_rows, attribute_types)
        if ids is not None:
            ids = as_ids(ids, csr.n_rows, new=True)
        engine = _core.SparseIndex.build(
            csr.indptr,
            csr.indices,
            csr.data,
            max(csr.n_cols, 1),
            n_postings or 0,
            block_size,
            summary_energy,
            knn,
            seed,
            _KNN_QUERY_CUT,
            _KNN_HEAP_FACTOR,
            threads,
            summary_cap or 0,
            weights == "f32",
        )
        params = {
            "n_postings": n_postings,
            "block_size": block_size,
            "summary_energy": summary_energy,
            "summary_cap": summary_cap,
            "knn": knn,
            "seed": seed,
            "weights": weights,
        }
        index = cls._create(engine, params, store)
        if ids is not None:
            index._init_rows(ids)
        return index

    # ----------------------------------------------------------- properties
    def __len__(self) -> int:
        """Live documents (deleted ones are not counted)."""
        return self._rows.live_count

    @property
    def n_terms(self) -> int:
        """Number of term ids (columns) the index accepts."""
        return int(self._engine.n_terms)

    @property
    def nnz(self) -> int:
        """Stored (document, term) weights in the forward index."""
        return int(self._engine.nnz)

    @property
    def n_postings(self) -> int:
        """Postings kept in the blocked lists after static pruning."""
        return int(self._engine.n_postings)

    @property
    def n_blocks(self) -> int:
        """Blocks over all posting lists."""
        return int(self._engine.n_blocks)

    @property
    def attributes(self) -> AttributeStore:
        """The attribute columns, readable by name."""
        return self._store

    def memory_bytes(self, *, by_part: bool = False) -> int | dict[str, int]:
        """Bytes held by the index; ``by_part=True`` gives a dict per component
        (``forward``, ``postings``, ``summaries``, ``knn``, ``attributes``).

        Example:
            >>> index.memory_bytes(by_part=True)["summaries"]  # doctest: +SKIP
            1234567
        """
        parts = {k: int(v) for k, v in self._engine.memory_parts().items()}
        parts["attributes"] = int(self._store.memory_bytes())
        return parts if by_part else sum(parts.values())

    def __repr__(self) -> str:
        names = ", ".join(self._store.names) if len(self._store.names) else "none"
        p = self._params
        fields = {"n": len(self), "n_terms": self.n_terms, "nnz": self.nnz}
        for key in ("n_postings", "block_size", "summary_energy", "summary_cap", "knn", "weights"):
            fields[key] = p[key]
        fields.update(blocks=self.n_blocks, attributes=f"[{names}]")
        return self._describe(fields)

    # --------------------------------------------------------------- search
    def search(
        self,
        queries,
        k: int = 10,
        *,
        query_cut: int | None = DEFAULT_QUERY_CUT,
        heap_factor: float = DEFAULT_HEAP_FACTOR,
        filter=None,
        threads: int = 0,
        exact_threshold: int | None = None,
        use_knn: bool = True,
        plan: str = DEFAULT_PLAN,
        rerank: int | None = None,
    ) -> SparseSearchResult:
        """Top-k documents by inner product for each query row that pass ``filter``.

        Args:
            queries: CSR matrix or list of ``{term_id: weight}`` dicts, one row
                per query; at most :attr:`n_terms` columns, weights finite and
                non-negative.
            k: results per query.
            query_cut: posting lists visited per query (the query terms with the
                largest ``q_t * max_d w_{d,t}``); ``None`` visits every query
                term's list.
            heap_factor: the search ends at the first block whose summary
                score is below ``heap_factor`` times the current k-th best
                score, and documents whose bound is below that line are not
                scored; ``0`` visits every block and scores every document.
                With ``n_postings=None`` at build, ``query_cut=None`` and
                ``heap_factor=0`` the search is exact.
                Under a filter passing a fraction ``p`` of the documents it is
                scaled by ``sqrt(p)`` (only passing documents are scored, so
                visiting a block costs less).
            filter: None, a filter expression (``fanns.field("year") >= 2020``),
                a ``pyroaring.BitMap`` of ids, a boolean mask of length n, or a
                list of those with one entry per query. Results always pass it.
            threads: query threads; 0 uses every core. Results do not depend
                on it. The GIL is released.
            exact_threshold: filters passing at most this many documents are
                answered by scoring exactly the documents they pass (plan
                ``"exact"``). Default ``None``: the planner decides per
                query, from the bytes scoring the passing rows reads against
                the bytes of accumulating the query's lists and, where the
                answer may not be certified, completing it (costs counted in
                bytes, the unit of the dense plans, in ``cpp/planner.h``;
                :meth:`explain` shows the choice). Other filtered queries with
                ``plan="auto"`` whose accumulated answer cannot be certified
                (a filter that removes the query's best documents, say) are
                completed exactly: plan ``"exact"`` (the passing documents
                scored) or ``"full"`` (the full lists of the query's terms
                accumulated over the passing documents); with
                ``exact_threshold=0`` only the latter. A forced ``plan`` is
                never completed.
            use_knn: also score the graph neighbours of the results (when the
                index was built with ``knn > 0``).
            plan: ``"blocks"`` (blocked traversal with summaries, as above),
                ``"accumulate"`` (add up the quantised weights of every kept
                posting of the ``query_cut`` lists, then score the ``rerank``
                best documents exactly) or ``"auto"``: per query, the one a
                cost model expects to be cheaper (postings to accumulate
                against blocks, summary entries and documents to score).
                Filtered queries check the filter before any document is
                scored in every plan.
            rerank: documents scored exactly by the accumulate plan (at least
                ``k``; default ``10 * k``). ``heap_factor=0`` scores every
                accumulated document instead.

        Returns:
            :class:`SparseSearchResult` (``ids``, ``scores``, ``plans``).

        Example:
            >>> ids, scores = index.search(queries, k=10, filter=fanns.field("lang") == "en")
        """
        options = self._checked_options(
            k,
            threads,
            query_cut=query_cut,
            heap_factor=heap_factor,
            exact_threshold=exact_threshold,
            use_knn=use_knn,
            plan=plan,
            rerank=rerank,
        )
        q = _as_csr(queries, "queries", n_cols=self.n_terms)
        rows = self._rows  # one read: deletes replace it whole
        n = int(self._engine.n_docs)
        check_result_count(q.n_rows, options[0], n)
        if not rows.identity:
            check_expression_filters(filter)

        def run(part: np.ndarray, part_filter) -> SparseSearchResult:
            batch = q if len(part) == q.n_rows else q.rows(part)
            prepared = prepare_filters(part_filter, self._store, n, batch.n_rows)
            return self._search_prepared(batch, prepared, rows, options)

        # Many distinct per-query filters are compiled and searched a group at a time.
        return search_in_groups(run, np.arange(q.n_rows), filter, n)

    def explain(
        self,
        queries,
        k: int = 10,
        *,
        query_cut: int | None = DEFAULT_QUERY_CUT,
        heap_factor: float = DEFAULT_HEAP_FACTOR,
        filter=None,
        exact_threshold: int | None = None,
        plan: str = DEFAULT_PLAN,
        rerank: int | None = None,
    ) -> dict:
        """Say how each query would start, without searching: the planner's
        choice (the same C++ code :meth:`search` runs), from the query's lists
        and the documents its filter passes. Arguments as for :meth:`search`
        (``threads`` and ``use_knn`` do not enter a plan and are not taken).

        Returns a dict: ``plans`` (array of str per query: ``"accumulate"``,
        ``"blocks"``, ``"exact"`` or ``"empty"``), ``passing`` (documents each
        query's filter passes; n without a filter) and ``n``. A filtered query
        started by accumulation may still end completed (``"exact"`` or
        ``"full"`` in ``SparseSearchResult.plans``) when its answer cannot be
        certified.

        Example:
            >>> index.explain(queries, filter=fanns.field("year") >= 2020)["plans"]
            array(['accumulate', 'exact', ...], dtype='<U10')
        """
        k, query_cut, heap_factor, _, exact_threshold, _, plan, rerank = self._checked_options(
            k,
            0,
            query_cut=query_cut,
            heap_factor=heap_factor,
            exact_threshold=exact_threshold,
            plan=plan,
            rerank=rerank,
        )
        q = _as_csr(queries, "queries", n_cols=self.n_terms)
        rows = self._rows
        n = int(self._engine.n_docs)
        if not rows.identity:
            check_expression_filters(filter)

        def run(part: np.ndarray, part_filter) -> _Explained:
            batch = q if len(part) == q.n_rows else q.rows(part)
            prepared = self._live_filters(rows, prepare_filters(part_filter, self._store, n, batch.n_rows))
            passing = np.full(batch.n_rows, -1, dtype=np.int64)
            if len(prepared.bitsets):
                used = prepared.query_filter >= 0
                passing[used] = np.asarray(prepared.counts, dtype=np.int64)[prepared.query_filter[used]]
            plans = self._engine.explain(
                batch.indptr, batch.indices, batch.data, max(batch.n_cols, 1), k, query_cut, heap_factor,
                passing, exact_threshold, _PLAN_CODES[plan], rerank,
            )  # fmt: skip
            return _Explained(plans=_PLAN_NAMES[plans], passing=passing)

        # Many distinct per-query filters are compiled a group at a time, as in search.
        said = search_in_groups(run, np.arange(q.n_rows), filter, n)
        live = len(self)
        return {"plans": said.plans, "passing": np.where(said.passing < 0, live, said.passing), "n": live}

    def _checked_options(
        self,
        k,
        threads,
        *,
        query_cut=DEFAULT_QUERY_CUT,
        heap_factor=DEFAULT_HEAP_FACTOR,
        exact_threshold=None,
        use_knn=True,
        plan=DEFAULT_PLAN,
        rerank=None,
    ) -> tuple:
        """The arguments of :meth:`search` (same defaults) checked, raising as it
        does, and put as the engine takes them."""
        k = as_count(k, "k", minimum=1)
        threads = as_count(threads, "threads", minimum=0)
        query_cut = as_count(query_cut, "query_cut", minimum=1, allow_none=True)
        heap_factor = _as_fraction(heap_factor, "heap_factor", low=0.0, high=1e6, low_open=False)
        if not isinstance(use_knn, (bool, np.bool_)):
            raise TypeError("use_knn must be a bool")
        exact_threshold = as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True)
        if not isinstance(plan, str):
            raise TypeError(f"plan must be a str, not {type(plan).__name__}")
        if plan not in _PLAN_CODES:
            raise ValueError(f"plan must be one of {sorted(_PLAN_CODES)}, got {plan!r}")
        rerank = as_count(rerank, "rerank", minimum=1, allow_none=True)
        return (k, query_cut or 0, heap_factor, bool(use_knn), exact_threshold, threads, plan, rerank or 0)

    def _search_prepared(self, q: _Csr, prepared, rows, options: tuple) -> SparseSearchResult:
        """The search of checked arguments and compiled filters (of ``q``'s rows;
        deleted documents are masked here): the engine, then ids and plan names."""
        k, query_cut, heap_factor, use_knn, exact_threshold, threads, plan, rerank = options
        prepared = self._live_filters(rows, prepared)
        filtered = len(prepared.bitsets) > 0
        query_filter = prepared.query_filter if filtered else None
        counts = prepared.counts.tolist()
        ids, scores, plans, scored = self._engine.search(
            q.indptr,
            q.indices,
            q.data,
            max(q.n_cols, 1),
            k,
            query_cut,
            heap_factor,
            use_knn,
            list(prepared.bitsets),
            counts,
            query_filter,
            exact_threshold,
            threads,
            _PLAN_CODES[plan],
            rerank,
            _COMPLETION,
            _ACCUMULATOR_WINDOW,
        )
        names = _PLAN_NAMES[plans]
        ids = rows.external(ids)
        return SparseSearchResult(ids=ids, scores=scores, plans=names, scored=scored)

    # ------------------------------------------------------------------ io
    def save(self, path: str | os.PathLike) -> None:
        """Write the index (lists, summaries, forward index, graph, attributes) atomically."""
        path = as_path(path)
        meta, sections = self._state()
        attribute_sections(self._store, meta, sections)
        sections.update(self._row_sections())
        write_index_file(path, _FILE_KIND, meta, sections)

    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """``(meta, sections)`` of the engine, without the attributes; sections
        are named ``sparse/...`` (also inside a hybrid :class:`fanns.Index` file)."""
        arrays = self._engine.to_arrays()
        sections = {f"sparse/{name}": np.asarray(arrays[name]) for name in _SECTIONS}
        meta = {
            "format": _FORMAT,
            "n_docs": int(self._engine.n_docs),
            "n_terms": self.n_terms,
            "knn_degree": int(self._engine.knn_degree),
            "params": self._params,
        }
        return meta, sections

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        verify="full",
        progress: Callable[[int, int], Any] | None = None,
    ) -> SparseIndex:
        """Read an index written by :meth:`save`; a corrupt file raises ValueError.

        ``verify``: how much is checked before the index is returned, with the
        meanings (and the default, the file being read, not mapped) of
        :meth:`fanns.Index.load`: ``"full"`` (default) every byte's checksum
        and the attribute orders sorted again to compare; ``"header"`` the
        header's checksum; ``False`` neither. Every mode checks what searches
        rely on to stay in bounds (offsets rising and spanning their
        sections, document ids below the number of documents, term ids below
        the number of terms, every attribute order naming rows in range) and
        the engine's own invariants (terms ascending in a row, valid weights
        and posting codes). Damage a cheaper mode does not check can make
        answers wrong, never crash a search.

        ``progress(done, total)`` is called as the file is read and its
        checksums checked (bytes, a block of 16 MiB at a time) and with
        ``done == total`` once the index is ready, as for
        :meth:`fanns.Index.load`; an exception it raises (KeyboardInterrupt,
        as Ctrl-C does between two blocks) stops the load, and the file stays
        as it was.

        Example:
            >>> index.save("docs.fanns"); same = fanns.SparseIndex.load("docs.fanns")
        """
        path = as_path(path)
        verify = verify_mode(verify)
        meter = Meter(progress)
        meta, sections = open_index_file(path, _FILE_KIND, mmap=False, verify=verify, meter=meter)
        index = cls._restore(
            path,
            meta,
            sections,
            lambda n_docs: attributes_from_file(
                path, meta, sections, n_docs, "documents", check=verify == "full"
            ),
        )
        meter.finish()
        return index

    @classmethod
    def _restore(cls, path: str, meta: Mapping[str, Any], sections, make_store) -> SparseIndex:
        """The index saved by :meth:`_state`, checked; ``make_store(n_docs)``
        gives its attributes."""
        try:
            version = int(meta["format"])
            if version not in _FORMATS_READ:
                raise ValueError(
                    f"unsupported sparse format {meta['format']} (this version reads "
                    f"{', '.join(map(str, _FORMATS_READ))})"
                )
            n_docs = int(meta["n_docs"])
            n_terms = int(meta["n_terms"])
            knn_degree = int(meta["knn_degree"])
            raw = meta["params"]
            params = {
                "n_postings": None if raw["n_postings"] is None else int(raw["n_postings"]),
                "block_size": int(raw["block_size"]),
                "summary_energy": float(raw["summary_energy"]),
                "summary_cap": None if raw["summary_cap"] is None else int(raw["summary_cap"]),
                "knn": int(raw["knn"]),
                "seed": int(raw["seed"]),
                "weights": "f16" if version == 2 else raw["weights"],
            }
            if params["weights"] not in WEIGHT_FORMATS:
                raise ValueError(f"weights {params['weights']!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r} is corrupt (missing or bad field: {exc})") from exc
        wide = params["weights"] == "f32"
        arrays = _checked_sections(path, sections, n_docs, n_terms, knn_degree, wide)
        try:
            engine = _core.SparseIndex.from_arrays(arrays, n_terms, n_docs, knn_degree, wide)
        except ValueError as exc:
            raise ValueError(f"{path!r} is corrupt ({exc})") from exc
        store = make_store(n_docs)
        if len(store) != n_docs:
            raise ValueError(f"{path!r} is corrupt (attribute rows do not match documents)")
        index = cls._create(engine, params, store)
        index._rows_from_sections(path, sections)
        return index


def _as_weight_format(value) -> str:
    """``weights`` of :meth:`SparseIndex.build`, checked."""
    if not isinstance(value, str):
        raise TypeError(f"weights must be a str ('f32' or 'f16'), not {type(value).__name__}")
    if value not in WEIGHT_FORMATS:
        raise ValueError(f"weights must be 'f32' or 'f16', not {value!r}")
    return value


def _checked_sections(
    path: str,
    sections: Mapping[str, np.ndarray],
    n_docs: int,
    n_terms: int,
    knn_degree: int,
    f32_weights: bool,
) -> dict[str, np.ndarray]:
    """The engine arrays of a file, with every offset and id checked against
    its target (``forward_values``: f32 weights if ``f32_weights``, else f16 bits)."""

    def corrupt(what: str) -> ValueError:
        return ValueError(f"{path!r} is corrupt ({what})")

    if n_docs <= 0 or n_docs >= 2**32 - 1 or not 0 < n_terms <= 2**32 or knn_degree < 0:
        raise corrupt("sizes out of range")
    arrays: dict[str, np.ndarray] = {}
    for name, dtype in _SECTIONS.items():
        if name == "forward_values" and f32_weights:
            dtype = np.dtype(np.float32)
        a = sections.get(f"sparse/{name}")
        if a is None:
            raise corrupt(f"section {name!r} missing")
        if a.dtype != dtype or a.ndim != 1:
            raise corrupt(f"section {name!r} has dtype {a.dtype}/{a.ndim}-D, expected 1-D {dtype}")
        arrays[name] = a

    def offsets(name: str, count: int, target: int) -> np.ndarray:
        o = arrays[name]
        if o.shape[0] != count + 1 or o[0] != 0 or int(o[-1]) != target:
            raise corrupt(f"{name} does not span its {target} entries")
        if (np.diff(o.astype(np.int64)) < 0).any():
            raise corrupt(f"{name} decreases")
        return o

    def ids_below(name: str, bound: int) -> None:
        a = arrays[name]
        if a.size and int(a.max()) >= bound:
            raise corrupt(f"{name} holds an id >= {bound}")

    n_used = arrays["term_map"].shape[0]
    n_blocks = arrays["block_offsets"].shape[0] - 1
    n_vocabulary = arrays["summary_vocabulary"].shape[0]
    n_entries = arrays["summary_entry_term"].shape[0]
    ids_below("term_map", n_terms)
    if n_blocks < 0:
        raise corrupt("block_offsets is empty")
    if arrays["forward_values"].shape != arrays["forward_terms"].shape:
        raise corrupt("forward terms and values differ in length")
    offsets("forward_offsets", n_docs, arrays["forward_terms"].shape[0])
    ids_below("forward_terms", n_used)
    offsets("list_offsets", n_used, n_blocks)
    offsets("block_offsets", n_blocks, arrays["block_docs"].shape[0])
    ids_below("block_docs", n_docs)
    if arrays["block_codes"].shape != arrays["block_docs"].shape:
        raise corrupt("block_codes and block_docs differ in length")
    if arrays["list_max"].shape[0] != n_used or arrays["summary_steps"].shape[0] != n_blocks:
        raise corrupt("list maxima or summary steps have the wrong length")
    ids_below("summary_vocabulary", n_used)
    vocabulary = arrays["summary_vocabulary"].astype(np.int64)
    if n_vocabulary > 65535 or (np.diff(vocabulary) <= 0).any():
        raise corrupt("summary_vocabulary is too long or not strictly increasing")
    offsets("summary_offsets", n_blocks, n_entries)
    ids_below("summary_entry_term", n_vocabulary)
    if arrays["summary_entry_code"].shape[0] != n_entries:
        raise corrupt("summary codes have the wrong length")
    if arrays["summary_list_code"].shape[0] != n_blocks:
        raise corrupt("summary_list_code has the wrong length")
    if arrays["knn_neighbours"].shape[0] != n_docs * knn_degree:
        raise corrupt("knn graph has the wrong size")
    knn = arrays["knn_neighbours"]
    if knn.size and ((knn >= n_docs) & (knn != 0xFFFFFFFF)).any():
        raise corrupt("knn graph names a document out of range")
    return arrays
