"""The one planner: its knobs as a fanns.Planner, explain() and search taking
the same plan, and the byte-counting cost model's choices at several widths."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
import fanns.routing as routing
from fanns import field
from oracle import clustered_with_queries, exact_knn, recall, scans_on_codes

N, NQ, DIM = 3000, 12, 24


@pytest.fixture(scope="module")
def world():
    base, queries, _, _ = clustered_with_queries(N, NQ, DIM, seed=8)
    u = np.random.default_rng(1).random(N)
    index = fanns.Index.build(base, attributes={"u": u, "t": np.arange(N)}, M=8, seed=2, range_attribute="t")
    return index, base, queries, u


def test_planner_knobs_are_validated():
    with pytest.raises(TypeError, match="two_hop_selectivity"):
        fanns.Planner(two_hop_selectivity="0.3")
    with pytest.raises(ValueError, match="switch_pass_rate"):
        fanns.Planner(switch_pass_rate=1.5)
    with pytest.raises(ValueError, match="budget_factor"):
        fanns.Planner(budget_factor=-1.0)
    with pytest.raises(ValueError, match="exact_threshold"):
        fanns.Planner(exact_threshold=-3)
    with pytest.raises(TypeError, match="max_collect"):
        fanns.Planner(max_collect=2.5)
    assert fanns.Planner().exact_threshold is None


def test_planner_limits_are_the_engines():
    with pytest.raises(ValueError, match="max_collect"):
        fanns.Planner(max_collect=4096)
    with pytest.raises(ValueError, match="budget_factor"):
        fanns.Planner(budget_factor=5e6)
    with pytest.raises(ValueError, match="min_two_hop_degree"):
        fanns.Planner(min_two_hop_degree=float("inf"))
    fanns.Planner(max_collect=2048, budget_factor=1e6)


def test_range_plan_for_checks_its_counts(world):
    index, _, _, _ = world
    with pytest.raises(ValueError, match="passing"):
        index._range_graph.plan_for(100, 5000, ef=10)


def test_a_periodic_predicate_does_not_fool_the_range_planner(monkeypatch):
    """A predicate that repeats with the sampling period: explain() counts,
    search estimates; both must land on the same plan."""
    # Both filters go to the range graph (the main graph would scan their
    # few passing rows for less: route_to_range, tested in
    # test_range_routing.py); its own plan is what is checked here.
    monkeypatch.setattr(routing, "_ask", lambda decide, routes, passing: [True] * len(routes))
    n = 12000
    base, queries, _, _ = clustered_with_queries(n, 6, 16, seed=5)
    t = np.arange(n)
    index = fanns.Index.build(base, attributes={"t": t, "m": t % 8}, M=8, seed=1, range_attribute="t")
    for hi in (4095, 7000):  # counted; sampled
        flt = field("t").between(0, hi) & (field("m") == 0)
        info = index.explain(flt, ef=16, exact_threshold=100)
        assert info["range_graph"]
        result = index.search(queries, 10, ef=16, filter=flt, exact_threshold=100)
        assert set(result.plans) <= {info["plan"], "exact"}  # a traversal short of k finishes exactly
        assert info["plan"] in set(result.plans)
        assert ((t[result.ids] % 8) == 0).all()


def test_bad_planner_argument_is_a_type_error(world):
    index, _, queries, _ = world
    with pytest.raises(TypeError, match="fanns.Planner"):
        index.search(queries, 5, planner={"two_hop_selectivity": 0.1})
    with pytest.raises(TypeError, match="fanns.Planner"):
        index.explain(field("u") < 0.2, planner=0.1)


@pytest.mark.parametrize("two_hop", [0.0, 1.0])
def test_two_hop_selectivity_picks_the_traversal_mode(world, two_hop):
    index, base, queries, u = world
    flt = field("u") < 0.35
    planner = fanns.Planner(two_hop_selectivity=two_hop, exact_threshold=10)
    expected = "acorn" if two_hop == 1.0 else "filtered"
    assert index.explain(flt, planner=planner)["plan"] == expected
    result = index.search(queries, 10, filter=flt, planner=planner, ef=64)
    # gated traversal may still switch to two-hop per query, and either may
    # run over budget and finish with a scan
    finish = {"exact", "scan"}
    assert set(result.plans) <= ({expected} if expected == "acorn" else {"filtered", "acorn"}) | finish
    assert expected in set(result.plans)
    truth = exact_knn(queries, base, 10, mask=u < 0.35)
    assert recall(result.ids, truth) >= 0.9


def test_keyword_threshold_takes_precedence_over_the_planner(world):
    index, _, _, _ = world
    flt = field("u") < 0.35
    assert index.explain(flt, planner=fanns.Planner(exact_threshold=N))["plan"] in ("exact", "scan")
    info = index.explain(flt, planner=fanns.Planner(exact_threshold=N), exact_threshold=0)
    assert info["plan"] in ("filtered", "acorn") and info["exact_threshold"] == 0


@pytest.mark.parametrize("fraction", [0.0, 0.002, 0.02, 0.1, 0.35, 0.8, 1.0])
def test_explain_names_the_plan_search_starts_with(world, fraction):
    index, _, queries, u = world
    flt = field("u") < fraction if fraction < 1 else field("u") >= 0.0
    for ef in (16, 64):
        for threshold in (None, 50):
            planned = index.explain(flt, ef=ef, exact_threshold=threshold)["plan"]
            plans = set(index.search(queries, 10, filter=flt, ef=ef, exact_threshold=threshold).plans)
            if planned in ("filtered", "acorn"):
                # a traversal may change mode or finish by a scan of the passing rows
                assert plans <= {"filtered", "acorn", "exact", "scan"}
                assert planned in plans or plans <= {"acorn", "exact", "scan"}
            else:
                assert plans == {planned}


@pytest.mark.parametrize(("width", "plan"), [(12, "exact"), (300, "scan"), (1500, "range")])
def test_explain_and_search_agree_on_the_range_graph(world, width, plan):
    index, _, queries, _ = world
    flt = field("t").between(100, 100 + width - 1)
    info = index.explain(flt, ef=16)
    assert info["range_graph"] and info["plan"] == plan
    assert set(index.search(queries, 10, filter=flt, ef=16).plans) == {plan}


@pytest.mark.parametrize("dim", [5, 64, 4096])
def test_codes_are_scanned_only_where_they_save_reads(dim):
    """The same counts, scanned on codes or exactly depending on the width of
    a row (a 5-d code row saves little; a 4096-d one a quarter)."""
    rng = np.random.default_rng(dim)
    n = 700
    base = rng.standard_normal((n, dim)).astype(np.float32)
    for passing in (30, 90, 200):
        mask = np.arange(n) < passing
        flt = fanns.field("keep") == True  # noqa: E712
        index = fanns.Index.build(base, attributes={"keep": mask}, M=8, seed=1)
        info = index.explain(flt, k=5, ef=20, exact_threshold=n)
        assert info["plan"] == ("scan" if scans_on_codes(passing, 20, dim) else "exact")
        result = index.search(base[:3], 5, filter=flt, ef=20, exact_threshold=n)
        assert set(result.plans) == {info["plan"]}
        truth = np.array(exact_knn(base[:3], base, 5, mask=mask))
        assert mask[result.ids].all()
        exact = ((base[:3, None, :] - base[result.ids]) ** 2).sum(-1)
        np.testing.assert_allclose(result.distances, exact, rtol=1e-4, atol=1e-4)
        if info["plan"] == "exact":
            np.testing.assert_array_equal(result.ids, truth)
        else:
            assert recall(result.ids, list(truth)) >= 0.9


@pytest.mark.parametrize("storage", ["sq8", "f16", "f32"])
def test_a_traversal_over_budget_finishes_with_the_cheaper_scan(storage):
    """With a budget of 256 scored rows, every filtered traversal runs over it and the query is
    finished by a scan of the passing rows: on codes where that reads less
    (plan "scan", distances still exact), exactly on float rows."""
    base, queries, _, _ = clustered_with_queries(3000, 10, 64, seed=12)
    u = np.random.default_rng(3).random(3000)
    index = fanns.Index.build(base, attributes={"u": u}, M=8, seed=1, storage=storage)
    flt = field("u") < 0.5
    planner = fanns.Planner(budget_factor=0.0, exact_threshold=0)
    assert index.explain(flt, planner=planner)["plan"] in ("filtered", "acorn")
    result = index.search(queries, 10, filter=flt, planner=planner, ef=300)
    mask = u < 0.5
    truth = exact_knn(queries, base, 10, mask=mask)
    expected = "scan" if scans_on_codes(int(mask.sum()), 300, 64, storage) else "exact"
    # (f16 rows read half the floats' bytes: with 300 rows to rescore, a scan
    # of these ~1500 rows reads less exactly; see tests/test_f16.py at ef 100)
    assert expected == ("scan" if storage == "sq8" else "exact")
    assert set(result.plans) == {expected}
    assert mask[result.ids].all()
    exact = ((queries[:, None, :] - base[result.ids]) ** 2).sum(-1)
    np.testing.assert_allclose(result.distances, exact, rtol=1e-4, atol=1e-3)
    if expected == "exact":
        np.testing.assert_array_equal(result.ids, np.array(truth))
    else:
        assert recall(result.ids, truth) >= 0.97
