"""Saving and loading a changed index: ids, deleted rows and segments survive,
a save that fails midway leaves the previous save loadable, and single-index
files (older saves) still load."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fanns
from fanns import field
from oracle import clustered


def _changed(tmp_path, *, segment_rows=10**6):
    data, labels = clustered(400, 12, seed=1)
    index = fanns.Index.build(
        data[:300], ids=np.arange(300) * 7 + 1, attributes={"label": labels[:300]}, M=8
    )
    index._segments.max_segment_rows = segment_rows
    index.add(data[300:], ids=np.arange(300, 400) * 7 + 1, attributes={"label": labels[300:]})
    index.delete(np.arange(0, 50) * 7 + 1)
    return index, data


def _same(a, b, queries):
    for flt in (None, field("label") < 10):
        ra, rb = a.search(queries, k=10, filter=flt), b.search(queries, k=10, filter=flt)
        np.testing.assert_array_equal(ra.ids, rb.ids)
        np.testing.assert_array_equal(ra.distances, rb.distances)
    assert len(a) == len(b) and a.segments == b.segments
    np.testing.assert_array_equal(np.sort(a.ids), np.sort(b.ids))


@pytest.mark.parametrize("segment_rows", [10**6, 120])
def test_ids_deletions_and_segments_survive_a_save(tmp_path, segment_rows):
    index, data = _changed(tmp_path, segment_rows=segment_rows)
    assert index.segments == (1 if segment_rows > 400 else 2)
    path = tmp_path / "index"
    index.save(path)
    assert os.path.isdir(path)
    loaded = fanns.Index.load(path)
    _same(index, loaded, data[:20])
    assert 1 not in loaded and 50 * 7 + 1 in loaded
    assert (
        loaded.get([50 * 7 + 1]).attributes["label"] == index.get([50 * 7 + 1]).attributes["label"]
    )
    # Writes continue on the loaded index, and ids keep counting from the largest.
    loaded.add(data[:1])
    assert int(loaded.ids.max()) == 400 * 7 - 6 + 1


def test_a_failed_save_leaves_the_previous_save_loadable(tmp_path, monkeypatch):
    index, data = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    expected = fanns.Index.load(path)
    index.delete(np.arange(50, 80) * 7 + 1)
    index.add(data[:5] + 1, ids=[10**9 + i for i in range(5)])  # a new graph: a new segment file
    calls = {"n": 0}
    real = np.savez

    def failing(*args, **kwargs):  # fail while the ids and deleted rows are written
        calls["n"] += 1
        real(*args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    monkeypatch.setattr(np, "savez", real)
    assert calls["n"] == 1
    _same(fanns.Index.load(path), expected, data[:20])
    # The manifest is replaced last: fail that rename and the old state still loads.
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("manifest.json"):
            raise OSError("power cut")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="power cut"):
        index.save(path)
    monkeypatch.setattr(os, "replace", real_replace)
    _same(fanns.Index.load(path), expected, data[:20])
    index.save(path)
    _same(fanns.Index.load(path), index, data[:20])
    # Only the files the manifest names are left.
    names = sorted(os.listdir(path))
    assert [n for n in names if n.startswith(".tmp")] == []
    assert sum(n.startswith("state-") for n in names) == 1


def test_single_index_files_load_and_can_grow(tmp_path):
    data, labels = clustered(300, 12, seed=2)
    built = fanns.Index.build(data[:200], attributes={"label": labels[:200]}, M=8)
    single = tmp_path / "single.fanns"
    built.save(single)
    assert os.path.isfile(single)  # unchanged indexes keep the one-file format
    loaded = fanns.Index.load(single)
    np.testing.assert_array_equal(loaded.ids, np.arange(200))
    loaded.add(data[200:], attributes={"label": labels[200:]})
    np.testing.assert_array_equal(np.sort(loaded.ids), np.arange(300))
    loaded.save(single)  # rows 0..n-1, nothing deleted: still one file
    _same(fanns.Index.load(single), loaded, data[:10])
    loaded.delete([3])
    with pytest.raises(ValueError, match="directory"):
        loaded.save(single)
    loaded.save(tmp_path / "grown")
    _same(fanns.Index.load(tmp_path / "grown"), loaded, data[:10])


def test_corrupt_directories_raise_value_error(tmp_path):
    index, data = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    state = [n for n in os.listdir(path) if n.startswith("state-")][0]
    with open(path / state, "r+b") as handle:
        handle.seek(40)
        handle.write(b"\xff\xff")
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)
    with pytest.raises(ValueError, match="manifest"):
        fanns.Index.load(tmp_path)  # a directory without one


def test_segment_files_are_reused_when_only_deletions_changed(tmp_path):
    index, _ = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    segment = [n for n in os.listdir(path) if n.startswith("segment-")]
    index.delete([50 * 7 + 1])
    index.save(path)
    assert [n for n in os.listdir(path) if n.startswith("segment-")] == segment
    assert 50 * 7 + 1 not in fanns.Index.load(path)


def _rewrite(path, manifest=None, arrays=None):
    """Rewrite a saved directory's manifest and ids/live file, with the
    state file's checksum recomputed (so the loader reads the change)."""
    import hashlib
    import io
    import json

    with open(path / "manifest.json") as handle:
        meta = json.load(handle)
    with np.load(path / meta["state"]) as data:
        state = {name: data[name] for name in data.files}
    state.update(arrays or {})
    if isinstance(state.get("raw"), bytes):
        raw = state.pop("raw")
    else:
        out = io.BytesIO()
        np.savez(out, **state)
        raw = out.getvalue()
    (path / meta["state"]).write_bytes(raw)
    meta["state_sha256"] = hashlib.sha256(raw).hexdigest()
    meta.update(manifest or {})
    (path / "manifest.json").write_text(json.dumps(meta))
    return meta


@pytest.mark.parametrize("name", ["", ".", "..", "manifest.json", "sub"])
def test_a_segment_entry_must_name_a_segment_file(tmp_path, name):
    # "" and "." named the directory itself: loading recursed until RecursionError.
    index, _ = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    (path / "sub").mkdir()
    import json

    meta = json.loads((path / "manifest.json").read_text())
    meta["segments"][0]["file"] = name
    _rewrite(path, manifest={"segments": meta["segments"]})
    with pytest.raises(ValueError, match="corrupt|not a fanns"):
        fanns.Index.load(path)


@pytest.mark.parametrize(
    "change",
    [
        {"raw": b"PK\x03\x04 not a zip file"},  # zipfile.BadZipFile escaped before
        {"raw": None},  # a zip entry with flags zipfile does not support: NotImplementedError
        {"ids_0": None},  # an id outside [0, 2**63 - 2] (-1 pads results)
        {"next_id": -3},
        {"next_id": float("inf")},  # OverflowError escaped before
    ],
)
def test_a_state_with_a_valid_checksum_is_still_checked(tmp_path, change):
    index, _ = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    if change.get("raw", b"") is None:
        import io
        import zipfile

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("ids_0.npy", b"x" * 64)
        raw = bytearray(out.getvalue())
        raw[6] |= 1 << 5  # "compressed patched data" in the local header
        raw[raw.rindex(b"PK\x01\x02") + 8] |= 1 << 5  # and in the central directory
        change = {"raw": bytes(raw)}
    if "ids_0" in change:
        with np.load(next(path.glob("state-*.npz"))) as data:
            ids = data["ids_0"].copy()
        ids[60] = -1  # a live row
        change = {"ids_0": ids}
    manifest = {k: v for k, v in change.items() if k == "next_id"}
    arrays = {k: v for k, v in change.items() if k != "next_id"}
    _rewrite(path, manifest=manifest, arrays=arrays)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)


@pytest.mark.parametrize("segments", ["kept", "none"])
@pytest.mark.parametrize(
    "key, value",
    [
        ("gamma", 1.5),
        ("M", "8"),
        ("range_attribute", [1]),
        ("range_leaf_size", "x"),
        ("range_leaf_size", -5),
        ("range_quantized", "no"),
        ("dim", 0),
        ("attribute_types", {"a": 5}),
    ],
)
def test_bad_build_parameters_in_a_manifest_raise_value_error(tmp_path, segments, key, value):
    # With no segment left, the parameters came from the manifest unchecked
    # and a TypeError escaped the load.
    index, _ = _changed(tmp_path)
    path = tmp_path / "index"
    index.save(path)
    import json

    meta = json.loads((path / "manifest.json").read_text())
    if key in ("dim", "attribute_types"):  # fields of the manifest itself
        update = {key: value}
    else:
        meta["build"][key] = value
        update = {"build": meta["build"]}
    if segments == "none":
        update["segments"] = []
    _rewrite(path, manifest=update)
    with pytest.raises(ValueError, match="corrupt"):
        fanns.Index.load(path)
