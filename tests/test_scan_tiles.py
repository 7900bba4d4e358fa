"""The code scan in tiles: queries sharing a filter score each passing row together.

A batch whose queries share a filter is scanned a group at a time, every row
read once for the group (tiles of rows by queries). Each query must get what
it gets alone (same ids, same distances, bit for bit), and the answer must be
brute force's when the rows kept for rescoring hold the true neighbours;
rows outside the codes' bounds (scored on their float rows) and tied rows
included. Group sizes cover whole tiles of four queries and the queries
left over, and a dimension with a tail past the kernels' widest step.
"""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from oracle import clustered_with_queries, exact_distances, exact_knn, scans_on_codes

N = 1500
NQ = 21  # a group of 16 and one of 5: whole tiles and one query over


def _data(dim: int):
    base, queries, _, _ = clustered_with_queries(N, NQ, dim, seed=dim)
    # Far outside the codes' bounds: scored on its float row. (One: the
    # bounds are quantiles that give way to one row in a thousand.)
    base[5] *= 300.0
    base[901] = base[900]  # a tie, broken by the smaller id
    queries[3] = base[5] * 1.001  # a query whose nearest row is an outlier
    return base, queries


def _mask(seed: int, fraction: float) -> np.ndarray:
    mask = np.random.default_rng(seed).random(N) < fraction
    mask[[5, 900, 901]] = True
    return mask


@pytest.fixture(
    scope="module",
    params=[(100, "l2"), (100, "cosine"), (384, "ip"), (384, "l2")],
    ids=lambda p: f"d{p[0]}-{p[1]}",
)
def world(request):
    dim, metric = request.param
    base, queries = _data(dim)
    index = fanns.Index.build(base, metric=metric, M=8, ef_construction=64, seed=1, threads=1)
    return index, base, queries


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.95])
def test_a_group_answers_as_each_query_alone(world, fraction):
    index, base, queries = world
    mask = _mask(7, fraction)
    # (else the planner scans float rows)
    assert scans_on_codes(int(mask.sum()), 20, base.shape[1])
    together = index.search(queries, 10, ef=20, filter=mask, exact_threshold=N, threads=2)
    assert set(together.plans) == {"scan"}
    for i in range(NQ):
        alone = index.search(
            queries[i : i + 1], 10, ef=20, filter=mask, exact_threshold=N, threads=1
        )
        assert alone.plans[0] == "scan"
        np.testing.assert_array_equal(alone.ids[0], together.ids[i])
        np.testing.assert_array_equal(alone.distances[0], together.distances[i])


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_a_group_scan_equals_brute_force(world, fraction):
    index, base, queries = world
    mask = _mask(11, fraction)
    passing = int(mask.sum())
    # An eighth of the passing rows are rescored: the true ten are among them.
    ef = max(20, passing // 8)
    assert scans_on_codes(passing, ef, base.shape[1])
    result = index.search(queries, 10, ef=ef, filter=mask, exact_threshold=N)
    assert set(result.plans) == {"scan"}
    truth = exact_knn(queries, base, 10, index.metric, mask)
    exact = exact_distances(queries, base, index.metric)
    for i in range(NQ):
        np.testing.assert_array_equal(result.ids[i], truth[i])
        np.testing.assert_allclose(result.distances[i], exact[i, truth[i]], rtol=1e-4, atol=1e-3)
    assert result.ids[3, 0] == 5  # the outlier, found through its float row


def test_a_batch_sharing_a_filter_scans_where_a_query_alone_traverses():
    # A group reads each passing row once for all its queries, so the
    # planner scans more passing rows for a batch than for a query alone.
    base, queries, _, _ = clustered_with_queries(3000, 16, 32, seed=5)
    u = np.random.default_rng(6).random(len(base))
    index = fanns.Index.build(base, attributes={"u": u}, M=8, ef_construction=64, seed=1, threads=1)
    flt = fanns.field("u") < 0.5
    mask = u < 0.5
    alone = index.explain(flt, k=10, ef=10)
    batch = index.explain(flt, k=10, ef=10, queries=len(queries))
    assert alone["exact_threshold"] < alone["passing"] < batch["exact_threshold"]
    assert alone["plan"] in {"filtered", "acorn"} and batch["plan"] == "scan"
    together = index.search(queries, 10, ef=10, filter=flt)
    assert set(together.plans) == {"scan"}
    one = index.search(queries[:1], 10, ef=10, filter=flt)
    assert one.plans[0] in {"filtered", "acorn", "exact"}
    truth = exact_knn(queries, base, 10, "l2", mask)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(together.ids, truth)]) >= 0.95
    with pytest.raises(ValueError, match="queries"):
        index.explain(flt, queries=0)
    # Planned as if alone on request.
    alone_planner = fanns.Planner(group_scans=False)
    assert index.explain(flt, k=10, ef=10, queries=16, planner=alone_planner) == alone
    with pytest.raises(TypeError, match="group_scans"):
        fanns.Planner(group_scans=1)


def test_f16_and_float_scans_get_no_group_discount():
    # Only scans on 8-bit codes read a row once for a group.
    base, queries, _, _ = clustered_with_queries(3000, 16, 32, seed=5)
    u = np.random.default_rng(6).random(len(base))
    for storage in ("f16", "f32"):
        index = fanns.Index.build(
            base, attributes={"u": u}, M=8, ef_construction=64, seed=1, threads=1, storage=storage
        )
        flt = fanns.field("u") < 0.5
        alone = index.explain(flt, k=10, ef=10)
        assert index.explain(flt, k=10, ef=10, queries=16) == alone


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("dim", [100, 384])
def test_an_exact_group_answers_as_each_query_alone_and_as_brute_force(metric, dim):
    # Float rows only (storage="f32"): a group sharing a filter is scanned
    # exactly with the float tile kernel (four queries per row read), a
    # query alone with the pair kernel; ids and distances must agree bit
    # for bit, and with brute force.
    base, queries = _data(dim)
    index = fanns.Index.build(
        base, metric=metric, M=8, ef_construction=64, seed=1, threads=1, storage="f32"
    )
    mask = _mask(13, 0.2)
    together = index.search(queries, 10, ef=20, filter=mask, exact_threshold=N, threads=2)
    assert set(together.plans) == {"exact"}
    truth = exact_knn(queries, base, 10, index.metric, mask)
    exact = exact_distances(queries, base, index.metric)
    for i in range(NQ):
        alone = index.search(
            queries[i : i + 1], 10, ef=20, filter=mask, exact_threshold=N, threads=1
        )
        assert alone.plans[0] == "exact"
        np.testing.assert_array_equal(alone.ids[0], together.ids[i])
        np.testing.assert_array_equal(alone.distances[0], together.distances[i])
        np.testing.assert_array_equal(together.ids[i], truth[i])
        np.testing.assert_allclose(together.distances[i], exact[i, truth[i]], rtol=1e-4, atol=1e-3)
