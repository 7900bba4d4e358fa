"""Exact ground truth against a plain numpy brute force, and against the published files."""

from __future__ import annotations

import numpy as np
import pytest

from fanns.datasets import (
    compute_ground_truth,
    exact_knn,
    load_arxiv_fanns,
    read_fvecs,
    read_ivecs,
    write_fvecs,
    write_ground_truth,
)
from fanns.datasets.__main__ import main


def brute_distances(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "l2":
        return ((q[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
    if metric == "ip":
        return 1.0 - q @ x.T
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    return 1.0 - qn @ xn.T


def brute_knn(x, q, k, metric="l2", masks=None):
    dist = brute_distances(x, q, metric)
    out = []
    for i in range(len(q)):
        ids = np.arange(len(x)) if masks is None or masks[i] is None else np.flatnonzero(masks[i])
        order = np.lexsort((ids, dist[i, ids]))
        out.append(ids[order][:k])
    return out


def assert_rows_equal(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("threads", [1, 2])
def test_matches_brute_force(metric, threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1500, 20)).astype(np.float32)
    q = rng.standard_normal((30, 20)).astype(np.float32)
    got, dist = exact_knn(
        x, q, 17, metric=metric, threads=threads, chunk_rows=400, return_distances=True
    )
    assert_rows_equal(got, brute_knn(x, q, 17, metric))
    expected = brute_distances(x, q, metric)
    for i, (ids, d) in enumerate(zip(got, dist)):
        assert ids.dtype == np.int64 and d.dtype == np.float64
        np.testing.assert_allclose(d, expected[i, ids], rtol=1e-9, atol=1e-9)
        assert np.all(np.diff(d) >= 0)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ties_go_to_the_smaller_id(metric):
    rng = np.random.default_rng(1)
    # small integer coordinates: many exactly equal distances, including duplicate rows
    x = rng.integers(-2, 3, size=(2000, 6)).astype(np.float32)
    x[1500:] = x[:500]
    q = rng.integers(-2, 3, size=(25, 6)).astype(np.float32)
    got = exact_knn(x, q, 40, metric=metric, chunk_rows=333)
    assert_rows_equal(got, brute_knn(x, q, 40, metric))
    dist = brute_distances(x, q, metric)
    assert any(len(np.unique(dist[i, g])) < len(g) for i, g in enumerate(got))  # ties present


def test_masks_short_and_empty_rows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((900, 8)).astype(np.float32)
    q = rng.standard_normal((12, 8)).astype(np.float32)
    masks = rng.random((12, 900)) < 0.2
    masks[1] = False  # nothing passes
    masks[2] = False
    masks[2, [17, 4, 850]] = True  # fewer than k pass
    masks[3] = True
    got = exact_knn(x, q, 25, masks=masks, chunk_rows=128)
    expected = brute_knn(x, q, 25, masks=masks)
    assert_rows_equal(got, expected)
    assert got[1].size == 0 and got[1].dtype == np.int64
    assert sorted(got[2].tolist()) == [4, 17, 850]
    as_list = [None if i == 3 else masks[i] for i in range(12)]
    assert_rows_equal(exact_knn(x, q, 25, masks=as_list, threads=1), expected)


def test_k_larger_than_database():
    x = np.random.default_rng(3).standard_normal((7, 3)).astype(np.float32)
    q = x[:2] + 0.01
    got = exact_knn(x, q, 100)
    assert_rows_equal(got, brute_knn(x, q, 100))
    assert [g.size for g in got] == [7, 7]


def test_memory_mapped_and_float64_input(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1200, 16)).astype(np.float32)
    q = rng.standard_normal((9, 16))
    write_fvecs(tmp_path / "x.fvecs", x)
    mapped = read_fvecs(tmp_path / "x.fvecs")
    assert not mapped.flags.c_contiguous
    expected = brute_knn(x, q, 30)
    assert_rows_equal(exact_knn(mapped, q, 30, chunk_rows=500), expected)
    x64 = rng.standard_normal((800, 5))
    assert_rows_equal(exact_knn(x64, q[:, :5], 11), brute_knn(x64, q[:, :5], 11))


def test_large_norms_stay_exact():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((600, 64)) * 1e3 + 5e3).astype(np.float32)
    q = (x[:5] + rng.standard_normal((5, 64)).astype(np.float32)).astype(np.float32)
    assert_rows_equal(exact_knn(x, q, 20), brute_knn(x, q, 20))


def test_no_queries_or_no_rows():
    x = np.ones((4, 3), dtype=np.float32)
    assert exact_knn(x, np.empty((0, 3)), 5) == []
    got = exact_knn(np.empty((0, 3), dtype=np.float32), np.ones((2, 3)), 5)
    assert [g.size for g in got] == [0, 0]


def test_bad_input():
    x = np.ones((10, 3), dtype=np.float32)
    q = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="k must be"):
        exact_knn(x, q, 0)
    with pytest.raises(TypeError, match="k must be"):
        exact_knn(x, q, 2.0)
    with pytest.raises(ValueError, match="dimension"):
        exact_knn(x, np.ones((2, 4)), 3)
    with pytest.raises(ValueError, match="metric"):
        exact_knn(x, q, 3, metric="hamming")
    with pytest.raises(ValueError, match="2-D"):
        exact_knn(x[0], q, 3)
    bad = q.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        exact_knn(x, bad, 3)
    xbad = x.copy()
    xbad[7, 0] = np.inf
    with pytest.raises(ValueError, match="vector 7"):
        exact_knn(xbad, q, 3)
    with pytest.raises(ValueError, match="shape"):
        exact_knn(x, q, 3, masks=np.ones((2, 9), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        exact_knn(x, q, 3, masks=np.ones((2, 10), dtype=int))
    with pytest.raises(ValueError, match="entries"):
        exact_knn(x, q, 3, masks=[None])
    with pytest.raises(TypeError, match="boolean"):
        exact_knn(x, q, 3, masks=[None, [1] * 10])
    zero = x.copy()
    zero[4] = 0
    with pytest.raises(ValueError, match="vector 4 is zero"):
        exact_knn(zero, q, 3, metric="cosine")
    with pytest.raises(ValueError, match="threads"):
        exact_knn(x, q, 3, threads=-1)
    with pytest.raises(ValueError, match="chunk_rows"):
        exact_knn(x, q, 3, chunk_rows=0)
    with pytest.raises(TypeError, match="dtype"):
        exact_knn(x.astype(complex), q, 3)


def _plain_masks(dataset, name):
    from test_workloads import plain_passes

    return [
        np.array(
            [plain_passes(name, dataset.query_attributes[name][i], r) for r in dataset.attributes]
        )
        for i in range(dataset.nq)
    ]


def test_compute_ground_truth_on_synthetic(small_arxiv):
    for name in ("em", "r", "emis"):
        masks = _plain_masks(small_arxiv, name)
        expected = brute_knn(small_arxiv.vectors, small_arxiv.queries, 100, masks=masks)
        got = compute_ground_truth(small_arxiv, name, 100, mask_bytes=3000 * 7)  # blocks of 7
        assert all(g.dtype == np.int32 for g in got)
        assert_rows_equal(got, expected)
        assert_rows_equal(small_arxiv.ground_truth[name], expected)
    expected = brute_knn(small_arxiv.vectors, small_arxiv.queries, 100)
    assert_rows_equal(compute_ground_truth(small_arxiv, "unfiltered"), expected)
    got = compute_ground_truth(small_arxiv, small_arxiv.workloads["em"], k=5)
    assert all(len(g) <= 5 for g in got)
    with pytest.raises(KeyError, match="nope"):
        compute_ground_truth(small_arxiv, "nope")


def test_write_ground_truth(tmp_path, small_arxiv):
    path = write_ground_truth(tmp_path, "emis", small_arxiv.ground_truth["emis"])
    assert path.endswith("ground_truth_emis.ivecs")
    assert_rows_equal(read_ivecs(path), small_arxiv.ground_truth["emis"])
    assert write_ground_truth(tmp_path, "unfiltered", [[1]]).endswith("ground_truth.ivecs")
    with pytest.raises(KeyError, match="bogus"):
        write_ground_truth(tmp_path, "bogus", [[1]])


def test_groundtruth_command(tmp_path, capsys):
    directory = tmp_path / "syn"
    assert main(["synthetic", str(directory), "--n", "1200", "--dim", "12", "--nq", "15"]) == 0
    original = {name: read_ivecs(directory / f"ground_truth_{name}.ivecs") for name in ("em", "r")}
    (directory / "ground_truth_em.ivecs").unlink()
    (directory / "ground_truth_r.ivecs").write_bytes(b"")  # exists: kept without --force
    assert main(["groundtruth", str(directory), "--workloads", "em", "r", "--no-progress"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert_rows_equal(read_ivecs(directory / "ground_truth_em.ivecs"), original["em"])
    assert (directory / "ground_truth_r.ivecs").read_bytes() == b""
    (directory / "ground_truth_r.ivecs").unlink()
    assert main(["groundtruth", str(directory), "--force", "--no-progress"]) == 0
    assert_rows_equal(read_ivecs(directory / "ground_truth_r.ivecs"), original["r"])
    assert main(["groundtruth", str(tmp_path / "missing")]) == 1
    assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------- the real sample
@pytest.fixture(scope="module")
def mini(arxiv_mini_dir):
    return load_arxiv_fanns(arxiv_mini_dir)


def test_published_ground_truth_agrees_with_masks(mini):
    for name in ("em", "r", "emis"):
        wl = mini.workloads[name]
        rows = mini.ground_truth[name]
        for i, mask in enumerate(wl.masks(mini)):
            assert mask[rows[i]].all()
            assert len(rows[i]) == min(100, int(mask.sum()))
    assert {len(r) for r in mini.ground_truth["emis"]} != {100}  # short rows exist


def test_recomputed_ground_truth_equals_published(mini):
    """Equal to the published files, up to the order of distances closer than float32 resolution.

    The published ground truth ranks by float32 distances, so two rows whose exact distances
    differ by less than about 1e-6 may come in either order there; wherever the exact
    distances around the top 100 are further apart than that, the rows must be identical.
    """
    tol = 1e-6
    queries = list(range(0, 1000, 97))
    x = np.asarray(mini.vectors, dtype=np.float64)
    q = mini.queries[queries].astype(np.float64)
    dist = (x * x).sum(axis=1)[None, :] + (q * q).sum(axis=1)[:, None] - 2.0 * q @ x.T
    identical = 0
    for name in ("unfiltered", "em", "r", "emis"):
        wl = mini.workloads[name]
        masks = [wl.mask(i, mini) for i in queries]
        got = exact_knn(mini.vectors, mini.queries[queries], 100, masks=masks)
        for j, i in enumerate(queries):
            published = mini.ground_truth[name][i].astype(np.int64)
            assert len(got[j]) == len(published)
            d = dist[j]
            passing = np.sort(d[masks[j]])[: len(published) + 1]
            if passing.size < 2 or np.diff(passing).min() > tol:
                np.testing.assert_array_equal(got[j], published)
                identical += 1
            else:
                np.testing.assert_allclose(d[got[j]], d[published], rtol=0, atol=tol)
                assert np.all(np.diff(d[published]) >= -tol)
    assert identical > 0


def test_values_beyond_float32_products_fall_back_to_float64():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((300, 4)) * 1e19).astype(np.float32)
    q = rng.standard_normal((3, 4)) * 1e22  # float64 queries whose products overflow float32
    for metric in ("l2", "ip", "cosine"):
        assert_rows_equal(exact_knn(x, q, 10, metric=metric), brute_knn(x, q, 10, metric))
