"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

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
def small_arxiv():
    """A small synthetic arXiv-like dataset with exact ground truth (do not modify it)."""
    from fanns.datasets import synthetic_arxiv

    return synthetic_arxiv(n=3000, dim=24, nq=40, seed=7)
