"""Saving and loading a segmented index: a directory of single-index files.

Layout of ``path/``::

    manifest.json           what the index holds: schema, segment files,
                            the ids/live file and its SHA-256
    segment-<token>.fanns   one per segment, written by the single-index save
                            (so the per-index format is the one place that
                            knows how a graph is stored)
    state-<token>.npz       ids_<i> (int64) and live_<i> (bool) per segment

A save writes every new file under a fresh name, then replaces
``manifest.json`` atomically (temporary file, fsync, rename, fsync of the
directory), and only then removes files the new manifest does not name. A
crash at any point before the rename leaves the previous manifest and every
file it names in place, so the last saved state still loads. Segment files
already written by an earlier save of the same graph are kept, not rewritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import uuid
from typing import Any

import numpy as np

from fanns.mutable.collection import MAX_ID, Segments, Snapshot
from fanns.mutable.segment import make_segment

MANIFEST = "manifest.json"
FORMAT = "fanns-segments"
VERSION = 1


def is_segment_directory(path: str) -> bool:
    return os.path.isdir(path)


def _fsync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Names this module writes (and only these are ever removed from a directory).
_GENERATED = re.compile(r"segment-[0-9a-f]{16}\.fanns|state-[0-9a-f]{16}\.npz|\.tmp-[A-Za-z0-9_]+|\.fanns-.*\.tmp")


def _is_ours(manifest_path: str) -> bool:
    """Whether ``manifest_path`` is the manifest of a saved segmented index."""
    try:
        with open(manifest_path, "rb") as handle:
            return json.loads(handle.read()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_segments(segments: Segments, snap: Snapshot, path: str, written: dict) -> None:
    """Write ``snap`` into the directory ``path`` (see the module docstring).
    ``written`` maps (directory, segment uid) to a file already saved there."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(
            f"{path!r} is a single-index file; an index with external ids, added or deleted "
            "rows is saved as a directory: choose another path"
        )
    manifest_path = os.path.join(path, MANIFEST)
    if os.path.isdir(path) and os.listdir(path) and not _is_ours(manifest_path):
        raise ValueError(
            f"{path!r} is a directory that holds no saved index: choose a new or empty directory"
        )
    os.makedirs(path, exist_ok=True)
    root = os.path.realpath(path)
    entries = []
    for segment in snap.segments:
        name = written.get((root, segment.uid))
        if name is None or not os.path.exists(os.path.join(path, name)):
            name = f"segment-{uuid.uuid4().hex[:16]}.fanns"
            segment.core.save(os.path.join(path, name))
            written[(root, segment.uid)] = name
        entries.append({"file": name, "rows": segment.n, "live": segment.live_count})
    arrays: dict[str, np.ndarray] = {}
    for i, segment in enumerate(snap.segments):
        arrays[f"ids_{i}"] = np.asarray(segment.ids, dtype="<i8")
        live = np.ones(segment.n, dtype=bool) if segment.live is None else segment.live.mask
        arrays[f"live_{i}"] = live
    state = f"state-{uuid.uuid4().hex[:16]}.npz"
    state_path = os.path.join(path, state)
    _write_atomic(state_path, lambda handle: np.savez(handle, **arrays))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "dim": segments.dim,
        "metric": segments.metric,
        "build": segments.build,
        "attribute_types": segments.attribute_types,
        "next_id": snap.next_id,
        "max_segment_rows": segments.max_segment_rows,
        "segments": entries,
        "state": state,
        "state_sha256": _sha256(state_path),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    _write_atomic(manifest_path, lambda handle: handle.write(text))
    _fsync_directory(path)
    keep = {MANIFEST, state, *(e["file"] for e in entries)}
    for name in os.listdir(path):
        stale = _GENERATED.fullmatch(name) is not None and name not in keep
        if stale:
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass


def _read_state(raw: bytes) -> dict[str, np.ndarray]:
    """The arrays of a state file's bytes; damaged bytes raise ValueError.
    (Its checksum matched the manifest's, so damage here is a file written
    wrong, not a read gone wrong: zipfile and NumPy then raise errors of many
    kinds, BadZipFile, NotImplementedError for flags it does not support,
    zlib.error, EOFError, which all mean the same to the loader.)"""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as exc:
        raise ValueError(f"unreadable state file: {exc!r}") from exc


def load_segments(
    path: str, load_file, options: dict[str, Any], progress=None
) -> tuple[Segments, dict]:
    """Read a directory written by :func:`save_segments`; ``load_file(file,
    **options)`` reads one segment's single-index file and returns its core.
    ``progress(done, total)`` hears each segment file's progress in turn, as
    a share of ``total = 1000 * segments``. Anything inconsistent raises ValueError."""

    def corrupt(what: str) -> ValueError:
        return ValueError(f"{path!r} is corrupt ({what})")

    try:
        with open(os.path.join(path, MANIFEST), "rb") as handle:
            manifest = json.loads(handle.read())
    except FileNotFoundError as exc:
        raise ValueError(f"{path!r} is a directory without a {MANIFEST}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise corrupt(f"unreadable manifest: {exc}") from exc
    try:
        if manifest["format"] != FORMAT or manifest["version"] != VERSION:
            raise corrupt("unknown format or version")
        dim, metric = int(manifest["dim"]), manifest["metric"]
        build, types = dict(manifest["build"]), dict(manifest["attribute_types"])
        next_id = int(manifest["next_id"])
        if not 0 <= next_id <= MAX_ID + 1:
            raise corrupt("next id")
        max_rows = int(manifest["max_segment_rows"])
        if not 1 <= max_rows < 2**32 - 1:
            raise corrupt("segment size")
        entries = list(manifest["segments"])
        state = manifest["state"]
        if not isinstance(state, str) or os.path.basename(state) != state:
            raise corrupt("state file name")
        with open(os.path.join(path, state), "rb") as handle:
            raw = handle.read()  # checked and read from the same bytes
        if hashlib.sha256(raw).hexdigest() != manifest["state_sha256"]:
            raise corrupt("state file checksum")
        arrays = _read_state(raw)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(repr(path)):
            raise
        raise corrupt(f"manifest: {exc!r}") from exc
    root = os.path.realpath(path)
    written: dict = {}
    parts = []
    for i, entry in enumerate(entries):
        name = entry.get("file") if isinstance(entry, dict) else None
        # A file beside the manifest: not a path, not the directory itself.
        if (
            not isinstance(name, str)
            or os.path.basename(name) != name
            or not os.path.isfile(os.path.join(path, name))
        ):
            raise corrupt(f"segment {i} file name")
        core = load_file(
            os.path.join(path, name), **options, progress=_segment_progress(progress, i, len(entries))
        )
        ids, live = arrays.get(f"ids_{i}"), arrays.get(f"live_{i}")
        if ids is None or live is None or ids.dtype != np.int64 or live.dtype != bool:
            raise corrupt(f"ids or live rows of segment {i}")
        # Ids are what add() accepts: -1 pads results.
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) > MAX_ID):
            raise corrupt(f"an id of segment {i} outside [0, 2**63 - 2]")
        if len(ids) != len(core) or len(live) != len(core) or core.dim != dim:
            raise corrupt(f"segment {i} does not match its ids")
        if core.metric != metric:
            raise corrupt(f"segment {i} metric")
        segment = make_segment(core, ids, live)
        written[(root, segment.uid)] = name
        parts.append(segment)
    snap = Snapshot(tuple(parts), next_id)
    live_ids = snap.live_ids()
    if len(np.unique(live_ids)) != len(live_ids):
        raise corrupt("an id is live in two rows")
    if len(live_ids) and next_id <= int(live_ids.max()):
        raise corrupt("next id")
    segments = Segments(
        dim=dim,
        metric=metric,
        build=build,
        attribute_types=types,
        snapshot=snap,
        max_segment_rows=max_rows,
    )
    return segments, written


def _segment_progress(progress, i: int, count: int):
    """Segment ``i`` of ``count``'s own ``(done, total)`` as a share of the directory's
    (1000 units a segment; the directory's last unit is left to its loader)."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        share = i * 1000 + 1000 * done // max(total, 1)
        progress(min(share, count * 1000 - 1), count * 1000)

    return report
