"""Index.load(progress=): progress reported while a file is read and checked,
and a callback that raises (KeyboardInterrupt as Ctrl-C does) stops the load
with the file intact and loadable again."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import fanns
from fanns import _fileformat
from fanns._engine_file import restore_work
from oracle import clustered_with_queries, exact_distances

N, NQ, DIM = 3000, 12, 24


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=9)
    index = fanns.Index.build(
        data,
        attributes={"year": np.arange(N) % 40, "cluster": [f"c{x}" for x in labels]},
        threads=1,
        ef_construction=40,
        range_attribute="year",
    )
    path = str(tmp_path_factory.mktemp("progress") / "index.fanns")
    index.save(path)
    return path, data, queries


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 KiB, so a small file takes many steps."""
    monkeypatch.setattr(_fileformat, "_CHUNK", 4096)


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def payload_bytes(path: str) -> int:
    _, sections = _fileformat.open_index_file(path, "hnsw", mmap=True, verify=False)
    return sum(a.nbytes for a in sections.values())


def check_answers(index, data, queries):
    result = index.search(queries, k=5, filter=fanns.field("year") < 20, exact_threshold=N)
    exact = exact_distances(queries, data, index.metric)
    passing = np.flatnonzero(np.arange(N) % 40 < 20)
    for i in range(NQ):
        order = passing[np.lexsort((passing, exact[i, passing]))][:5]
        np.testing.assert_array_equal(result.ids[i], order)
        np.testing.assert_allclose(result.distances[i], exact[i, order], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "mmap, verify, passes", [(False, "full", 2), (False, False, 1), (True, "full", 1), (True, "header", 0)]
)
def test_progress_counts_bytes_read_and_checked(saved, small_blocks, mmap, verify, passes):
    path, data, queries = saved
    calls = []
    index = fanns.Index.load(path, mmap=mmap, verify=verify, progress=lambda d, t: calls.append((d, t)))
    payload = payload_bytes(path)
    # and the engine's checks: rows, level-0 lists and levels with
    # verify="full", the levels (and upper lists) otherwise
    _, sections = _fileformat.open_index_file(path, "hnsw", mmap=True, verify=False)
    nbytes = {name: a.nbytes for name, a in sections.items()}
    total = passes * payload + restore_work(nbytes, verify == "full")
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(d < total for d in done[:-1])
    if passes:
        assert len(calls) > payload // 4096  # a call per block
    else:
        assert calls[-1] == (total, total) and len(calls) <= 2
    check_answers(index, data, queries)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("mmap, verify", [(False, "full"), (True, "full"), (False, False)])
def test_a_raising_callback_stops_the_load_and_leaves_the_file_intact(
    saved, small_blocks, error, mmap, verify
):
    path, data, queries = saved
    before = digest(path)
    calls = []

    def stop_early(done, total):
        calls.append(done)
        if len(calls) == 5:
            raise error("stop")

    with pytest.raises(error, match="stop"):
        fanns.Index.load(path, mmap=mmap, verify=verify, progress=stop_early)
    assert len(calls) == 5  # stopped at once, not at the end
    assert digest(path) == before
    check_answers(fanns.Index.load(path), data, queries)


def test_progress_must_be_callable(saved):
    with pytest.raises(TypeError, match="progress must be callable"):
        fanns.Index.load(saved[0], progress=3)


def test_progress_of_a_segment_directory(tmp_path, small_blocks):
    data, queries, _, _ = clustered_with_queries(900, 4, 8, seed=2)
    index = fanns.Index.build(data[:500], ids=np.arange(500), threads=1, ef_construction=32)
    index.add(data[500:], ids=np.arange(500, 900))
    path = str(tmp_path / "mutable")
    index.save(path)
    calls = []
    loaded = fanns.Index.load(path, progress=lambda d, t: calls.append((d, t)))
    total = calls[-1][1]
    assert calls[-1] == (total, total) and total >= 2000  # two segments or more
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(d < total for d in done[:-1])
    assert {t for _, t in calls} == {total}
    np.testing.assert_array_equal(
        loaded.search(queries, k=5, ef=200).ids, index.search(queries, k=5, ef=200).ids
    )
    with pytest.raises(KeyboardInterrupt):
        fanns.Index.load(path, progress=lambda d, t: (_ for _ in ()).throw(KeyboardInterrupt()))
