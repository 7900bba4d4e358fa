"""Which shard a row goes to: a fixed integer hash of its global id, or key ranges.

By id (the default)
    ``shard = splitmix64(id) mod S``, where ``splitmix64`` is the finaliser of
    the SplitMix64 generator applied to the id as an unsigned 64-bit integer::

        z = id + 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        z = z ^ (z >> 31)

    (all arithmetic modulo 2**64). It does not depend on the Python version,
    the platform or ``PYTHONHASHSEED``, spreads consecutive ids evenly, and a
    client can compute it to find the shard that owns an id.

By key (``shard_key="update_date"``)
    The rows are sorted by the key attribute and cut into ``S`` contiguous runs
    of (nearly) equal size, so each shard holds one key range and a filter on
    the key skips the shards whose range it misses. Rows without a key are
    spread by the id hash. A cut never splits a run of equal keys, so shards
    hold disjoint key ranges (and may differ in size when a key is frequent).

Example:
    >>> shard_of([0, 1, 2, 3], 4).tolist()
    [3, 1, 2, 1]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np

from fanns.attributes import NUMERIC_TYPES, AttributeStore

__all__ = ["assign_by_hash", "assign_by_key", "shard_members", "shard_of", "splitmix64"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(ids) -> np.ndarray:
    """The SplitMix64 finaliser of each id (as uint64), vectorised.

    Example:
        >>> hex(int(splitmix64([0])[0]))
        '0xe220a8397b1dcdaf'
    """
    z = np.asarray(ids, dtype=np.int64).astype(np.uint64).reshape(-1)
    # uint64 array arithmetic wraps modulo 2**64, which is what the hash wants.
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def shard_of(ids, shards: int) -> np.ndarray:
    """Shard number (int64) owning each global id under the id-hash assignment."""
    return (splitmix64(ids) % np.uint64(shards)).astype(np.int64)


def assign_by_hash(ids: np.ndarray, shards: int) -> np.ndarray:
    """Shard of every row from its global id; see the module docstring."""
    return shard_of(ids, shards)


def _first_of(keys: np.ndarray, at: int, *, after: bool = False) -> int:
    """Position of the first key equal to ``keys[at]`` (``after``: of the first larger key)."""
    if after:
        return bisect_right(keys, keys[at], at)
    return bisect_left(keys, keys[at], 0, at)


def assign_by_key(store: AttributeStore, key: str, ids: np.ndarray, shards: int) -> np.ndarray:
    """Shard of every row from contiguous ranges of the attribute ``key``.

    ``key`` must be an int, float, date or string (categorical) attribute.
    """
    if not isinstance(key, str):
        raise TypeError(f"shard_key must be an attribute name, not {type(key).__name__}")
    kind = store.type_of(key)  # KeyError naming it when unknown
    n = len(store)
    if kind in NUMERIC_TYPES:
        rows, keys = store.sorted_order(key)
        rows = np.asarray(rows, dtype=np.int64)
    elif kind == "string":
        values = store.column(key)
        rows = np.array([i for i, v in enumerate(values) if v is not None], dtype=np.int64)
        keys = np.array([values[i] for i in rows.tolist()], dtype=object)
        order = np.argsort(keys, kind="stable")
        rows, keys = rows[order], keys[order]
    else:
        raise TypeError(
            f"shard_key {key!r} is a {kind} attribute; key ranges need an int, float, date "
            "or string attribute"
        )
    assignment = assign_by_hash(ids, shards)  # rows without a key keep their hash shard
    # Equal runs over the sorted rows, each cut moved back to the start of its
    # run of equal keys (or forward past it), so no key value spans two shards.
    m = len(rows)
    cuts = [0]
    for s in range(1, shards):
        at = s * m // shards
        if at >= m:
            cuts.append(m)
            continue
        cut = _first_of(keys, at)
        if cut <= cuts[-1]:
            cut = _first_of(keys, at, after=True)
        cuts.append(max(cut, cuts[-1]))
    cuts.append(m)
    for s in range(shards):
        assignment[rows[cuts[s] : cuts[s + 1]]] = s
    assert assignment.shape == (n,)
    return assignment


def shard_members(assignment: np.ndarray, global_ids: np.ndarray, shards: int) -> list[np.ndarray]:
    """Input positions of each shard's rows, in increasing global id."""
    order = np.lexsort((global_ids, assignment))
    bounds = np.searchsorted(assignment[order], np.arange(shards + 1))
    members = [order[bounds[s] : bounds[s + 1]] for s in range(shards)]
    for s, rows in enumerate(members):
        if len(rows) == 0:
            raise ValueError(
                f"shard {s} would hold no rows ({len(global_ids)} rows over {shards} shards); "
                "use fewer shards"
            )
    return members
