"""A range graph's state: its arrays and parameters, for saving beside an
index or alone, and checked on the way back. Part of
:class:`fanns.range_graph.RangeGraph`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fanns import _core
from fanns._range_common import _MAX_ROWS, _SECTIONS, METRICS, STATE_KIND, STATE_VERSION, _normalised

if TYPE_CHECKING:
    from fanns.range_graph import RangeGraph


class RangeGraphFiles:
    """The state methods of :class:`fanns.range_graph.RangeGraph`."""

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
        borrow_links: bool = False,
        check_links: bool = True,
        links_mapped: bool = False,
    ) -> RangeGraph:
        """:meth:`from_state`; with ``trusted`` (an index's own read-only,
        checked vectors) a shared graph reads ``vectors`` without a copy, and
        the encoding (codes or f16 rows) of ``store_from`` (that index's engine)
        when it keeps one. ``borrow_links``: the links are read in place (a
        file's sections, which nothing changes; a mapped file's stay mapped)
        instead of copied; ``check_links`` False (with ``borrow_links``)
        trusts them without reading them (a traversal keeps every link it
        follows inside its range); ``links_mapped``: they are a memory-mapped
        file's, which :meth:`memory_bytes` does not count."""
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
            # an index's own rows may be strided (read in place from a .fvecs map)
            or not (shared or rows.flags.c_contiguous)
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
            # Sorted by (key, row id): elementwise, no selection (a load stays a few passes).
            before, after = keys[:-1], keys[1:]
            unsorted = (after < before) | ((after == before) & (order[1:] <= order[:-1]))
            if unsorted.any():
                raise ValueError("corrupt range graph state (keys not sorted by key and id)")
        engine = _core.RangeGraphIndex(
            dim, metric, params["M"], params["ef_construction"], params["leaf_size"], quantized
        )
        state = {name: arrays[name] for name in _SECTIONS}
        state["total_rows"] = n
        try:
            engine.restore(
                state,
                rows,
                store_from if trusted else None,
                borrow_links=borrow_links,
                check_links=check_links,
            )
        except (ValueError, RuntimeError) as exc:
            raise ValueError(str(exc)) from exc
        graph = cls._create(engine, keys.copy(), metric, params, rows, owned)
        graph._links_mapped = borrow_links and links_mapped
        return graph
