"""Faults the engine must not have: overflowing input, unclamped k/ef, bad
planner parameters, stray filter bits, the level generator's portability."""

from __future__ import annotations

import numpy as np
import pytest

import fanns

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

