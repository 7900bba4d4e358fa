"""Fuzz targets: the filter language, the index file loaders, search arguments.

Each target takes a byte string and must either succeed or raise one of the
exceptions the API documents for bad input; anything else (another exception,
a wrong answer, a crash, a hang) is a finding. The same functions are driven
by atheris (tests/fuzz/run.sh, coverage-guided) and by a seeded random byte
generator in tests/test_fuzz.py (a short run in the test suite).
"""

from __future__ import annotations

import datetime
import operator
import os
import struct
import tempfile

import numpy as np
from pyroaring import BitMap

import fanns
from fanns._fileformat import read_index_file, write_index_file
from fanns.filters import compile_filter

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
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def below(self, bound: int) -> int:
        """An integer in [0, bound)."""
        if bound <= 1:
            return 0
        value = 0
        for _ in range((bound.bit_length() + 7) // 8):
            value = (value << 8) | self.byte()
        return value % bound

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def chance(self, one_in: int) -> bool:
        """True one time in ``one_in``; always False once the bytes run out."""
        return self.pos < len(self.data) and self.below(one_in) == 0

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


# ------------------------------------------------------- filter expressions
def _value(d: Draw):
    """A comparison value of any type, often a meaningful one."""
    kind = d.below(16)
    if kind == 0:
        return d.between(-60, 60)
    if kind == 1:
        return d.pick([BIG, BIG - 1, BIG + 1, 2**53, 2**63, -(2**63) - 1, 2**64, 2**62, -(2**62)])
    if kind == 2:
        return d.pick([0.5, -0.0, float("inf"), float("-inf"), float("nan"), 1e300, float(2**53)])
    if kind == 3:
        return d.double()
    if kind == 4:
        return d.pick([True, False])
    if kind == 5:
        return d.pick(STRINGS + TAGS)
    if kind == 6:
        return d.text()
    if kind == 7:
        return d.pick(
            [np.int64(3), np.float32(0.5), np.bool_(True), np.str_("a"), np.uint64(2**64 - 1)]
        )
    if kind == 8:
        return d.pick(
            [None, b"a", [1], (2,), {"a": 1}, object(), 1 + 2j, datetime.date(2020, 1, 1)]
        )
    if kind == 9:
        return d.between(20200101, 20201231)
    return d.between(-3, 3) if d.chance(2) else d.pick(STRINGS)


def _values(d: Draw) -> list:
    size = d.pick([0, 1, 2, 3, 5, 17, 1000]) if not d.chance(64) else d.pick([10**4, 10**5])
    if size > 20:  # long lists: many values of one type
        base = d.below(4)
        if base == 0:
            return list(range(-size // 2, size // 2))
        if base == 1:
            return [str(v) for v in range(size)] + STRINGS
        if base == 2:
            return [v * 0.5 for v in range(size)]
        return np.random.default_rng(d.below(2**16)).integers(-60, 60, size).tolist()
    return [_value(d) for _ in range(size)]


def random_tree(d: Draw, depth: int = 0):
    """A random filter as a nested tuple (the oracle reads it, :func:`to_expr` builds it)."""
    if depth > 0 and d.chance(200):  # a very deep chain
        tree = _leaf(d)
        for _ in range(d.pick([100, 1000, 5000])):
            tree = d.pick([("not", tree), ("and", [tree, _leaf(d)]), ("or", [tree, _leaf(d)])])
        return tree
    if depth >= 6 or d.chance(3):
        return _leaf(d)
    kind = d.below(3)
    if kind == 0:
        return ("not", random_tree(d, depth + 1))
    width = d.between(1, 4) if not d.chance(50) else d.pick([300, 3000])
    terms = [random_tree(d, depth + 1) if width <= 4 else _leaf(d) for _ in range(width)]
    return ("and" if kind == 1 else "or", terms)


def _leaf(d: Draw):
    name = d.pick(NAMES) if not d.chance(20) else d.pick([1, None, "", "\x00"])
    op = d.below(9)
    if op < 6:
        return ("cmp", name, ("==", "!=", "<", "<=", ">", ">=")[op], _value(d))
    if op == 6:
        return ("between", name, _value(d), _value(d))
    if op == 7:
        return ("isin", name, _values(d))
    if d.chance(6):
        return ("null", name)
    return (
        "contains",
        name,
        d.pick(["one", "any", "all"]),
        _values(d) if d.chance(2) else _value(d),
    )


_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def fold(tree, leaf, combine):
    """Post-order fold of a tree without recursion (trees may be thousands deep)."""
    stack, done = [(tree, False)], []
    while stack:
        node, expanded = stack.pop()
        if node[0] not in ("not", "and", "or"):
            done.append(leaf(node))
        elif not expanded:
            stack.append((node, True))
            children = [node[1]] if node[0] == "not" else node[1]
            stack.extend((child, False) for child in reversed(children))
        else:
            count = 1 if node[0] == "not" else len(node[1])
            parts = done[len(done) - count :]
            del done[len(done) - count :]
            done.append(combine(node[0], parts))
    return done[0]


def _combine_expr(kind, parts):
    if kind == "not":
        return ~parts[0]
    expr = parts[0]
    for term in parts[1:]:
        expr = (expr & term) if kind == "and" else (expr | term)
    return expr


def to_expr(tree):
    """The fanns expression for a tree; raises what the API raises for bad parts."""
    return fold(tree, _leaf_expr, _combine_expr)


def _leaf_expr(tree):
    kind = tree[0]
    f = fanns.field(tree[1])
    if kind == "cmp":
        return _OPS[tree[2]](f, tree[3])
    if kind == "between":
        return f.between(tree[2], tree[3])
    if kind == "isin":
        return f.isin(tree[2])
    if kind == "null":
        return f.is_null()
    mode, values = tree[2], tree[3]
    if mode == "one":
        return f.contains(values)
    return f.contains_any(values) if mode == "any" else f.contains_all(values)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def oracle(tree) -> set[int] | None:
    """Rows passing ``tree`` by the documented semantics, or None where the
    documentation leaves the outcome to an exception (the tree is not checked)."""
    return fold(tree, _leaf_oracle, _combine_oracle)


def _combine_oracle(kind, parts):
    if any(p is None for p in parts):
        return None
    if kind == "not":
        return set(range(N)) - parts[0]
    out = set(parts[0])
    for p in parts[1:]:
        out = out & p if kind == "and" else out | p
    return out


def _leaf_oracle(tree) -> set[int] | None:
    kind = tree[0]
    name = tree[1]
    if name not in TYPES:
        return None
    column, kind_of = RECORDS[name], TYPES[name]
    present = [i for i in range(N) if column[i] is not None]
    if kind == "null":
        return {i for i in range(N) if column[i] is None}

    def plain(v):
        return v.item() if isinstance(v, np.generic) else v

    def usable(v) -> bool:
        v = plain(v)
        if kind_of in ("int", "float", "date"):
            return _is_number(v) and v == v
        if kind_of == "bool":
            return isinstance(v, bool)
        return isinstance(v, str)

    if kind == "cmp":
        v = plain(tree[3])
        if not usable(v) or (
            tree[2] not in ("==", "!=") and kind_of not in ("int", "float", "date")
        ):
            return None
        return {i for i in present if _OPS[tree[2]](column[i], v)}
    if kind == "between":
        lo, hi = plain(tree[2]), plain(tree[3])
        if kind_of not in ("int", "float", "date") or not (usable(lo) and usable(hi)):
            return None
        return {i for i in present if lo <= column[i] <= hi}
    if kind == "isin":
        values = [plain(v) for v in tree[2]]
        if kind_of == "strings" or not all(usable(v) for v in values):
            return None
        wanted = set(values)
        return (
            {i for i in present if any(column[i] == v for v in wanted)}
            if len(wanted) < 50
            else {i for i in present if column[i] in wanted}
        )
    # contains
    if kind_of != "strings":
        return None
    mode, values = tree[2], tree[3]
    if mode == "one":
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    if mode == "all":
        return {i for i in present if set(values) <= set(column[i])}
    return {i for i in present if set(values) & set(column[i])}


def filter_target(data: bytes) -> None:
    d = Draw(data)
    tree = random_tree(d)
    index = dense_index()
    try:
        expr = to_expr(tree)
        passing = compile_filter(expr, index.attributes)
    except FILTER_ERRORS:
        return
    expected = oracle(tree)
    if expected is not None and set(passing) != expected:
        raise AssertionError(
            f"filter {expr!r} passes {len(passing)} rows, expected {len(expected)}"
        )
    if d.chance(16):
        q = _vectors(d.below(1000))[:3]
        result = index.search(q, k=7, filter=expr, threads=d.below(3))
        _check_result(result.ids, result.distances, set(passing), N)


def _check_result(ids: np.ndarray, values: np.ndarray, passing: set[int] | None, n: int) -> None:
    if not ((ids >= -1) & (ids < n)).all():
        raise AssertionError("an id outside [-1, n)")
    found = ids >= 0
    if not np.isfinite(values[found]).all():
        raise AssertionError("a non-finite distance for a found row")
    if passing is not None and not set(ids[found].tolist()) <= passing:
        raise AssertionError("a result that fails its filter")


# ------------------------------------------------------------ search calls
def _queries(d: Draw, dim: int):
    kind = d.below(14)
    nq = d.pick([1, 2, 5, 0])
    rng = np.random.default_rng(d.below(1000))
    good = rng.standard_normal((nq, dim))
    if kind < 5:
        return good.astype(d.pick([np.float32, np.float64, np.float16, np.int32, np.int8]))
    if kind == 5:
        return good[0].astype(np.float32) if nq else good.reshape(-1)  # one query as a vector
    if kind == 6:
        return rng.standard_normal((nq, d.pick([dim - 1, dim + 1, 0]))).astype(np.float32)
    if kind == 7:
        bad = good.astype(np.float32)
        if nq:
            bad[d.below(nq), d.below(dim)] = d.pick([np.nan, np.inf, -np.inf, 1e30, 3e38])
        return bad
    if kind == 8:
        return d.pick([None, "queries", b"\x00", 3.0, [[1, 2], [3]], [], {}, object()])
    if kind == 9:
        return good.astype(d.pick([np.bool_, np.complex64, object, "U3", np.uint64]))
    if kind == 10:
        return good.reshape(1, nq, dim).astype(np.float32)
    if kind == 11:
        return np.asfortranarray(rng.standard_normal((dim, max(nq, 1))).T.astype(np.float32))
    if kind == 12:
        return (good * d.pick([1e15, 1e18, 1e19, 1e-40])).astype(np.float32)
    return good.tolist()


def _number_arg(d: Draw, common: list):
    if d.chance(2):
        return d.pick(common)
    return d.pick(
        [
            0,
            -1,
            2**31,
            2**63,
            10**8,
            1.5,
            "5",
            None,
            True,
            np.int64(3),
            np.uint64(2**64 - 1),
            float("nan"),
        ]
    )


def _search_filter(d: Draw, nq: int):
    kind = d.below(8)
    if kind < 3:
        return to_expr(random_tree(d, depth=3)), True
    if kind == 3:
        return None, True
    if kind == 4:
        ids = [d.between(-2, N + 70) for _ in range(d.below(20))]
        return BitMap([i for i in ids if i >= 0]), True
    if kind == 5:
        return np.random.default_rng(d.below(100)).random(d.pick([N, N - 1, N + 64])) < 0.3, True
    if kind == 6:
        return [to_expr(random_tree(d, depth=4)) for _ in range(d.pick([nq, nq + 1, 1]))], True
    return d.pick(["filter", 3, np.arange(5), [None], object()]), True


def _passing(index, flt) -> set[int] | None:
    """Rows a single filter lets through (None when it varies per query)."""
    if flt is None:
        return None
    if isinstance(flt, BitMap):
        return set(flt)
    if isinstance(flt, np.ndarray) and flt.dtype == bool:
        return set(np.flatnonzero(flt).tolist())
    if isinstance(flt, list):
        return None
    return set(compile_filter(flt, index.attributes))


def search_target(data: bytes) -> None:
    d = Draw(data)
    sparse = d.chance(4)
    index = sparse_index() if sparse else dense_index()
    try:
        flt, _ = _search_filter(d, 2)
        if sparse:
            rng = np.random.default_rng(d.below(100))
            queries = d.pick(
                [
                    [{int(t): float(rng.uniform(0, 2)) for t in rng.choice(64, 4)}],
                    [{3: float("nan")}],
                    [{-1: 1.0}],
                    [{70: 1.0}],
                    [{1: 1e38, 2: 1e38}],
                    "q",
                    None,
                    [{}],
                    [{"a": 1}],
                ]
            )
            kwargs = {
                "k": _number_arg(d, [1, 5, 10, N + 5]),
                "filter": flt,
                "threads": _number_arg(d, [0, 1, 2]),
                "exact_threshold": _number_arg(d, [None, 0, 10**6]),
            }
            result = index.search(queries, **kwargs)
            values = result.scores
        else:
            queries = _queries(d, DIM)
            kwargs = {
                "k": _number_arg(d, [1, 5, 10, N, N + 5]),
                "ef": _number_arg(d, [None, 1, 16, 10**6]),
                "filter": flt,
                "threads": _number_arg(d, [0, 1, 2]),
                "exact_threshold": _number_arg(d, [None, 0, 10**6]),
            }
            result = index.search(queries, **kwargs)
            values = result.distances
    except SEARCH_ERRORS:
        return
    k = kwargs["k"]
    if result.ids.shape[1] != int(k):
        raise AssertionError(f"asked for k={k!r}, got shape {result.ids.shape}")
    passing = None
    try:
        passing = _passing(index, flt)
    except FILTER_ERRORS:
        pass
    if passing is not None:
        passing &= set(range(N))
    _check_result(result.ids, values, passing, N)


# -------------------------------------------------------------- file loads
def template(kind: str) -> bytes:
    key = f"file-{kind}"
    if key not in _CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index")
            (dense_index() if kind == "dense" else sparse_index()).save(path)
            with open(path, "rb") as f:
                _CACHE[key] = f.read()
    return _CACHE[key]


def _mutate_bytes(d: Draw, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(d.between(1, 4)):
        op = d.below(5)
        at = d.below(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << d.below(8)
        elif op == 1:
            out[at : at + 8] = bytes(d.byte() for _ in range(8))
        elif op == 2:
            del out[at:]
        elif op == 3:
            out[at:at] = bytes(d.byte() for _ in range(d.below(64)))
        else:  # the header: most of the structure lives in its first bytes
            spot = d.below(min(len(out), 512) or 1)
            if out:
                out[spot] = d.byte()
    return bytes(out)


def _mutate_value(d: Draw, value):
    choice = d.below(10)
    if choice == 0:
        return d.pick([None, True, "x", [], {}, -1, 0, 2**31, 2**64, 1.5, float("nan")])
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return d.pick([value + 1, value - 1, 0, -value, value * 2, 2**32, d.between(-5, 500)])
    if isinstance(value, float):
        return d.pick([-value, 0.0, 1e300, value * 2])
    if isinstance(value, str):
        return d.pick(["", value + "x", "int", "float", "strings", "l2", "ip", "hnsw", "sparse"])
    if isinstance(value, list) and value:
        i = d.below(len(value))
        value = list(value)
        if d.chance(4):
            del value[i]
        else:
            value[i] = _mutate_value(d, value[i])
        return value
    if isinstance(value, dict) and value:
        key = d.pick(sorted(value, key=str))
        value = dict(value)
        if d.chance(6):
            del value[key]
        else:
            value[key] = _mutate_value(d, value[key])
        return value
    return value


def _mutate_array(d: Draw, array: np.ndarray) -> np.ndarray:
    op = d.below(6)
    flat = array.reshape(-1).copy()
    if op <= 2 and flat.size:
        for _ in range(d.between(1, 4)):
            i = d.below(flat.size)
            if flat.dtype.kind in "iu":
                info = np.iinfo(flat.dtype)
                flat[i] = d.pick([info.max, info.min, 0, 1, N, N - 1, N + 1, int(flat[i]) + 1])
            elif flat.dtype.kind == "f":
                flat[i] = d.pick([np.nan, np.inf, 1e30, -1e30, 0.0, 3e38])
            elif flat.dtype.kind == "b":
                flat[i] = not flat[i]
        return flat.reshape(array.shape)
    if op == 3:
        return flat[: d.below(flat.size + 1)]
    if op == 4:
        return np.concatenate([flat, flat[: d.below(8)]])
    kinds = [np.int64, np.uint32, np.float32, np.uint8, np.float64]
    with np.errstate(all="ignore"):
        return flat.astype(d.pick(kinds))


def _mutate_file(d: Draw, raw: bytes, kind: str, path: str) -> None:
    if d.chance(3):
        with open(path, "wb") as f:
            f.write(_mutate_bytes(d, raw))
        return
    with open(path, "wb") as f:
        f.write(raw)
    meta, sections = read_index_file(path, kind)
    for _ in range(d.between(1, 3)):
        if d.chance(2):
            meta = _mutate_value(d, meta)
            while d.chance(2):
                meta = _mutate_value(d, meta)
        else:
            name = d.pick(sorted(sections))
            if d.chance(10):
                del sections[name]
            else:
                sections[name] = _mutate_array(d, sections[name])
    write_index_file(path, kind, meta, sections)


def load_target(data: bytes, kind: str) -> None:
    d = Draw(data)
    cls, file_kind = (fanns.Index, "hnsw") if kind == "dense" else (fanns.SparseIndex, "sparse")
    raw = template(kind)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        try:
            _mutate_file(d, raw, file_kind, path)
        except (TypeError, ValueError, OverflowError):
            return  # the mutation itself could not be written (e.g. meta not JSON-able)
        try:
            index = cls.load(path)
        except LOAD_ERRORS:
            return
    n = len(index)
    # A file that loads must answer like an index: ids in range, finite values.
    flt = fanns.field("i") >= 0
    if kind == "dense":
        q = np.random.default_rng(d.below(100)).standard_normal((2, index.dim)).astype(np.float32)
        _check_result(*_search(index.search, q, flt), None, n)
        _check_result(*_search(index.search, q, None), None, n)
    else:
        q = [{1: 1.0, 5: 0.5}, {0: 2.0}]
        _check_result(*_search(index.search, q, flt), None, n)
        _check_result(*_search(index.search, q, None), None, n)


def _search(search, queries, flt) -> tuple[np.ndarray, np.ndarray]:
    try:
        result = search(queries, k=5, filter=flt)
    except KeyError:  # the mutation renamed or dropped the attribute
        return np.full((1, 5), -1), np.zeros((1, 5))
    values = result.distances if hasattr(result, "distances") else result.scores
    return result.ids, values


def dense_load_target(data: bytes) -> None:
    load_target(data, "dense")


def sparse_load_target(data: bytes) -> None:
    load_target(data, "sparse")


TARGETS = {
    "filter": filter_target,
    "search": search_target,
    "load_dense": dense_load_target,
    "load_sparse": sparse_load_target,
}
