"""Stopping loads and saves part-way: a progress callback that raises (at
its first call, half-way, at its last call before the end) stops a dense or
sparse load, leaving no object and the file as it was, loadable again with
the same answers; the engine's own checks of a load stop when cancelled; a
save stopped part-way leaves the previous file in place."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

import fanns
from fanns import _engine_file, _fileformat
from fanns.datasets.bm25 import zipf_sparse
from fanns.sparse import SparseIndex
from oracle import clustered_with_queries

N, NQ, DIM = 2000, 10, 16


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(_fileformat, "_CHUNK", 4096)


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    data, queries, labels, _ = clustered_with_queries(N, NQ, DIM, seed=4)
    index = fanns.Index.build(
        data, attributes={"c": [f"c{x}" for x in labels]}, threads=1, ef_construction=40
    )
    path = str(tmp_path_factory.mktemp("cancel") / "dense.fanns")
    index.save(path)
    return path, queries, answers("dense", index, queries)


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    docs = zipf_sparse(1500, 3000, nnz_mean=20, seed=5)
    queries = zipf_sparse(10, 3000, nnz_mean=6, seed=6)
    index = SparseIndex.build(docs, attributes={"year": np.arange(1500) % 30}, threads=1)
    path = str(tmp_path_factory.mktemp("cancel") / "sparse.fanns")
    index.save(path)
    return path, queries, answers("sparse", index, queries)


def dense_load(path, progress, mmap, verify):
    return fanns.Index.load(path, mmap=mmap, verify=verify, progress=progress)


def sparse_load(path, progress, mmap, verify):
    return SparseIndex.load(path, progress=progress)


def answers(kind, index, queries):
    """``(ids, distances or scores)`` of a filtered search."""
    if kind == "dense":
        result = index.search(queries, k=5, filter=fanns.field("c") == "c1", ef=80)
        return result.ids, result.distances
    result = index.search(queries, k=5, filter=fanns.field("year") < 10)
    return result.ids, result.scores


CASES = [
    ("dense", False, "full"),
    ("dense", True, "full"),
    ("dense", True, "header"),
    ("dense", False, False),
    ("sparse", False, "full"),
]


@pytest.mark.parametrize("kind, mmap, verify", CASES)
def test_progress_is_monotone_and_ends_at_one(request, kind, mmap, verify):
    path, queries, expected = request.getfixturevalue(kind)
    load = dense_load if kind == "dense" else sparse_load
    calls = []
    index = load(path, lambda d, t: calls.append((d, t)), mmap, verify)
    fractions = [d / t for d, t in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(f < 1.0 for f in fractions[:-1])
    assert len({t for _, t in calls}) == 1
    got = answers(kind, index, queries)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("when", ["first", "middle", "late"])
@pytest.mark.parametrize("kind, mmap, verify", CASES)
def test_a_raising_callback_stops_the_load(request, kind, mmap, verify, when, error):
    path, queries, expected = request.getfixturevalue(kind)
    load = dense_load if kind == "dense" else sparse_load
    count = []
    load(path, lambda d, t: count.append(d), mmap, verify)
    stop_at = {"first": 1, "middle": max(1, len(count) // 2), "late": max(1, len(count) - 1)}[when]
    before = digest(path)
    seen = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == stop_at:
            raise error("stop")

    with pytest.raises(error, match="stop"):
        load(path, progress, mmap, verify)
    assert len(seen) == stop_at
    assert digest(path) == before
    again = load(path, None, mmap, verify)
    got = answers(kind, again, queries)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_engine_checks_stop_when_cancelled(dense):
    path, _, _ = dense
    meta, sections = _fileformat.open_index_file(path, "hnsw", mmap=True, verify=False)
    params = {key: int(meta["params"][key]) for key in _engine_file.PARAM_KEYS}
    params["storage"] = meta["params"]["storage"]
    state = {name[len("hnsw/") :]: a for name, a in sections.items() if name.startswith("hnsw/")}
    state.update(entry=int(meta["entry"]), max_level=int(meta["max_level"]))
    if "code_similarity" in meta:
        state["code_similarity"] = bool(meta["code_similarity"])
    if "f16_exponent" in meta:
        state["f16_exponent"] = int(meta["f16_exponent"])
    for check in (True, False):
        engine = _engine_file.new_engine(int(meta["dim"]), meta["metric"], params)
        engine.cancel()
        assert engine.restore(state, borrow=True, check=check) is False
        assert engine.size == 0
        whole = _engine_file.new_engine(int(meta["dim"]), meta["metric"], params)
        assert whole.restore(state, borrow=True, check=check) is True
        assert whole.size == N and whole.progress() == (3 if check else 1) * N


def test_a_cancelled_check_raises_keyboard_interrupt(dense, monkeypatch):
    path = dense[0]
    real = _engine_file.run_cancellable

    def run(work, **kwargs):  # the engine reports its restore cancelled
        return real(lambda: False, **kwargs)

    monkeypatch.setattr(_engine_file, "run_cancellable", run)
    with pytest.raises(KeyboardInterrupt):
        fanns.Index.load(path)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_a_save_stopped_part_way_leaves_the_previous_file(
    request, tmp_path, monkeypatch, kind, error
):
    source, queries, expected = request.getfixturevalue(kind)
    load = dense_load if kind == "dense" else sparse_load
    index = load(source, None, False, "full")
    path = str(tmp_path / "target.fanns")
    index.save(path)
    before = digest(path)
    real_blocks = _fileformat._blocks
    written = []

    def blocks(array):
        for block in real_blocks(array):
            written.append(len(block))
            if len(written) == 5:
                raise error("stop")
            yield block

    monkeypatch.setattr(_fileformat, "_blocks", blocks)
    with pytest.raises(error, match="stop"):
        index.save(path)
    assert digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["target.fanns"]  # no temporary left
    monkeypatch.setattr(_fileformat, "_blocks", real_blocks)
    got = answers(kind, load(path, None, False, "full"), queries)
    np.testing.assert_array_equal(got[0], expected[0])


def test_postings_are_sorted_a_block_at_a_time(monkeypatch):
    from fanns.attributes import AttributeStore, postings

    rng = np.random.default_rng(3)
    for n, distinct in ((1000, 20), (999, 1), (50, 400)):
        codes = rng.integers(0, distinct, n).astype(np.int32)
        whole = np.argsort(codes, kind="stable")
        monkeypatch.setattr(postings, "_SORT_BLOCK", 7)
        np.testing.assert_array_equal(postings._stable_order(codes), whole)
        monkeypatch.undo()
    records = [
        {"s": ["a", "b", "c"][i % 3] if i % 4 else None, "t": ["x", "y"][: i % 3]}
        for i in range(200)
    ]
    plain = AttributeStore.from_input(records, 200)
    monkeypatch.setattr(postings, "_SORT_BLOCK", 16)
    blocked = AttributeStore.from_sections(*plain.to_sections())
    for name, value in (("s", "a"), ("s", "c"), ("t", "x"), ("t", "y")):
        expected = [i for i, r in enumerate(records) if r[name] is not None and value in r[name]]
        assert list(blocked.value_bitmap(name, value)) == expected
        assert list(plain.value_bitmap(name, value)) == expected


def test_a_raising_callback_lands_inside_the_engine_checks(monkeypatch):
    """The callback's exception stops the engine's checks part-way (not only
    before or after them): a restore of 400000 rows of 64 floats checks
    several blocks of rows per pass, and the callback raises at its first
    call, made while they run."""
    from fanns import _progress

    n, dim = 400_000, 64
    meta = {
        "metric": "l2",
        "dim": dim,
        "params": {
            "M": 2,
            "M0": 4,
            "ef_construction": 8,
            "seed": 0,
            "gamma": 1,
            "m_beta": 0,
            "storage": "f32",
        },
        "entry": 0,
        "max_level": 0,
    }
    sections = {
        "hnsw/vectors": np.ones((n, dim), np.float32),
        "hnsw/links0": np.zeros((n, 5), np.uint32),
        "hnsw/levels": np.zeros(n, np.uint8),
        "hnsw/upper_offsets": np.zeros(n + 1, np.uint64),
        "hnsw/upper_links": np.zeros(0, np.uint32),
    }
    engines = []
    real_new = _engine_file.new_engine
    monkeypatch.setattr(
        _engine_file, "new_engine", lambda *a: engines.append(real_new(*a)) or engines[-1]
    )
    monkeypatch.setattr(_progress, "_POLL_SECONDS", 0.001)

    at_raise = []

    def stop(done, total):
        at_raise.append(engines[0].progress())
        raise RuntimeError("stop")

    meter = _fileformat.Meter(stop)
    meter.expect(_engine_file.restore_work({k: a.nbytes for k, a in sections.items()}, True))
    with pytest.raises(RuntimeError, match="stop"):
        _engine_file.engine_from_sections("x", meta, sections, check=True, meter=meter)
    engine = engines[0]
    if at_raise[0] == 3 * n:
        pytest.skip("the checks ended before the calling thread polled them")
    # The callback is first called once a block is checked (the meter moved),
    # and raised while the checks ran: they stop at the next block.
    assert 0 < at_raise[0] < 3 * n
    assert engine.size == 0 and engine.progress() < 3 * n
    # Without the callback the same sections restore whole.
    engine, _, _ = _engine_file.engine_from_sections("x", meta, sections, check=True)
    assert engine.size == n
