"""The NumPy pre-filter peer breaks ties at the k-th place by id, as the exact peer does.

Its docstring and test_prefilter_peer_equals_the_exact_peer promise the exact
peer's answer (ties by id); a row duplicating the k-th nearest must therefore
lose to it when its id is larger, whatever order argpartition leaves them in.
"""

from __future__ import annotations

import numpy as np
import pytest

from fanns.bench.methods import BuildParams, get_method
from fanns.bench.workloads import QueryFilters


def _tied_at_k(seed: int, k: int, metric: str):
    rng = np.random.default_rng(seed)
    n, dim = 50, 4
    x = rng.standard_normal((n, dim)).astype(np.float32)
    q = rng.standard_normal((1, dim)).astype(np.float32)
    score = ((x - q) ** 2).sum(1) if metric == "l2" else -(x @ q[0])
    order = np.argsort(score, kind="stable")
    x[order[k]] = x[order[k - 1]]  # a second row at the k-th place
    # The answer with ties by id, in float64.
    x64, q64 = x.astype(np.float64), q[0].astype(np.float64)
    exact = ((x64 - q64) ** 2).sum(1) if metric == "l2" else -(x64 @ q64)
    ids = np.arange(n)
    want = ids[np.lexsort((ids, exact))][:k]
    return x, q, want


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("filtered", [False, True])
def test_prefilter_peer_keeps_the_smaller_id_of_rows_tied_at_k(metric, filtered):
    k = 3
    for seed in range(12):
        x, q, want = _tied_at_k(seed, k, metric)
        n = len(x)
        filters = (
            QueryFilters(n, 1, shared_mask=np.ones(n, bool)) if filtered else QueryFilters(n, 1)
        )
        for name in ("bruteforce", "prefilter"):
            m = get_method(name)
            m.build(x, None, metric, BuildParams())
            got = m.search(q, k, None, filters)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"{name}, seed {seed}")
