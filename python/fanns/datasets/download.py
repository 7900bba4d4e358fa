"""Download the published arXiv-for-FANNS sets (standard library only).

Which files a set has, where they come from and what size and checksum they
must have is read from the set's manifest (``datasets/`` at the top of the
repository, see :mod:`fanns.datasets.manifests`): today the Hugging Face
dataset repositories ``SPCL/arxiv-for-fanns-{small,medium,large}``. Each file
is fetched into
``<name>.part`` and renamed into place only once its size matches what the
server declared, so an existing final file is always complete. An interrupted
transfer resumes from the ``.part`` file with an HTTP ``Range`` request, both
within a call (a few retries) and across calls.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from fanns.datasets.manifests import check_file, manifest
from fanns.datasets.vecs import PathLike

__all__ = ["DATASET_SIZES", "dataset_url", "download_arxiv_fanns", "download_file"]

DEFAULT_BASE_URL = "https://huggingface.co"
DATASET_SIZES = ("small", "medium", "large")
_BLOCK = 1 << 20
_USER_AGENT = "fanns-datasets/0.1 (+python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


def dataset_url(size: str, filename: str, *, base_url: str = DEFAULT_BASE_URL) -> str:
    """The download address of one published file.

    >>> dataset_url("small", "query_vectors.fvecs")
    'https://huggingface.co/datasets/SPCL/arxiv-for-fanns-small/resolve/main/query_vectors.fvecs'
    """
    if size not in DATASET_SIZES:
        raise ValueError(f"size must be one of {DATASET_SIZES}, got {size!r}")
    source = manifest(size)["source"]
    return (
        f"{base_url.rstrip('/')}/datasets/{source['repository']}/resolve/{source['revision']}/"
        f"{urllib.parse.quote(filename)}"
    )


def _open(url: str, *, method: str = "GET", start: int = 0, timeout: float) -> Any:
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers, method=method)
    return urllib.request.urlopen(request, timeout=timeout)


def _header_int(response: Any, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _content_range(response: Any) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header, each None when absent."""
    value = response.headers.get("Content-Range")
    if not value:
        return None, None
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        return None, None
    first = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return first, total


def remote_size(url: str, *, timeout: float = 60.0) -> int | None:
    """The size the server declares for ``url`` (HEAD request), or None if it does not say.

    >>> remote_size(dataset_url("small", "query_vectors.fvecs"))  # doctest: +SKIP
    """
    try:
        with _open(url, method="HEAD", timeout=timeout) as response:
            return _header_int(response, "Content-Length")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise FileNotFoundError(f"not found on the server: {url}") from None
        if exc.code in (405, 501):
            return None
        raise


def _progress(total: int | None, initial: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        leave=True,
    )


_TRANSIENT = (
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    ConnectionError,
    socket.timeout,
    TimeoutError,
)


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def download_file(
    url: str,
    dest: PathLike,
    *,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest``, resumably, verifying the size the server declares.

    Bytes go to ``dest + ".part"`` (resumed with a ``Range`` request if it
    exists) and are renamed to ``dest`` when complete. If ``dest`` already has
    the server's size, nothing is fetched. A size that disagrees with the
    server's raises ``ValueError`` and leaves no ``.part`` file (an existing
    ``dest`` is left as it was). After ``retries`` failed resumptions the
    connection error is raised and the ``.part`` file is kept for a later call.

    >>> download_file(dataset_url("small", "query_vectors.fvecs"), "/tmp/q.fvecs")  # doctest: +SKIP
    '/tmp/q.fvecs'
    """
    dest = os.fspath(dest)
    part = dest + ".part"
    declared = remote_size(url, timeout=timeout)
    if os.path.isfile(dest) and (declared is None or declared == os.path.getsize(dest)):
        return dest
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    if declared is not None and offset > declared:
        _discard(part)
        offset = 0
    expected = declared
    bar = _progress(declared, offset, os.path.basename(dest), progress)

    def mismatch(message: str) -> ValueError:
        _discard(part)
        return ValueError(f"{url}: size mismatch: {message}")

    failures = 0

    def failed(exc: BaseException) -> None:
        nonlocal failures
        failures += 1
        if failures > retries:
            raise ConnectionError(
                f"{url}: transfer interrupted {failures} times ({exc!r}); the {offset} bytes "
                f"received are kept in {part!r} and a later call resumes from there"
            ) from exc

    try:
        while expected is None or offset != expected:
            try:
                response = _open(url, start=offset, timeout=timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise FileNotFoundError(f"not found on the server: {url}") from None
                if exc.code != 416:
                    raise
                _, total = _content_range(exc)
                exc.close()
                if total is not None and expected is not None and total != expected:
                    raise mismatch(f"declared {expected} bytes, now {total}") from None
                if total is not None and total == offset:
                    expected = total
                    break
                raise mismatch(f"have {offset} bytes, the server declares {total}") from None
            except (urllib.error.URLError, *_TRANSIENT) as exc:
                failed(exc)
                continue
            with response:
                if getattr(response, "status", 200) == 206:
                    first, total = _content_range(response)
                    if first != offset:
                        raise mismatch(f"asked for bytes from {offset}, got from {first}")
                else:
                    offset = 0
                    total = _header_int(response, "Content-Length")
                    if bar is not None:
                        bar.reset(total=expected if expected is not None else total)
                if total is not None:
                    if expected is not None and total != expected:
                        raise mismatch(f"declared {expected} bytes, now {total}")
                    expected = total
                try:
                    with open(part, "ab" if offset else "wb") as f:
                        while True:
                            block = response.read(_BLOCK)
                            if not block:
                                break
                            f.write(block)
                            offset += len(block)
                            if bar is not None:
                                bar.update(len(block))
                except _TRANSIENT as exc:
                    failed(exc)
                    continue
            if expected is None:
                expected = offset
            elif offset > expected:
                raise mismatch(f"received {offset} bytes, the server declared {expected}")
            elif offset < expected:
                failed(ConnectionError(f"{url}: transfer ended at byte {offset} of {expected}"))
    finally:
        if bar is not None:
            bar.close()
    if expected == 0 and not os.path.isfile(part):
        open(part, "wb").close()
    size = os.path.getsize(part) if os.path.isfile(part) else 0
    if size != expected:
        raise mismatch(f"the file holds {size} bytes, the server declared {expected}")
    os.replace(part, dest)
    return dest


def download_arxiv_fanns(
    size: str,
    dest: PathLike,
    *,
    base_url: str = DEFAULT_BASE_URL,
    files: Sequence[str] | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> str:
    """Download a published arXiv-for-FANNS set (``small``, ``medium``, ``large``) into ``dest``.

    Every file the set's manifest lists (or just ``files``) is fetched with
    :func:`download_file`: resumable, size-checked, skipped when already
    complete, then checked against the size and SHA-256 the manifest records
    where it records them. Before starting, the free disk space is compared with what is left
    to fetch when the server declares sizes. Returns ``dest``, ready for
    :func:`~fanns.datasets.arxiv.load_arxiv_fanns`.

    >>> download_arxiv_fanns("small", "/data/arxiv-small")  # doctest: +SKIP
    '/data/arxiv-small'
    """
    if size not in DATASET_SIZES:
        raise ValueError(f"size must be one of {DATASET_SIZES}, got {size!r}")
    entries = {entry["name"]: entry for entry in manifest(size)["files"]}
    names = list(entries if files is None else files)
    for fname in names:
        if fname not in entries:
            raise ValueError(
                f"{fname!r} is not a published file; expected one of {tuple(entries)}"
            )
    dest = os.fspath(dest)
    os.makedirs(dest, exist_ok=True)
    needed = 0
    for fname in names:
        declared = remote_size(dataset_url(size, fname, base_url=base_url), timeout=timeout)
        if declared is None:
            continue
        target = os.path.join(dest, fname)
        have = 0
        if os.path.isfile(target):
            have = os.path.getsize(target)
        elif os.path.isfile(target + ".part"):
            have = os.path.getsize(target + ".part")
        needed += max(0, declared - have)
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise OSError(f"not enough disk space in {dest!r}: {needed} more bytes needed, {free} free")
    for fname in names:
        path = download_file(
            dataset_url(size, fname, base_url=base_url),
            os.path.join(dest, fname),
            progress=progress,
            retries=retries,
            timeout=timeout,
        )
        check_file(path, entries[fname])
    return dest
