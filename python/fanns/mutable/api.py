"""The writing half of :class:`fanns.Index`: create, add, delete, upsert,
update_attributes, get, contains and compact (a mixin, so that ``index.py``
keeps building, searching and storing one graph)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fanns._validation import as_count
from fanns.attributes.building import _check_types
from fanns.mutable.collection import MISSING, Rows, Segments, Snapshot


class Mutations:
    """Methods of :class:`fanns.Index` that change or look up rows by id."""

    @classmethod
    def create(
        cls,
        dim: int,
        *,
        metric: str = "l2",
        attribute_types: Mapping[str, str] | None = None,
        storage: str = "sq8",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        gamma: int = 1,
        m_beta: int | None = None,
        range_attribute: str | None = None,
        range_leaf_size: int = 128,
        range_quantized: bool = True,
    ):
        """An empty index of ``dim``-dimensional vectors, to fill with :meth:`add`.

        The arguments mean what they mean for :meth:`build`; ``attribute_types``
        fixes the type of attributes that later rows bring.

        Example:
            >>> index = fanns.Index.create(384, metric="cosine", attribute_types={"year": "int"})
            >>> index.add(vectors, ids=paper_ids, attributes={"year": years})
            >>> len(index)
            1000
        """
        from fanns.index import graph_params

        dim = as_count(dim, "dim", minimum=1, maximum=2**31 - 1)
        params = graph_params(metric, storage, M, ef_construction, seed, gamma, m_beta)
        types = _check_types(attribute_types)
        if range_attribute is not None:
            if not isinstance(range_attribute, str):
                kind = type(range_attribute).__name__
                raise TypeError(f"range_attribute must be an attribute name, not {kind}")
            kind = types.get(range_attribute)
            if kind is not None and kind not in ("int", "float", "date"):
                raise TypeError(
                    f"range_attribute {range_attribute!r} is a {kind} column; "
                    "a range graph needs int, float or date"
                )
        build = {
            "M": params["M"],
            "ef_construction": params["ef_construction"],
            "seed": params["seed"],
            "gamma": params["gamma"],
            "m_beta": None if params["gamma"] == 1 else params["m_beta"],
            "storage": params["storage"],
            "range_attribute": range_attribute,
            "range_leaf_size": as_count(range_leaf_size, "range_leaf_size", minimum=2),
            "range_quantized": bool(range_quantized),
        }
        segments = Segments(
            dim=dim,
            metric=metric,
            build=build,
            attribute_types=types,
            snapshot=Snapshot((), 0),
        )
        return cls._holding_segments(segments, params, range_attribute)

    def _check_changeable(self) -> None:
        """Indexes with sparse vectors are not segmented yet: they stay as built."""
        if self._sparse is not None:
            raise TypeError(
                "an index with sparse vectors (built with sparse=) cannot be changed yet: "
                "rebuild it with the new rows"
            )

    def add(
        self,
        vectors,
        *,
        ids=None,
        attributes: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
        threads: int = 0,
    ) -> None:
        """Add rows. ``ids`` default to one past the largest id used so far.

        An id already in the index raises ValueError (use :meth:`upsert`);
        any error leaves the index as it was. Searches running meanwhile see
        the index before or after the whole call, never half of it; a second
        writer waits for this one. New rows are inserted into the last
        segment's graph (copied first, so searches keep their snapshot).

        Example:
            >>> index.add(new_vectors, ids=[1001, 1002], attributes={"year": [2024, 2025]})
        """
        self._check_changeable()
        self._segments.add(vectors, ids, attributes, threads, replace=False)

    def upsert(
        self,
        vectors,
        *,
        ids,
        attributes: Mapping[str, Sequence] | Sequence[Mapping[str, Any]] | None = None,
        threads: int = 0,
    ) -> None:
        """Add rows, replacing (vector and attributes) those whose ids are present.

        Example:
            >>> index.upsert(corrected_vectors, ids=[17, 42], attributes={"year": [2023, 2024]})
        """
        if ids is None:
            raise TypeError("upsert needs ids")
        self._check_changeable()
        self._segments.add(vectors, ids, attributes, threads, replace=True)

    def delete(self, ids, *, missing: str = "raise") -> int:
        """Delete rows by id and return how many were deleted. An unknown id
        raises KeyError and deletes nothing, unless ``missing="ignore"``.
        Deleted rows never appear in a search that starts after the call
        returns; their memory is freed by :meth:`compact`.

        Example:
            >>> index.delete([17, 42])
            2
        """
        if missing not in MISSING:
            raise ValueError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        self._check_changeable()
        return self._segments.delete(ids, missing)

    def update_attributes(self, ids, attributes, *, threads: int = 0) -> None:
        """Set attributes of existing rows (vectors unchanged): ``attributes``
        maps names to one value per id (or is one record per id); attributes
        not named keep their values.

        Example:
            >>> index.update_attributes([17, 42], {"year": [2021, 2022]})
        """
        self._check_changeable()
        self._segments.update_attributes(ids, attributes, threads)

    def get(self, ids) -> Rows:
        """Vectors and attributes of the given ids (KeyError for an unknown id).

        Example:
            >>> rows = index.get([17, 42])
            >>> rows.vectors.shape, rows.attributes["year"]
            ((2, 384), [2021, 2022])
        """
        return self._segments.get(ids)

    def contains(self, ids) -> np.ndarray:
        """Whether each id is in the index (a boolean array of the ids' shape).

        Example:
            >>> index.contains([17, 99999]).tolist()
            [True, False]
        """
        return self._segments.contains(ids)

    def __contains__(self, id) -> bool:
        if isinstance(id, (bool, np.bool_)) or not isinstance(id, (int, np.integer)):
            return False
        return bool(self._segments.contains([int(id)])[0])

    def compact(self, *, threads: int = 0) -> None:
        """Rebuild the live rows into fresh segments without deleted rows
        (memory and search time as a fresh build). Searches go on meanwhile
        on the previous snapshot; writers wait.

        Example:
            >>> index.delete(old_ids); index.compact()
        """
        self._check_changeable()
        self._segments.compact(threads)
