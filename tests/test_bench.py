"""The benchmark harness end to end on a tiny synthetic dataset, plus its recall, table,
workload and interruption logic checked against hand-built cases and brute force."""

from __future__ import annotations

import json
import os
import types
from typing import ClassVar

import numpy as np
import pytest

from fanns.bench import main
from fanns.bench.methods import METHODS, BuildParams, Method, get_method
from fanns.bench.recall import mean_recall, recall_per_query
from fanns.bench.report import format_markdown, format_table, summarize
from fanns.bench.results import Point
from fanns.bench.workloads import (
    QueryFilters,
    parse_workload_name,
    selectivity_mask,
    synthetic_workload,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--n", "2000", "--dim", "16", "--nq", "20", "--no-progress", "--repeats", "1"]


def _brute_knn(vectors, queries, k, *, masks=None, metric="l2"):
    x = np.asarray(vectors, dtype=np.float64)
    out = []
    for i, q in enumerate(np.asarray(queries, dtype=np.float64)):
        d = ((x - q) ** 2).sum(axis=1) if metric == "l2" else 1.0 - x @ q
        rows = (
            np.arange(x.shape[0]) if masks is None or masks[i] is None else np.flatnonzero(masks[i])
        )
        order = np.lexsort((rows, d[rows]))[:k]
        out.append(rows[order].astype(np.int64))
    return out


@pytest.fixture
def datasets_module():
    import fanns.datasets

    return fanns.datasets


def _installed(names):
    return [m for m in names if METHODS[m].missing_dependency() is None]


def _load(out):
    with open(os.path.join(out, "results.json"), encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------- end to end
def test_end_to_end_writes_json_table_and_plots(tmp_path, capsys):
    out = str(tmp_path / "run")
    methods = _installed(["bruteforce", "hnswlib", "faiss", "fanns"])
    code = main(
        [
            *TINY,
            "--workload",
            "unfiltered,sel-10,anti-1",
            "--methods",
            ",".join(methods),
            "--ef",
            "10,40",
            "--M",
            "8",
            "--ef-construction",
            "64",
            "--out",
            out,
        ]
    )
    assert code == 0
    data = _load(out)
    for key in ("machine", "command", "command_line", "config", "builds", "points", "workloads"):
        assert key in data
    assert data["complete"] is True and data["interrupted"] is False
    assert data["machine"]["cpu_model"] and data["machine"]["versions"]["numpy"]
    assert set(data["builds"]) == set(methods)
    assert data["errors"] == []
    points = data["points"]
    brute = [p for p in points if p["method"] == "bruteforce"]
    assert {p["workload"] for p in brute} == {"unfiltered", "sel-10", "anti-1"}
    assert all(p["recall"] == 1.0 for p in brute)
    for p in points:
        assert 0.0 <= p["recall"] <= 1.0 and p["qps"] > 0 and p["latency_ms_mean"] > 0
    graph = [m for m in methods if m != "bruteforce"]
    for m in graph:
        assert {p["value"] for p in points if p["method"] == m and p["workload"] == "sel-10"} == {
            10,
            40,
        }
    assert data["workloads"]["sel-10"]["pass_fraction"] == pytest.approx(0.1)
    for workload in ("unfiltered", "sel-10", "anti-1"):
        with open(os.path.join(out, f"{workload}.png"), "rb") as fh:
            assert fh.read(8) == PNG_MAGIC
    with open(os.path.join(out, "results.md"), encoding="utf-8") as fh:
        md = fh.read()
    assert "| workload | method |" in md and "bruteforce" in md
    printed = capsys.readouterr().out
    assert "QPS@0.9" in printed and "bruteforce" in printed


def test_dataset_workload_filters_by_attributes(tmp_path):
    out = str(tmp_path / "run")
    methods = ",".join(_installed(["bruteforce", "fanns"]))
    argv = [*TINY, "--workload", "em,r", "--methods", methods, "--ef", "200", "--no-plots"]
    argv += ["--out", out]
    assert main(argv) == 0
    data = _load(out)
    assert data["errors"] == [] and not any(f.endswith(".png") for f in os.listdir(out))
    for name in ("em", "r"):
        assert data["workloads"][name]["ground_truth"] == "dataset"
        assert data["workloads"][name]["filter"] == "per_query"
        assert 0.0 < data["workloads"][name]["pass_fraction"] < 1.0
    assert [p["recall"] for p in data["points"] if p["method"] == "bruteforce"] == [1.0, 1.0]
    for p in data["points"]:
        if p["method"] == "fanns":  # filtered by attribute expressions, generous ef
            assert p["recall"] > 0.9 and sum(p["details"]["plans"].values()) == p["nq"]


def test_ground_truth_is_computed_once_and_cached(tmp_path, datasets_module, monkeypatch):
    out = str(tmp_path / "run")
    argv = [*TINY, "--workload", "sel-10,em", "--metric", "ip", "--methods", "bruteforce"]
    argv.append("--no-plots")
    assert main([*argv, "--out", out]) == 0
    first = _load(out)
    # shipped ground truth is for squared L2 only, so both are computed for "ip"
    assert first["workloads"]["sel-10"]["ground_truth"] == "computed"
    assert first["workloads"]["em"]["ground_truth"] == "computed"
    assert [p["recall"] for p in first["points"]] == [1.0, 1.0]
    cached = sorted(os.listdir(os.path.join(out, "cache")))
    assert len(cached) == 2

    real = datasets_module.exact_knn
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets_module, "exact_knn", counting)
    assert main([*argv, "--out", out]) == 0
    second = _load(out)
    assert second["workloads"]["sel-10"]["ground_truth"] == "cache" and calls == []
    assert [p["recall"] for p in second["points"]] == [1.0, 1.0]

    with open(os.path.join(out, "cache", cached[0]), "wb") as fh:
        fh.write(b"not an npz file")
    assert main([*argv, "--out", out]) == 0
    third = _load(out)
    assert sorted(w["ground_truth"] for w in third["workloads"].values()) == ["cache", "computed"]
    assert len(calls) == 1 and [p["recall"] for p in third["points"]] == [1.0, 1.0]


def test_missing_package_is_skipped(tmp_path, capsys):
    class Absent(Method):
        name: ClassVar[str] = "absent"
        requires: ClassVar[tuple[str, ...]] = ("no_such_module_for_fanns_bench",)

        def build(self, vectors, attributes, metric, params):
            raise AssertionError("must not build")

        def search(self, queries, k, sweep_value, filters):
            raise AssertionError("must not search")

    out = str(tmp_path / "run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(METHODS, "absent", Absent)
        code = main(
            [
                *TINY,
                "--workload",
                "sel-50",
                "--methods",
                "absent,bruteforce",
                "--no-plots",
                "--out",
                out,
            ]
        )
    assert code == 0
    data = _load(out)
    assert "absent" in data["skipped"] and "absent" not in data["builds"]
    assert "skipping absent" in capsys.readouterr().out


class _Interrupting(Method):
    """Answers exactly for one search, then behaves as if Ctrl-C was pressed."""

    name: ClassVar[str] = "interrupting"
    calls: ClassVar[int] = 0

    def build(self, vectors, attributes, metric, params):
        self.inner = get_method("bruteforce")
        self.inner.build(vectors, attributes, metric, params)

    def search(self, queries, k, sweep_value, filters):
        type(self).calls += 1
        if type(self).calls > 2:
            raise KeyboardInterrupt
        return self.inner.search(queries, k, None, filters)


def test_keyboard_interrupt_writes_partial_results(tmp_path):
    out = str(tmp_path / "run")
    _Interrupting.calls = 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(METHODS, "interrupting", _Interrupting)
        code = main(
            [
                *TINY,
                "--workload",
                "sel-10",
                "--methods",
                "bruteforce,interrupting",
                "--ef",
                "10,20,40",
                "--warmup",
                "0",
                "--out",
                out,
            ]
        )
    assert code == 130
    data = _load(out)
    assert data["interrupted"] is True and data["complete"] is False
    got = [(p["method"], p["value"]) for p in data["points"]]
    assert ("bruteforce", None) in got
    assert ("interrupting", 10) in got and ("interrupting", 20) in got
    assert ("interrupting", 40) not in got
    with open(os.path.join(out, "sel-10.png"), "rb") as fh:
        assert fh.read(8) == PNG_MAGIC
    assert os.path.exists(os.path.join(out, "results.md"))


def test_failing_method_is_recorded_and_others_continue(tmp_path):
    class Broken(Method):
        name: ClassVar[str] = "broken"

        def build(self, vectors, attributes, metric, params):
            pass

        def search(self, queries, k, sweep_value, filters):
            raise RuntimeError("boom")

    out = str(tmp_path / "run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(METHODS, "broken", Broken)
        assert (
            main(
                [
                    *TINY,
                    "--workload",
                    "sel-10",
                    "--methods",
                    "broken,bruteforce",
                    "--no-plots",
                    "--out",
                    out,
                ]
            )
            == 0
        )
    data = _load(out)
    assert any(e["method"] == "broken" and "boom" in e["error"] for e in data["errors"])
    assert [p["method"] for p in data["points"]] == ["bruteforce"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--methods", "nope"],
        ["--workload", "sel-0"],
        ["--workload", "what"],
        ["--ef", "0"],
        ["--dataset", "/no/such/dir"],
        ["--k", "-1"],
    ],
)
def test_bad_options_exit_with_usage_error(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_config_file_sets_defaults_and_cli_overrides(tmp_path):
    from fanns.bench.config import parse_config

    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"n": 300, "ef": [8, 16], "workload": "sel-1", "metric": "ip"}))
    cfg = parse_config(["--config", str(path), "--n", "400"])
    assert (cfg.n, cfg.efs, cfg.workloads, cfg.metric) == (400, [8, 16], ["sel-1"], "ip")
    path.write_text(json.dumps({"bogus": 1}))
    with pytest.raises(SystemExit):
        parse_config(["--config", str(path)])


# ------------------------------------------------------------------------ recall
def test_recall_with_short_and_empty_ground_truth_rows():
    gt = [
        np.array([5, 6, 7], dtype=np.int32),  # full depth
        np.array([9], dtype=np.int32),  # only one row passes the filter
        np.array([], dtype=np.int32),  # nothing passes
        np.array([], dtype=np.int32),  # nothing passes, but something is returned
        np.array([1, 2, 3, 4], dtype=np.int32),  # deeper than k: only the top k count
    ]
    ids = np.array([[7, 5, 0], [9, -1, -1], [-1, -1, -1], [3, -1, -1], [2, 4, 1]], dtype=np.int64)
    per = recall_per_query(ids, gt, 3)
    np.testing.assert_allclose(per, [2 / 3, 1.0, 1.0, 0.0, 2 / 3])
    assert mean_recall(ids, gt, 3) == pytest.approx(per.mean())


def test_recall_ignores_duplicates_and_padding():
    per = recall_per_query(np.array([[4, 4, -1]]), [np.array([4, 8])], 3)
    assert per.tolist() == [0.5]
    with pytest.raises(ValueError, match="rows"):
        recall_per_query(np.zeros((2, 3), dtype=np.int64), [np.array([1])], 3)


# ------------------------------------------------------------------------- table
def _pt(method, value, recall, qps, workload="w"):
    return Point(method, workload, "ef", value, recall, qps, 1000.0 / qps, 10, 10)


def test_table_picks_fastest_point_reaching_each_recall():
    pts = [
        _pt("a", 10, 0.85, 5000.0),
        _pt("a", 20, 0.93, 3000.0),
        _pt("a", 40, 0.96, 3500.0),  # faster and more accurate than ef=20
        _pt("a", 80, 0.991, 800.0),
        _pt("b", 10, 0.5, 9000.0),
        _pt("b", 20, 0.94, 100.0),
        _pt("a", 10, 1.0, 50.0, workload="other"),
    ]
    rows = {(r.workload, r.method): r for r in summarize(pts)}
    a = rows[("w", "a")]
    assert a.best_qps[0.9] == 3500.0 and a.best_value[0.9] == 40
    assert a.best_qps[0.95] == 3500.0
    assert a.best_qps[0.99] == 800.0 and a.best_value[0.99] == 80
    assert a.max_recall == 0.991
    b = rows[("w", "b")]
    assert b.best_qps[0.9] == 100.0 and b.best_qps[0.95] is None and b.max_recall == 0.94
    assert rows[("other", "a")].best_qps[0.99] == 50.0
    text = format_table(summarize(pts))
    b_line = next(line for line in text.splitlines() if line.split()[:2] == ["w", "b"])
    assert b_line.count("\u2014") == 2 and "0.9400" in b_line
    md = format_markdown(summarize(pts)).splitlines()
    assert md[0].startswith("| workload | method | QPS@0.9")
    assert "| w | a | 3,500 | 3,500 | 800 | 0.9910 |" in md


# --------------------------------------------------------------------- workloads
def test_workload_names():
    assert parse_workload_name("sel-0.1") == ("sel", 0.1)
    assert parse_workload_name("anti-1") == ("anti", 1.0)
    assert parse_workload_name("r") == ("r", None)
    for bad in ("sel-0", "sel-101", "sel-x", "corr", "bogus"):
        with pytest.raises(ValueError):
            parse_workload_name(bad)


def test_selectivity_masks_pass_the_requested_share():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 8)).astype(np.float32)
    q = x[:10] + 0.01
    sel10 = selectivity_mask("sel", 10, x, q, seed=3)
    sel1 = selectivity_mask("sel", 1, x, q, seed=3)
    assert sel10.sum() == 100 and sel1.sum() == 10
    assert not (sel1 & ~sel10).any()  # nested for one seed
    assert selectivity_mask("sel", 0.01, x, q).sum() == 1  # at least one row

    d = ((x[:, None, :].astype(np.float64) - q[None, :, :]) ** 2).sum(axis=2).min(axis=1)
    anti = selectivity_mask("anti", 5, x, q)
    corr = selectivity_mask("corr", 5, x, q)
    assert anti.sum() == corr.sum() == 50
    assert d[anti].min() >= d[~anti].max() - 1e-9
    assert d[corr].max() <= d[~corr].min() + 1e-9
    # anti-correlated: almost none of each query's exact neighbours pass
    truth = _brute_knn(x, q, 10)
    assert np.mean([anti[row].mean() for row in truth]) < 0.05
    assert np.mean([corr[row].mean() for row in truth]) > 0.5


def test_query_filters_group_identical_masks():
    masks = [np.array([True, False, True]), np.array([False, True, True])]
    f = QueryFilters(3, 4, mask_fn=lambda i: masks[i % 2])
    assert f.kind == "per_query" and len(f.groups) == 2
    assert [g.queries.tolist() for g in f.groups] == [[0, 2], [1, 3]]
    assert f.pass_fraction() == pytest.approx(2 / 3)
    assert f.mask(3) is f.groups[1].mask
    bad = QueryFilters(3, 1, mask_fn=lambda i: np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        _ = bad.groups


# ----------------------------------------------------------------------- methods
@pytest.mark.parametrize("workload", ["sel-1", "sel-5", "sel-60", "unfiltered"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_bruteforce_matches_exact_search(metric, workload):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 12)).astype(np.float32)
    q = rng.standard_normal((7, 12)).astype(np.float32)
    if workload == "unfiltered":
        w = types.SimpleNamespace(filters=QueryFilters(500, 7))
    else:
        w = synthetic_workload(workload, x, q)
    m = get_method("bruteforce")
    m.build(x, None, metric, BuildParams())
    ids = m.search(q, 10, None, w.filters)
    xs, qs = x, q
    if metric == "cosine":
        xs = x / np.linalg.norm(x, axis=1, keepdims=True)
        qs = q / np.linalg.norm(q, axis=1, keepdims=True)
    truth = _brute_knn(xs, qs, 10, masks=w.filters.masks(), metric="l2" if metric == "l2" else "ip")
    for row, t in zip(ids, truth):
        assert row[: t.size].tolist() == t.tolist()
        assert (row[t.size :] == -1).all()


@pytest.mark.parametrize("name", _installed(["hnswlib", "faiss", "fanns"]))
def test_graph_methods_find_filtered_neighbours(name):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1500, 16)).astype(np.float32)
    q = rng.standard_normal((10, 16)).astype(np.float32)
    m = get_method(name)
    m.build(x, None, "l2", BuildParams(M=16, ef_construction=100, threads=1))
    for workload in ("sel-50", "sel-0.1"):
        w = synthetic_workload(workload, x, q)
        truth = _brute_knn(x, q, 10, masks=w.filters.masks())
        ids = m.search(q, 10, 200, w.filters)
        assert ids.shape == (10, 10) and ids.dtype == np.int64
        passing = w.filters.groups[0].mask
        valid = ids[ids >= 0]
        assert passing[valid].all()  # never a row outside the filter
        if workload == "sel-50":
            assert mean_recall(ids, truth, 10) > 0.9
    m.close()


def test_blas_pools_limited_inside_block_and_restored():
    from fanns.bench.blas import limit_blas_threads, openblas_threads

    before = openblas_threads()
    with limit_blas_threads(1) as limited:
        inside = openblas_threads()
        _ = np.ones((64, 64)) @ np.ones((64, 64))
    assert openblas_threads() == before
    assert limited == any(name in inside for name in before)
    for name, threads in inside.items():
        if limited and name in before:
            assert threads == 1


def test_filter_attributes_keep_what_the_filters_read():
    from fanns.attributes import AttributeStore
    from fanns.bench.config import BenchConfig
    from fanns.bench.data import load_data, make_workloads
    from fanns.bench.harness import filter_attributes
    from fanns.filters import compile_filter

    config = BenchConfig(n=600, dim=8, nq=6, workloads=["em", "sel-10"])
    data = load_data(config)
    workloads = make_workloads(config, data)
    reduced = filter_attributes(data, workloads)
    assert reduced is not None and len(reduced) == data.n
    assert set(reduced[0]) < set(data.attributes[0]) or len(data.attributes[0]) == 1
    store = AttributeStore.from_input(reduced, data.n)
    em = workloads[0].filters
    for i in range(em.nq):
        passing = np.array(sorted(compile_filter(em.expressions[i], store, data.n)))
        assert np.array_equal(passing, np.flatnonzero(em.mask(i)))
    assert filter_attributes(data, workloads[1:]) is None  # a mask needs no attributes


def test_sweep_values_respect_k():
    from fanns.bench.config import BenchConfig

    config = BenchConfig(efs=[40, 5, 10, 20, 40], k=10)
    assert get_method("hnswlib").sweep_values(config) == [10, 20, 40]
    assert get_method("bruteforce").sweep_values(config) == [None]


@pytest.mark.slow
def test_real_sample_bruteforce_matches_published_ground_truth(arxiv_mini_dir, tmp_path):
    out = str(tmp_path / "run")
    argv = ["--dataset", arxiv_mini_dir, "--methods", "bruteforce", "--workload", "em,r,emis"]
    argv += ["--max-queries", "4", "--repeats", "1", "--warmup", "0", "--no-plots"]
    assert main([*argv, "--no-progress", "--out", out]) == 0
    data = _load(out)
    assert data["dataset"]["n"] == 50_000 and data["dataset"]["dim"] == 384
    assert {w["ground_truth"] for w in data["workloads"].values()} == {"dataset"}
    assert [p["recall"] for p in data["points"]] == [1.0, 1.0, 1.0]


def test_range_workload_windows_match_their_expressions():
    from fanns.attributes import AttributeStore
    from fanns.bench.workloads import range_workload
    from fanns.filters import compile_filter

    rng = np.random.default_rng(4)
    dates = rng.integers(20000101, 20000401, size=500)
    rows = [{"update_date": int(d) if i % 17 else None} for i, d in enumerate(dates)]
    workload = range_workload("range-5", rows, 12, seed=3)
    store = AttributeStore.from_input(rows, len(rows))
    for i in range(12):
        mask = workload.filters.mask(i)
        compiled = np.zeros(len(rows), bool)
        compiled[list(compile_filter(workload.filters.expressions[i], store, len(rows)))] = True
        np.testing.assert_array_equal(mask, compiled)
        assert 0.04 <= mask.mean() <= 0.08
    with pytest.raises(ValueError, match="update_date"):
        range_workload("range-5", [{"other": 1}] * 10, 2)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_prefilter_peer_equals_the_exact_peer(metric):
    # The plain NumPy pre-filter (one float32 product per filter, no exact
    # re-ranking) must find what the exact peer finds on well-separated
    # data, for shared, per-query, empty and all-passing filters and more
    # queries than one product block.
    from fanns.bench.workloads import QueryFilters

    rng = np.random.default_rng(5)
    n, nq, k = 700, 300, 10
    x = rng.standard_normal((n, 24)).astype(np.float32)
    q = rng.standard_normal((nq, 24)).astype(np.float32)
    masks = [rng.random(n) < p for p in (0.02, 0.3)]
    cases = [
        QueryFilters(n, nq),
        QueryFilters(n, nq, shared_mask=masks[0]),
        QueryFilters(n, nq, shared_mask=np.ones(n, dtype=bool)),
        QueryFilters(n, nq, shared_mask=np.zeros(n, dtype=bool)),
        QueryFilters(n, nq, mask_fn=lambda i: masks[i % 2]),
        QueryFilters(n, nq, shared_mask=np.arange(n) < 4),  # fewer rows pass than k
    ]
    exact, plain = get_method("bruteforce"), get_method("prefilter")
    for m in (exact, plain):
        m.build(x, None, metric, BuildParams())
    for filters in cases:
        want = exact.search(q, k, None, filters)
        got = plain.search(q, k, None, filters)
        assert got.shape == (nq, k) and got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
