"""The dense index against exact brute force over a grid of sizes and metrics."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from oracle import clustered, clustered_with_queries, exact_distances, exact_knn, recall


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("n,dim", [(300, 8), (3000, 24), (6000, 65)])
def test_recall_and_distances_match_brute_force(metric, n, dim):
    data, queries, _, _ = clustered_with_queries(n, 50, dim, seed=n + dim)
    if metric == "ip":
        # Maximum inner product over rows of similar norm, as embeddings are.
        scale = np.random.default_rng(n).uniform(0.8, 1.2, size=(n, 1))
        data = (data / np.linalg.norm(data, axis=1, keepdims=True) * scale).astype(np.float32)
    index = fanns.Index.build(data, metric=metric, M=16, ef_construction=200)
    result = index.search(queries, k=10, ef=200)
    truth = exact_knn(queries, data, 10, metric)
    assert recall(result.ids, truth) >= 0.99
    assert result.ids.dtype == np.int64 and result.distances.dtype == np.float32
    assert set(result.plans) == {"graph"}
    exact = exact_distances(queries, data, metric)
    for i in range(len(queries)):
        ids = result.ids[i]
        assert len(set(ids.tolist())) == 10 and (ids >= 0).all()
        np.testing.assert_allclose(result.distances[i], exact[i, ids], rtol=1e-4, atol=1e-4)
        assert (np.diff(result.distances[i]) >= 0).all()


def test_exact_recall_on_tiny_index_and_padding():
    data = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    index = fanns.Index.build(data)
    result = index.search(data[:2], k=10)
    assert result.ids.shape == (2, 10)
    assert (result.ids[:, 7:] == -1).all() and np.isinf(result.distances[:, 7:]).all()
    truth = exact_knn(data[:2], data, 7)
    for row, true in zip(result.ids, truth):
        assert row[:7].tolist() == true.tolist()


def test_single_vector_index():
    index = fanns.Index.build(np.ones((1, 3)))
    result = index.search(np.zeros(3), k=2)
    assert result.ids.tolist() == [[0, -1]]
    assert result.distances[0, 0] == pytest.approx(3.0)


def test_one_dimensional_query_gives_one_row():
    data, _ = clustered(500, 12)
    index = fanns.Index.build(data)
    result = index.search(data[3], k=4)
    assert result.ids.shape == (1, 4) and result.ids[0, 0] == 3


def test_thread_count_does_not_change_results():
    data, queries, _, _ = clustered_with_queries(4000, 200, 16, seed=5)
    index = fanns.Index.build(data, threads=2)
    one = index.search(queries, k=10, ef=40, threads=1)
    many = index.search(queries, k=10, ef=40, threads=2)
    np.testing.assert_array_equal(one.ids, many.ids)
    np.testing.assert_array_equal(one.distances, many.distances)


def test_single_thread_build_is_deterministic():
    data, _ = clustered(2000, 10, seed=9)
    a = fanns.Index.build(data, threads=1, seed=11)
    b = fanns.Index.build(data, threads=1, seed=11)
    for name in ("links0", "levels", "upper_links"):
        np.testing.assert_array_equal(a._engine.state()[name], b._engine.state()[name])
    c = fanns.Index.build(data, threads=1, seed=12)
    assert not np.array_equal(a._engine.state()["levels"], c._engine.state()["levels"])


def test_parallel_build_keeps_recall():
    data, queries, _, _ = clustered_with_queries(5000, 50, 20, seed=2)
    index = fanns.Index.build(data, threads=2)
    assert recall(index.search(queries, k=10, ef=150).ids, exact_knn(queries, data, 10)) >= 0.99


def test_properties_and_repr():
    data, _ = clustered(300, 6)
    index = fanns.Index.build(data, metric="ip", M=8, ef_construction=50)
    assert len(index) == 300 and index.dim == 6 and index.metric == "ip"
    assert index.params["M"] == 8 and index.params["M0"] == 16
    text = repr(index)
    assert "n=300" in text and "dim=6" in text and "'ip'" in text
    assert index.memory_bytes() >= 300 * 6 * 4 + 300 * 17 * 4
    parts = index.memory_bytes(by_part=True)
    assert sum(parts.values()) == index.memory_bytes()
    np.testing.assert_array_equal(index.vectors, data)
    assert not index.vectors.flags.writeable


def test_cosine_stores_normalised_vectors_and_integer_input_is_accepted():
    data = np.arange(1, 61, dtype=np.int64).reshape(20, 3)
    index = fanns.Index.build(data, metric="cosine")
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-6)
    result = index.search(data[:1] * 5, k=1)
    assert result.ids[0, 0] == 0 and abs(result.distances[0, 0]) < 1e-6


def test_long_runs_of_duplicate_rows_keep_distinct_rows_reachable():
    rng = np.random.default_rng(1)
    data = np.vstack(
        [np.zeros((1000, 8), np.float32), rng.standard_normal((1000, 8)).astype(np.float32)]
    )
    queries = rng.standard_normal((100, 8)).astype(np.float32) * 2
    index = fanns.Index.build(data, threads=1)
    result = index.search(queries, k=10, ef=200)
    assert recall(result.ids, exact_knn(queries, data, 10)) >= 0.95


@pytest.mark.parametrize("scale", [1e20, 1e-25])
def test_cosine_normalises_extreme_but_finite_rows(scale):
    data = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    index = fanns.Index.build((data * scale).astype(np.float32), metric="cosine")
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, rtol=1e-5)
    result = index.search(data[:5], k=1)
    assert result.ids[:, 0].tolist() == list(range(5))
