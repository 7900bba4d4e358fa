"""Boolean masks packed straight into bitsets (fanns.filters.batches).

A boolean mask array of length n skips the bitmap the compiler would build; its
bitset and count must equal the compiler's, and anything else (a list of bools,
a mask of the wrong length, shape or dtype) must still go through the compiler
and its checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from fanns.filters import compile_filter, prepare_filters, to_bitset
from fanns.filters.batches import _mask_bitset


@pytest.mark.parametrize("n", [0, 1, 7, 8, 63, 64, 65, 1000, 4099])
@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 1.0])
def test_mask_bitset_equals_the_compiled_one(n, fraction):
    mask = np.random.default_rng(n).random(n) < fraction
    bitset, count = _mask_bitset(mask, n)
    expected = compile_filter(mask, None, n)
    assert bitset.dtype == np.uint64
    assert np.array_equal(bitset, to_bitset(expected, n))
    assert count == len(expected)
    prepared = prepare_filters([mask, None, mask[::-1].copy()], None, n, 3)
    assert prepared.query_filter.tolist() == [0, -1, 1]
    assert np.array_equal(prepared.bitsets[0], bitset)
    assert list(prepared.bitmaps[1]) == list(compile_filter(mask[::-1].copy(), None, n))
    assert prepared.counts.tolist() == [count, int(mask.sum())]


def test_non_contiguous_mask():
    base = np.random.default_rng(1).random(400) < 0.3
    mask = base[::2]
    bitset, count = _mask_bitset(mask, 200)
    assert np.array_equal(bitset, to_bitset(compile_filter(mask.copy(), None, 200), 200))
    assert count == int(mask.sum())


def test_other_masks_go_through_the_compiler():
    n = 100
    mask = np.ones(n, dtype=bool)
    assert _mask_bitset(mask.tolist(), n) is None
    assert _mask_bitset(mask[:-1], n) is None
    assert _mask_bitset(mask.reshape(n, 1), n) is None
    assert _mask_bitset(mask.astype(np.int64), n) is None
    with pytest.raises(ValueError):
        prepare_filters(np.ones(n + 1, dtype=bool), None, n, 1)
    with pytest.raises(ValueError):
        prepare_filters(np.ones((n, 1), dtype=bool), None, n, 1)
    with pytest.raises(TypeError):
        prepare_filters(np.ones(n, dtype=np.int64), None, n, 1)
    assert prepare_filters(mask.tolist(), None, n, 2).counts.tolist() == [n]
