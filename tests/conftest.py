"""Shared fixtures."""

from __future__ import annotations

import os
import sys
import threading

import pytest

if os.environ.get("FANNS_TSAN_PLAIN_NUMPY_ALLOC"):
    # ThreadSanitizer runs only (tests/sanitize.sh tsan builds the module and
    # sets the variable): NumPy's array data through plain malloc/free in the
    # main thread and in every thread the threading module starts, since
    # NumPy keeps its allocator per context (tests/tsan/plain_numpy_alloc.c).
    import plain_numpy_alloc

    plain_numpy_alloc.install()

    def _install_in_new_thread(frame, event, arg):
        plain_numpy_alloc.install()
        sys.settrace(None)  # once, at the thread's first call
        return None

    threading.settrace(_install_in_new_thread)

ARXIV_MINI = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    os.pardir,
    os.pardir,
    "shared",
    "datasets",
    "arxiv-mini",
)


@pytest.fixture(scope="session")
def arxiv_mini_dir() -> str:
    """The real 50k-row arXiv-for-FANNS sample kept beside the project (skips when absent)."""
    path = os.path.normpath(ARXIV_MINI)
    if not os.path.isfile(os.path.join(path, "database_vectors.fvecs")):
        pytest.skip(f"the real arXiv sample is not available at {path}")
    return path


@pytest.fixture(scope="session")
def arxiv_mini_texts_dir() -> str:
    """The same sample's directory, for its texts (skips when they are absent)."""
    path = os.path.normpath(ARXIV_MINI)
    if not os.path.isfile(os.path.join(path, "database_texts.jsonl.gz")):
        pytest.skip(f"arxiv-mini texts not available at {path}")
    return path


@pytest.fixture(scope="session")
def small_arxiv():
    """A small synthetic arXiv-like dataset with exact ground truth (do not modify it)."""
    from fanns.datasets import synthetic_arxiv

    return synthetic_arxiv(n=3000, dim=24, nq=40, seed=7)
