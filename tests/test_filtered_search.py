"""Filtered search against exact brute force over the passing rows.

Every filter kind, selectivities from all-passing to empty, filters
uncorrelated, correlated and anti-correlated with the queries' neighbourhoods.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

import fanns
from fanns import field
from oracle import clustered_with_queries, exact_distances, exact_knn, recall, scans_on_codes

N, NQ, DIM, TAGS = 6000, 40, 16, 30


@pytest.fixture(scope="module", params=["sq8", "f32"])
def world(request):
    data, queries, labels, qlabels = clustered_with_queries(N, NQ, DIM, seed=21)
    rng = np.random.default_rng(5)
    u = rng.random(N)
    tags = [
        sorted({f"t{x}" for x in rng.integers(0, TAGS, size=rng.integers(1, 4))}) for _ in range(N)
    ]
    year = rng.integers(1990, 2026, size=N)
    attributes = {
        "cluster": [f"c{x}" for x in labels],
        "u": u,
        "tags": tags,
        "year": year,
    }
    index = fanns.Index.build(data, attributes=attributes, seed=1, storage=request.param)
    columns = {
        "cluster": np.array(attributes["cluster"]),
        "u": u,
        "year": year,
        "tags": tags,
    }
    return index, data, queries, qlabels, columns


def check(index, data, queries, flt, masks, *, k=10, min_recall=0.95, **kwargs):
    """Search with `flt`; compare with brute force over `masks` (one mask or a list per query)."""
    result = index.search(queries, k=k, filter=flt, **kwargs)
    truth = exact_knn(queries, data, k, index.metric, masks)
    exact = exact_distances(queries, data, index.metric)
    for i in range(len(queries)):
        mask = masks[i] if isinstance(masks, list) else masks
        ids = result.ids[i]
        found = ids[ids >= 0]
        assert mask[found].all(), "a returned id fails its filter"
        assert len(found) == min(k, int(mask.sum())), "fewer results than passing rows allow"
        assert len(set(found.tolist())) == len(found)
        np.testing.assert_allclose(
            result.distances[i, : len(found)], exact[i, found], rtol=1e-4, atol=1e-4
        )
        assert np.isinf(result.distances[i, len(found) :]).all()
        if result.plans[i] == "exact":
            assert found.tolist() == truth[i].tolist()
        if result.plans[i] == "empty":
            assert len(found) == 0
    assert recall(result.ids, truth) >= min_recall
    return result


SELECTIVITIES = [1.0, 0.5, 0.1, 0.01, 0.001, 0.0]

# At N = 6000 the default exact_threshold (4 * ef * M0 = 8192) is above n:
# every filtered query is scanned exactly. exact_threshold=10 sends the same
# filters to the traversal plans instead; the tests assert which they got.
TRAVERSAL = {"filtered", "acorn"}


def assert_plans(index, result, masks, exact_threshold):
    """Each query's plan is one its filter allows: empty when nothing passes,
    graph when everything does, a scan under the default threshold (on codes,
    rescoring the best max(ef, 2k) = 64, when the index keeps codes and that
    reads fewer bytes than an exact scan; else exact)."""
    for i, plan in enumerate(result.plans.tolist()):
        mask = masks[i] if isinstance(masks, list) else masks
        passing = int(mask.sum())
        scan = "scan" if index.storage == "sq8" and scans_on_codes(passing, 64, DIM) else "exact"
        if passing == 0:
            assert plan == "empty"
        elif passing == N:
            assert plan == "graph"
        elif exact_threshold is None:
            assert plan == scan
        else:
            assert plan in TRAVERSAL | {"exact", scan}


@pytest.mark.parametrize("selectivity", SELECTIVITIES)
@pytest.mark.parametrize("exact_threshold", [None, 10])
def test_uncorrelated_range_at_every_selectivity(world, selectivity, exact_threshold):
    index, data, queries, _, cols = world
    flt = field("u") < selectivity if selectivity < 1 else field("u") >= 0.0
    result = check(
        index,
        data,
        queries,
        flt,
        cols["u"] < selectivity if selectivity < 1 else cols["u"] >= 0,
        exact_threshold=exact_threshold,
    )
    assert_plans(
        index,
        result, cols["u"] < selectivity if selectivity < 1 else cols["u"] >= 0, exact_threshold
    )
    if selectivity == 0.0:
        assert (result.ids == -1).all() and set(result.plans) == {"empty"}
    if selectivity == 1.0:
        assert set(result.plans) == {"graph"}
    if exact_threshold == 10 and selectivity in (0.5, 0.1):
        # Most queries are answered by traversal, not by its exact fallback.
        assert np.isin(result.plans, list(TRAVERSAL)).mean() >= 0.5


@pytest.mark.parametrize("exact_threshold", [None, 10])
def test_correlated_per_query_filters(world, exact_threshold):
    index, data, queries, qlabels, cols = world
    filters = [field("cluster") == f"c{c}" for c in qlabels]
    masks = [cols["cluster"] == f"c{c}" for c in qlabels]
    result = check(index, data, queries, filters, masks, exact_threshold=exact_threshold)
    assert_plans(index, result, masks, exact_threshold)
    if exact_threshold == 10:
        assert np.isin(result.plans, list(TRAVERSAL)).mean() >= 0.5


@pytest.mark.parametrize("keep", [0.55, 0.1])
@pytest.mark.parametrize("exact_threshold", [None, 10])
def test_anti_correlated_filters_adapt(world, keep, exact_threshold):
    """Most rows pass, but none near the query: traversal must not get lost."""
    index, data, queries, qlabels, cols = world
    filters = [(field("cluster") != f"c{c}") & (field("u") < keep) for c in qlabels]
    masks = [(cols["cluster"] != f"c{c}") & (cols["u"] < keep) for c in qlabels]
    result = check(index, data, queries, filters, masks, exact_threshold=exact_threshold)
    assert_plans(index, result, masks, exact_threshold)
    if exact_threshold is not None and keep == 0.55:
        assert set(result.plans) <= {"filtered", "acorn", "exact", "scan"}


def test_plans_cover_every_path(world):
    index, data, queries, _, cols = world
    seen = set()
    for s in (0.9, 0.3, 0.05):
        seen |= set(
            check(index, data, queries, field("u") < s, cols["u"] < s, exact_threshold=10).plans
        )
    assert {"filtered", "acorn"} <= seen


def test_equality_isin_contains_and_combinations(world):
    index, data, queries, _, cols = world
    tags = cols["tags"]
    has = lambda t: np.array([t in row for row in tags])  # noqa: E731
    cases = [
        (field("cluster") == "c3", cols["cluster"] == "c3"),
        (field("cluster") != "c3", cols["cluster"] != "c3"),
        (field("cluster").isin(["c1", "c2", "c7"]), np.isin(cols["cluster"], ["c1", "c2", "c7"])),
        (field("tags").contains("t4"), has("t4")),
        (field("tags").contains_any(["t1", "t2"]), has("t1") | has("t2")),
        (field("tags").contains_all(["t1", "t2"]), has("t1") & has("t2")),
        (field("year").between(2000, 2009), (cols["year"] >= 2000) & (cols["year"] <= 2009)),
        ((field("year") > 2015) & field("tags").contains("t0"), (cols["year"] > 2015) & has("t0")),
        (
            (field("year") <= 1995) | (field("cluster") == "c0"),
            (cols["year"] <= 1995) | (cols["cluster"] == "c0"),
        ),
        (~(field("u") < 0.8), ~(cols["u"] < 0.8)),
        (field("cluster") == "no-such-value", np.zeros(N, bool)),
    ]
    for flt, mask in cases:
        for threshold in (None, 10):
            result = check(index, data, queries, flt, mask, exact_threshold=threshold)
            assert_plans(index, result, mask, threshold)


def test_masks_and_bitmaps(world):
    index, data, queries, _, _ = world
    rng = np.random.default_rng(8)
    for fraction in (0.7, 0.2, 0.004):
        mask = rng.random(N) < fraction
        assert_plans(index, check(index, data, queries, mask, mask, exact_threshold=10), mask, 10)
        bitmap = BitMap(np.flatnonzero(mask).tolist())
        assert_plans(index, check(index, data, queries, bitmap, mask), mask, None)
    empty = np.zeros(N, bool)
    check(index, data, queries, empty, empty)


def test_mixed_per_query_list(world):
    index, data, queries, _, cols = world
    rng = np.random.default_rng(3)
    options = [
        (None, np.ones(N, bool)),
        (field("u") < 0.3, cols["u"] < 0.3),
        (rng.random(N) < 0.5, None),
        (field("cluster") == "zzz", np.zeros(N, bool)),
    ]
    options[2] = (options[2][0], options[2][0])
    picks = [options[i % len(options)] for i in range(NQ)]
    result = check(
        index, data, queries, [p[0] for p in picks], [p[1] for p in picks], exact_threshold=10
    )
    assert result.plans[0] == "graph" and result.plans[3] == "empty"


def test_filters_give_identical_results_after_save_and_load(world, tmp_path):
    index, _, queries, qlabels, _ = world
    path = tmp_path / "filtered.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    filters = [field("cluster") != f"c{c}" for c in qlabels]
    for flt in (field("u") < 0.05, field("tags").contains("t2"), filters):
        a = index.search(queries, k=10, filter=flt, exact_threshold=10)
        b = loaded.search(queries, k=10, filter=flt, exact_threshold=10)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.plans, b.plans)


def test_threads_do_not_change_filtered_results(world):
    index, _, queries, qlabels, _ = world
    filters = [(field("cluster") != f"c{c}") & (field("u") < 0.3) for c in qlabels]
    a = index.search(queries, k=10, filter=filters, threads=1, exact_threshold=10)
    b = index.search(queries, k=10, filter=filters, threads=2, exact_threshold=10)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_explain_reports_plan_and_selectivity(world):
    index, _, _, _, cols = world
    info = index.explain(field("u") < 0.5, exact_threshold=10)
    assert info["passing"] == int((cols["u"] < 0.5).sum())
    assert info["selectivity"] == pytest.approx(info["passing"] / N)
    assert info["plan"] == "filtered"
    assert index.explain(field("u") < 0.1, exact_threshold=10)["plan"] == "acorn"
    # By default rows fewer than a traversal would score are scanned: on
    # codes (then rescored) when the index keeps them, else exactly.
    scan = "scan" if index.storage == "sq8" else "exact"
    assert index.explain(field("u") < 0.5)["plan"] == scan
    assert index.explain(field("u") < 0.5, ef=4000)["plan"] == "exact"
    assert index.explain(field("u") < 0.5)["exact_threshold"] == 4 * 64 * index.params["M0"]
    assert index.explain(field("u") < 0.5, ef=1)["exact_threshold"] == 4 * 10 * index.params["M0"]
    assert index.explain(field("u") < 0)["plan"] == "empty"
    assert index.explain(None)["plan"] == "graph"
    assert index.explain(field("u") >= 0)["plan"] == "graph"


def test_filter_errors(world):
    index, _, queries, _, _ = world
    with pytest.raises(KeyError, match="nope"):
        index.search(queries, filter=field("nope") == 1)
    with pytest.raises(TypeError, match="u"):
        index.search(queries, filter=field("u") == "text")
    with pytest.raises(TypeError, match="cluster"):
        index.search(queries, filter=field("cluster").contains("c1"))
    with pytest.raises(ValueError):
        index.search(queries, filter=np.ones(N + 1, bool))
    with pytest.raises(ValueError):
        index.search(queries, filter=BitMap([N + 5]))
    with pytest.raises(ValueError):
        index.search(queries, filter=[None] * (NQ - 1))


def test_acorn_gamma_graph_answers_restrictive_filters(world, tmp_path):
    """gamma > 1 expands level-0 lists, so two-hop traversal serves rarer filters."""
    _, data, queries, _, cols = world
    index = fanns.Index.build(data, attributes={"u": cols["u"]}, gamma=3, seed=1, threads=1)
    assert index.params["M0"] == 48 and index.params["m_beta"] == 32
    plans = set()
    for s in (0.03, 0.1, 0.4):
        result = check(index, data, queries, field("u") < s, cols["u"] < s, exact_threshold=10)
        plans |= set(result.plans)
    assert "acorn" in plans
    unfiltered = index.search(queries, k=10, ef=100)
    assert recall(unfiltered.ids, exact_knn(queries, data, 10)) >= 0.99
    path = tmp_path / "gamma.fanns"
    index.save(path)
    loaded = fanns.Index.load(path)
    assert loaded.params == index.params
    a = index.search(queries, k=10, filter=field("u") < 0.1, exact_threshold=10)
    b = loaded.search(queries, k=10, filter=field("u") < 0.1, exact_threshold=10)
    np.testing.assert_array_equal(a.ids, b.ids)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"gamma": 0}, "gamma"),
        ({"gamma": 2, "m_beta": 100}, "m_beta"),
        ({"gamma": 1, "m_beta": 8}, "m_beta"),
        ({"gamma": 200}, "M \\* gamma"),
    ],
)
def test_bad_gamma_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fanns.Index.build(np.ones((4, 2)), **kwargs)
