"""Range queries on a range graph: key bounds turned into sorted positions,
and batched k-NN search inside them. Part of
:class:`fanns.range_graph.RangeGraph`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from fanns._range_common import PLAN_NAMES, _normalised
from fanns.attributes import pack_mask
from fanns._validation import as_count, as_matrix, check_result_count


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
        return pack_mask(array)
    if array.dtype != np.uint64:
        raise TypeError(f"{what} must be uint64 words or a boolean mask, not {array.dtype}")
    if array.shape != (words,):
        raise ValueError(f"{what} must have shape ({words},) for {n} rows, got {array.shape}")
    if n % 64:
        tail = np.uint64((1 << (n % 64)) - 1)
        if array[-1] & ~tail:
            raise ValueError(f"{what} sets bits past the last row")
    return np.ascontiguousarray(array)


class RangeQueries:
    """The range and search methods of :class:`fanns.range_graph.RangeGraph`."""

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
