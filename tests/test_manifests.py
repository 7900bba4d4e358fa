"""The published sets' manifests (datasets/): readable, consistent with the
published layout, and their recorded sizes and checksums enforced."""

from __future__ import annotations

import hashlib
import json

import pytest

from fanns.datasets import DATASET_SIZES, PUBLISHED_FILES, dataset_url
from fanns.datasets import manifests


@pytest.mark.parametrize("size", DATASET_SIZES)
def test_every_set_has_a_manifest_in_the_published_layout(size):
    data = manifests.manifest(size)
    assert data["size"] == size and data["dim"] == 4096
    assert sorted(e["name"] for e in data["files"]) == sorted(PUBLISHED_FILES)
    vectors = manifests.file_entry(size, "database_vectors.fvecs")
    if data["rows"] is not None:
        assert vectors["bytes"] == data["rows"] * (data["dim"] + 1) * 4
    assert dataset_url(size, "query_vectors.fvecs").endswith(
        f"/datasets/{data['source']['repository']}/resolve/{data['source']['revision']}/query_vectors.fvecs"
    )


def test_large_manifest_records_the_published_shape():
    data = manifests.manifest("large")
    assert data["rows"] == 2_735_264
    assert manifests.file_entry("large", "database_vectors.fvecs")["bytes"] == 44_825_506_432


def test_recorded_size_and_checksum_are_enforced(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    good = hashlib.sha256(b"abc").hexdigest()
    manifests.check_file(str(path), {"bytes": 3, "sha256": good})
    manifests.check_file(str(path), {"bytes": None, "sha256": None})
    with pytest.raises(ValueError, match="manifest records 4"):
        manifests.check_file(str(path), {"bytes": 4, "sha256": None})
    with pytest.raises(ValueError, match="SHA-256"):
        manifests.check_file(str(path), {"bytes": 3, "sha256": "0" * 64})
    with pytest.raises(ValueError, match="not a file"):
        manifests.file_entry("small", "secret.txt")


def test_malformed_manifest_is_named(tmp_path, monkeypatch):
    bad = tmp_path / "arxiv-for-fanns-small.json"
    bad.write_text(json.dumps({"source": {"repository": 3, "revision": "main"}, "files": []}))
    monkeypatch.setattr(manifests, "_INSTALLED", str(tmp_path))
    with pytest.raises(ValueError, match="malformed manifest"):
        manifests.manifest("small")
