"""The on-disk layout of a saved sharded index.

A directory holds, per shard, a :class:`fanns.Index` file and a file of the
shard's global ids (both in the fanns file format), and ``manifest.json``
naming them with a SHA-256 checksum each. A save writes the shard files
under new names first and replaces the manifest last (write, fsync, rename),
so the directory always holds one complete index: the old one until the
rename, the new one after it. Files of earlier saves are removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

__all__ = [
    "MANIFEST",
    "current_files",
    "read_manifest",
    "remove_stale_files",
    "shard_file_names",
    "write_manifest",
]

MANIFEST = "manifest.json"
FORMAT = "fanns-sharded"
VERSION = 1
_SHARD_FILE = re.compile(r"^shard-\d{4,}-[0-9a-f]+\.(fanns|ids)$")


def shard_file_names(shard: int, token: str) -> tuple[str, str]:
    """File names of shard ``shard``'s index and ids for the save ``token``."""
    return f"shard-{shard:04d}-{token}.fanns", f"shard-{shard:04d}-{token}.ids"


def write_manifest(directory: str, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` in ``directory`` atomically."""
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, os.path.join(directory, MANIFEST))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_manifest(directory: str) -> dict[str, Any]:
    """Read and check ``manifest.json``; ``ValueError`` when missing or malformed."""
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except OSError as exc:
        raise ValueError(f"{directory!r} holds no sharded index ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"{path!r} is not valid JSON ({exc})") from exc
    try:
        if manifest["format"] != FORMAT:
            raise ValueError(f"format {manifest['format']!r}")
        if manifest["version"] != VERSION:
            raise ValueError(f"version {manifest['version']!r}; this fanns reads {VERSION}")
        shards = manifest["shards"]
        if not isinstance(shards, list) or not shards:
            raise ValueError("no shard list")
        for entry in shards:
            for key in ("index", "ids", "index_sha256", "ids_sha256"):
                if not isinstance(entry[key], str):
                    raise ValueError(f"shard field {key!r}")
            if (
                os.path.basename(entry["index"]) != entry["index"]
                or os.path.basename(entry["ids"]) != entry["ids"]
            ):
                raise ValueError("shard file names must not hold directories")
            if not isinstance(entry["rows"], int) or entry["rows"] < 0:
                raise ValueError("shard row count")
        for key in ("n", "dim"):
            if not isinstance(manifest[key], int):
                raise ValueError(f"field {key!r}")
        if not isinstance(manifest["assignment"], dict) or not isinstance(
            manifest["attribute_types"], dict
        ):
            raise ValueError("assignment or attribute types")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} is not a valid manifest ({exc})") from exc
    return manifest


def remove_stale_files(directory: str, keep: set[str]) -> None:
    """Delete shard files of earlier saves (names not in ``keep``); best effort."""
    for name in os.listdir(directory):
        if _SHARD_FILE.match(name) and name not in keep:
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def current_files(directory: str) -> set[str]:
    """Shard files named by the directory's manifest (none without one)."""
    try:
        manifest = read_manifest(directory)
    except ValueError:
        return set()
    return {e[key] for e in manifest["shards"] for key in ("index", "ids")}
