"""Fuzz target: a segmented (mutable) index directory, its manifest, state
file and segment files mutated as bytes or field by field (with valid
checksums), then loaded and searched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile

import numpy as np

import fanns
from fanns._fileformat import read_index_file, write_index_file
from fuzz_common import _CACHE, DIM, LOAD_ERRORS, RECORDS, Draw, _vectors
from fuzz_files import _mutate_array, _mutate_bytes, _mutate_value

MANIFEST = "manifest.json"


def segmented_template() -> dict[str, bytes]:
    """The files of a saved index of two segments with external ids and
    deleted rows, an int column (with a range graph) and a string column
    (name -> bytes). Small, so that a load is quick: the single-file targets
    cover the per-file format in depth."""
    if "segmented" not in _CACHE:
        rows = 128
        vectors = _vectors()[:rows]
        ids = np.arange(rows, dtype=np.int64) * 3 + 7
        index = fanns.Index.create(DIM, M=8, ef_construction=32, range_attribute="i")
        index._segments.max_segment_rows = rows // 2  # two segments
        for part in np.array_split(np.arange(rows), 2):
            columns = {name: [RECORDS[name][i] for i in part] for name in ("i", "s")}
            index.add(vectors[part], ids=ids[part], attributes=columns, threads=1)
        index.delete(ids[::9])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index")
            index.save(path)
            files = {}
            for name in sorted(os.listdir(path)):
                with open(os.path.join(path, name), "rb") as f:
                    files[name] = f.read()
        # Fixed file names instead of the random ones a save picks, so that
        # an input mutates the same files in every process (reproducible).
        manifest = json.loads(files.pop(MANIFEST))
        renamed = {}
        for i, entry in enumerate(manifest["segments"]):
            renamed[entry["file"]] = entry["file"] = f"segment-{i:016x}.fanns"
        renamed[manifest["state"]] = manifest["state"] = f"state-{0:016x}.npz"
        files = {renamed[name]: raw for name, raw in files.items()}
        files[MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()
        _CACHE["segmented"] = files
    return _CACHE["segmented"]


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _mutate_state(d: Draw, raw: bytes) -> bytes:
    """The ids/live file: bytes, or one of its arrays changed."""
    if d.chance(3):
        return _mutate_bytes(d, raw)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception:  # already mutated as bytes
        return _mutate_bytes(d, raw)
    if not arrays:
        return raw
    name = d.pick(sorted(arrays))
    choice = d.below(8)
    if choice == 0:
        del arrays[name]
    elif choice == 1 and name.startswith("ids_"):  # an id live twice, or a padding id
        ids = arrays[name].copy()
        ids[d.below(len(ids))] = d.pick([int(ids[0]), -1, -(2**63), 2**63 - 1, 2**63 - 2])
        arrays[name] = ids
    elif choice == 2 and name.startswith("live_"):  # revive or kill rows
        arrays[name] = np.logical_not(arrays[name]) if d.chance(2) else np.ones_like(arrays[name])
    else:
        arrays[name] = _mutate_array(d, arrays[name])
    return _npz(arrays)


def _mutate_segment(d: Draw, raw: bytes) -> bytes:
    """A segment's single-index file: bytes, or decoded fields rewritten
    with valid checksums."""
    if d.chance(3):
        return _mutate_bytes(d, raw)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "segment")
        with open(path, "wb") as f:
            f.write(raw)
        try:
            meta, sections = read_index_file(path, "hnsw")
        except LOAD_ERRORS:  # already mutated as bytes
            return _mutate_bytes(d, raw)
        if d.chance(2):
            meta = _mutate_value(d, meta)
        else:
            name = d.pick(sorted(sections))
            sections[name] = _mutate_array(d, sections[name])
        try:
            write_index_file(path, "hnsw", meta, sections)
        except (TypeError, ValueError, OverflowError):
            return raw  # the mutation could not be written (e.g. meta not JSON-able)
        with open(path, "rb") as f:
            return f.read()


def _mutate_manifest(d: Draw, manifest, files: dict[str, bytes]):
    if not isinstance(manifest, dict):
        return _mutate_value(d, manifest)
    choice = d.below(4)
    if choice == 0:  # a segment entry's file: another file, a directory, a path
        entries = manifest.get("segments")
        if isinstance(entries, list) and entries:
            entry = entries[d.below(len(entries))]
            if isinstance(entry, dict):
                names = sorted(files) + ["", ".", "..", "missing.fanns", "/etc/passwd", "a/b"]
                entry["file"] = d.pick(names)
        return manifest
    if choice == 1 and isinstance(manifest.get("segments"), list):  # order, repeats, fewer
        entries = manifest["segments"]
        op = d.below(3)
        if op == 0:
            entries.reverse()
        elif op == 1 and entries:
            entries.append(entries[d.below(len(entries))])
        elif entries:
            del entries[d.below(len(entries))]
        return manifest
    if choice == 2:  # numbers JSON allows but Python's json also writes
        key = d.pick(["dim", "next_id", "max_segment_rows", "version"])
        manifest[key] = d.pick([float("nan"), float("inf"), -1, 0, 2**63, 2**64, 1.5, "8"])
        return manifest
    return _mutate_value(d, manifest)


def _mutate_directory(d: Draw, files: dict[str, bytes]) -> dict[str, bytes]:
    files = dict(files)
    manifest = json.loads(files[MANIFEST])
    state = manifest["state"]
    for _ in range(d.between(1, 3)):
        target = d.below(6)
        segments = sorted(name for name in files if name.startswith("segment-"))
        if target == 0:
            files[MANIFEST] = _mutate_bytes(d, files[MANIFEST])
            return files
        if target == 1:
            manifest = _mutate_manifest(d, manifest, files)
        elif target == 2 and state in files:
            try:
                files[state] = _mutate_state(d, files[state])
            except OverflowError:  # a value the array's dtype cannot hold
                pass
        elif target == 3 and segments:
            name = d.pick(segments)
            try:
                files[name] = _mutate_segment(d, files[name])
            except OverflowError:
                pass
        elif target == 4 and len(files) > 1:  # a file gone
            del files[d.pick(sorted(name for name in files if name != MANIFEST))]
        elif target == 5:  # two segment files swapped
            if len(segments) >= 2:
                a, b = segments[:2]
                files[a], files[b] = files[b], files[a]
    if isinstance(manifest, dict) and state in files and d.below(8) != 0:
        # The checksum follows the state file, so the change reaches the loader.
        manifest["state_sha256"] = hashlib.sha256(files[state]).hexdigest()
    try:
        files[MANIFEST] = json.dumps(manifest).encode()
    except (TypeError, ValueError):
        pass
    return files


def segmented_load_target(data: bytes) -> None:
    d = Draw(data)
    files = _mutate_directory(d, segmented_template())
    mmap = d.chance(4)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        os.mkdir(path)
        for name, raw in files.items():
            with open(os.path.join(path, name), "wb") as f:
                f.write(raw)
        try:
            index = fanns.Index.load(path, mmap=mmap)
        except LOAD_ERRORS:
            return
        # A directory that loads must answer like an index: live ids only,
        # finite distances, each id once per query, the filter held.
        q = np.random.default_rng(d.below(100)).standard_normal((2, index.dim)).astype(np.float32)
        _check_answers(index, q)
        if d.chance(2):
            # The schema and build parameters the manifest gave must take a new row.
            try:
                index.add(q[:1], attributes={"i": [5], "s": ["a"]}, threads=1)
            except (TypeError, ValueError, KeyError):
                return
            _check_answers(index, q)
        del index


def _check_answers(index, q: np.ndarray) -> None:
    for flt in (None, fanns.field("i") >= 0):
        try:
            result = index.search(q, k=5, filter=flt)
        except KeyError:  # the mutation renamed or dropped the attribute
            continue
        for ids, distances in zip(result.ids, result.distances):
            found = ids[ids >= 0]
            if (ids < -1).any() or not np.isfinite(distances[ids >= 0]).all():
                raise AssertionError(f"bad answer {ids} {distances}")
            if len(set(found.tolist())) != len(found) or not index.contains(found).all():
                raise AssertionError(f"an id twice or not in the index: {ids}")
            if flt is not None and len(found):
                values = index.get(found).attributes["i"]
                if not all(v is not None and v >= 0 for v in values):
                    raise AssertionError(f"a result that fails its filter: {values}")
