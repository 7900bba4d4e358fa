"""Shared pieces of the fuzz targets: the byte reader, the data set, the indexes."""

from __future__ import annotations

import struct

import numpy as np

import fanns

N = 300
DIM = 8
# What each kind of call may raise for bad input (documented in its docstring).
FILTER_ERRORS = (TypeError, ValueError, KeyError)
SEARCH_ERRORS = (TypeError, ValueError, KeyError)
LOAD_ERRORS = (ValueError, OSError)


class Draw:
    """Reads choices from fuzzer bytes; past the end every read gives zeros
    (and :meth:`chance` False, so loops driven by it end)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0

    def byte(self) -> int:
        pos = self.pos
        if pos >= self.size:
            return 0
        self.pos = pos + 1
        return self.data[pos]

    def below(self, bound: int) -> int:
        """An integer in [0, bound)."""
        if bound <= 1:
            return 0
        if bound <= 256:  # one byte: the common case, kept off the general loop
            pos = self.pos
            if pos >= self.size:
                return 0
            self.pos = pos + 1
            return self.data[pos] % bound
        value = 0
        for _ in range((bound.bit_length() + 7) // 8):
            value = (value << 8) | self.byte()
        return value % bound

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def chance(self, one_in: int) -> bool:
        """True one time in ``one_in``; always False once the bytes run out."""
        return self.pos < self.size and self.below(one_in) == 0

    def pick(self, options):
        return options[self.below(len(options))]

    def double(self) -> float:
        raw = bytes(self.byte() for _ in range(8))
        return struct.unpack("<d", raw)[0]

    def text(self, limit: int = 8) -> str:
        alphabet = "abpqr xyz\u00fc\u4e2d\U0001f600\x00'\"\\"
        return "".join(self.pick(alphabet) for _ in range(self.below(limit + 1)))


# ---------------------------------------------------------------- data set
STRINGS = ["a", "b", "", "\u00fc", "x y"]
TAGS = ["p", "q", "r"]
BIG = 2**53 + 1


def _records(seed: int = 0) -> dict[str, list]:
    rng = np.random.default_rng(seed)

    def maybe(value, missing_one_in=7):
        return None if rng.integers(missing_one_in) == 0 else value

    ints = [-(2**62), 2**60, BIG, BIG - 1, 0, -1]
    floats = [float(2**53), float(2**53 + 2), 1e300, -0.0, 0.5, -2.5]
    columns = {
        "i": [
            maybe(int(rng.choice(ints)) if rng.integers(5) == 0 else int(rng.integers(-50, 50)))
            for _ in range(N)
        ],
        "f": [
            maybe(float(rng.choice(floats)) if rng.integers(5) == 0 else float(rng.normal()))
            for _ in range(N)
        ],
        "b": [maybe(bool(rng.integers(2))) for _ in range(N)],
        "s": [maybe(str(rng.choice(STRINGS))) for _ in range(N)],
        "t": [
            maybe(sorted(set(rng.choice(TAGS, int(rng.integers(0, 4))).tolist()))) for _ in range(N)
        ],
        "d": [
            maybe(int(20200101 + 100 * rng.integers(0, 12) + rng.integers(0, 28))) for _ in range(N)
        ],
    }
    return columns


RECORDS = _records()
TYPES = {"i": "int", "f": "float", "b": "bool", "s": "string", "t": "strings", "d": "date"}
NAMES = list(TYPES) + ["missing_attribute"]


def _vectors(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, DIM)).astype(np.float32)


_CACHE: dict[str, object] = {}


def dense_index():
    if "dense" not in _CACHE:
        _CACHE["dense"] = fanns.Index.build(
            _vectors(),
            attributes=RECORDS,
            attribute_types={"d": "date"},
            M=8,
            ef_construction=32,
            threads=1,
            range_attribute="i",
        )
    return _CACHE["dense"]


def sparse_index():
    if "sparse" not in _CACHE:
        rng = np.random.default_rng(3)
        docs = [
            {int(t): float(rng.uniform(0.1, 3)) for t in rng.choice(64, int(rng.integers(1, 8)))}
            for _ in range(N)
        ]
        _CACHE["sparse"] = fanns.SparseIndex.build(
            docs, attributes=RECORDS, attribute_types={"d": "date"}, n_terms=64, threads=1, knn=2
        )
    return _CACHE["sparse"]


def _check_result(ids: np.ndarray, values: np.ndarray, passing: set[int] | None, n: int) -> None:
    if not ((ids >= -1) & (ids < n)).all():
        raise AssertionError("an id outside [-1, n)")
    found = ids >= 0
    if not np.isfinite(values[found]).all():
        raise AssertionError("a non-finite distance for a found row")
    if passing is not None and not set(ids[found].tolist()) <= passing:
        raise AssertionError("a result that fails its filter")
