"""What the embedded-database peers (Chroma, LanceDB) share: a temporary directory they keep
their files in, the attribute schema, and per filter group the peer's own filter.

A workload's filter reaches a peer in one of two ways, recorded in every point's ``details``:

- ``native``: the fanns expression translated into the peer's filter language;
- ``rewritten``: translated, but over a form of the attributes the peer stores instead of the
  original (Chroma keeps a list-valued attribute as one boolean key per value, set at build);
- ``materialised``: rows the peer's language cannot select exactly (a synthetic row mask with
  no attribute expression, or an untranslatable expression) are tagged with a boolean
  attribute added to the peer's store for that filter, and the query filters on it. Tagging
  happens in :meth:`PeerMethod.prepare`, before the timed runs.

Points also report ``disk_bytes``, the size of the peer's files (after the build and any
tagging).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from fanns.bench.methods.base import BuildParams, Method
from fanns.bench.methods.peer_filters import PeerSchema, Untranslatable
from fanns.bench.workloads import FilterGroup, QueryFilters

METRICS = ("l2", "ip", "cosine")
NATIVE = "native"
REWRITTEN = "rewritten"
MATERIALISED = "materialised"


def directory_bytes(path: str) -> int:
    """Total size of the files below ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:  # a file the peer removed meanwhile
                pass
    return total


class PeerMethod(Method):
    """Base of the database peers: subclasses build their store in :meth:`build_store`, give
    the translator (:meth:`translate`) and the materialiser (:meth:`materialise`), and answer
    one group of queries in :meth:`search_group`."""

    #: what materialising a filter does, in the peer's own words (for the results)
    materialise_note: str = ""

    def __init__(self) -> None:
        super().__init__()
        self._tmp: str | None = None
        self._schema = PeerSchema({})
        self._n = 0
        self._metric = "l2"
        self._masks = 0
        self._disk_bytes = 0

    @classmethod
    def missing_dependency(cls) -> str | None:
        reason = super().missing_dependency()
        if reason is None:
            return None
        return f"{reason}; install the optional peers with pip install 'fanns[peers]'"

    @property
    def workdir(self) -> str:
        """The temporary directory this method's files live in (removed by :meth:`close`)."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix=f"fanns-bench-{self.name}-")
        return self._tmp

    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        if data.ndim != 2 or data.shape[0] == 0:
            raise ValueError(f"expected a non-empty 2-D array of vectors, got shape {data.shape}")
        if attributes is not None and len(attributes) != data.shape[0]:
            raise ValueError(f"{len(attributes)} attribute records for {data.shape[0]} vectors")
        records = list(attributes) if attributes else None
        self._schema = PeerSchema.from_records(records) if records else PeerSchema({})
        self._n = int(data.shape[0])
        self._metric = metric
        self._masks = 0
        self.build_store(data, records, metric, params)
        self._disk_bytes = directory_bytes(self.workdir)

    @property
    def schema(self) -> PeerSchema:
        """Types of the indexed attributes."""
        return self._schema

    @abstractmethod
    def build_store(
        self,
        vectors: np.ndarray,
        records: list[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        """Create the peer's store and index over ``vectors`` (row ``i`` has id ``i``)."""

    @abstractmethod
    def translate(self, expr: Any) -> Any:
        """The peer's filter for a fanns expression (raise :class:`Untranslatable`)."""

    def translation_note(self, expr: Any) -> str | None:
        """How a translated ``expr`` departs from the attributes as given (``None``: it does
        not)."""
        return None

    @abstractmethod
    def materialise(self, ids: np.ndarray, key: str) -> Any:
        """Tag rows ``ids`` with boolean attribute ``key`` and return the filter selecting them."""

    @abstractmethod
    def search_group(self, queries: np.ndarray, k: int, sweep_value: Any, where: Any) -> list:
        """Ids (each a sequence, best first) of every query of one group under ``where``."""

    @abstractmethod
    def selected_ids(self, where: Any) -> np.ndarray:
        """Sorted ids of every row the peer's own filter ``where`` selects (an exact scan of
        the store, no vector search): what a translated filter is checked against."""

    def _group_filter(self, filters: QueryFilters, group: FilterGroup) -> tuple[Any, str, str]:
        """``(filter, how, note)`` for one group, computed once and cached on the group."""
        cached = group.cache.get(self.name)
        if cached is not None:
            return cached
        if group.mask is None:
            result: tuple[Any, str, str] = (None, NATIVE, "")
        else:
            expr = None
            if filters.expressions is not None:
                expr = filters.expressions[int(group.queries[0])]
            reason = "a row mask without an attribute expression"
            try:
                if expr is None:
                    raise Untranslatable(reason)
                where = self.translate(expr)
                note = self.translation_note(expr)
                result = (where, REWRITTEN if note else NATIVE, note or "")
            except Untranslatable as exc:
                reason = str(exc)
                key = f"fanns_mask_{self._masks}"
                self._masks += 1
                note = f"{reason}: {self.materialise_note.format(key=key)}"
                result = (self.materialise(group.ids, key), MATERIALISED, note)
                self._disk_bytes = directory_bytes(self.workdir)
        group.cache[self.name] = result
        return result

    def prepare(self, filters: QueryFilters) -> None:
        """Translate or materialise every filter group of a workload (untimed)."""
        if self._n == 0:
            raise RuntimeError("build() must run before prepare()")
        for group in filters.groups:
            self._group_filter(filters, group)

    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        if self._n == 0:
            raise RuntimeError("build() must run before search()")
        q = np.ascontiguousarray(queries, dtype=np.float32)
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        counts = {NATIVE: 0, REWRITTEN: 0, MATERIALISED: 0}
        notes: dict[str, None] = {}
        for group in filters.groups:
            where, how, note = self._group_filter(filters, group)
            if group.mask is not None:
                counts[how] += int(group.queries.size)
                if note:
                    notes.setdefault(note)
            if group.mask is not None and group.count == 0:
                continue
            rows = self.search_group(q[group.queries], k, sweep_value, where)
            for i, ids in zip(group.queries, rows):
                ids = np.asarray(ids, dtype=np.int64)[:k]
                out[i, : ids.size] = ids
        self.details = {**self.search_details(sweep_value), "disk_bytes": self._disk_bytes}
        if filters.kind != "none":
            self.details["filter_queries"] = counts
            if notes:
                self.details["filter_notes"] = list(notes)
        return out

    def search_details(self, sweep_value: Any) -> dict[str, Any]:
        """Per-point details a subclass reports (the knob settings of ``sweep_value``)."""
        return {}

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._n = 0
        super().close()
