"""Range-filtered k-NN: a segment tree of proximity graphs over an ordered key.

Rows are sorted by key (ties by row id); rows whose key is missing never match
a range. A query asks for the k nearest rows whose key lies between ``lo`` and
``hi`` (optionally also passing a bitset predicate over row ids) and is
answered by an improvised traversal of the range graph, or by a scan of the
range when that is cheaper. By default the graph also keeps an 8-bit code of
every row: traversals and scans compare codes, and only the best ``ef``
candidates are scored again on the float rows, so every returned distance is
exact. Distances follow the index conventions:
squared L2 for ``"l2"``, ``1 - <q, x>`` for ``"ip"`` and ``"cosine"``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from fanns import _core
from fanns._built import Built
from fanns._validation import as_count, as_matrix, check_result_count, normalise_rows

METRICS = ("l2", "ip", "cosine")
PLAN_NAMES = np.array(list(_core.PLAN_NAMES))
STATE_KIND = "range_graph"
STATE_VERSION = 2
_SECTIONS = {
    "order": np.uint32,
    "links": np.uint32,
    "entries": np.uint32,
}
_MAX_ROWS = 2**32 - 2


def _as_keys(keys, valid, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (keys as int64 or float64, validity mask) for n rows."""
    if isinstance(keys, (str, bytes)):
        raise TypeError(f"keys must be a 1-D array of numbers, not {type(keys).__name__}")
    raw = np.asarray(keys)
    missing = None
    if raw.dtype == object:
        if raw.ndim != 1:
            raise ValueError(f"keys must be 1-D, got shape {raw.shape}")
        items = raw.tolist()
        for v in items:
            if v is not None and (
                isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)
            ):
                raise TypeError(f"keys must be numbers or None, found {type(v).__name__}")
        missing = np.array([v is None for v in items], dtype=bool)
        filled = [0 if v is None else v for v in items]
        if all(isinstance(v, numbers.Integral) for v in filled):
            raw = np.array([int(v) for v in filled], dtype=object)
            raw = raw.astype(np.int64) if len(filled) else np.zeros(0, np.int64)
        else:
            raw = np.array([float(v) for v in filled], dtype=np.float64)
    if raw.ndim != 1:
        raise ValueError(f"keys must be 1-D, got shape {raw.shape}")
    if raw.shape[0] != n:
        raise ValueError(f"keys have {raw.shape[0]} entries, vectors have {n} rows")
    if raw.dtype == np.bool_:
        raise TypeError("keys must be numbers, not booleans")
    if np.issubdtype(raw.dtype, np.unsignedinteger):
        if raw.size and raw.max() > np.iinfo(np.int64).max:
            raise ValueError("keys above 2**63 - 1 are not supported")
        values = raw.astype(np.int64)
    elif np.issubdtype(raw.dtype, np.integer):
        values = raw.astype(np.int64)
    elif np.issubdtype(raw.dtype, np.floating):
        values = raw.astype(np.float64)
    else:
        raise TypeError(f"keys must be integers or floats, not {raw.dtype}")
    if valid is None:
        mask = ~np.isnan(values) if values.dtype == np.float64 else np.ones(n, dtype=bool)
    else:
        mask = np.asarray(valid)
        if mask.dtype != np.bool_:
            raise TypeError(f"valid must be a boolean mask, not {mask.dtype}")
        if mask.shape != (n,):
            raise ValueError(f"valid must have shape ({n},), got {mask.shape}")
        if values.dtype == np.float64 and np.isnan(values[mask]).any():
            bad = int(np.flatnonzero(mask & np.isnan(values))[0])
            raise ValueError(f"key of row {bad} is NaN but marked valid")
    if missing is not None:
        mask = mask & ~missing
    return values, mask


def _as_float(value: numbers.Real) -> float:
    """``float(value)``, with integers beyond the float range as +-inf."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _pack_bitset(value, n: int, what: str) -> np.ndarray:
    """A predicate as uint64 words over n row ids (bit i of word i // 64)."""
    words = (n + 63) // 64
    array = np.asarray(value)
    if array.dtype == np.bool_:
        if array.shape != (n,):
            raise ValueError(f"{what}: a boolean mask must have shape ({n},), got {array.shape}")
        packed = np.packbits(array, bitorder="little")
        padded = np.zeros(words * 8, dtype=np.uint8)
        padded[: packed.size] = packed
        return padded.view("<u8").astype(np.uint64)
    if array.dtype != np.uint64:
        raise TypeError(f"{what} must be uint64 words or a boolean mask, not {array.dtype}")
    if array.shape != (words,):
        raise ValueError(f"{what} must have shape ({words},) for {n} rows, got {array.shape}")
    if n % 64:
        tail = np.uint64((1 << (n % 64)) - 1)
        if array[-1] & ~tail:
            raise ValueError(f"{what} sets bits past the last row")
    return np.ascontiguousarray(array)


def _normalised(matrix: np.ndarray, name: str) -> np.ndarray:
    """``matrix`` itself when its rows are already of unit length, else
    :func:`normalise_rows` of it (so the index's own vectors pass unchanged)."""
    norms = np.linalg.norm(matrix, axis=1)
    if len(norms) and np.all(np.abs(norms - 1.0) < 1e-5):
        return matrix
    return normalise_rows(matrix, name)


class RangeGraph(Built):
    """k-NN search restricted to a key range, for every range at once.

    Build with :meth:`RangeGraph.build`; restore a saved one with
    :meth:`RangeGraph.from_state`.

    Example:
        >>> import numpy as np
        >>> from fanns.range_graph import RangeGraph
        >>> rng = np.random.default_rng(0)
        >>> vectors = rng.standard_normal((2000, 16)).astype(np.float32)
        >>> dates = rng.integers(20200101, 20250101, size=2000)
        >>> graph = RangeGraph.build(vectors, dates)
        >>> ids, distances, plans = graph.search(vectors[:2], 5, 20210101, 20221231)
        >>> ids.shape
        (2, 5)
    """

    _MADE_BY = "RangeGraph.build(vectors, keys, ...) or RangeGraph.from_state(...)"

    @classmethod
    def _create(
        cls, engine, keys: np.ndarray, metric: str, params: dict, rows: np.ndarray, owns_rows: bool
    ) -> RangeGraph:
        self = cls._blank()
        self._engine = engine
        # The rows the engine reads (it holds a reference too); a graph built
        # inside an Index shares the index's vectors instead of owning a copy.
        self._rows = rows
        self._owns_rows = owns_rows
        keys = np.ascontiguousarray(keys)
        keys.flags.writeable = False
        self._keys = keys
        self._metric = metric
        self._params = dict(params)
        return self

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        vectors,
        keys,
        *,
        valid=None,
        metric: str = "l2",
        M: int = 16,
        ef_construction: int = 64,
        leaf_size: int = 128,
        quantized: bool = True,
        threads: int = 0,
        seed: int = 0,
    ) -> RangeGraph:
        """Build the range graph over ``vectors`` (n, dim) keyed by ``keys`` (n,).

        Args:
            vectors: float32 (n, dim) array-like; the range graph keeps its own
                copy. For ``"cosine"`` rows are unit-normalised (rows already
                of unit length are taken as they are).
            keys: int or float key per row (dates as YYYYMMDD integers,
                prices, ...). An object array may hold None for missing keys.
            valid: optional boolean mask (n,); rows with False (and rows whose
                float key is NaN when no mask is given) have no key and never
                match a range.
            metric: ``"l2"``, ``"ip"`` or ``"cosine"``.
            M: out-degree of the graph of every tree segment.
            ef_construction: candidates gathered per point and tree depth.
            leaf_size: width of the smallest tree segments.
            quantized: also keep an 8-bit code of every keyed row (about
                ``dim + 4`` bytes per row; at most 32768 dimensions, wider rows
                are searched on floats) and search on the
                codes, scoring the best ``ef`` candidates again on the float
                rows. Ranges scan and traverse several times faster for a
                quarter of the vectors' memory; False searches the float
                rows only.
            threads: build threads (0: every core). The graph does not depend
                on it; the GIL is released.
            seed: recorded with the parameters; construction draws no random
                numbers, so equal inputs always give equal graphs.

        Returns:
            A new :class:`RangeGraph`.

        Example:
            >>> graph = RangeGraph.build(vectors, prices, metric="cosine", M=16)
        """
        if not isinstance(metric, str) or metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        M = as_count(M, "M", minimum=2)
        if M > 1024:
            raise ValueError(f"M must be <= 1024, got {M}")
        ef_construction = as_count(ef_construction, "ef_construction", minimum=1)
        leaf_size = as_count(leaf_size, "leaf_size", minimum=2)
        if leaf_size > 2**24:
            raise ValueError(f"leaf_size must be <= 2**24, got {leaf_size}")
        if not isinstance(quantized, (bool, np.bool_)):
            raise TypeError(f"quantized must be True or False, not {type(quantized).__name__}")
        threads = as_count(threads, "threads", minimum=0)
        seed = as_count(seed, "seed", minimum=0)
        data = as_matrix(vectors, "vectors")
        n = data.shape[0]
        if n > _MAX_ROWS:
            raise ValueError(f"at most {_MAX_ROWS} rows per range graph")
        if metric == "cosine":
            data = _normalised(data, "vectors")
        values, mask = _as_keys(keys, valid, n)
        if np.may_share_memory(data, np.asarray(vectors)):
            data = data.copy()  # never read rows the caller may still change
        data.flags.writeable = False
        params = {
            "M": M,
            "ef_construction": ef_construction,
            "leaf_size": leaf_size,
            "quantized": bool(quantized),
            "seed": seed,
        }
        return cls._build_over(data, values, mask, metric, params, threads, owns_rows=True)

    @classmethod
    def _build_over(
        cls,
        rows: np.ndarray,
        values: np.ndarray,
        mask: np.ndarray,
        metric: str,
        params: dict,
        threads: int,
        *,
        owns_rows: bool,
        store_from=None,
    ) -> RangeGraph:
        """Build over ``rows`` (read-only float32 (n, dim), C order, normalised
        for cosine), which the graph keeps reading; arguments already checked.
        ``store_from``: the engine of an index over the same rows whose
        encoding (codes or f16 rows) the graph reads instead of keeping codes
        of its own."""
        keyed = np.flatnonzero(mask)
        order = keyed[np.argsort(values[keyed], kind="stable")].astype(np.uint32)
        engine = _core.RangeGraphIndex(
            rows.shape[1],
            metric,
            params["M"],
            params["ef_construction"],
            params["leaf_size"],
            params["quantized"],
        )
        engine.build(rows, order, threads, store_from)
        return cls._create(engine, values[order], metric, params, rows, owns_rows)

    # ----------------------------------------------------------- properties
    @property
    def n(self) -> int:
        """Rows of the data set (ids and predicate bitsets range over these)."""
        return int(self._engine.total_rows)

    def __len__(self) -> int:
        """Rows that have a key (the rows any range can match)."""
        return int(self._engine.size)

    @property
    def dim(self) -> int:
        return int(self._engine.dim)

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def keys(self) -> np.ndarray:
        """Read-only sorted keys of the rows in the graph."""
        return self._keys

    @property
    def order(self) -> np.ndarray:
        """Row id at each sorted position (read-only copy)."""
        order = self._engine.order()
        order.flags.writeable = False
        return order

    @property
    def depths(self) -> int:
        """Depths of the segment tree (one graph per segment at every depth)."""
        return int(self._engine.depths)

    @property
    def owns_vectors(self) -> bool:
        """False when the graph reads the vectors of the index it belongs to."""
        return self._owns_rows

    @property
    def quantized(self) -> bool:
        """Whether searches run on an encoding of the rows (8-bit codes, or
        the f16 rows of the index the graph belongs to; see :attr:`encoding`).
        False when built with ``quantized=False``, and also when no encoding
        can be kept (no keyed rows, or more than 32768 dimensions) while
        ``params["quantized"]`` still records what was asked."""
        return bool(self._engine.quantized)

    @property
    def encoding(self) -> str:
        """What searches score candidates on: ``"sq8"`` (8-bit codes),
        ``"f16"`` (the index's f16 rows) or ``"f32"`` (the float rows)."""
        return str(self._engine.encoding)

    @property
    def shares_codes(self) -> bool:
        """Whether the graph reads the encoding of the index it belongs to
        (its 8-bit codes under ``storage="sq8"``, its f16 rows under
        ``"f16"``) through its key order, rather than keeping codes of its own."""
        return bool(self._engine.shares_store)

    @property
    def code_bytes(self) -> int:
        """Bytes of the graph's own 8-bit row codes (0 when not quantized or
        when it reads its index's encoding); part of :meth:`memory_bytes`."""
        return int(self._engine.code_bytes())

    def memory_bytes(self) -> int:
        """Bytes held: links of every depth, order, keys, row codes, and the
        vectors when the graph owns them (not when it shares an index's)."""
        own = int(self._rows.nbytes) if self._owns_rows else 0
        return int(self._engine.memory_bytes()) + int(self._keys.nbytes) + own

    def __repr__(self) -> str:
        return self._describe(
            {
                "rows": f"{len(self)}/{self.n}",
                "dim": self.dim,
                "metric": repr(self._metric),
                "M": self._params["M"],
                "leaf_size": self._params["leaf_size"],
                "depths": self.depths,
                "quantized": self.quantized,
            }
        )

    # --------------------------------------------------------------- ranges
    def positions(
        self,
        lo=None,
        hi=None,
        *,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
        nq: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted positions [start, stop) of the rows whose key is within the bounds.

        ``lo``/``hi`` are a number, None (unbounded) or a sequence with one
        bound (or None) per query; ``stop - start`` is the number of rows in
        range (never negative).

        Example:
            >>> start, stop = graph.positions(20210101, 20211231)
            >>> int(stop[0] - start[0])  # rows dated 2021
        """
        if not isinstance(lo_inclusive, (bool, np.bool_)) or not isinstance(
            hi_inclusive, (bool, np.bool_)
        ):
            raise TypeError("lo_inclusive and hi_inclusive must be bools")
        lo_items = self._bounds(lo, "lo", nq)
        hi_items = self._bounds(hi, "hi", nq)
        count = max(len(lo_items), len(hi_items))
        if min(len(lo_items), len(hi_items)) != 1 and len(lo_items) != len(hi_items):
            raise ValueError(f"lo has {len(lo_items)} bounds and hi has {len(hi_items)}")
        start = np.broadcast_to(self._side(lo_items, lower=True, inclusive=lo_inclusive), count)
        stop = np.broadcast_to(self._side(hi_items, lower=False, inclusive=hi_inclusive), count)
        start = start.astype(np.uint64)
        stop = np.maximum(stop, start).astype(np.uint64)
        return start, stop

    def count(self, lo=None, hi=None, *, lo_inclusive: bool = True, hi_inclusive: bool = True):
        """Rows whose key is within the bounds (an array when bounds are per query).

        Example:
            >>> graph.count(20210101, 20211231)
        """
        start, stop = self.positions(lo, hi, lo_inclusive=lo_inclusive, hi_inclusive=hi_inclusive)
        counts = (stop - start).astype(np.int64)
        scalar = not isinstance(lo, (Sequence, np.ndarray)) and not isinstance(
            hi, (Sequence, np.ndarray)
        )
        return int(counts[0]) if scalar else counts

    def _bounds(self, bound, name: str, nq: int | None) -> list:
        """The bounds as a list of Python numbers or None, checked."""
        if isinstance(bound, (str, bytes)) or isinstance(bound, (bool, np.bool_)):
            raise TypeError(f"{name} must be a number, None or a sequence of them")
        if bound is None or isinstance(bound, numbers.Real):
            items = [bound]
        elif isinstance(bound, np.ndarray) and bound.dtype != object:
            if bound.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {bound.shape}")
            if bound.dtype == np.bool_ or not (
                np.issubdtype(bound.dtype, np.integer) or np.issubdtype(bound.dtype, np.floating)
            ):
                raise TypeError(f"{name} must hold numbers, not {bound.dtype}")
            items = bound.tolist()
        else:
            try:
                items = list(bound)
            except TypeError as exc:
                raise TypeError(f"{name} must be a number, None or a sequence of them") from exc
        if nq is not None and len(items) not in (1, nq):
            raise ValueError(f"{name} must be one bound or {nq} bounds, got {len(items)}")
        if not items:
            raise ValueError(f"{name} is an empty sequence")
        for v in items:
            kind = type(v)
            if v is None or kind is int or (kind is float and v == v):
                continue  # the common cases, without the abstract-class checks
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"{name} bounds must be numbers or None, found {type(v).__name__}")
            if not isinstance(v, numbers.Integral) and math.isnan(v):
                raise ValueError(f"{name} contains NaN; use None for an unbounded side")
        return items

    def _side(self, items: list, *, lower: bool, inclusive: bool) -> np.ndarray:
        """Sorted position of each bound: first row in range (lower) or one past the last."""
        keys = self._keys
        n = len(keys)
        # A lower bound starts at the first key >= it (inclusive) or > it;
        # an upper bound stops after the last key <= it (inclusive) or < it.
        left = inclusive if lower else not inclusive
        out = np.empty(len(items), dtype=np.int64)
        if keys.dtype != np.int64:
            values = np.array([math.nan if v is None else _as_float(v) for v in items])
            found = np.searchsorted(keys, values, side="left" if left else "right")
            none = np.isnan(values)
            out[:] = np.where(none, 0 if lower else n, found)
            return out
        # Integer keys: compare exactly, turning a fractional bound into the
        # nearest integer inside the range (x >= 2.5 is x >= 3; x <= 2.5 is x <= 2).
        info = np.iinfo(np.int64)
        low, high = int(info.min), int(info.max)
        if all(type(v) is int and low <= v <= high for v in items):
            # Plain integer bounds (the common case): one vectorised lookup.
            targets = np.array(items, dtype=np.int64)
            out[:] = np.searchsorted(keys, targets, side="left" if left else "right")
            return out
        targets = np.zeros(len(items), dtype=np.int64)
        sides = np.zeros(len(items), dtype=bool)  # True: "left" search
        fixed = np.full(len(items), -1, dtype=np.int64)
        for i, v in enumerate(items):
            if v is None:
                fixed[i] = 0 if lower else n
                continue
            if isinstance(v, numbers.Integral):
                t, side = int(v), left
            elif math.isinf(v):
                fixed[i] = 0 if (v < 0) else n
                continue
            elif float(v).is_integer():
                t, side = int(v), left
            else:
                t, side = (math.ceil(v), True) if lower else (math.floor(v), False)
            if t > info.max:
                fixed[i] = n
            elif t < info.min:
                fixed[i] = 0
            else:
                targets[i], sides[i] = t, side
        left_pos = np.searchsorted(keys, targets, side="left")
        right_pos = np.searchsorted(keys, targets, side="right")
        out[:] = np.where(fixed >= 0, fixed, np.where(sides, left_pos, right_pos))
        return out

    # --------------------------------------------------------------- search
    def search(
        self,
        queries,
        k: int = 10,
        lo=None,
        hi=None,
        *,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
        ef: int | None = None,
        bitset=None,
        threads: int = 0,
        exact_threshold: int | None = None,
        max_links: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The k nearest rows to each query among rows with ``lo <= key <= hi``.

        Args:
            queries: (nq, dim) or (dim,) array-like.
            k: neighbours per query.
            lo, hi: key bounds: a number, None (unbounded), or a sequence of
                nq bounds (None entries allowed) for a range per query.
            lo_inclusive, hi_inclusive: whether a key equal to the bound matches.
            ef: candidate list size of the traversal (default ``max(k, 64)``).
            bitset: optional extra predicate over row ids: uint64 words (bit i
                of word i // 64) or a boolean mask of length :attr:`n`, shared
                by every query, or a list of nq of those (None entries: no
                predicate for that query). Rows failing it are never returned.
            threads: query threads (0: every core). Results do not depend on
                it; the GIL is released.
            exact_threshold: ranges (or in-range passing rows) up to this size
                are scanned rather than traversed (default None: the
                planner's cost model decides, :meth:`scan_threshold`:
                a range traversal at ``ef`` reads about what a scan of ``16 *
                ef`` float rows does, which on codes is about ``64 * ef``
                rows). A scan reads the codes and scores the ``ef`` best by
                code again exactly (plan ``"scan"``) when that reads fewer
                bytes than scoring every passing row on its float row (more
                than about ``4 * ef`` pass); otherwise it is exact. Raise
                ``ef`` for more recall, or build with ``quantized=False`` for
                scans that are always exact. With ``bitset``, ranges whose
                passing rows are few for the traversal (fewer than about ``ef
                * M / pass rate``) are scanned as well.
            max_links: neighbours gathered per expanded point (default 2 * M).

        Returns:
            ``(ids, distances, plans)``: int64 (nq, k) row ids nearest first,
            padded with -1; float32 (nq, k) distances padded with inf; and an
            array (nq,) of ``"range"``, ``"exact"``, ``"scan"`` (a scan on the
            codes, the best ef scored again exactly) or ``"empty"``.

        Example:
            >>> ids, distances, plans = graph.search(queries, 10, lo=20210101, hi=None)
        """
        k = as_count(k, "k", minimum=1)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        nq = q.shape[0]
        start, stop = self.positions(
            lo, hi, lo_inclusive=lo_inclusive, hi_inclusive=hi_inclusive, nq=nq
        )
        bitsets, query_filter = self._prepare_bitsets(bitset, nq)
        return self.search_positions(
            q,
            k,
            start,
            stop,
            ef=ef,
            bitsets=bitsets,
            query_filter=query_filter,
            threads=threads,
            exact_threshold=exact_threshold,
            max_links=max_links,
        )

    def search_positions(
        self,
        queries,
        k: int,
        start,
        stop,
        *,
        ef: int | None = None,
        bitsets: Sequence[np.ndarray] = (),
        query_filter: np.ndarray | None = None,
        threads: int = 0,
        exact_threshold: int | None = None,
        max_links: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`search` over sorted positions ``[start, stop)`` from :meth:`positions`.

        ``bitsets`` are packed predicates (``ceil(n / 64)`` uint64 words each)
        and ``query_filter`` gives each query's bitset (-1: none); the other
        arguments are those of :meth:`search`.

        Example:
            >>> start, stop = graph.positions(20210101, 20211231)
            >>> ids, distances, plans = graph.search_positions(queries, 10, start, stop)
        """
        k = as_count(k, "k", minimum=1)
        threads = as_count(threads, "threads", minimum=0)
        ef = as_count(ef, "ef", minimum=1, allow_none=True)
        ef = max(k, 64) if ef is None else max(ef, k)
        exact_threshold = as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True)
        max_links = as_count(max_links, "max_links", minimum=1, allow_none=True)
        max_links = 2 * self._params["M"] if max_links is None else max_links
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        check_result_count(q.shape[0], k, self.n)
        if self._metric == "cosine":
            q = _normalised(q, "queries")
        nq = q.shape[0]
        start = self._position_array(start, "start", nq)
        stop = self._position_array(stop, "stop", nq)
        if bitsets and query_filter is None:
            raise ValueError("bitsets need a query_filter")
        ids, distances, plans = self._engine.search(
            q,
            k,
            start,
            stop,
            ef,
            threads,
            list(bitsets),
            query_filter,
            exact_threshold,
            max_links,
            4,
        )
        return ids, distances, PLAN_NAMES[plans]

    def scan_threshold(self, ef: int, *, k: int = 1, exact_threshold: int | None = None) -> int:
        """Widest range (in rows) scanned rather than traversed at this ``ef``:
        ``exact_threshold`` when given, else where the planner's cost model
        says a scan reads no more than a traversal (``16 * ef`` float rows,
        about ``64 * ef`` rows of codes).

        Example:
            >>> graph.scan_threshold(64)  # 384-d rows on codes
            4053
        """
        ef = as_count(ef, "ef", minimum=1)
        k = as_count(k, "k", minimum=1)
        exact_threshold = as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True)
        return int(self._engine.scan_threshold(ef, k, exact_threshold))

    def plan_for(
        self,
        in_range: int,
        passing: int | None,
        ef: int,
        exact_threshold: int | None = None,
        *,
        k: int = 1,
    ) -> str:
        """The plan :meth:`search` picks for a range of ``in_range`` rows of which
        ``passing`` pass the predicate (``None``: no predicate). It is the
        engine's own choice; search estimates the passing rows from a sample of
        the range, so a query near a switch point may take the other plan.

        Example:
            >>> graph.plan_for(100_000, None, ef=64)
            'range'
        """
        in_range = as_count(in_range, "in_range", minimum=0, maximum=2**40)
        passing = as_count(passing, "passing", minimum=0, maximum=in_range, allow_none=True)
        exact_threshold = as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True)
        ef = as_count(ef, "ef", minimum=1)
        k = as_count(k, "k", minimum=1)
        return self._engine.plan_for(
            in_range, None if passing is None else float(passing), max(ef, k), k, exact_threshold
        )

    def _position_array(self, value, name: str, nq: int) -> np.ndarray:
        """``value`` as nq sorted positions in [0, n] (uint64), checked."""
        arr = np.asarray(value)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer positions, not {arr.dtype}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, nq)):
            raise ValueError(
                f"{name} must be one position or {nq} positions, got shape {arr.shape}"
            )
        if arr.size and (arr.min() < 0 or arr.max() > self.n):
            raise ValueError(f"{name} positions must lie in [0, {self.n}]")
        return np.ascontiguousarray(np.broadcast_to(arr.astype(np.uint64), nq))

    def _prepare_bitsets(self, bitset, nq: int) -> tuple[list[np.ndarray], np.ndarray | None]:
        if bitset is None:
            return [], None
        if isinstance(bitset, (list, tuple)):
            if len(bitset) != nq:
                raise ValueError(f"bitset list has {len(bitset)} entries for {nq} queries")
            distinct: list[np.ndarray] = []
            seen: dict[int, int] = {}
            query_filter = np.full(nq, -1, dtype=np.int32)
            for i, item in enumerate(bitset):
                if item is None:
                    continue
                key = id(item)
                if key not in seen:
                    seen[key] = len(distinct)
                    distinct.append(_pack_bitset(item, self.n, f"bitset[{i}]"))
                query_filter[i] = seen[key]
            return distinct, query_filter
        return [_pack_bitset(bitset, self.n, "bitset")], np.zeros(nq, dtype=np.int32)

    # ------------------------------------------------------------------- io
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(meta, sections)``: JSON-able parameters and named arrays.

        A graph that shares an index's vectors leaves them out (``meta
        ["shared_vectors"]``); :meth:`from_state` then needs them back.

        Example:
            >>> meta, sections = graph.state()
            >>> same = RangeGraph.from_state(meta, sections)
        """
        engine_state = self._engine.state()
        sections = {name: engine_state[name] for name in _SECTIONS}
        sections["keys"] = np.array(self._keys)
        if self._owns_rows:
            sections["vectors"] = np.array(self._rows)
        meta = {
            "shared_vectors": not self._owns_rows,
            "kind": STATE_KIND,
            "version": STATE_VERSION,
            "n": self.n,
            "size": len(self),
            "dim": self.dim,
            "metric": self._metric,
            "params": dict(self._params),
            "key_dtype": str(self._keys.dtype),
        }
        return meta, sections

    @classmethod
    def from_state(
        cls,
        meta: dict[str, Any],
        sections: dict[str, np.ndarray],
        *,
        vectors: np.ndarray | None = None,
    ) -> RangeGraph:
        """Rebuild a graph from :meth:`state` output; anything inconsistent raises ValueError.

        ``vectors`` gives back the (n, dim) float32 rows of a graph that shared
        an index's vectors (``meta["shared_vectors"]``); the graph keeps its
        own copy of them.

        Example:
            >>> graph = RangeGraph.from_state(*old.state())
        """
        return cls._restore(meta, sections, vectors, trusted=False)

    @classmethod
    def _restore(
        cls,
        meta: dict[str, Any],
        sections: dict[str, np.ndarray],
        vectors: np.ndarray | None,
        *,
        trusted: bool,
        store_from=None,
    ) -> RangeGraph:
        """:meth:`from_state`; with ``trusted`` (an index's own read-only,
        checked vectors) a shared graph reads ``vectors`` without a copy, and
        the encoding (codes or f16 rows) of ``store_from`` (that index's engine)
        when it keeps one."""
        try:
            if meta["kind"] != STATE_KIND:
                raise ValueError("kind")
            version = int(meta["version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt range graph state (meta: {exc})") from exc
        if version != STATE_VERSION:
            raise ValueError(
                f"range graph state version {version} cannot be read by this fanns (it reads "
                f"version {STATE_VERSION}); build the index again"
            )
        try:
            n, size, dim = int(meta["n"]), int(meta["size"]), int(meta["dim"])
            metric = meta["metric"]
            params = {
                key: int(meta["params"][key])
                for key in ("M", "ef_construction", "leaf_size", "seed")
            }
            # Codes are derived from the rows and rebuilt on load; states
            # written before they existed get the default.
            quantized = meta["params"].get("quantized", True)
            if not isinstance(quantized, bool):
                raise TypeError("quantized")
            params["quantized"] = quantized
            key_dtype = np.dtype(meta["key_dtype"])
            shared = meta["shared_vectors"]
            if not isinstance(shared, bool):
                raise TypeError("shared_vectors")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt range graph state (meta: {exc})") from exc
        if metric not in METRICS:
            raise ValueError(f"corrupt range graph state (metric {metric!r})")
        if key_dtype not in (np.dtype(np.int64), np.dtype(np.float64)):
            raise ValueError(f"corrupt range graph state (key dtype {key_dtype})")
        if not (0 <= size <= n <= _MAX_ROWS) or dim <= 0:
            raise ValueError("corrupt range graph state (sizes)")
        if not (2 <= params["M"] <= 1024) or params["ef_construction"] < 1:
            raise ValueError("corrupt range graph state (M or ef_construction)")
        if not (2 <= params["leaf_size"] <= 2**24) or params["seed"] < 0:
            raise ValueError("corrupt range graph state (leaf_size or seed)")
        arrays = {}
        for name, dtype in {**_SECTIONS, "keys": key_dtype.type}.items():
            if name not in sections:
                raise ValueError(f"corrupt range graph state (missing section {name!r})")
            array = sections[name]
            if not isinstance(array, np.ndarray) or array.dtype != np.dtype(dtype):
                raise ValueError(f"corrupt range graph state (section {name!r} has the wrong type)")
            arrays[name] = np.ascontiguousarray(array)
        if shared:
            if vectors is None:
                raise ValueError("this range graph shares its index's vectors: pass vectors=")
            rows = vectors
        else:
            rows = sections.get("vectors")
            if not isinstance(rows, np.ndarray) or rows.dtype != np.float32:
                raise ValueError("corrupt range graph state (missing or mistyped vectors)")
            if not np.isfinite(rows).all():
                raise ValueError("corrupt range graph state (non-finite vector value)")
        if (
            not isinstance(rows, np.ndarray)
            or rows.dtype != np.float32
            or rows.shape != (n, dim)
            or not rows.flags.c_contiguous
        ):
            raise ValueError("corrupt range graph state (vector block shape)")
        if shared and not trusted:
            if not np.isfinite(rows).all():
                raise ValueError("corrupt range graph state (non-finite vector value)")
            if metric == "cosine":
                rows = _normalised(rows, "vectors")
        owned = not (shared and trusted)
        if owned:
            rows = rows.copy()
            rows.flags.writeable = False
        if arrays["order"].shape != (size,) or arrays["keys"].shape != (size,):
            raise ValueError("corrupt range graph state (order or keys length)")
        if arrays["links"].ndim != 3 or arrays["links"].shape[0] != size:
            raise ValueError("corrupt range graph state (link block shape)")
        if arrays["links"].shape[2] != params["M"] + 1:
            raise ValueError("corrupt range graph state (link slot size)")
        keys, order = arrays["keys"], arrays["order"]
        if key_dtype == np.float64 and np.isnan(keys).any():
            raise ValueError("corrupt range graph state (NaN key)")
        if size > 1:
            step = np.diff(keys)
            ties = keys[1:] == keys[:-1]
            if (step < 0).any() or (order[1:][ties] <= order[:-1][ties]).any():
                raise ValueError("corrupt range graph state (keys not sorted by key and id)")
        engine = _core.RangeGraphIndex(
            dim, metric, params["M"], params["ef_construction"], params["leaf_size"], quantized
        )
        state = {name: arrays[name] for name in _SECTIONS}
        state["total_rows"] = n
        try:
            engine.restore(state, rows, store_from if trusted else None)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(str(exc)) from exc
        return cls._create(engine, keys.copy(), metric, params, rows, owned)
