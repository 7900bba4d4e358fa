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
