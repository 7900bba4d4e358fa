"""The scan's selection of the rows to rescore, checked through the scan plan:
what it keeps must be what brute force ranks first (ties by smaller id, rows
with one distance tied whatever the sign), at the smallest depths (k = 1:
two rows kept) and the largest, with distances that are negative (ip) and
positive, for a group of queries sharing a filter and for a query alone, on
codes and on f16 rows."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from oracle import clustered_with_queries, exact_distances, exact_knn, scans_on_codes

N, DIM, NQ = 4000, 64, 6


@pytest.fixture(
    scope="module",
    params=[("sq8", "ip"), ("sq8", "l2"), ("f16", "ip"), ("f16", "cosine")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def world(request):
    storage, metric = request.param
    base, queries, _, _ = clustered_with_queries(N, NQ, DIM, seed=4)
    if metric == "ip":
        base *= np.float32(2.0)  # ip distances 1 - <q, x> well below zero
    base[300:360] = base[300]  # sixty rows with one distance to every query
    base[1500:1504] = base[11]
    queries[0] = base[300]
    queries[1] = base[11]
    index = fanns.Index.build(
        base, metric=metric, M=8, ef_construction=40, seed=1, threads=1, storage=storage
    )
    mask = np.random.default_rng(5).random(N) < 0.4
    mask[[11, 300, 301, 330, 359, 1500, 1503]] = True
    return index, base, queries, mask, storage, metric


@pytest.mark.parametrize("k", [1, 2, 10, 100])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_scan_keeps_what_brute_force_ranks_first(world, k, threads):
    index, base, queries, mask, storage, metric = world
    passing = int(mask.sum())
    ef = max(2 * k, passing // 8)  # the true k are among the rows rescored
    assert scans_on_codes(passing, ef, DIM, storage)
    together = index.search(queries, k, ef=ef, filter=mask, exact_threshold=N + 1, threads=threads)
    assert set(together.plans.tolist()) == {"scan"}
    truth = exact_knn(queries, base, k, metric, mask)
    exact = exact_distances(queries, base, metric)
    if metric == "ip":
        assert (exact[0, truth[0]] < 0).all()
    for i in range(NQ):
        np.testing.assert_array_equal(together.ids[i], truth[i])
        np.testing.assert_allclose(together.distances[i], exact[i, truth[i]], rtol=1e-4, atol=1e-3)
        alone = index.search(
            queries[i : i + 1], k, ef=ef, filter=mask, exact_threshold=N + 1, threads=1
        )
        assert alone.plans[0] == "scan"
        np.testing.assert_array_equal(alone.ids[0], together.ids[i])
        np.testing.assert_array_equal(alone.distances[0], together.distances[i])
    if metric != "ip":  # query 0 is the tied row: the sixty rows lead its answer, by smaller id
        tied = np.flatnonzero(mask[300:360]) + 300
        np.testing.assert_array_equal(
            together.ids[0, : min(k, len(tied))], tied[: min(k, len(tied))]
        )


@pytest.mark.parametrize("ef", [1, 3, 17, 64])
def test_small_depths_keep_the_tied_rows_by_smaller_id(world, ef):
    # depth max(ef, 2k): 2 rows kept for k = 1, ef = 1; the answer is the
    # smallest passing id of the sixty tied rows, whatever order they are scanned.
    index, base, queries, mask, storage, metric = world
    result = index.search(queries[:1], 1, ef=ef, filter=mask, exact_threshold=N + 1, threads=1)
    assert result.plans[0] == "scan"
    truth = exact_knn(queries[:1], base, 1, metric, mask)
    assert result.ids[0, 0] == truth[0][0]
    if metric != "ip":
        assert result.ids[0, 0] == np.flatnonzero(mask[300:360])[0] + 300
