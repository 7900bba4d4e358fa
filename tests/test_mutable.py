"""A mutable index against a brute-force oracle: random sequences of create,
add, upsert, delete, update_attributes, compact, save and load, each followed
by filtered searches whose ids, distances and plans are checked."""

from __future__ import annotations

import numpy as np
import pytest

import fanns
from fanns import field
from oracle import exact_distances

DIM = 8
CATS = ["a", "b", "c", "d"]
TAGS = ["x", "y", "z"]
TYPES = {"c": "string", "u": "int", "f": "float", "tags": "strings", "flag": "bool"}


class Oracle:
    """What the index should hold: id -> (vector, attributes)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.rows: dict[int, tuple[np.ndarray, dict]] = {}

    def ids(self) -> np.ndarray:
        return np.array(sorted(self.rows), dtype=np.int64)


def _cmp(name, test):
    return lambda a: a.get(name) is not None and test(a[name])


def make_filters(rng):
    """(expression, predicate on a row's attributes) of every filter kind;
    a missing value never matches a comparison."""
    lo = int(rng.integers(0, 80))
    width = int(rng.integers(1, 40))
    cat = CATS[int(rng.integers(len(CATS)))]
    t = float(rng.uniform(-1, 1))
    return [
        (None, lambda a: True),
        (field("c") == cat, _cmp("c", lambda v: v == cat)),
        (field("c").isin(CATS[:2]), _cmp("c", lambda v: v in CATS[:2])),
        (field("u").between(lo, lo + width), _cmp("u", lambda v: lo <= v <= lo + width)),
        (
            (field("u") >= lo) & (field("c") != cat),
            lambda a: _cmp("u", lambda v: v >= lo)(a) and _cmp("c", lambda v: v != cat)(a),
        ),
        (field("f") < t, _cmp("f", lambda v: v < t)),
        (field("tags").contains("x"), _cmp("tags", lambda v: "x" in v)),
        (field("flag") == True, _cmp("flag", lambda v: v is True)),  # noqa: E712
        (field("u") > 10**6, lambda a: False),
        (field("u") >= 0, _cmp("u", lambda v: v >= 0)),
        (~(field("c") == cat), lambda a: not _cmp("c", lambda v: v == cat)(a)),
    ]


def random_attributes(rng, m: int) -> dict[str, list]:
    f = rng.uniform(-1, 1, m)
    return {
        "c": [CATS[i] for i in rng.integers(0, len(CATS), m)],
        "u": rng.integers(0, 100, m).tolist(),
        "f": [None if rng.random() < 0.1 else float(x) for x in f],
        "tags": [[t for t in TAGS if rng.random() < 0.4] for _ in range(m)],
        "flag": [bool(x) for x in rng.random(m) < 0.5],
    }


def random_vectors(rng, m: int) -> np.ndarray:
    centres = np.random.default_rng(7).standard_normal((6, DIM))
    return (centres[rng.integers(0, 6, m)] + 0.4 * rng.standard_normal((m, DIM))).astype(np.float32)


def check_search(index, oracle: Oracle, rng, plans_seen: set, k: int = 8) -> None:
    """Search with every filter kind at both ends of the planner and check
    against brute force over the oracle's live rows."""
    ids = oracle.ids()
    if len(ids) == 0:
        result = index.search(random_vectors(rng, 2), k=k)
        assert (result.ids == -1).all()
        return
    vectors = np.stack([oracle.rows[int(i)][0] for i in ids])
    queries = random_vectors(rng, 4)
    stored = vectors
    if oracle.metric == "cosine":
        stored = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    truth = exact_distances(queries, stored, oracle.metric)
    for expr, spec in make_filters(rng):
        mask = np.array([spec(oracle.rows[int(i)][1]) for i in ids], dtype=bool)
        for threshold in (None, 0):
            result = index.search(queries, k=k, ef=64, filter=expr, exact_threshold=threshold)
            plans_seen.update(result.plans.tolist())
            passing = int(mask.sum())
            hits = 0
            for qi in range(len(queries)):
                found = result.ids[qi]
                got = found[found >= 0]
                # Only live rows that pass the filter, each once, sorted by exact distance.
                assert len(set(got.tolist())) == len(got)
                pos = np.searchsorted(ids, got)
                assert np.all(pos < len(ids)) and np.array_equal(
                    ids[np.minimum(pos, len(ids) - 1)], got
                )
                assert mask[pos].all(), (expr, result.plans[qi])
                np.testing.assert_allclose(
                    result.distances[qi][: len(got)], truth[qi, pos], rtol=1e-4, atol=1e-4
                )
                assert np.all(np.diff(result.distances[qi][: len(got)]) >= -1e-6)
                best = np.sort(truth[qi, mask])[:k]
                if result.plans[qi] in ("exact", "scan", "empty"):
                    assert len(got) == min(k, passing)
                    np.testing.assert_allclose(
                        result.distances[qi][: len(got)], best, rtol=1e-4, atol=1e-4
                    )
                hits += len(np.intersect1d(truth[qi, pos], best))
            if passing:
                # Traversals: approximate, but close on a small clustered index.
                assert hits >= 0.8 * len(queries) * min(k, passing), (expr, result.plans)
        info = index.explain(expr)
        assert info["passing"] == int(mask.sum()) and info["n"] == len(ids)


def check_contents(index, oracle: Oracle, rng) -> None:
    ids = oracle.ids()
    assert len(index) == len(ids)
    assert np.array_equal(np.sort(index.ids), ids)
    if len(ids):
        pick = rng.choice(ids, size=min(5, len(ids)), replace=False)
        rows = index.get(pick)
        for j, i in enumerate(pick.tolist()):
            vector, attributes = oracle.rows[i]
            expected = vector
            if oracle.metric == "cosine":
                expected = vector / np.linalg.norm(vector)
            np.testing.assert_allclose(rows.vectors[j], expected, rtol=1e-5, atol=1e-6)
            for name, value in attributes.items():
                assert rows.attributes[name][j] == value, name
        assert all(int(i) in index for i in pick)
    absent = np.array([-5, 10**12], dtype=np.int64)
    assert not index.contains(absent).any()


def unchanged(index, before):
    """The index answers exactly as before a failed call."""
    queries, result = before
    after = index.search(queries, k=5, ef=64)
    np.testing.assert_array_equal(after.ids, result.ids)


@pytest.mark.parametrize(
    "seed, metric, storage, segment_rows",
    [(0, "l2", "sq8", 10**6), (1, "cosine", "f32", 10**6), (2, "l2", "sq8", 90)],
)
def test_random_operations_match_the_oracle(seed, metric, storage, segment_rows, tmp_path):
    rng = np.random.default_rng(seed)
    oracle = Oracle(metric)
    index = fanns.Index.create(
        DIM,
        metric=metric,
        storage=storage,
        attribute_types=TYPES,
        M=8,
        ef_construction=64,
        range_attribute="u",
        range_leaf_size=8,
    )
    index._segments.max_segment_rows = segment_rows
    plans_seen: set = set()
    next_id = 100
    saves = 0
    most_segments = 0
    for step in range(40):
        op = rng.choice(
            ["add", "add", "upsert", "delete", "update", "compact", "save", "bad"],
            p=[0.25, 0.1, 0.15, 0.2, 0.1, 0.05, 0.05, 0.1],
        )
        if step < 3:
            op = "add"
        live = oracle.ids()
        if op == "add":
            m = int(rng.integers(1, 60))
            vectors = random_vectors(rng, m)
            new = np.arange(next_id, next_id + m) * 3  # non-contiguous ids
            next_id += m
            attributes = random_attributes(rng, m)
            index.add(vectors, ids=new, attributes=attributes, threads=2)
            for j, i in enumerate(new.tolist()):
                oracle.rows[i] = (vectors[j], {n: attributes[n][j] for n in attributes})
        elif op == "upsert" and len(live):
            old = rng.choice(live, size=min(len(live), int(rng.integers(1, 20))), replace=False)
            fresh = np.arange(next_id, next_id + 5) * 3
            next_id += 5
            both = np.concatenate([old, fresh])
            vectors = random_vectors(rng, len(both))
            attributes = random_attributes(rng, len(both))
            index.upsert(vectors, ids=both, attributes=attributes)
            for j, i in enumerate(both.tolist()):
                oracle.rows[i] = (vectors[j], {n: attributes[n][j] for n in attributes})
        elif op == "delete" and len(live):
            gone = rng.choice(live, size=min(len(live), int(rng.integers(1, 40))), replace=False)
            assert index.delete(gone) == len(gone)
            for i in gone.tolist():
                del oracle.rows[i]
        elif op == "update" and len(live):
            ids = rng.choice(live, size=min(len(live), 6), replace=False)
            cats = [CATS[i] for i in rng.integers(0, len(CATS), len(ids))]
            us = rng.integers(0, 100, len(ids)).tolist()
            index.update_attributes(ids, {"c": cats, "u": us})
            for j, i in enumerate(ids.tolist()):
                oracle.rows[i][1].update(c=cats[j], u=us[j])
        elif op == "compact":
            index.compact()
            assert index.segments == -(-len(oracle.rows) // segment_rows)
            assert index.memory_bytes(by_part=True)["ids"] < 64 * max(len(oracle.rows), 1)
        elif op == "save":
            path = tmp_path / f"saved{saves % 2}"
            saves += 1
            index.save(path)
            index = fanns.Index.load(path)
        elif op == "bad" and len(live):
            queries = random_vectors(rng, 3)
            before = (queries, index.search(queries, k=5, ef=64))
            with pytest.raises(ValueError, match="already in the index"):
                index.add(random_vectors(rng, 2), ids=[next_id * 3 + 3, int(live[0])])
            with pytest.raises(KeyError, match="not in the index"):
                index.delete([int(live[0]), -12345])
            with pytest.raises(ValueError, match="duplicates"):
                index.upsert(random_vectors(rng, 2), ids=[int(live[0])] * 2)
            with pytest.raises(TypeError, match="'u'"):
                index.add(random_vectors(rng, 1), ids=[next_id * 3 + 9], attributes={"u": ["x"]})
            with pytest.raises(KeyError):
                index.update_attributes([-1], {"c": ["a"]})
            with pytest.raises(ValueError):
                index.add(np.zeros((1, DIM + 1), np.float32), ids=[next_id * 3 + 12])
            assert index.delete([-12345], missing="ignore") == 0
            unchanged(index, before)
        most_segments = max(most_segments, index.segments)
        check_contents(index, oracle, rng)
        check_search(index, oracle, rng, plans_seen)
    assert most_segments > 1 or segment_rows > 1000
    # Deleted rows were masked in every plan, the range graph's included.
    assert {"exact", "filtered", "range"} <= plans_seen, plans_seen
    assert plans_seen & {"acorn", "scan", "graph"}, plans_seen
