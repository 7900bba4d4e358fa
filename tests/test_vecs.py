"""The .fvecs / .ivecs readers and writers: round trips, memory maps and malformed files."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from fanns.datasets import (
    fvecs_shape,
    iter_fvecs,
    read_fvecs,
    read_ivecs,
    read_ivecs_padded,
    write_fvecs,
    write_ivecs,
)


def _raw_fvecs(rows: np.ndarray) -> bytes:
    out = b""
    for r in rows:
        out += struct.pack("<i", len(r)) + struct.pack(f"<{len(r)}f", *r)
    return out


@pytest.mark.parametrize("shape", [(257, 7), (5, 1), (1, 300), (3, 4096)])
def test_fvecs_round_trip(tmp_path, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    path = tmp_path / "x.fvecs"
    write_fvecs(path, x)
    assert os.path.getsize(path) == shape[0] * 4 * (shape[1] + 1)
    assert fvecs_shape(path) == shape
    for mmap in (True, False):
        y = read_fvecs(path, mmap=mmap)
        assert y.dtype == np.float32 and y.shape == shape
        np.testing.assert_array_equal(y, x)


def test_fvecs_bytes_are_little_endian_records(tmp_path):
    x = np.array([[1.5, -2.0, 3.25], [0.0, 7.0, -0.5]], dtype=np.float32)
    path = tmp_path / "x.fvecs"
    write_fvecs(path, x.astype(">f4"))  # big-endian input is converted
    assert path.read_bytes() == _raw_fvecs(x)
    other = tmp_path / "raw.fvecs"
    other.write_bytes(_raw_fvecs(x))
    np.testing.assert_array_equal(read_fvecs(other), x)


def test_fvecs_casts_other_numeric_input(tmp_path):
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    write_fvecs(tmp_path / "i.fvecs", x)
    np.testing.assert_array_equal(read_fvecs(tmp_path / "i.fvecs"), x.astype(np.float32))
    y = np.random.default_rng(1).standard_normal((4, 3))
    write_fvecs(tmp_path / "d.fvecs", y)
    np.testing.assert_array_equal(read_fvecs(tmp_path / "d.fvecs"), y.astype(np.float32))


def test_empty_fvecs(tmp_path):
    path = tmp_path / "empty.fvecs"
    write_fvecs(path, np.empty((0, 5), dtype=np.float32))
    assert os.path.getsize(path) == 0
    assert fvecs_shape(path) == (0, 0)
    assert read_fvecs(path).shape == (0, 0)
    assert list(iter_fvecs(path)) == []


def test_read_fvecs_is_read_only_memory_map(tmp_path):
    x = np.random.default_rng(2).standard_normal((100, 6)).astype(np.float32)
    path = tmp_path / "x.fvecs"
    write_fvecs(path, x)
    y = read_fvecs(path)
    base = y
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    assert not y.flags.writeable
    with pytest.raises(ValueError):
        y[0, 0] = 1.0
    z = read_fvecs(path, mmap=False)
    assert z.flags.c_contiguous and not isinstance(z, np.memmap)


def test_read_fvecs_start_and_count(tmp_path):
    x = np.random.default_rng(3).standard_normal((50, 3)).astype(np.float32)
    path = tmp_path / "x.fvecs"
    write_fvecs(path, x)
    for start, count in [(0, 10), (10, 15), (49, 1), (50, 0), (20, None)]:
        for mmap in (True, False):
            y = read_fvecs(path, start=start, count=count, mmap=mmap)
            np.testing.assert_array_equal(y, x[start : None if count is None else start + count])
    with pytest.raises(ValueError, match="exceed"):
        read_fvecs(path, start=45, count=10)
    with pytest.raises(ValueError, match="outside"):
        read_fvecs(path, start=51)
    with pytest.raises(ValueError, match="count"):
        read_fvecs(path, count=-1)
    with pytest.raises(TypeError):
        read_fvecs(path, start=1.5)


def test_iter_fvecs_chunks_concatenate_to_whole(tmp_path):
    x = np.random.default_rng(4).standard_normal((1000, 9)).astype(np.float32)
    path = tmp_path / "x.fvecs"
    write_fvecs(path, x)
    chunks = list(iter_fvecs(path, chunk_rows=128))
    assert [c.shape[0] for c in chunks] == [128] * 7 + [104]
    assert all(c.flags.c_contiguous and c.dtype == np.float32 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), x)
    part = np.concatenate(list(iter_fvecs(path, 100, start=250, count=333)))
    np.testing.assert_array_equal(part, x[250:583])
    with pytest.raises(ValueError, match="chunk_rows"):
        next(iter_fvecs(path, 0))


def test_write_fvecs_reads_memory_mapped_input(tmp_path):
    x = np.random.default_rng(5).standard_normal((300, 5)).astype(np.float32)
    write_fvecs(tmp_path / "a.fvecs", x)
    write_fvecs(tmp_path / "b.fvecs", read_fvecs(tmp_path / "a.fvecs"))
    assert (tmp_path / "a.fvecs").read_bytes() == (tmp_path / "b.fvecs").read_bytes()


def _good_fvecs(tmp_path, n=6, d=4):
    path = tmp_path / "bad.fvecs"
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    write_fvecs(path, x)
    return path, bytearray(path.read_bytes())


def test_malformed_fvecs_truncated(tmp_path):
    path, raw = _good_fvecs(tmp_path)
    path.write_bytes(bytes(raw[:-3]))
    for call in (fvecs_shape, read_fvecs, lambda p: list(iter_fvecs(p))):
        with pytest.raises(ValueError, match="not a multiple") as info:
            call(path)
        assert str(path) in str(info.value)


def test_malformed_fvecs_inconsistent_dims(tmp_path):
    path, raw = _good_fvecs(tmp_path)
    raw[2 * 20 : 2 * 20 + 4] = struct.pack("<i", 5)  # record 2 claims dimension 5
    path.write_bytes(bytes(raw))
    for call in (
        read_fvecs,
        lambda p: read_fvecs(p, mmap=False),
        lambda p: list(iter_fvecs(p, chunk_rows=2)),
    ):
        with pytest.raises(ValueError, match="record 2 has dimension 5") as info:
            call(path)
        assert str(path) in str(info.value)
    path, raw = _good_fvecs(tmp_path)
    raw[5 * 20 : 5 * 20 + 4] = struct.pack("<i", 3)  # last record
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="record 5"):
        fvecs_shape(path)


@pytest.mark.parametrize("dim", [0, -4])
def test_malformed_fvecs_bad_first_dimension(tmp_path, dim):
    path = tmp_path / "bad.fvecs"
    path.write_bytes(struct.pack("<i", dim) + b"\0" * 16)
    with pytest.raises(ValueError, match="invalid dimension"):
        read_fvecs(path)


def test_malformed_fvecs_too_short_and_missing(tmp_path):
    path = tmp_path / "short.fvecs"
    path.write_bytes(b"\1\0")
    with pytest.raises(ValueError, match="too short"):
        fvecs_shape(path)
    with pytest.raises(FileNotFoundError, match="nothere.fvecs"):
        read_fvecs(tmp_path / "nothere.fvecs")
    with pytest.raises(ValueError, match="not a regular file"):
        read_fvecs(tmp_path)


def test_write_fvecs_rejects_bad_input_and_keeps_old_file(tmp_path):
    path = tmp_path / "x.fvecs"
    write_fvecs(path, np.ones((2, 3), dtype=np.float32))
    before = path.read_bytes()
    bad = np.ones((4, 3))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        write_fvecs(path, bad)
    with pytest.raises(ValueError, match="row 0"):
        write_fvecs(path, np.full((1, 2), 1e300))  # overflows float32
    with pytest.raises(ValueError, match="2-D"):
        write_fvecs(path, np.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        write_fvecs(path, np.ones((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="dtype"):
        write_fvecs(path, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="at least one dimension"):
        write_fvecs(path, np.ones((2, 0)))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.fvecs"]  # no temporary files left behind
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_fvecs(tmp_path / "no" / "x.fvecs", np.ones((1, 1)))


def test_ivecs_round_trip_ragged(tmp_path):
    rows = [
        np.array([5, 3, 9]),
        np.array([], dtype=np.int64),
        np.array([2**31 - 1, -(2**31)]),
        np.array([7]),
    ]
    path = tmp_path / "r.ivecs"
    write_ivecs(path, rows)
    expected = b"".join(
        struct.pack("<i", len(r)) + struct.pack(f"<{len(r)}i", *r.tolist()) for r in rows
    )
    assert path.read_bytes() == expected
    back = read_ivecs(path)
    assert len(back) == len(rows)
    for a, b in zip(back, rows):
        assert a.dtype == np.int32
        np.testing.assert_array_equal(a, b)
    padded = read_ivecs_padded(path, pad=-7)
    assert padded.shape == (4, 3) and padded.dtype == np.int32
    np.testing.assert_array_equal(padded[0], [5, 3, 9])
    np.testing.assert_array_equal(padded[1], [-7, -7, -7])
    np.testing.assert_array_equal(padded[3], [7, -7, -7])


def test_ivecs_round_trip_rectangular_and_lists(tmp_path):
    table = np.random.default_rng(6).integers(0, 10**6, size=(40, 100))
    write_ivecs(tmp_path / "a.ivecs", table)
    np.testing.assert_array_equal(read_ivecs_padded(tmp_path / "a.ivecs"), table)
    assert [r.tolist() for r in read_ivecs(tmp_path / "a.ivecs")] == table.tolist()
    write_ivecs(tmp_path / "b.ivecs", [[1, 2], [3]])
    assert [r.tolist() for r in read_ivecs(tmp_path / "b.ivecs")] == [[1, 2], [3]]
    write_ivecs(tmp_path / "c.ivecs", [[4]])  # count 1
    assert [r.tolist() for r in read_ivecs(tmp_path / "c.ivecs")] == [[4]]


def test_empty_ivecs(tmp_path):
    path = tmp_path / "e.ivecs"
    write_ivecs(path, [])
    assert os.path.getsize(path) == 0
    assert read_ivecs(path) == []
    assert read_ivecs_padded(path).shape == (0, 0)
    write_ivecs(path, [np.array([], dtype=np.int32)] * 3)
    assert [r.size for r in read_ivecs(path)] == [0, 0, 0]


def test_malformed_ivecs(tmp_path):
    path = tmp_path / "bad.ivecs"
    path.write_bytes(struct.pack("<3i", 2, 1, 2) + b"\0\0")
    with pytest.raises(ValueError, match="multiple of 4") as info:
        read_ivecs(path)
    assert str(path) in str(info.value)
    path.write_bytes(struct.pack("<5i", 2, 1, 2, -1, 0))
    with pytest.raises(ValueError, match="record 1 has a negative count"):
        read_ivecs(path)
    path.write_bytes(struct.pack("<i", -3))
    with pytest.raises(ValueError, match="record 0 has a negative count"):
        read_ivecs(path)
    path.write_bytes(struct.pack("<6i", 2, 1, 2, 4, 1, 2))
    with pytest.raises(ValueError, match="truncated") as info:
        read_ivecs_padded(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_ivecs(tmp_path / "missing.ivecs")


def test_write_ivecs_rejects_bad_rows(tmp_path):
    path = tmp_path / "x.ivecs"
    write_ivecs(path, [[1]])
    before = path.read_bytes()
    with pytest.raises(TypeError, match="row 1"):
        write_ivecs(path, [[1], [1.5]])
    with pytest.raises(ValueError, match="int32"):
        write_ivecs(path, [[2**31]])
    with pytest.raises(ValueError, match="1-D"):
        write_ivecs(path, [np.ones((2, 2), dtype=int)])
    with pytest.raises(ValueError, match="2-D"):
        write_ivecs(path, np.arange(3))
    with pytest.raises(TypeError):
        write_ivecs(path, 5)
    with pytest.raises(TypeError):
        write_ivecs(path, [np.array([True])])
    assert path.read_bytes() == before


def test_written_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_fvecs(tmp_path / "x.fvecs", np.ones((2, 2)))
    write_ivecs(tmp_path / "x.ivecs", [[1]])
    for name in ("x.fvecs", "x.ivecs"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o666 & ~umask
