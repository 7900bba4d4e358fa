"""Index files as sections: memory-mapped loads answer exactly as full loads,
each verify mode catches the damage it checks for, saves are atomic even when
interrupted, and version 1 files still load."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest

import fanns
import fanns.routing as routing
from fanns import _fileformat
from oracle import clustered_with_queries

N, DIM = 1200, 16
MODES = (False, "header", "full")


@pytest.fixture(scope="module")
def built():
    base, queries, labels, _ = clustered_with_queries(N, 30, DIM, seed=21)
    attributes = {"label": [f"c{x}" for x in labels], "year": 2000 + np.arange(N) % 25}
    index = fanns.Index.build(base, attributes=attributes, M=8, threads=1, range_attribute="year")
    return index, queries


@pytest.fixture()
def saved(tmp_path, built):
    path = tmp_path / "index.fanns"
    built[0].save(path)
    return path


FILTERS = (
    None,
    fanns.field("label") == "c3",
    fanns.field("year").between(2003, 2006),
    fanns.field("year") < 2001,
)


def _same_answers(a: fanns.Index, b: fanns.Index, queries) -> None:
    for flt in FILTERS:
        x = a.search(queries, k=10, filter=flt)
        y = b.search(queries, k=10, filter=flt)
        np.testing.assert_array_equal(x.ids, y.ids)
        np.testing.assert_array_equal(x.distances, y.distances)
        np.testing.assert_array_equal(x.plans, y.plans)


def test_mapped_load_answers_exactly_as_a_full_load(saved, built):
    index, queries = built
    full = fanns.Index.load(saved)
    mapped = fanns.Index.load(saved, mmap=True)
    _same_answers(full, index, queries)
    _same_answers(mapped, full, queries)
    # The mapped index reads rows, codes and links from the file.
    parts = mapped.memory_bytes(by_part=True)
    assert parts["rows"] == 0
    assert mapped._engine.borrowed_bytes() >= N * DIM * 4 + N * (DIM + 4) + N * 17 * 4
    assert mapped.vectors.flags.writeable is False
    # Codes are saved, not rebuilt: the loaded ones are the saved bytes.
    np.testing.assert_array_equal(mapped._engine.state()["codes"], index._engine.state()["codes"])
    # A mapped index saves again (straight from the map) to the same sections.
    again = saved.parent / "again.fanns"
    mapped.save(again)
    meta_a, sections_a = fanns._fileformat.read_index_file(saved, "hnsw")
    meta_b, sections_b = fanns._fileformat.read_index_file(again, "hnsw")
    assert meta_a == meta_b and sections_a.keys() == sections_b.keys()
    for name, array in sections_a.items():
        np.testing.assert_array_equal(array, sections_b[name], err_msg=name)


def test_sections_are_page_aligned(saved):
    blob = saved.read_bytes()
    (header_len,) = struct.unpack_from("<Q", blob, 12)
    info = json.loads(blob[20 : 20 + header_len])
    start = -(-(20 + header_len + 4) // 4096) * 4096
    assert start + info["payload_bytes"] == len(blob)
    assert {"hnsw/codes", "hnsw/links0", "hnsw/vectors"} <= {s["name"] for s in info["sections"]}
    assert all(s["offset"] % 4096 == 0 for s in info["sections"])


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("verify", MODES)
def test_truncated_files_fail_in_every_mode(tmp_path, saved, mmap, verify):
    blob = saved.read_bytes()
    for cut in (0, 15, 30, 4096, len(blob) // 2, len(blob) - 1):
        bad = tmp_path / f"cut{cut}.fanns"
        bad.write_bytes(blob[:cut])
        with pytest.raises(ValueError, match="truncated|not a fanns index"):
            fanns.Index.load(bad, mmap=mmap, verify=verify)


def _flip(tmp_path, blob: bytes, position: int) -> os.PathLike:
    bad = bytearray(blob)
    bad[position] ^= 0x10
    target = tmp_path / f"flip{position}.fanns"
    target.write_bytes(bytes(bad))
    return target


def _section(blob: bytes, name: str) -> tuple[int, int]:
    (header_len,) = struct.unpack_from("<Q", blob, 12)
    info = json.loads(blob[20 : 20 + header_len])
    start = -(-(20 + header_len + 4) // 4096) * 4096
    entry = next(s for s in info["sections"] if s["name"] == name)
    return start + entry["offset"], entry["nbytes"]


@pytest.mark.parametrize("mmap", [False, True])
def test_bit_flips_fail_under_the_modes_that_check_them(tmp_path, saved, built, mmap):
    blob = saved.read_bytes()
    queries = built[1]
    # In the header (its JSON): "header" and "full" check its checksum.
    target = _flip(tmp_path, blob, 40)
    for verify in ("header", "full"):
        with pytest.raises(ValueError, match="header checksum"):
            fanns.Index.load(target, mmap=mmap, verify=verify)
    # In the payload (rows, links, codes, padding): only "full" reads it all.
    positions = [_section(blob, name)[0] + 37 for name in ("hnsw/vectors", "hnsw/links0", "hnsw/codes")]
    positions.append(_section(blob, "hnsw/vectors")[0] - 3)  # zeros before a section
    for position in positions:
        target = _flip(tmp_path, blob, position)
        with pytest.raises(ValueError, match="corrupt"):
            fanns.Index.load(target, mmap=mmap, verify="full")
        for verify in (False, "header"):
            # Trusted, unchecked: may answer wrongly, must not crash.
            loaded = fanns.Index.load(target, mmap=mmap, verify=verify)
            result = loaded.search(queries, k=10, filter=fanns.field("label") == "c1")
            assert result.ids.shape == (len(queries), 10)
            assert ((result.ids >= -1) & (result.ids < N)).all()


def _damage_links(saved, target, section: str, slot: int | None, every: int):
    """A copy of ``saved`` whose link slots (``slot`` entries: a count, then
    links; None: one slot a row) in ``section`` hold every other link out of
    range and, in every ``every``-th slot, a count past the slot; the
    checksums left as they are."""
    blob = bytearray(saved.read_bytes())
    offset, nbytes = _section(bytes(blob), section)
    slot = nbytes // 4 // N if slot is None else slot
    slots = np.frombuffer(blob, dtype="<u4", count=nbytes // 4, offset=offset).reshape(-1, slot).copy()
    slots[:, 1:] = np.where(np.arange(slot - 1) % 2 == 0, 10**9, slots[:, 1:])
    slots[::every, 0] = 10**6
    blob[offset : offset + nbytes] = slots.tobytes()
    target.write_bytes(bytes(blob))
    return target


def test_links_out_of_range_are_skipped_when_unchecked(tmp_path, saved, built):
    target = _damage_links(saved, tmp_path / "links.fanns", "hnsw/links0", None, 5)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(target, verify="full")
    loaded = fanns.Index.load(target, mmap=True, verify=False)
    for flt in FILTERS:
        result = loaded.search(built[1], k=10, filter=flt)
        assert ((result.ids >= -1) & (result.ids < N)).all()


def test_range_graph_links_are_read_in_place_and_kept_in_range(tmp_path, saved, built, monkeypatch):
    """The range graph's links stay in the mapped file, unread by a load that
    does not check them; a traversal over damaged ones stays in its range."""
    # The ranges go to the range graph whatever the planner would say (the
    # main graph's scan of their few rows reads less: route_to_range).
    monkeypatch.setattr(routing, "_ask", lambda decide, routes, passing: [True] * len(routes))
    index, queries = built
    mapped = fanns.Index.load(saved, mmap=True)
    graph = mapped._segments.snapshot.segments[0].core._range_graph
    assert graph._engine.borrowed_bytes() > 0 and graph._links_mapped
    full = fanns.Index.load(saved)
    assert full.memory_bytes(by_part=True)["range_graph"] == index.memory_bytes(by_part=True)["range_graph"]
    assert mapped.memory_bytes(by_part=True)["range_graph"] < full.memory_bytes(by_part=True)["range_graph"]
    target = _damage_links(saved, tmp_path / "range-links.fanns", "range/links", graph.params["M"] + 1, 3)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(target, verify="full")
    year = 2000 + np.arange(N) % 25
    for mmap, verify in ((True, False), (True, "header"), (False, "header")):
        loaded = fanns.Index.load(target, mmap=mmap, verify=verify)
        damaged = loaded._segments.snapshot.segments[0].core._range_graph
        for depth in range(damaged.depths):  # lists read back hold at most M, in range or not
            assert all(len(damaged._engine.neighbours(p, depth)) <= graph.params["M"] for p in range(N))
        for lo, hi in ((2003, 2006), (2010, 2012)):
            result = loaded.search(queries, k=10, filter=fanns.field("year").between(lo, hi), exact_threshold=0)
            assert set(result.plans) == {"range"}  # the traversal, not a scan
            found = result.ids[result.ids >= 0]
            assert ((found < N) & (year[found % N] >= lo) & (year[found % N] <= hi)).all()


@pytest.mark.parametrize("mmap", [True, False])
def test_unchecked_links_are_checked_before_rows_are_added(tmp_path, saved, built, mmap):
    # Searches guard every read of an unchecked list; an insertion follows the
    # ids it finds, so growth checks the lists first and refuses bad ones.
    blob = bytearray(saved.read_bytes())
    offset, nbytes = _section(bytes(blob), "hnsw/links0")
    links = np.frombuffer(blob, dtype="<u4", count=nbytes // 4, offset=offset).reshape(N, -1).copy()
    links[:, 1:] = 2**31
    blob[offset : offset + nbytes] = links.tobytes()
    target = tmp_path / "links.fanns"
    target.write_bytes(bytes(blob))
    loaded = fanns.Index.load(target, mmap=mmap, verify="header")
    before = loaded.search(built[1], k=5)
    with pytest.raises(ValueError, match="corrupt index: neighbour"):
        loaded.add(built[1][:20] + 0.01)
    assert len(loaded) == N  # the failed add changed nothing
    again = loaded.search(built[1], k=5)
    np.testing.assert_array_equal(again.ids, before.ids)
    # an intact file grows as before
    intact = fanns.Index.load(saved, mmap=mmap, verify="header")
    intact.add(built[1][:20] + 0.01)
    assert len(intact) == N + 20


def test_verify_argument_is_checked(saved):
    with pytest.raises(ValueError, match="verify"):
        fanns.Index.load(saved, verify="some")
    with pytest.raises(TypeError, match="mmap"):
        fanns.Index.load(saved, mmap="yes")


class _Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("at", ["block-0", "block-1", "block-5", "header", "fsync", "replace"])
def test_interrupted_save_leaves_the_previous_file(tmp_path, built, monkeypatch, at):
    index, queries = built
    path = tmp_path / "index.fanns"
    small = fanns.Index.build(queries, M=4)
    small.save(path)
    before = path.read_bytes()
    blocks = _fileformat._blocks
    seen = {"n": 0}

    def counted(array):
        for block in blocks(array):
            if at == f"block-{seen['n']}":
                raise _Interrupt()
            seen["n"] += 1
            yield block

    def interrupt(*_args, **_kwargs):
        raise _Interrupt()

    monkeypatch.setattr(_fileformat, "_blocks", counted)
    if at == "header":
        monkeypatch.setattr(_fileformat.zlib, "crc32", _crc_after_payload(seen))
    elif at == "fsync":
        monkeypatch.setattr(_fileformat.os, "fsync", interrupt)
    elif at == "replace":
        monkeypatch.setattr(_fileformat.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        index.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["index.fanns"]
    assert len(fanns.Index.load(path)) == len(queries)


def _crc_after_payload(seen):
    """zlib.crc32 that raises when the header's checksum is taken (after every block)."""
    real = zlib.crc32

    def crc32(data, value=0):
        if value == 0 and isinstance(data, bytes) and data.startswith(b'{"kind"'):
            raise _Interrupt()
        return real(data, value)

    return crc32


def _write_version1(path, kind, meta, sections) -> None:
    """The version 1 layout: one payload right after the header, 64-byte aligned offsets."""
    table, payload = [], b""
    for name, array in sections.items():
        array = np.ascontiguousarray(array)
        payload += b"\0" * (-len(payload) % 64)
        data = array.tobytes()
        table.append(
            {"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
             "offset": len(payload), "nbytes": len(data), "crc32": zlib.crc32(data)}
        )
        payload += data
    header = json.dumps({"kind": kind, "meta": meta, "sections": table}).encode()
    blob = b"FANNSIDX" + struct.pack("<IQ", 1, len(header)) + header
    path.write_bytes(blob + struct.pack("<I", zlib.crc32(header)) + payload)


def test_version1_files_still_load_and_newer_ones_are_named(tmp_path, saved, built):
    index, queries = built
    meta, sections = _fileformat.read_index_file(saved, "hnsw")
    for key in ("code_similarity",):
        meta.pop(key)
    old = {name: array for name, array in sections.items() if not name.startswith("hnsw/code")}
    path = tmp_path / "v1.fanns"
    _write_version1(path, "hnsw", meta, old)
    for mmap in (False, True):
        loaded = fanns.Index.load(path, mmap=mmap)
        _same_answers(loaded, index, queries)  # codes derived again, identically
    future = bytearray(saved.read_bytes())
    future[8:12] = struct.pack("<I", 7)
    target = tmp_path / "v7.fanns"
    target.write_bytes(bytes(future))
    with pytest.raises(ValueError, match="format version 7"):
        fanns.Index.load(target)
