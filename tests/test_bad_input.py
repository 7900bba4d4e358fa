"""Bad input raises a clear Python exception and leaves the index unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import fanns


@pytest.fixture(scope="module")
def index():
    data = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    return fanns.Index.build(data)


@pytest.mark.parametrize(
    "vectors,error,match",
    [
        (np.zeros(8, np.float32), ValueError, "2-D"),
        (np.zeros((2, 3, 4), np.float32), ValueError, "2-D"),
        (np.zeros((0, 8), np.float32), ValueError, "empty"),
        (np.zeros((5, 0), np.float32), ValueError, "empty"),
        (np.array([[1.0, np.nan]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf]]), ValueError, "NaN or infinite"),
        (np.array([["a", "b"]]), TypeError, "real numbers"),
        (np.array([[True, False]]), TypeError, "real numbers"),
        (np.array([[1 + 2j, 3j]]), TypeError, "real numbers"),
        ([[1.0, 2.0], [3.0]], (ValueError, TypeError), "array|real numbers"),
        ("vectors", TypeError, "real numbers"),
    ],
)
def test_bad_vectors(vectors, error, match):
    with pytest.raises(error, match=match):
        fanns.Index.build(vectors)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"metric": "hamming"}, ValueError, "unknown metric"),
        ({"metric": None}, ValueError, "unknown metric"),
        ({"M": -3}, ValueError, "M must be"),
        ({"M": 1}, ValueError, "M must be"),
        ({"M": 4.5}, TypeError, "M must be an integer"),
        ({"ef_construction": 0}, ValueError, "ef_construction"),
        ({"threads": -1}, ValueError, "threads"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_build_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        fanns.Index.build(np.ones((4, 2)), **kwargs)


def test_cosine_rejects_zero_vectors():
    with pytest.raises(ValueError, match="all zeros"):
        fanns.Index.build(np.array([[1.0, 0.0], [0.0, 0.0]]), metric="cosine")


@pytest.mark.parametrize(
    "queries,kwargs,error,match",
    [
        (np.zeros((2, 7)), {}, ValueError, "dimension 7"),
        (np.zeros(9), {}, ValueError, "dimension 9"),
        (np.full((1, 8), np.nan), {}, ValueError, "NaN"),
        (np.zeros((1, 8)), {"k": 0}, ValueError, "k must be"),
        (np.zeros((1, 8)), {"k": -2}, ValueError, "k must be"),
        (np.zeros((1, 8)), {"k": 2.0}, TypeError, "k must be an integer"),
        (np.zeros((1, 8)), {"ef": -5}, ValueError, "ef must be"),
        (np.zeros((1, 8)), {"threads": -1}, ValueError, "threads"),
        (np.zeros((0, 8)), {}, ValueError, "empty"),
        (np.array([["x"] * 8]), {}, TypeError, "real numbers"),
    ],
)
def test_bad_queries(index, queries, kwargs, error, match):
    before = index.search(np.ones((1, 8)), k=5)
    with pytest.raises(error, match=match):
        index.search(queries, **kwargs)
    after = index.search(np.ones((1, 8)), k=5)
    np.testing.assert_array_equal(before.ids, after.ids)
    assert len(index) == 200


def test_constructor_is_not_public():
    with pytest.raises(TypeError, match="Index.build"):
        fanns.Index()
