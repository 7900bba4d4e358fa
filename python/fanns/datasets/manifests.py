"""The published sets' manifests: ``datasets/arxiv-for-fanns-{size}.json`` at
the top of the repository, installed with the package as
``fanns/datasets/manifests/``. Each names the set's files (with their size
and SHA-256 where known), where they come from and what they hold; the
downloader takes its file list, addresses and checks from them.

>>> manifest("large")["rows"]
2735264
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

_INSTALLED = os.path.join(os.path.dirname(__file__), "manifests")
_SOURCE_TREE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "datasets")


def manifest_path(size: str) -> str:
    """Where the manifest of a published set is (installed copy first)."""
    name = f"arxiv-for-fanns-{size}.json"
    for directory in (_INSTALLED, _SOURCE_TREE):
        path = os.path.normpath(os.path.join(directory, name))
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no manifest {name!r} (looked in {_INSTALLED} and {os.path.normpath(_SOURCE_TREE)})")


def manifest(size: str) -> dict[str, Any]:
    """The manifest of a published set, checked for the fields the downloader reads."""
    path = manifest_path(size)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        source = data["source"]
        if not isinstance(source["repository"], str) or not isinstance(source["revision"], str):
            raise TypeError("source")
        for entry in data["files"]:
            if not isinstance(entry["name"], str) or "/" in entry["name"]:
                raise ValueError(f"file name {entry['name']!r}")
            for key in ("bytes", "sha256"):
                if entry.get(key) is not None and not isinstance(entry[key], (int, str)):
                    raise TypeError(key)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed manifest ({exc})") from None
    return data


def file_entry(size: str, name: str) -> dict[str, Any]:
    for entry in manifest(size)["files"]:
        if entry["name"] == name:
            return entry
    raise ValueError(f"{name!r} is not a file of arxiv-for-fanns-{size}")


def check_file(path: str, entry: dict[str, Any]) -> None:
    """Raise ValueError if the file at ``path`` disagrees with the size or
    SHA-256 its manifest entry records (fields left null are not checked)."""
    expected = entry.get("bytes")
    if expected is not None and os.path.getsize(path) != expected:
        raise ValueError(
            f"{path}: {os.path.getsize(path)} bytes, the manifest records {expected}"
        )
    digest = entry.get("sha256")
    if digest:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                h.update(block)
        if h.hexdigest() != digest.lower():
            raise ValueError(f"{path}: SHA-256 {h.hexdigest()}, the manifest records {digest}")
