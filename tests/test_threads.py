"""The engine's thread pool and scratch pools, and many Python threads
searching one index at once."""

from __future__ import annotations

import math
import os
import threading

import numpy as np
import pytest

import fanns
from fanns import _core


# ----------------------------------------------------------------- CPUs
def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _cgroup_quota() -> float | None:
    """CPUs granted by the smallest cgroup quota on this process's cgroups."""
    best = None
    try:
        lines = _read("/proc/self/cgroup").splitlines()
    except OSError:
        return None

    def read_quota(directory: str, v2: bool) -> float | None:
        try:
            if v2:
                quota, period = _read(os.path.join(directory, "cpu.max")).split()[:2]
                if quota == "max":
                    return None
            else:
                quota = _read(os.path.join(directory, "cpu.cfs_quota_us")).strip()
                period = _read(os.path.join(directory, "cpu.cfs_period_us")).strip()
            quota, period = float(quota), float(period)
        except (OSError, ValueError):
            return None
        return quota / period if quota > 0 and period > 0 else None

    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers:
            if "cpu" not in controllers.split(","):
                continue
            mounts, v2 = ["/sys/fs/cgroup/" + controllers, "/sys/fs/cgroup/cpu"], False
        else:
            mounts, v2 = ["/sys/fs/cgroup"], True
        for mount in mounts:
            parts = [p for p in path.split("/") if p]
            for depth in range(len(parts), -1, -1):
                q = read_quota(mount + "/" + "/".join(parts[:depth]), v2)
                if q is not None and (best is None or q < best):
                    best = q
    return best


def test_cpu_count_follows_affinity_and_quota():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota()
    if quota is not None:
        expected = min(expected, math.ceil(quota))
    assert fanns.cpu_count() == max(1, expected)


def test_cpu_count_follows_a_narrowed_affinity_in_a_child():
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs and sched_setaffinity")
    import subprocess
    import sys

    cpu = min(os.sched_getaffinity(0))
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}}); import fanns; print(fanns.cpu_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


# ------------------------------------------------------------- the pool
@pytest.mark.parametrize(
    ("count", "threads", "chunk"), [(0, 0, 1), (1, 0, 1), (1000, 0, 7), (5000, 64, 3)]
)
def test_parallel_for_covers_every_item_once(count, threads, chunk):
    total, distinct, workers = _core._parallel_sum(count, threads, chunk)
    assert total == count * (count - 1) // 2
    assert workers <= fanns.cpu_count()
    assert 1 <= max(distinct, 1) <= workers or count == 0


def test_nested_parallel_for_does_not_deadlock():
    total, _, _ = _core._parallel_sum(200, 0, 1, nested=50)
    n = 200 * 50
    assert total == n * (n - 1) // 2


def test_parallel_for_rethrows_and_the_pool_survives():
    with pytest.raises(ValueError, match="on purpose"):
        _core._parallel_sum(10_000, 0, 1, fail_at=4321)
    assert _core._parallel_sum(100, 0, 1)[0] == 4950


def test_parallel_for_from_many_python_threads():
    results, errors = [], []

    def run():
        try:
            for _ in range(20):
                results.append(_core._parallel_sum(3000, 0, 5, nested=3)[0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    n = 3000 * 3
    assert not errors
    assert results == [n * (n - 1) // 2] * 160


def test_scratch_pool_keeps_at_most_one_idle_object_per_cpu():
    assert _core._scratch_pool_idle_after(1) == 1
    assert _core._scratch_pool_idle_after(200) == fanns.cpu_count()


# ------------------------------------------- many threads, one index each
N_DENSE, DIM = 6000, 24


@pytest.fixture(scope="module")
def dense_index():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N_DENSE, DIM)).astype(np.float32)
    attributes = {
        "year": rng.integers(1990, 2025, N_DENSE),
        "cat": rng.choice(["a", "b", "c"], N_DENSE),
    }
    index = fanns.Index.build(
        x, attributes=attributes, M=12, ef_construction=64, range_attribute="year", threads=2
    )
    return index, rng.standard_normal((32, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def sparse_index():
    from scipy import sparse

    rng = np.random.default_rng(12)
    docs = sparse.random(3000, 500, density=0.02, format="csr", random_state=rng, dtype=np.float32)
    queries = sparse.random(32, 500, density=0.03, format="csr", random_state=rng, dtype=np.float32)
    years = rng.integers(2000, 2020, 3000)
    return fanns.SparseIndex.build(docs, attributes={"year": years}, knn=4, threads=2), queries


def _dense_calls(index, queries):
    f = fanns.field
    filters = [
        (None, None),
        (f("cat") != "c", 100),  # traversal with a predicate
        (f("cat") == "a", 100),  # two-hop traversal
        ((f("year") >= 2020) & (f("cat") != "b"), 100),  # selective: two-hop or exact
        (f("year").between(1995, 2010), 200),  # answered by the range graph
        ([f("year") == 2000 + (i % 5) for i in range(len(queries))], None),  # one per query
    ]
    return [
        lambda flt=flt, t=t: index.search(
            queries, k=10, ef=48, filter=flt, threads=1, exact_threshold=t
        )
        for flt, t in filters
    ]


def test_eight_threads_search_one_index_like_one(dense_index, sparse_index):
    index, queries = dense_index
    sparse, sparse_queries = sparse_index
    calls = _dense_calls(index, queries) + [
        lambda: sparse.search(sparse_queries, k=10, threads=1),
        lambda: sparse.search(sparse_queries, k=10, filter=fanns.field("year") < 2005, threads=1),
    ]
    plans = set()
    for call in calls:
        plans.update(call().plans.tolist())
    # The calls cover every way of answering a query.
    assert {"graph", "exact", "range", "filtered", "acorn"} <= plans, plans

    def answer(call):
        r = call()
        return (r.ids.copy(), (r.distances if hasattr(r, "distances") else r.scores).copy())

    expected = [answer(call) for call in calls]
    differences, errors = [], []
    start = threading.Barrier(8)

    def worker(seed: int):
        order = np.random.default_rng(seed).permutation(len(calls) * 6) % len(calls)
        try:
            start.wait()
            for j in order.tolist():
                ids, values = answer(calls[j])
                if not (
                    np.array_equal(ids, expected[j][0]) and np.array_equal(values, expected[j][1])
                ):
                    differences.append(j)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert differences == []


def test_concurrent_multithreaded_searches_match(dense_index):
    # Each call also fans out on the engine's pool (threads=0) while others run.
    index, queries = dense_index
    flt = fanns.field("cat") != "c"
    expected = index.search(queries, k=10, filter=flt, threads=1)
    outcomes = []

    def worker():
        for _ in range(5):
            r = index.search(queries, k=10, filter=flt, threads=0)
            outcomes.append(
                np.array_equal(r.ids, expected.ids)
                and np.array_equal(r.distances, expected.distances)
            )

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [True] * 40
