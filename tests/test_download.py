"""The downloader against a local HTTP server: full, interrupted and resumed, mismatched sizes."""

from __future__ import annotations

import http.server
import os
import re
import threading
import urllib.parse

import numpy as np
import pytest

from fanns.datasets import (
    PUBLISHED_FILES,
    dataset_url,
    download_arxiv_fanns,
    download_file,
    load_arxiv_fanns,
    synthetic_arxiv,
    write_arxiv_layout,
)
from fanns.datasets.__main__ import main

PREFIX = "/datasets/SPCL/arxiv-for-fanns-small/resolve/main/"


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _lookup(self):
        path = urllib.parse.urlparse(self.path).path
        return path, self.server.files.get(path)

    def do_HEAD(self):
        path, data = self._lookup()
        self.server.log.append(("HEAD", path, None))
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        size = len(data) + self.server.head_extra.get(path, 0)
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self):
        path, data = self._lookup()
        requested = self.headers.get("Range")
        self.server.log.append(("GET", path, requested))
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if match and not self.server.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        extra = self.server.get_extra.get(path, 0)
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        drop = self.server.drop.get(path, 0)
        if drop:
            self.server.drop[path] = drop - 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = {}
    httpd.log = []
    httpd.drop = {}
    httpd.head_extra = {}
    httpd.get_extra = {}
    httpd.ignore_range = False
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A small dataset in the published layout: file name -> bytes."""
    directory = tmp_path_factory.mktemp("published")
    write_arxiv_layout(synthetic_arxiv(n=700, dim=12, nq=8, seed=2), directory)
    return {name: (directory / name).read_bytes() for name in PUBLISHED_FILES}


def _serve(server, published):
    server.files = {PREFIX + name: data for name, data in published.items()}


def _gets(server, name):
    return [entry for entry in server.log if entry[0] == "GET" and entry[1] == PREFIX + name]


def test_dataset_url():
    assert dataset_url("large", "ground_truth_r.ivecs", base_url="http://h:1/") == (
        "http://h:1/datasets/SPCL/arxiv-for-fanns-large/resolve/main/ground_truth_r.ivecs"
    )
    with pytest.raises(ValueError, match="size"):
        dataset_url("huge", "x")


def test_full_download(tmp_path, server, published):
    _serve(server, published)
    dest = tmp_path / "small"
    out = download_arxiv_fanns("small", dest, base_url=server.base_url, progress=False, timeout=5)
    assert out == str(dest)
    assert sorted(os.listdir(dest)) == sorted(PUBLISHED_FILES)
    for name, data in published.items():
        assert (dest / name).read_bytes() == data
    ds = load_arxiv_fanns(dest)
    assert len(ds) == 700 and sorted(ds.ground_truth) == ["em", "emis", "r", "unfiltered"]


def test_interrupted_transfer_is_resumed(tmp_path, server, published):
    _serve(server, published)
    name = "database_vectors.fvecs"
    server.drop[PREFIX + name] = 1
    dest = tmp_path / name
    download_file(server.base_url + PREFIX + name, dest, progress=False, timeout=5)
    assert dest.read_bytes() == published[name]
    assert not os.path.exists(str(dest) + ".part")
    gets = _gets(server, name)
    assert len(gets) == 2
    assert gets[0][2] is None
    assert gets[1][2] == f"bytes={len(published[name]) // 2}-"


def test_resume_from_existing_part_file(tmp_path, server, published):
    _serve(server, published)
    name = "database_attributes.jsonl"
    dest = tmp_path / name
    (tmp_path / (name + ".part")).write_bytes(published[name][:1000])
    download_file(server.base_url + PREFIX + name, dest, progress=True, timeout=5)
    assert dest.read_bytes() == published[name]
    assert [g[2] for g in _gets(server, name)] == ["bytes=1000-"]


def test_oversized_part_file_restarts(tmp_path, server, published):
    _serve(server, published)
    name = "query_vectors.fvecs"
    (tmp_path / (name + ".part")).write_bytes(b"x" * (len(published[name]) + 5))
    download_file(server.base_url + PREFIX + name, tmp_path / name, progress=False, timeout=5)
    assert (tmp_path / name).read_bytes() == published[name]
    assert [g[2] for g in _gets(server, name)] == [None]


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, published):
    _serve(server, published)
    server.ignore_range = True
    name = "database_vectors.fvecs"
    (tmp_path / (name + ".part")).write_bytes(b"garbage!" * 10)
    download_file(server.base_url + PREFIX + name, tmp_path / name, progress=False, timeout=5)
    assert (tmp_path / name).read_bytes() == published[name]


def test_complete_files_are_not_downloaded_again(tmp_path, server, published):
    _serve(server, published)
    dest = tmp_path / "small"
    download_arxiv_fanns("small", dest, base_url=server.base_url, progress=False, timeout=5)
    first_gets = sum(1 for entry in server.log if entry[0] == "GET")
    assert first_gets == len(PUBLISHED_FILES)
    stamps = {name: os.stat(dest / name).st_mtime_ns for name in PUBLISHED_FILES}
    server.log.clear()
    download_arxiv_fanns("small", dest, base_url=server.base_url, progress=False, timeout=5)
    assert [entry for entry in server.log if entry[0] == "GET"] == []
    assert {name: os.stat(dest / name).st_mtime_ns for name in PUBLISHED_FILES} == stamps


def test_size_mismatch_between_head_and_body(tmp_path, server, published):
    _serve(server, published)
    name = "query_vectors.fvecs"
    server.head_extra[PREFIX + name] = 7
    dest = tmp_path / name
    with pytest.raises(ValueError, match="size mismatch"):
        download_file(server.base_url + PREFIX + name, dest, progress=False, timeout=5)
    assert os.listdir(tmp_path) == []


def test_body_shorter_than_declared(tmp_path, server, published):
    _serve(server, published)
    name = "ground_truth.ivecs"
    server.head_extra[PREFIX + name] = 10
    server.get_extra[PREFIX + name] = 10  # declares 10 bytes more than it sends
    with pytest.raises(ValueError, match="size mismatch"):
        download_file(server.base_url + PREFIX + name, tmp_path / name, progress=False, timeout=5)
    assert os.listdir(tmp_path) == []


def test_changed_remote_file_is_fetched_again(tmp_path, server, published):
    _serve(server, published)
    name = "em_query_attributes.jsonl"
    (tmp_path / name).write_bytes(b"old content")
    download_file(server.base_url + PREFIX + name, tmp_path / name, progress=False, timeout=5)
    assert (tmp_path / name).read_bytes() == published[name]


def test_repeated_interruptions_keep_the_part_file(tmp_path, server, published):
    _serve(server, published)
    name = "database_vectors.fvecs"
    server.drop[PREFIX + name] = 100
    dest = tmp_path / name
    with pytest.raises(ConnectionError, match="interrupted"):
        download_file(server.base_url + PREFIX + name, dest, progress=False, retries=2, timeout=5)
    assert not dest.exists()
    part = (tmp_path / (name + ".part")).read_bytes()
    assert 0 < len(part) < len(published[name])
    assert part == published[name][: len(part)]
    assert len(_gets(server, name)) == 3
    server.drop.clear()
    download_file(server.base_url + PREFIX + name, dest, progress=False, timeout=5)
    assert dest.read_bytes() == published[name]


def test_missing_remote_file(tmp_path, server, published):
    _serve(server, published)
    with pytest.raises(FileNotFoundError, match="nothing.bin"):
        download_file(server.base_url + PREFIX + "nothing.bin", tmp_path / "x", progress=False)
    assert os.listdir(tmp_path) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="size"):
        download_arxiv_fanns("tiny", tmp_path)
    with pytest.raises(ValueError, match="not a published file"):
        download_arxiv_fanns("small", tmp_path, files=["secret.txt"])


def test_download_command(tmp_path, server, published, capsys):
    _serve(server, published)
    dest = tmp_path / "cli"
    args = ["download", "small", str(dest), "--base-url", server.base_url, "--no-progress"]
    assert main(args + ["--timeout", "5"]) == 0
    assert "downloaded" in capsys.readouterr().out
    for name, data in published.items():
        assert (dest / name).read_bytes() == data
    server.files = {}
    assert main(args) == 1
    assert "not found" in capsys.readouterr().err
    loaded = load_arxiv_fanns(dest)
    assert np.asarray(loaded.vectors).shape == (700, 12)
