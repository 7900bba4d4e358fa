"""Graphs built on 8-bit codes (cpp/hnsw_build.h) against exact brute force.

With storage "sq8" insertion searches for candidates on codes and picks
neighbours on exact distances; with "f32" (or build_on_codes=False) it
compares float rows throughout. Every metric, dimensions 5 / 64 / 384, both
storages: recall against brute force, exact returned distances, graphs on
codes as good as on floats, extend on codes, and one-thread determinism.
"""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import _core
from oracle import clustered_with_queries, exact_distances, exact_knn, recall

NQ = 40
K = 10
SIZES = {5: 1500, 64: 1500, 384: 1200}


def engine(dim, metric, storage, *, on_codes=True, seed=7, M=8, ef_construction=64):
    return _core.HnswIndex(dim, metric, M, 2 * M, ef_construction, seed, 0, storage, on_codes)


def engine_rows(base, metric):
    """Rows as the engine holds them (cosine: normalised first, as Index does)."""
    if metric != "cosine":
        return np.ascontiguousarray(base, np.float32)
    return np.ascontiguousarray(base / np.linalg.norm(base, axis=1, keepdims=True), np.float32)


def search(e, queries, metric, ef=64):
    ids, dists, _ = e.search(engine_rows(queries, metric), K, ef, 1, [], [], None, {})
    return ids, dists


def check_exact(ids, dists, queries, base, metric):
    exact = exact_distances(queries, base, metric)
    for i in range(len(queries)):
        found = ids[i][ids[i] >= 0]
        assert len(found) == K and len(set(found.tolist())) == K
        scale = max(1.0, float(np.abs(exact[i, found]).max()))
        np.testing.assert_allclose(dists[i][: len(found)], exact[i, found], rtol=0, atol=2e-5 * scale)


@pytest.fixture(scope="module", params=sorted(SIZES), ids=[f"d{d}" for d in sorted(SIZES)])
def data(request):
    dim = request.param
    base, queries, _, _ = clustered_with_queries(SIZES[dim], NQ, dim, seed=dim + 11)
    return base, queries


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("storage", ["sq8", "f32"])
def test_built_graph_against_brute_force(data, metric, storage):
    base, queries = data
    e = engine(base.shape[1], metric, storage)
    e.build(engine_rows(base, metric), 1)
    assert e.builds_on_codes == (storage == "sq8")
    ids, dists = search(e, queries, metric)
    truth = exact_knn(queries, base, K, metric)
    assert recall(ids, truth) >= 0.9
    check_exact(ids, dists, queries, base, metric)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_codes_build_as_good_as_floats(data, metric):
    base, queries = data
    rows = engine_rows(base, metric)
    truth = exact_knn(queries, base, K, metric)
    found = {}
    for on_codes in (True, False):
        e = engine(base.shape[1], metric, "sq8", on_codes=on_codes)
        e.build(rows, 1)
        assert e.builds_on_codes == on_codes
        found[on_codes] = recall(search(e, queries, metric, ef=16)[0], truth)
    assert found[True] >= found[False] - 0.03


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("storage", ["sq8", "f32"])
def test_extend_keeps_recall(data, metric, storage):
    base, queries = data
    rows = engine_rows(base, metric)
    half = len(rows) // 2
    e = engine(base.shape[1], metric, storage)
    e.build(rows[:half], 1)
    for lo in range(half, len(rows), 200):
        e.extend(rows[lo : lo + 200], 2)
    assert e.size == len(rows)
    assert e.builds_on_codes == (storage == "sq8")
    ids, dists = search(e, queries, metric)
    assert recall(ids, exact_knn(queries, base, K, metric)) >= 0.9
    check_exact(ids, dists, queries, base, metric)


def test_extend_with_rows_outside_the_bounds():
    """Appended rows far outside the fitted bounds (scored on float rows) are found exactly."""
    base, queries, _, _ = clustered_with_queries(1200, NQ, 32, seed=5)
    e = engine(32, "l2", "sq8")
    e.build(base[:1000], 1)
    far = (base[1000:1100] * 40.0).astype(np.float32)
    e.extend(np.concatenate([base[1100:], far]), 1)
    rows = np.concatenate([base[:1000], base[1100:], far])
    for q in (queries, far[:20] + 0.01):
        ids, dists = search(e, q, "l2")
        assert recall(ids, exact_knn(q, rows, K, "l2")) >= 0.9
        check_exact(ids, dists, q, rows, "l2")


def lists(e):
    return [e.neighbours(i, 0).tolist() for i in range(e.size)]


@pytest.mark.parametrize("storage", ["sq8", "f32"])
def test_one_thread_is_deterministic(storage):
    base, _, _, _ = clustered_with_queries(800, 1, 48, seed=9)
    graphs = []
    for _ in range(2):
        e = engine(48, "l2", storage, seed=3)
        e.build(base[:600], 1)
        e.extend(base[600:], 1)
        graphs.append(lists(e))
    assert graphs[0] == graphs[1]


def test_index_build_and_add_on_codes():
    """The public path: Index.build and Index.add with the default storage."""
    base, queries, _, _ = clustered_with_queries(1600, NQ, 24, seed=2)
    index = fanns.Index.build(base[:1000], M=8, ef_construction=64, threads=1)
    assert index.storage == "sq8"
    index.add(base[1000:], ids=np.arange(1000, 1600), threads=2)
    result = index.search(queries, k=K, ef=64)
    assert recall(result.ids, exact_knn(queries, base, K, "l2")) >= 0.9
    check_exact(result.ids, result.distances, queries, base, "l2")
