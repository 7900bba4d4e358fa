"""Filters on the driver: checked once before any shard runs, and matched to shards.

Expressions travel to the shards as they are (they pickle) and are compiled
there against each shard's own attributes; a ``pyroaring.BitMap`` of global
ids or a boolean mask over global ids is turned into each shard's local
bitmap on the shard. Here the driver only checks them, against an empty
store with the index's columns and types (so an unknown attribute or a type
mismatch raises the same ``KeyError`` / ``TypeError`` as on one index), and
asks the shards' statistics which shards may hold passing rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns._validation import as_count
from fanns.attributes import AttributeStore
from fanns.distributed.stats import NONE, verdict
from fanns.filters import Expr, compile_filter
from fanns.planner import Planner

__all__ = ["check_filter", "may_pass", "search_options"]


def check_filter(item: Any, schema: AttributeStore, n: int, custom_ids: bool) -> Any:
    """One distinct filter, checked; a mask comes back as a bool array (or an empty BitMap)."""
    if isinstance(item, Expr):
        compile_filter(item, schema, 0)  # unknown attributes, type mismatches
        return item
    if isinstance(item, (BitMap, FrozenBitMap)):
        if not custom_ids and len(item) and item.max() >= n:
            raise ValueError(f"filter bitmap holds id {item.max()}, but the index has {n} ids")
        return item
    if isinstance(item, (np.ndarray, list, tuple)):
        if custom_ids:
            raise TypeError(
                "a boolean mask selects rows by global id and needs the default ids; "
                "pass a pyroaring.BitMap of ids instead"
            )
        bitmap = compile_filter(item, None, n)  # dtype and length errors
        return np.asarray(item, dtype=bool) if len(bitmap) else BitMap()
    return compile_filter(item, None, n)  # raises the single index's TypeError


def may_pass(distinct: list[Any], stats: list[dict], shards: int) -> np.ndarray:
    """(filters, shards) bool: False where a shard's statistics prove no row passes."""
    may = np.ones((max(len(distinct), 1), shards), dtype=bool)
    for j, item in enumerate(distinct):
        if isinstance(item, Expr):
            may[j] = [verdict(item, shard) != NONE for shard in stats]
        elif isinstance(item, (BitMap, FrozenBitMap)) and len(item) == 0:
            may[j] = False
    return may


def search_options(ef, threads, exact_threshold, planner=None) -> dict[str, Any]:
    """The per-shard search keywords, checked (``threads=None``: left out)."""
    if planner is not None and not isinstance(planner, Planner):
        raise TypeError(f"planner must be a fanns.Planner, not {type(planner).__name__}")
    options = {
        "ef": as_count(ef, "ef", minimum=1, allow_none=True),
        "exact_threshold": as_count(exact_threshold, "exact_threshold", minimum=0, allow_none=True),
        "planner": planner,
    }
    if threads is not None:
        options["threads"] = as_count(threads, "threads", minimum=0, maximum=4096)
    return options
