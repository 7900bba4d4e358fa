"""The float tile kernel of exact group scans at its edges.

Kernel: every dim 1..130 (each tail of the 16- and 8-wide steps), no queries
or rows, more rows than one block of the tile loop (dim 4096: a handful of
rows per block), magnitudes far apart so that any change in summation order
shows in the last bits. Search: rows borrowed in place from a strided array
(stride > dim), every metric, groups with whole tiles of four queries and
leftovers, equal bit for bit to each query alone and to brute force.
"""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import _core
from oracle import exact_distances


def _rows(rng, n, dim):
    scale = rng.choice([1e-3, 1.0, 1e3], size=(n, 1))
    return (rng.standard_normal((n, dim)) * scale).astype(np.float32)


@pytest.mark.parametrize("level", _core.simd_levels())
@pytest.mark.parametrize("kind", ["l2", "ip"])
def test_tile_kernel_equals_pair_kernel_at_every_tail_and_edge(level, kind):
    rng = np.random.default_rng(3)
    shapes = [(dim, nb) for dim in range(1, 131) for nb in (0, 1, 5, 129)]
    shapes += [(4096, nb) for nb in (0, 1, 7, 300)]
    for dim, nb in shapes:
        base = _rows(rng, nb, dim)
        queries = _rows(rng, 9, dim)
        for nq in range(10):
            q = queries[:nq]
            tile = _core.pairwise_distances(kind, q, base, level, form="tile")
            rows = _core.pairwise_distances(kind, q, base, level, form="rows")
            assert tile.shape == (nq, nb)
            np.testing.assert_array_equal(
                tile.view(np.uint32), rows.view(np.uint32), err_msg=f"{dim} {nb} {nq}"
            )


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("dim", [7, 33, 130])
def test_exact_group_on_borrowed_strided_rows(metric, dim):
    rng = np.random.default_rng(dim)
    n, nq, k = 600, 11, 10  # a group of 11: two tiles of four and three over
    padded = rng.standard_normal((n, dim + 5)).astype(np.float32)
    padded[301] = padded[300]  # a tie, broken by the smaller id
    view = padded[:, :dim]  # stride > dim, read in place
    index = fanns.Index.build(
        view, metric=metric, M=8, ef_construction=32, seed=1, threads=1, storage="f32", copy=False
    )
    base = np.ascontiguousarray(view)
    queries = rng.standard_normal((nq, dim)).astype(np.float32)
    queries[4] = base[300]
    for fraction in (0.01, 0.3):
        mask = rng.random(n) < fraction
        mask[[0, 300, 301, n - 1]] = True
        together = index.search(queries, k, ef=20, filter=mask, exact_threshold=n, threads=2)
        assert set(together.plans) == {"exact"}
        dist = exact_distances(queries, base, metric)
        ids = np.flatnonzero(mask)
        for i in range(nq):
            alone = index.search(
                queries[i : i + 1], k, ef=20, filter=mask, exact_threshold=n, threads=1
            )
            assert alone.plans[0] == "exact"
            np.testing.assert_array_equal(alone.ids[0], together.ids[i])
            np.testing.assert_array_equal(
                alone.distances[0].view(np.uint32), together.distances[i].view(np.uint32)
            )
            want = ids[np.lexsort((ids, dist[i, ids]))][:k]
            np.testing.assert_array_equal(together.ids[i, : want.size], want)
            assert np.all(together.ids[i, want.size :] == -1)
            np.testing.assert_allclose(
                together.distances[i, : want.size], dist[i, want], rtol=1e-4, atol=1e-3
            )
