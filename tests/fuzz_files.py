"""Fuzz targets: index files mutated as bytes or field by field, then loaded."""

from __future__ import annotations

import os
import tempfile

import numpy as np

import fanns
from fanns._fileformat import read_index_file, write_index_file
from fuzz_common import _CACHE, LOAD_ERRORS, Draw, N, _check_result, dense_index, sparse_index


# -------------------------------------------------------------- file loads
def template(kind: str) -> bytes:
    key = f"file-{kind}"
    if key not in _CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index")
            (dense_index() if kind == "dense" else sparse_index()).save(path)
            with open(path, "rb") as f:
                _CACHE[key] = f.read()
    return _CACHE[key]


def _mutate_bytes(d: Draw, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(d.between(1, 4)):
        op = d.below(5)
        at = d.below(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << d.below(8)
        elif op == 1:
            out[at : at + 8] = bytes(d.byte() for _ in range(8))
        elif op == 2:
            del out[at:]
        elif op == 3:
            out[at:at] = bytes(d.byte() for _ in range(d.below(64)))
        else:  # the header: most of the structure lives in its first bytes
            spot = d.below(min(len(out), 512) or 1)
            if out:
                out[spot] = d.byte()
    return bytes(out)


def _mutate_value(d: Draw, value):
    choice = d.below(10)
    if choice == 0:
        return d.pick([None, True, "x", [], {}, -1, 0, 2**31, 2**64, 1.5, float("nan")])
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return d.pick([value + 1, value - 1, 0, -value, value * 2, 2**32, d.between(-5, 500)])
    if isinstance(value, float):
        return d.pick([-value, 0.0, 1e300, value * 2])
    if isinstance(value, str):
        return d.pick(["", value + "x", "int", "float", "strings", "l2", "ip", "hnsw", "sparse"])
    if isinstance(value, list) and value:
        i = d.below(len(value))
        value = list(value)
        if d.chance(4):
            del value[i]
        else:
            value[i] = _mutate_value(d, value[i])
        return value
    if isinstance(value, dict) and value:
        key = d.pick(sorted(value, key=str))
        value = dict(value)
        if d.chance(6):
            del value[key]
        else:
            value[key] = _mutate_value(d, value[key])
        return value
    return value


def _mutate_array(d: Draw, array: np.ndarray) -> np.ndarray:
    op = d.below(6)
    flat = array.reshape(-1).copy()
    if op <= 2 and flat.size:
        for _ in range(d.between(1, 4)):
            i = d.below(flat.size)
            if flat.dtype.kind in "iu":
                info = np.iinfo(flat.dtype)
                flat[i] = d.pick([info.max, info.min, 0, 1, N, N - 1, N + 1, int(flat[i]) + 1])
            elif flat.dtype.kind == "f":
                flat[i] = d.pick([np.nan, np.inf, 1e30, -1e30, 0.0, 3e38])
            elif flat.dtype.kind == "b":
                flat[i] = not flat[i]
        return flat.reshape(array.shape)
    if op == 3:
        return flat[: d.below(flat.size + 1)]
    if op == 4:
        return np.concatenate([flat, flat[: d.below(8)]])
    kinds = [np.int64, np.uint32, np.float32, np.uint8, np.float64]
    with np.errstate(all="ignore"):
        return flat.astype(d.pick(kinds))


def _mutate_file(d: Draw, raw: bytes, kind: str, path: str) -> None:
    if d.chance(3):
        with open(path, "wb") as f:
            f.write(_mutate_bytes(d, raw))
        return
    with open(path, "wb") as f:
        f.write(raw)
    meta, sections = read_index_file(path, kind)
    for _ in range(d.between(1, 3)):
        if d.chance(2):
            meta = _mutate_value(d, meta)
            while d.chance(2):
                meta = _mutate_value(d, meta)
        else:
            name = d.pick(sorted(sections))
            if d.chance(10):
                del sections[name]
            else:
                sections[name] = _mutate_array(d, sections[name])
    write_index_file(path, kind, meta, sections)


def load_target(data: bytes, kind: str) -> None:
    d = Draw(data)
    cls, file_kind = (fanns.Index, "hnsw") if kind == "dense" else (fanns.SparseIndex, "sparse")
    raw = template(kind)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        try:
            _mutate_file(d, raw, file_kind, path)
        except (TypeError, ValueError, OverflowError):
            return  # the mutation itself could not be written (e.g. meta not JSON-able)
        try:
            index = cls.load(path)
        except LOAD_ERRORS:
            return
    n = len(index)
    # A file that loads must answer like an index: ids in range, finite values.
    flt = fanns.field("i") >= 0
    if kind == "dense":
        q = np.random.default_rng(d.below(100)).standard_normal((2, index.dim)).astype(np.float32)
        _check_result(*_search(index.search, q, flt), None, n)
        _check_result(*_search(index.search, q, None), None, n)
    else:
        q = [{1: 1.0, 5: 0.5}, {0: 2.0}]
        _check_result(*_search(index.search, q, flt), None, n)
        _check_result(*_search(index.search, q, None), None, n)


def _search(search, queries, flt) -> tuple[np.ndarray, np.ndarray]:
    try:
        result = search(queries, k=5, filter=flt)
    except KeyError:  # the mutation renamed or dropped the attribute
        return np.full((1, 5), -1), np.zeros((1, 5))
    values = result.distances if hasattr(result, "distances") else result.scores
    return result.ids, values


def dense_load_target(data: bytes) -> None:
    load_target(data, "dense")


def sparse_load_target(data: bytes) -> None:
    load_target(data, "sparse")
