"""Fuzz target: search calls with arguments of every shape, type and value."""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from fanns.filters import compile_filter
from fuzz_common import (
    DIM,
    FILTER_ERRORS,
    SEARCH_ERRORS,
    Draw,
    N,
    _check_result,
    dense_index,
    sparse_index,
)
from fuzz_filters import random_tree, to_expr


# ------------------------------------------------------------ search calls
def _queries(d: Draw, dim: int):
    kind = d.below(14)
    nq = d.pick([1, 2, 5, 0])
    rng = np.random.default_rng(d.below(1000))
    good = rng.standard_normal((nq, dim))
    if kind < 5:
        return good.astype(d.pick([np.float32, np.float64, np.float16, np.int32, np.int8]))
    if kind == 5:
        return good[0].astype(np.float32) if nq else good.reshape(-1)  # one query as a vector
    if kind == 6:
        return rng.standard_normal((nq, d.pick([dim - 1, dim + 1, 0]))).astype(np.float32)
    if kind == 7:
        bad = good.astype(np.float32)
        if nq:
            bad[d.below(nq), d.below(dim)] = d.pick([np.nan, np.inf, -np.inf, 1e30, 3e38])
        return bad
    if kind == 8:
        return d.pick([None, "queries", b"\x00", 3.0, [[1, 2], [3]], [], {}, object()])
    if kind == 9:
        return good.astype(d.pick([np.bool_, np.complex64, object, "U3", np.uint64]))
    if kind == 10:
        return good.reshape(1, nq, dim).astype(np.float32)
    if kind == 11:
        return np.asfortranarray(rng.standard_normal((dim, max(nq, 1))).T.astype(np.float32))
    if kind == 12:
        return (good * d.pick([1e15, 1e18, 1e19, 1e-40])).astype(np.float32)
    return good.tolist()


def _number_arg(d: Draw, common: list):
    if d.chance(2):
        return d.pick(common)
    return d.pick(
        [
            0,
            -1,
            2**31,
            2**63,
            10**8,
            1.5,
            "5",
            None,
            True,
            np.int64(3),
            np.uint64(2**64 - 1),
            float("nan"),
        ]
    )


def _search_filter(d: Draw, nq: int):
    kind = d.below(8)
    if kind < 3:
        return to_expr(random_tree(d, depth=3)), True
    if kind == 3:
        return None, True
    if kind == 4:
        ids = [d.between(-2, N + 70) for _ in range(d.below(20))]
        return BitMap([i for i in ids if i >= 0]), True
    if kind == 5:
        return np.random.default_rng(d.below(100)).random(d.pick([N, N - 1, N + 64])) < 0.3, True
    if kind == 6:
        return [to_expr(random_tree(d, depth=4)) for _ in range(d.pick([nq, nq + 1, 1]))], True
    return d.pick(["filter", 3, np.arange(5), [None], object()]), True


def _passing(index, flt) -> set[int] | None:
    """Rows a single filter lets through (None when it varies per query)."""
    if flt is None:
        return None
    if isinstance(flt, BitMap):
        return set(flt)
    if isinstance(flt, np.ndarray) and flt.dtype == bool:
        return set(np.flatnonzero(flt).tolist())
    if isinstance(flt, list):
        return None
    return set(compile_filter(flt, index.attributes))


def search_target(data: bytes) -> None:
    d = Draw(data)
    sparse = d.chance(4)
    index = sparse_index() if sparse else dense_index()
    try:
        flt, _ = _search_filter(d, 2)
        if sparse:
            rng = np.random.default_rng(d.below(100))
            queries = d.pick(
                [
                    [{int(t): float(rng.uniform(0, 2)) for t in rng.choice(64, 4)}],
                    [{3: float("nan")}],
                    [{-1: 1.0}],
                    [{70: 1.0}],
                    [{1: 1e38, 2: 1e38}],
                    "q",
                    None,
                    [{}],
                    [{"a": 1}],
                ]
            )
            kwargs = {
                "k": _number_arg(d, [1, 5, 10, N + 5]),
                "filter": flt,
                "threads": _number_arg(d, [0, 1, 2]),
                "exact_threshold": _number_arg(d, [None, 0, 10**6]),
            }
            result = index.search(queries, **kwargs)
            values = result.scores
        else:
            queries = _queries(d, DIM)
            kwargs = {
                "k": _number_arg(d, [1, 5, 10, N, N + 5]),
                "ef": _number_arg(d, [None, 1, 16, 10**6]),
                "filter": flt,
                "threads": _number_arg(d, [0, 1, 2]),
                "exact_threshold": _number_arg(d, [None, 0, 10**6]),
            }
            result = index.search(queries, **kwargs)
            values = result.distances
    except SEARCH_ERRORS:
        return
    k = kwargs["k"]
    if result.ids.shape[1] != int(k):
        raise AssertionError(f"asked for k={k!r}, got shape {result.ids.shape}")
    passing = None
    try:
        passing = _passing(index, flt)
    except FILTER_ERRORS:
        pass
    if passing is not None:
        passing &= set(range(N))
    _check_result(result.ids, values, passing, N)
