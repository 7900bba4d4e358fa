"""Every compiled SIMD level agrees with the scalar kernels and with float64 numpy."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fanns
from fanns import _core

DIMS = [1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 97, 129, 384, 1000, 4096]


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("kind", ["l2", "ip"])
def test_level_matches_scalar_and_numpy(level, dim, kind):
    rng = np.random.default_rng(dim)
    queries = rng.standard_normal((3, dim)).astype(np.float32)
    base = rng.standard_normal((9, dim)).astype(np.float32)
    got = _core.pairwise_distances(kind, queries, base, level)
    scalar = _core.pairwise_distances(kind, queries, base, "scalar")
    q64, b64 = queries.astype(np.float64), base.astype(np.float64)
    if kind == "l2":
        exact = ((q64[:, None, :] - b64[None, :, :]) ** 2).sum(-1)
    else:
        exact = q64 @ b64.T
    scale = np.sqrt(dim) * 4
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(got, scalar, rtol=1e-5, atol=1e-5 * scale)


def test_unaligned_rows_are_handled():
    rng = np.random.default_rng(1)
    block = rng.standard_normal(17 * 5 + 1).astype(np.float32)
    base = block[1:].reshape(5, 17)  # rows start at odd float offsets
    query = rng.standard_normal((1, 17)).astype(np.float32)
    for level in _core.simd_levels():
        got = _core.pairwise_distances("l2", query, base, level)
        np.testing.assert_allclose(got, ((query - base) ** 2).sum(1)[None], rtol=1e-5, atol=1e-5)


def test_unknown_level_is_rejected():
    x = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core.pairwise_distances("l2", x, x, "sse9")
    unsupported = [lv for lv in ("avx2", "avx512") if lv not in _core.simd_levels()]
    for level in unsupported:
        with pytest.raises(ValueError, match="not supported"):
            _core.pairwise_distances("l2", x, x, level)


def test_active_level_is_the_best_by_default():
    if "FANNS_SIMD" not in os.environ:
        assert fanns.simd_level() == fanns.simd_best_level()
    assert fanns.simd_level() in fanns.simd_levels()
    assert fanns.simd_levels()[0] == "scalar"


@pytest.mark.parametrize("forced", ["scalar", "avx2", "avx512", "bogus"])
def test_environment_can_only_lower_the_level(forced):
    code = "import fanns; print(fanns.simd_level(), fanns.simd_best_level())"
    env = dict(os.environ, FANNS_SIMD=forced)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    active, best = out
    order = ["scalar", "avx2", "avx512"]
    if forced in order and order.index(forced) <= order.index(best):
        assert active == forced
    else:
        assert active == best


def test_search_results_agree_across_levels(tmp_path):
    """A whole index built and searched under the scalar kernels gives the same answers."""
    script = (
        "import numpy as np, fanns, sys\n"
        "rng = np.random.default_rng(3)\n"
        "x = rng.standard_normal((600, 19)).astype(np.float32)\n"
        "idx = fanns.Index.build(x, threads=1)\n"
        "r = idx.search(x[:20], k=5, ef=50, threads=1)\n"
        "np.save(sys.argv[1], r.ids)\n"
    )
    outputs = {}
    for level in _core.simd_levels():
        target = tmp_path / f"{level}.npy"
        env = dict(os.environ, FANNS_SIMD=level)
        subprocess.run([sys.executable, "-c", script, str(target)], env=env, check=True)
        outputs[level] = np.load(target)
    reference = outputs["scalar"]
    for level, ids in outputs.items():
        # Rounding may differ in the last bit; nearly all ids must agree.
        assert (ids == reference).mean() > 0.97, level


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("dim", DIMS)
def test_code_kernel_matches_integer_sums(level, dim):
    rng = np.random.default_rng(dim + 7)
    codes = rng.integers(0, 256, size=(9, dim), dtype=np.uint8)
    codes[0] = 255  # the extremes of the code range
    codes[1] = 0
    queries = rng.integers(-64, 65, size=(4, dim))
    queries[0] = 64  # the byte multiply-add's worst cases: no saturation allowed
    queries[1] = -64
    exact = queries.astype(np.int64) @ codes.astype(np.int64).T
    queries = queries.astype(np.int16)
    got = _core.code_dot_products(queries, codes, level)
    np.testing.assert_array_equal(got, exact)
    np.testing.assert_array_equal(got, _core.code_dot_products(queries, codes, "scalar"))
    np.testing.assert_array_equal(_core.code_dot_products(queries, codes, level, form="ids"), exact)
    np.testing.assert_array_equal(_core.code_dot_products(queries, codes, level, form="tile"), exact)


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("nq", [1, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("nb", [1, 2, 7, 8])
def test_code_tile_kernel_every_shape(level, nq, nb):
    # Tiles are two rows by four queries: odd row counts and query counts
    # that are not a multiple of four take the edge paths; 4096 and 100
    # columns take the wide loop with and without a scalar tail.
    rng = np.random.default_rng(nq * 31 + nb)
    for dim in (100, 4096):
        codes = rng.integers(0, 256, size=(nb, dim), dtype=np.uint8)
        queries = rng.integers(-64, 65, size=(nq, dim))
        queries[0] = 64
        codes[0] = 255
        exact = queries.astype(np.int64) @ codes.astype(np.int64).T
        got = _core.code_dot_products(queries.astype(np.int16), codes, level, form="tile")
        np.testing.assert_array_equal(got, exact)


def test_code_kernel_rejects_bad_arguments():
    q = np.zeros((1, 4), np.int16)
    c = np.zeros((2, 4), np.uint8)
    with pytest.raises(ValueError, match="same number of columns"):
        _core.code_dot_products(q, c[:, :3], "scalar")
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core.code_dot_products(q, c, "sse9")
    # out-of-range values are errors, never wrapped into the kernel's types
    with pytest.raises(ValueError, match=r"queries values must lie in \[-64, 64\]"):
        _core.code_dot_products(q + 65, c, "scalar")
    with pytest.raises(ValueError, match=r"queries values must lie"):
        _core.code_dot_products(q.astype(np.int64) + 65546, c, "scalar")
    with pytest.raises(ValueError, match=r"codes values must lie in \[0, 255\]"):
        _core.code_dot_products(q, c.astype(np.int64) + 256, "scalar")
    with pytest.raises(ValueError, match=r"codes values must lie"):
        _core.code_dot_products(q, c.astype(np.int64) - 1, "scalar")
    with pytest.raises(TypeError, match="integers"):
        _core.code_dot_products(q + 1.9, c, "scalar")
    with pytest.raises(ValueError, match="2-D"):
        _core.code_dot_products(q[0], c, "scalar")
    with pytest.raises(ValueError, match="form must be"):
        _core.code_dot_products(q, c, "scalar", form="columns")


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("kind", ["l2", "ip"])
def test_half_kernel_matches_float_sums(level, dim, kind):
    """f16 rows against float32 queries: float64 sums of the widened values,
    at every compiled level, in both the one-row and the id-list form."""
    rng = np.random.default_rng(dim + 11)
    queries = rng.standard_normal((3, dim)).astype(np.float32)
    rows = (rng.standard_normal((9, dim)) * 4).astype(np.float16)
    rows[0, ::3] = np.float16(6e-8)  # subnormals widen exactly too
    rows[1] = np.float16(65504.0)  # the largest f16 value
    q64, r64 = queries.astype(np.float64), rows.astype(np.float64)
    exact = ((q64[:, None, :] - r64[None]) ** 2).sum(-1) if kind == "l2" else q64 @ r64.T
    # float32 sums err by a few units of the sum of the terms' magnitudes
    magnitude = exact if kind == "l2" else np.abs(q64) @ np.abs(r64).T
    for by_ids in (False, True):
        got = _core.half_distances(kind, queries, rows, level, by_ids=by_ids)
        assert (np.abs(got - exact) <= 1e-5 * magnitude).all()
        scalar = _core.half_distances(kind, queries, rows, "scalar", by_ids=by_ids)
        assert (np.abs(got - scalar) <= 1e-5 * magnitude).all()


@pytest.mark.parametrize("level", _core.simd_levels())
def test_half_kernel_widens_every_f16_value_exactly(level):
    """Every one of the 65536 f16 bit patterns, widened by the kernel (a dot
    product with the query 1.0), is numpy's float16 value: infinities stay
    infinite, NaN stays NaN (the row store marks rows it cannot hold so)."""
    rows = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(-1, 1)
    got = _core.half_distances("ip", np.ones((1, 1), np.float32), rows, level)[0]
    want = rows[:, 0].astype(np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(got[finite], want[finite])
    # a NaN anywhere in a long row makes the whole sum NaN, at every width
    row = np.ones((1, 100), np.float16)
    row[0, 97] = np.float16("nan")
    for kind in ("l2", "ip"):
        assert np.isnan(_core.half_distances(kind, np.ones((1, 100), np.float32), row, level)).all()


def test_half_kernel_rejects_bad_arguments():
    q = np.zeros((1, 4), np.float32)
    with pytest.raises(TypeError, match="float16"):
        _core.half_distances("l2", q, np.zeros((2, 4), np.float32), "scalar")
    with pytest.raises(ValueError, match="same number of columns"):
        _core.half_distances("l2", q, np.zeros((2, 3), np.float16), "scalar")
    with pytest.raises(ValueError, match="kind"):
        _core.half_distances("cos", q, np.zeros((2, 4), np.float16), "scalar")
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core.half_distances("l2", q, np.zeros((2, 4), np.float16), "sse9")


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("kind", ["l2", "ip"])
def test_float_tile_kernel_equals_pair_kernel_bit_for_bit(level, dim, kind):
    # A group's exact scan (tile kernel) and a lone query's (pair kernel)
    # must give the same distances, so a query's answer does not depend on
    # the group it came in.
    rng = np.random.default_rng(dim + 7)
    for nq in (1, 2, 3, 4, 5, 8, 9):
        queries = rng.standard_normal((nq, dim)).astype(np.float32)
        base = rng.standard_normal((11, dim)).astype(np.float32)
        tile = _core.pairwise_distances(kind, queries, base, level, form="tile")
        rows = _core.pairwise_distances(kind, queries, base, level)
        np.testing.assert_array_equal(tile, rows)
        if kind == "l2":
            diff = queries[:, None, :].astype(np.float64) - base[None].astype(np.float64)
            exact = (diff**2).sum(-1)
        else:
            exact = queries.astype(np.float64) @ base.astype(np.float64).T
        np.testing.assert_allclose(tile, exact, rtol=1e-5, atol=1e-5 * np.sqrt(dim) * 4)


def test_float_tile_form_is_checked():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="form"):
        _core.pairwise_distances("l2", x, x, "scalar", form="columns")
    with pytest.raises(ValueError, match="kind"):
        _core.pairwise_distances("cos", x, x, "scalar", form="tile")
