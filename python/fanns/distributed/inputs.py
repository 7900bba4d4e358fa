"""Reading build input (arrays, memory maps, Ray Datasets) and cutting it into shards."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fanns.attributes import AttributeStore
from fanns.attributes.building import _columns_from_records

__all__ = ["check_ids", "read_dataset", "shard_columns", "split_columns"]


def _is_ray_dataset(data: Any) -> bool:
    cls = type(data)
    return cls.__name__ in ("Dataset", "MaterializedDataset") and cls.__module__.startswith(
        "ray.data"
    )


def read_dataset(data: Any, attributes: Any, ids: Any, vector_column: str) -> tuple[Any, Any, Any]:
    """``(vectors, attributes, ids)`` from a Ray Dataset, or the arguments unchanged.

    A dataset's ``vector_column`` holds the vectors; ``attributes`` is ``None``
    (every other column except an ``ids`` column) or a list of column names;
    ``ids`` may name a column. The dataset is read once, in order, through
    the driver.
    """
    if not _is_ray_dataset(data):
        if isinstance(ids, str):
            raise TypeError("ids may name a column only when building from a Ray Dataset")
        return data, attributes, ids
    names = list(data.schema().names)
    if vector_column not in names:
        raise KeyError(f"the dataset has no column {vector_column!r} (columns: {names})")
    wanted = [c for c in names if c not in (vector_column, ids)]
    if attributes is not None:
        if isinstance(attributes, str) or not isinstance(attributes, Sequence):
            raise TypeError("with a Ray Dataset, attributes must be None or a list of column names")
        missing = [c for c in attributes if c not in names]
        if missing:
            raise KeyError(f"the dataset has no column {missing[0]!r} (columns: {names})")
        wanted = list(attributes)
    if isinstance(ids, str) and ids not in names:
        raise KeyError(f"the dataset has no column {ids!r} (columns: {names})")
    id_column = [ids] if isinstance(ids, str) else []
    parts: dict[str, list] = {c: [] for c in [vector_column, *wanted, *id_column]}
    for batch in data.iter_batches(batch_format="numpy", batch_size=4096):
        for name in parts:
            parts[name].append(np.asarray(batch[name]))
    if not parts[vector_column]:
        raise ValueError("the dataset is empty")
    joined = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    vectors = joined.pop(vector_column)
    if vectors.dtype == object:
        vectors = np.stack(list(vectors))
    if id_column:
        ids = joined.pop(ids)
    columns = {name: _plain(values) for name, values in joined.items()}
    return vectors, columns, ids


def _plain(values: np.ndarray) -> Any:
    """A dataset column as an attribute column: list-valued rows become lists of str."""
    if values.dtype != object:
        return values
    return [v.tolist() if isinstance(v, np.ndarray) else v for v in values.tolist()]


def check_ids(ids: Any, n: int) -> np.ndarray | None:
    """Validate user ids: ``n`` distinct non-negative integers, or None (row numbers)."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise TypeError(f"ids must be an array of {n} integers, not {type(ids).__name__}")
    array = np.asarray(ids)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"ids must have shape ({n},), got {array.shape}")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        if not all(isinstance(v, numbers.Integral) for v in array.tolist()):
            raise TypeError(f"ids must be integers, not {array.dtype}")
    if array.dtype == np.uint64 and n and array.max() > np.uint64(2**63 - 1):
        raise ValueError("ids must lie in [0, 2**63)")
    array = array.astype(np.int64)
    if n and array.min() < 0:
        raise ValueError(f"ids must be non-negative (-1 marks a missing result), got {array.min()}")
    if len(np.unique(array)) != n:
        raise ValueError("ids must be distinct")
    return array


def split_columns(attributes: Any, n: int) -> dict[str, Any]:
    """The attributes as ``{name: column}``, from columns or from ``n`` records."""
    if attributes is None:
        return {}
    if isinstance(attributes, Mapping):
        return dict(attributes)
    if isinstance(attributes, (str, bytes)):
        raise TypeError("attributes must be a mapping name -> column or a sequence of records")
    return _columns_from_records(attributes, n)


def shard_columns(columns: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The values of ``rows`` (input positions) of every column."""
    out: dict[str, Any] = {}
    positions = rows.tolist()
    for name, column in columns.items():
        if isinstance(column, (list, tuple)) or not hasattr(column, "__array__"):
            out[name] = [column[i] for i in positions]
        else:
            out[name] = np.asarray(column)[rows]
    return out


def schema_types(store: AttributeStore) -> dict[str, str]:
    """Declared types that rebuild the same columns on every shard (null columns infer)."""
    return {name: kind for name, kind in store.types.items() if kind != "null"}


def schema_store(types: dict[str, str], names: list[str]) -> AttributeStore:
    """An empty store with the same columns and types, to check filters on the driver."""
    columns = {name: [] for name in names}
    return AttributeStore.from_input(columns, 0, {k: v for k, v in types.items() if k in columns})
