"""Graph search at a realistic size: the real 50k x 384 arXiv sample, where
traversal (not the exact fallback) answers the queries, checked against
brute force with the plan each query actually took."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fanns
from fanns.datasets import read_fvecs
from oracle import recall

K = 10
NQ = 100

# Builds a 50k-row graph (about 30-60 s on 2 cores); run in CI all the same.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big(arxiv_mini_dir):
    data = read_fvecs(os.path.join(arxiv_mini_dir, "database_vectors.fvecs"))
    queries = read_fvecs(os.path.join(arxiv_mini_dir, "query_vectors.fvecs"), count=NQ)
    assert data.shape[0] >= 50_000 and data.shape[1] >= 384
    u = np.random.default_rng(0).random(data.shape[0])
    index = fanns.Index.build(
        data, attributes={"u": u}, metric="cosine", M=16, ef_construction=40, threads=2
    )
    return index, np.asarray(data), np.asarray(queries), u


def _truth(data, queries, mask):
    scores = queries @ data.T
    scores[:, ~mask] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [row[np.isfinite(scores[i, row])] for i, row in enumerate(order)]


@pytest.mark.parametrize(
    ("plan", "cut", "exact_threshold"),
    [
        ("graph", None, None),  # no filter
        ("filtered", 0.6, None),  # 30k pass: above the default exact threshold
        ("acorn", 0.08, 1000),  # 4k pass: two-hop traversal from the start
    ],
)
def test_traversal_plans_at_50k_by_384(big, plan, cut, exact_threshold):
    index, data, queries, u = big
    mask = np.ones(len(u), bool) if cut is None else u < cut
    flt = None if cut is None else fanns.field("u") < cut
    # Each query planned as if alone: a batch sharing the filter would scan
    # these 30k rows on codes (Planner.group_scans), not traverse them.
    planner = fanns.Planner(group_scans=False)
    explained = index.explain(
        flt, k=K, ef=96, exact_threshold=exact_threshold, queries=len(queries), planner=planner
    )
    assert explained["plan"] == plan
    result = index.search(
        queries, k=K, ef=96, filter=flt, exact_threshold=exact_threshold, threads=2, planner=planner
    )
    took = result.plans == plan
    # Traversal answered (nearly) every query; the rest fell back to an exact scan.
    assert took.mean() >= 0.9, dict(zip(*np.unique(result.plans, return_counts=True)))
    assert set(result.plans[~took]) <= {"exact"}
    found = result.ids
    assert mask[found[found >= 0]].all()
    truth = _truth(data, queries, mask)
    assert recall(found[took], [t for t, ok in zip(truth, took) if ok]) >= 0.9
    # Distances are the engine's 1 - cosine of the returned rows.
    rows = np.where(found >= 0, found, 0)
    expected = 1.0 - np.einsum("qd,qkd->qk", queries, data[rows])
    np.testing.assert_allclose(result.distances[found >= 0], expected[found >= 0], atol=2e-5)
