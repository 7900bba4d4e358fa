"""Construction parameters of a dense index and its range graph. Part of
:class:`fanns.Index`."""

from __future__ import annotations

import numpy as np

from fanns._engine_file import METRICS, STORAGES
from fanns._validation import as_count
from fanns.attributes import AttributeStore
from fanns.range_graph import RangeGraph


def graph_params(metric, storage, M, ef_construction, seed, gamma, m_beta) -> dict:
    """Checked construction parameters of a graph (``Index.params``), M0 derived."""
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not isinstance(storage, str) or storage not in STORAGES:
        raise ValueError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
    M = as_count(M, "M", minimum=2, maximum=512)
    ef_construction = as_count(ef_construction, "ef_construction", minimum=1)
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
    return {
        "M": M,
        "M0": M0,
        "ef_construction": ef_construction,
        "seed": seed,
        "gamma": gamma,
        "m_beta": m_beta,
        "storage": storage,
    }


def _graph_params_of(build: dict, metric: str = "l2") -> dict:
    """``graph_params`` of the keyword arguments a mutable index builds segments with."""
    keys = ("storage", "M", "ef_construction", "seed", "gamma", "m_beta")
    return graph_params(metric, *(build[key] for key in keys))


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
    # The graph reads the index's own (read-only) vectors, and its encoding
    # (codes or f16 rows) when it keeps one: no second copy of either.
    return RangeGraph._build_over(
        engine.vectors(), keys, valid, metric, params, threads, owns_rows=False, store_from=engine
    )
