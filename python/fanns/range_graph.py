"""Range-filtered k-NN: a segment tree of proximity graphs over an ordered key.

Rows are sorted by key (ties by row id); rows whose key is missing never match
a range. A query asks for the k nearest rows whose key lies between ``lo`` and
``hi`` (optionally also passing a bitset predicate over row ids) and is
answered by an improvised traversal of the range graph, or by a scan of the
range when that is cheaper. By default traversals and scans compare an
encoding of the rows (8-bit codes of its own, or the codes or f16 rows of
the index it belongs to), and only the best ``ef`` candidates are scored
again on the float rows, so every returned distance is exact. Distances follow the index conventions:
squared L2 for ``"l2"``, ``1 - <q, x>`` for ``"ip"`` and ``"cosine"``.
"""

from __future__ import annotations

import numbers

import numpy as np

from fanns import _core
from fanns._built import Built
from fanns._range_common import (  # noqa: F401 (fanns.range_graph.PLAN_NAMES, STATE_*)
    _MAX_ROWS,
    METRICS,
    PLAN_NAMES,
    STATE_KIND,
    STATE_VERSION,
    _normalised,
)
from fanns._range_files import RangeGraphFiles
from fanns._range_queries import RangeQueries
from fanns._validation import as_count, as_matrix


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


class RangeGraph(RangeQueries, RangeGraphFiles, Built):
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
        self._links_mapped = False  # links read in place from a mapped file (_restore)
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

    def route_shape(self) -> tuple[float, int, bool]:
        """What the planner weighs when it routes a range here
        (``route_to_range`` in ``cpp/planner.h``): the bytes a traversal or
        a scan reads per row (``4 * dim`` on float rows), ``M``, and whether
        it gathers the rows through its key order (the index's encoding, or
        float rows) rather than reading codes of its own in key order."""
        engine = self._engine
        gathers = bool(engine.shares_store) or engine.encoding == "f32"
        return float(engine.scanned_row_bytes), int(self._params["M"]), gathers

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
        vectors when the graph owns them (not when it shares an index's).
        Links read in place from a memory-mapped file are not counted."""
        own = int(self._rows.nbytes) if self._owns_rows else 0
        links = 0 if self._links_mapped else int(self._engine.borrowed_bytes())
        return int(self._engine.memory_bytes()) + int(self._keys.nbytes) + own + links

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
