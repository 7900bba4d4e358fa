"""A short, seeded run of every fuzz target (tests/fuzz_targets.py).

The long coverage-guided run is tests/fuzz/run.sh (atheris); this drives the
same targets with seeded random bytes, so a failure here reproduces exactly.
"""

from __future__ import annotations

import random

import pytest

from fuzz_targets import TARGETS

# Iterations per target: together well under a minute on one core.
RUNS = {
    "filter": 1000,
    "search": 1500,
    "load_dense": 400,
    "load_sparse": 400,
    "load_segmented": 150,
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_short_run(name):
    target = TARGETS[name]
    rng = random.Random(f"fanns-{name}")
    for i in range(RUNS[name]):
        data = rng.randbytes(rng.choice([8, 32, 128, 512, 2048]))
        try:
            target(data)
        except Exception as exc:
            raise AssertionError(f"{name} input {i} ({data.hex()}) failed: {exc!r}") from exc
