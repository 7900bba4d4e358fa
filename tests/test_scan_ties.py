"""Ties at the scan's depth boundary: the code scan keeps scan_depth() rows to
rescore, and rows tied on their codes must be kept by smaller id (as brute
force ranks them), alone and in a group; and with ``group_scans=False`` a
query's answer does not depend on the other queries of its batch."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from oracle import clustered_with_queries, exact_knn, scans_on_codes

N, DIM, DUPS = 600, 16, 100


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("nq", [1, 5, 16])
def test_rows_tied_past_the_scan_depth_are_kept_by_smaller_id(metric, nq):
    base = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
    base[200 : 200 + DUPS] = base[200]  # a hundred rows with one code and one distance
    queries = np.repeat(base[200:201], nq, axis=0)
    index = fanns.Index.build(base, metric=metric, M=8, ef_construction=40, seed=1, threads=1)
    mask = np.ones(N, bool)
    mask[0] = False  # filtered, everything else passing
    assert scans_on_codes(int(mask.sum()), 20, DIM)
    result = index.search(queries, 10, ef=20, filter=mask, exact_threshold=N, threads=1)
    assert set(result.plans.tolist()) == {"scan"}
    truth = exact_knn(queries, base, 10, metric, mask)  # ties by smaller id
    assert (truth == np.arange(200, 210)).all()  # the query is the tied row: a tie past the depth
    np.testing.assert_array_equal(result.ids, truth)


def test_without_group_scans_a_query_answers_the_same_alone_and_in_a_batch():
    # The default planner scans a filter shared by a batch where it traverses
    # for a query alone (tests/test_scan_tiles.py); group_scans=False plans
    # every query as if alone.
    base, queries, _, _ = clustered_with_queries(3000, 16, 32, seed=5)
    u = np.random.default_rng(6).random(len(base))
    index = fanns.Index.build(base, attributes={"u": u}, M=8, ef_construction=64, seed=1, threads=1)
    flt = fanns.field("u") < 0.5
    alone_planner = fanns.Planner(group_scans=False)
    assert index.search(queries, 10, ef=10, filter=flt).plans[0] == "scan"
    batch = index.search(queries, 10, ef=10, filter=flt, planner=alone_planner)
    assert batch.plans[0] != "scan"
    for i in range(len(queries)):
        alone = index.search(queries[i : i + 1], 10, ef=10, filter=flt, planner=alone_planner)
        assert alone.plans[0] == batch.plans[i]
        np.testing.assert_array_equal(alone.ids[0], batch.ids[i])
        np.testing.assert_array_equal(alone.distances[0], batch.distances[i])
