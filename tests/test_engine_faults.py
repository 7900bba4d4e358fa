"""Faults the engine must not have: overflowing input, unclamped k/ef, bad
planner parameters, stray filter bits, the level generator's portability."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import _core

MASK64 = (1 << 64) - 1


def splitmix64(seed: int):
    """The generator of cpp/random.h, step by step."""
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def expected_levels(n: int, M: int, seed: int, max_level: int = 30) -> np.ndarray:
    """Levels as documented: successive draws below(M) (multiply-shift) equal to 0."""
    draws = splitmix64(seed)
    levels = np.zeros(n, dtype=np.uint8)
    for i in range(n):
        level = 0
        while level < max_level and (next(draws) * M) >> 64 == 0:
            level += 1
        levels[i] = level
    return levels


@pytest.mark.parametrize(("M", "seed"), [(4, 0), (16, 12345), (5, 2**63 - 1)])
def test_levels_for_a_seed_are_fixed(M, seed):
    n = 3000
    x = np.random.default_rng(1).standard_normal((n, 8)).astype(np.float32)
    index = fanns.Index.build(x, M=M, seed=seed, threads=1, ef_construction=16)
    levels = index._engine.state()["levels"]
    want = expected_levels(n, M, seed)
    np.testing.assert_array_equal(levels, want)
    assert want.max() >= 1  # the comparison covers upper levels too


# ------------------------------------------------------------- overflow
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_overflowing_rows_are_rejected_at_build(metric):
    x = np.random.default_rng(2).standard_normal((200, 16)).astype(np.float32)
    x[37] *= np.float32(1e19)  # finite, but products overflow float32
    with pytest.raises(ValueError, match="row 37"):
        fanns.Index.build(x, metric=metric, threads=1)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_overflowing_queries_are_rejected(metric):
    x = np.random.default_rng(3).standard_normal((300, 16)).astype(np.float32)
    index = fanns.Index.build(x, metric=metric, threads=1, attributes={"a": np.arange(300)})
    q = x[:4].copy()
    q[2] *= np.float32(1e19)
    for flt in (None, fanns.field("a") < 150, fanns.field("a") < 10):
        with pytest.raises(ValueError, match="row 2"):
            index.search(q, k=5, filter=flt)
    # The index still answers ordinary queries, and they are finite.
    result = index.search(x[:4], k=5)
    assert np.isfinite(result.distances).all()


def test_large_but_safe_ip_values_give_finite_distances():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((500, 8)) * 1e17).astype(np.float32)
    index = fanns.Index.build(x, metric="ip", threads=1)
    result = index.search(x[:10], k=10, ef=500)
    assert np.isfinite(result.distances).all()
    exact = 1.0 - x[:10].astype(np.float64) @ x.T.astype(np.float64)
    np.testing.assert_array_equal(result.ids[:, 0], np.argmin(exact, axis=1))


def test_candidate_order_is_total_with_nan():
    rng = np.random.default_rng(5)
    d = rng.choice(np.array([0.5, 1.0, np.nan, -np.inf, np.inf, 0.5], dtype=np.float32), 400)
    ids = rng.permutation(400).astype(np.uint32)
    order = _core._rank_candidates(d, ids)
    # NaN after every number; ties (and NaNs among themselves) by id.
    key = sorted(
        range(400), key=lambda i: (bool(np.isnan(d[i])), 0.0 if np.isnan(d[i]) else d[i], ids[i])
    )
    assert order.tolist() == key


# ------------------------------------------------------------- k and ef
def test_k_above_n_is_padded_and_absurd_k_rejected():
    x = np.random.default_rng(6).standard_normal((50, 8)).astype(np.float32)
    index = fanns.Index.build(x, threads=1, attributes={"a": np.arange(50)})
    for flt in (None, fanns.field("a") < 25):
        result = index.search(x[:3], k=400, ef=10**6, filter=flt)
        assert result.ids.shape == (3, 400)
        passing = 50 if flt is None else 25
        assert (result.ids[:, :passing] >= 0).all() and (result.ids[:, passing:] == -1).all()
        assert np.isinf(result.distances[:, passing:]).all()
    with pytest.raises(ValueError, match="more results than"):
        index.search(x[:1], k=10**8)
    with pytest.raises(ValueError, match="more results than"):
        index._engine.search(x[:1], 10**8, 64, 1, [], [], None, {})


def test_engine_clamps_ef_to_n():
    # ef far above n must not size a heap by ef (the call would exhaust memory).
    x = np.random.default_rng(7).standard_normal((64, 8)).astype(np.float32)
    index = fanns.Index.build(x, threads=1)
    ids, dists, _ = index._engine.search(x[:2], 5, 2**62, 1, [], [], None, {})
    brute = ((x[:2, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, np.argsort(brute, axis=1, kind="stable")[:, :5])


# ------------------------------------------------------- planner parameters
@pytest.mark.parametrize(
    "planner",
    [
        {"max_collect": 5000},
        {"budget_factor": -1.0},
        {"budget_factor": float("nan")},
        {"switch_pass_rate": float("nan")},
        {"two_hop_selectivity": 2.0},
        {"min_two_hop_degree": float("inf")},
    ],
)
def test_engine_rejects_bad_planner_parameters(planner):
    x = np.random.default_rng(8).standard_normal((3000, 8)).astype(np.float32)
    index = fanns.Index.build(x, M=32, threads=1, ef_construction=32)
    mask = np.arange(3000) % 7 == 0
    planner = {"exact_threshold": 0, "two_hop_selectivity": 1.0, **planner}
    with pytest.raises(ValueError, match="planner parameter"):
        index._engine.search(
            x[:4], 10, 64, 1, [_words(mask)], [int(mask.sum())], np.zeros(4, np.int32), planner
        )


def test_large_max_collect_within_bounds_is_correct():
    n = 3000
    x = np.random.default_rng(9).standard_normal((n, 8)).astype(np.float32)
    index = fanns.Index.build(x, M=32, threads=1, ef_construction=32)
    mask = np.arange(n) % 3 == 0
    words = _words(mask)
    planner = {"exact_threshold": 0, "two_hop_selectivity": 1.0, "max_collect": 2048}
    ids, _, plans = index._engine.search(
        x[:8], 10, 64, 1, [words], [int(mask.sum())], np.zeros(8, np.int32), planner
    )
    assert mask[ids].all()
    assert set(_core.PLAN_NAMES[p] for p in plans) <= {"acorn", "exact"}


# ------------------------------------------------------------ filter bits
def _words(mask: np.ndarray) -> np.ndarray:
    n = len(mask)
    out = np.zeros(-(-n // 64) * 8, dtype=np.uint8)
    packed = np.packbits(mask, bitorder="little")
    out[: len(packed)] = packed
    return out.view("<u8")


def test_bits_past_n_are_rejected_and_counts_recounted():
    n = 1000  # not a multiple of 64: the last word has padding bits
    x = np.random.default_rng(10).standard_normal((n, 8)).astype(np.float32)
    index = fanns.Index.build(x, threads=1)
    mask = np.zeros(n, dtype=bool)
    mask[[3, 500, 999]] = True
    words = _words(mask)
    bad = words.copy()
    bad[-1] |= np.uint64(1) << np.uint64(63)
    with pytest.raises(ValueError, match="past the last row"):
        index._engine.search(x[:2], 5, 64, 1, [bad], [4], np.zeros(2, np.int32), {})
    # A wrong count must not change the answer: the engine counts the bits.
    for count in (0, 3, n):
        ids, _, _ = index._engine.search(
            x[:2], 5, 64, 1, [words], [count], np.zeros(2, np.int32), {}
        )
        assert sorted(ids[0][:3].tolist()) == [3, 500, 999]
        assert (ids[:, 3:] == -1).all()


def test_sparse_search_pads_large_k_and_recounts_filters():
    docs = [{i % 7: 1.0 + i % 3, 7 + i % 5: 0.5} for i in range(40)]
    index = fanns.SparseIndex.build(docs, attributes={"a": list(range(40))}, threads=1)
    result = index.search([{1: 1.0, 8: 1.0}], k=100, filter=fanns.field("a") < 12)
    assert result.ids.shape == (1, 100)
    assert set(result.ids[0][result.ids[0] >= 0].tolist()) <= set(range(12))
    assert (result.ids[0][12:] == -1).all()
    with pytest.raises(ValueError, match="more results than"):
        index.search([{1: 1.0}], k=10**8)
