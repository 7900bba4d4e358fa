"""Shard statistics only ever claim what the compiled filter confirms (no Ray needed)."""

from __future__ import annotations

import numpy as np
import pytest

from fanns.attributes import AttributeStore
from fanns.distributed.assign import assign_by_key, shard_members
from fanns.distributed.stats import ALL, NONE, SOME, shard_statistics, verdict
from fanns.filters import compile_filter, field


def _store(rng, n):
    years = [None if rng.random() < 0.1 else int(v) for v in rng.integers(2000, 2010, size=n)]
    return AttributeStore.from_input(
        {
            "year": years,
            "score": rng.random(n) * 10,
            "cat": [str(v) for v in rng.choice(["a", "b", "c"], size=n)],
            "tags": [
                sorted(set(rng.choice(["x", "y", "z"], size=rng.integers(0, 3)))) for _ in range(n)
            ],
            "flag": rng.random(n) < 0.5,
        },
        n,
    )


def _random_filter(rng, depth=0):
    kind = rng.integers(0, 9 if depth < 2 else 6)
    if kind == 0:
        op = ["==", "!=", "<", "<=", ">", ">="][rng.integers(0, 6)]
        value = int(rng.integers(1998, 2012))
        return {
            "==": field("year") == value,
            "!=": field("year") != value,
            "<": field("year") < value,
            "<=": field("year") <= value,
            ">": field("year") > value,
            ">=": field("year") >= value,
        }[op]
    if kind == 1:
        lo = float(rng.random() * 12 - 1)
        return field("score").between(lo, lo + float(rng.random() * 4))
    if kind == 2:
        values = list(rng.choice(["a", "b", "c", "d"], size=rng.integers(1, 3)))
        return field("cat").isin(values) if rng.random() < 0.5 else field("cat") != values[0]
    if kind == 3:
        values = list(rng.choice(["x", "y", "z", "w"], size=rng.integers(0, 3)))
        mode = rng.integers(0, 2)
        return field("tags").contains_any(values) if mode else field("tags").contains_all(values)
    if kind == 4:
        return field(["year", "tags"][rng.integers(0, 2)]).is_null()
    if kind == 5:
        return field("flag") == bool(rng.random() < 0.5)
    if kind == 6:
        return _random_filter(rng, depth + 1) & _random_filter(rng, depth + 1)
    if kind == 7:
        return _random_filter(rng, depth + 1) | _random_filter(rng, depth + 1)
    return ~_random_filter(rng, depth + 1)


@pytest.mark.parametrize("seed", range(4))
def test_verdicts_are_sound(seed):
    rng = np.random.default_rng(seed)
    seen = set()
    for _ in range(30):
        n = int(rng.integers(1, 40))
        store = _store(rng, n)
        stats = shard_statistics(store)
        for _ in range(40):
            flt = _random_filter(rng)
            passing = len(compile_filter(flt, store, n))
            said = verdict(flt, stats)
            seen.add(said)
            if said == NONE:
                assert passing == 0, (flt, stats)
            elif said == ALL:
                assert passing == n, (flt, stats)
    assert seen == {NONE, SOME, ALL}


def test_key_ranges_do_not_split_equal_keys():
    keys = [3, 1, 1, 1, 1, 2, 2, 5, 5, 5, None, 4]
    store = AttributeStore.from_input({"k": keys}, len(keys))
    ids = np.arange(len(keys), dtype=np.int64)
    assignment = assign_by_key(store, "k", ids, 3)
    keyed = [(int(assignment[row]), key) for row, key in enumerate(keys) if key is not None]
    spans = {}
    for shard, key in keyed:
        lo, hi = spans.get(shard, (key, key))
        spans[shard] = (min(lo, key), max(hi, key))
    ordered = [spans[shard] for shard in sorted(spans)]
    # Each shard holds one key range, and the ranges do not overlap.
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:])), ordered
    members = shard_members(assignment, ids, 3)
    assert sorted(np.concatenate(members).tolist()) == list(range(len(keys)))
    with pytest.raises(TypeError, match="key ranges"):
        assign_by_key(AttributeStore.from_input({"t": [["a"]] * 3}, 3), "t", ids[:3], 2)
