"""The engine's large arrays (cpp/huge_pages.h) are advised for transparent
huge pages in mappings of their own: the advice goes when the array does.
It never lands on a range of malloc's heaps (the main heap or a thread's
arena), where it would outlive the array and cover the small blocks later
carved from that range."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fanns

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux memory maps")


def advised_ranges() -> list[str]:
    """This process's memory ranges marked for huge pages (VmFlags hg)."""
    advised, current = [], None
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                current = line.strip()
            elif line.startswith("VmFlags:") and "hg" in line.split(":", 1)[1].split() and current:
                advised.append(current)
    return advised


def _numpy_madvise():
    """NumPy's switch for its own huge-page advice on large arrays (None
    where this NumPy has none)."""
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


@pytest.fixture
def numpy_advice_off():
    # NumPy advises its own large arrays, heap blocks included: only the
    # engine's arrays are looked at here.
    switch = _numpy_madvise()
    if switch is None:
        pytest.skip("this NumPy cannot turn its huge-page advice off")
    before = switch(False)
    yield
    switch(before)


def test_large_arrays_take_their_advice_with_them(numpy_advice_off):
    # Freeing a large malloc block raises glibc's mmap threshold to its size:
    # blocks below it then come from a heap (the build's thread arena here).
    block = np.ones((24 << 20) // 8)
    del block
    rng = np.random.default_rng(0)
    base = rng.normal(size=(5000, 256)).astype(np.float32)  # 5 MiB of rows: a large array
    before = advised_ranges()
    for _ in range(2):
        index = fanns.Index.build(base, M=4, ef_construction=16, seed=1)
        assert (index.search(base[:2], k=1).ids >= 0).all()
        del index
        assert advised_ranges() == before
