"""Building from rows read in place: memory-mapped and strided float32 arrays
give the same graph as a contiguous copy, without the index copying them."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns.datasets import read_fvecs, write_fvecs
from oracle import clustered_with_queries, exact_knn, recall

N, DIM = 900, 24
GRAPH = ("links0", "levels", "upper_offsets", "upper_links")


@pytest.fixture(scope="module")
def data():
    return clustered_with_queries(N, 40, DIM, seed=11)


@pytest.fixture(scope="module")
def fvecs(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("rows") / "base.fvecs"
    write_fvecs(path, data[0])
    return path


def _same_graph(a: fanns.Index, b: fanns.Index) -> None:
    sa, sb = a._engine.state(), b._engine.state()
    for name in (*GRAPH, "codes", "code_low", "code_step"):
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)
    assert sa["entry"] == sb["entry"] and sa["max_level"] == sb["max_level"]


@pytest.mark.parametrize("storage", ["sq8", "f32"])
def test_strided_memmap_builds_the_same_graph_without_a_copy(data, fvecs, storage):
    base, queries, _, _ = data
    view = read_fvecs(fvecs)
    assert not view.flags.c_contiguous and not view.flags.writeable
    mapped = fanns.Index.build(view, M=8, threads=1, seed=3, storage=storage)
    packed = fanns.Index.build(base.copy(), M=8, threads=1, seed=3, storage=storage)
    if storage == "sq8":
        _same_graph(mapped, packed)
    else:
        sa, sb = mapped._engine.state(), packed._engine.state()
        for name in GRAPH:
            np.testing.assert_array_equal(sa[name], sb[name])
    # The rows are the caller's: none copied, the index reads the map.
    assert mapped.memory_bytes(by_part=True)["rows"] == 0
    assert mapped._engine.borrowed_bytes() == N * DIM * 4
    assert np.shares_memory(mapped.vectors, view)
    np.testing.assert_array_equal(mapped.vectors, base)
    a = mapped.search(queries, k=10, ef=64, threads=1)
    b = packed.search(queries, k=10, ef=64, threads=1)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert recall(a.ids, exact_knn(queries, base, 10)) >= 0.95
    # Filtered scans (exact and on codes) read the strided rows too.
    flt = np.zeros(N, dtype=bool)
    flt[::7] = True
    got = mapped.search(queries, k=10, filter=flt, exact_threshold=N)
    truth = exact_knn(queries, base, 10, mask=flt)
    assert recall(got.ids, truth) == 1.0
    assert set(got.plans) <= {"exact", "scan"}


def test_strided_slice_and_converted_inputs(data):
    base, queries, _, _ = data
    wide = np.zeros((N, DIM + 5), dtype=np.float32)
    wide[:, 2 : 2 + DIM] = base
    strided = wide[:, 2 : 2 + DIM]
    # Writable input is copied by default: changing it later changes nothing.
    copied = fanns.Index.build(strided, M=8, threads=1, seed=3)
    assert copied.memory_bytes(by_part=True)["rows"] == N * DIM * 4
    borrowed = fanns.Index.build(strided, M=8, threads=1, seed=3, copy=False)
    assert borrowed._engine.borrowed_bytes() == N * DIM * 4
    _same_graph(copied, borrowed)
    before = copied.search(queries, k=5).ids
    wide[:, 2 : 2 + DIM] += 100.0
    np.testing.assert_array_equal(copied.search(queries, k=5).ids, before)
    # float64 input is converted once; the engine reads the conversion.
    converted = fanns.Index.build(base.astype(np.float64), M=8, threads=1, seed=3)
    assert converted.memory_bytes(by_part=True)["rows"] == N * DIM * 4  # held by the index
    assert converted._engine.borrowed_bytes() == N * DIM * 4
    np.testing.assert_array_equal(converted.search(queries, k=5).ids, before)


def test_cosine_from_a_memmap_normalises_in_blocks(data, fvecs):
    base, queries, _, _ = data
    index = fanns.Index.build(read_fvecs(fvecs), metric="cosine", M=8, threads=1)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    np.testing.assert_allclose(index.vectors, unit, rtol=1e-6, atol=1e-7)
    got = index.search(queries, k=10, ef=128)
    assert recall(got.ids, exact_knn(queries, base, 10, metric="cosine")) >= 0.95


def test_bad_rows_in_a_memmap_are_named(tmp_path, data):
    path = tmp_path / "bad.fvecs"
    write_fvecs(path, data[0])
    blob = bytearray(path.read_bytes())
    at = (613 * (DIM + 1) + 1 + 5) * 4
    blob[at : at + 4] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="row 613"):
        fanns.Index.build(read_fvecs(path))
    with pytest.raises(ValueError, match="row 613"):
        fanns.Index.build(read_fvecs(path), metric="cosine")
    with pytest.raises(ValueError, match="cannot be read in place"):
        fanns.Index.build(data[0][:, ::2], copy=False)
    with pytest.raises(TypeError, match="copy"):
        fanns.Index.build(data[0], copy="yes")


def test_progress_is_reported_and_a_cancelled_build_raises():
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((6000, 48)).astype(np.float32)
    seen = []
    index = fanns.Index.build(rows[:3000], M=8, threads=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3000, 3000) and all(t == 3000 and 0 <= d <= t for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(index) == 3000

    calls = []

    def stop(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fanns.Index.build(rows, M=8, threads=1, ef_construction=400, progress=stop)
    assert len(calls) == 1 and calls[0] < 6000
    with pytest.raises(TypeError, match="progress"):
        fanns.Index.build(rows[:10], progress=3)


def test_ctrl_c_stops_a_build(monkeypatch):
    import signal

    # A real SIGINT, raised in the calling thread once the build reports
    # progress (so the build is running), under Python's own Ctrl-C handler
    # and with the signal unblocked: other code in the process (earlier
    # tests, libraries) may have changed either.
    n = 30_000
    rows = np.random.default_rng(6).standard_normal((n, 32)).astype(np.float32)
    done = []

    def report(inserted, total):
        done.append(inserted)
        if len(done) == 1:
            signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    try:
        with pytest.raises(KeyboardInterrupt):
            fanns.Index.build(rows, M=8, threads=1, ef_construction=200, progress=report)
    finally:
        signal.signal(signal.SIGINT, previous)
        if signal.SIGINT in blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    assert done and done[-1] < n


def test_text_bar_draws_only_on_a_terminal():
    import io

    from fanns._progress import text_bar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    bar = text_bar("building", out)
    bar(5, 10)
    bar(10, 10)
    assert "5/10" in out.getvalue() and out.getvalue().endswith("10/10\n")
    plain = io.StringIO()
    text_bar("building", plain)(5, 10)
    assert plain.getvalue() == ""
