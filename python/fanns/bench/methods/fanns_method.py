"""fanns itself: ``fanns.Index`` built with the dataset's attributes, searched with the
workload's filter expressions (or its row masks as bitmaps), ``threads=1``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fanns.bench.methods.base import BuildParams, Method, pad_ids
from fanns.bench.workloads import QueryFilters


class FannsMethod(Method):
    """The library under test. Per point it also records how often each query plan ran.

    Example:
        >>> m = FannsMethod()
        >>> m.name, m.sweep_param
        ('fanns', 'ef')
    """

    name: ClassVar[str] = "fanns"
    requires: ClassVar[tuple[str, ...]] = ("fanns",)

    def __init__(self) -> None:
        super().__init__()
        self._index: Any = None

    @classmethod
    def missing_dependency(cls) -> str | None:
        reason = super().missing_dependency()
        if reason is not None:
            return reason
        import fanns

        if not hasattr(fanns, "Index"):
            return "this fanns build has no fanns.Index"
        return None

    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        import fanns

        self._index = fanns.Index.build(
            vectors,
            attributes=attributes,
            metric=metric,
            M=params.M,
            ef_construction=params.ef_construction,
            threads=params.threads,
            seed=params.seed,
            **self.extra_build_options(attributes),
        )

    def extra_build_options(self, attributes: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
        """Further ``Index.build`` keywords; variants of this method override it."""
        return {}

    def memory_bytes(self) -> int | None:
        if self._index is None:
            return None
        return int(self._index.memory_bytes())

    @staticmethod
    def filter_argument(filters: QueryFilters) -> Any:
        """The ``filter=`` argument for ``Index.search``: ``None``, one bitmap shared by all
        queries, or one expression (or bitmap) per query."""
        if filters.kind == "none":
            return None
        if filters.expressions is not None:
            return filters.expressions
        if filters.kind == "shared":
            return filters.groups[0].bitmap
        groups = filters.groups
        return [groups[g].bitmap for g in filters.group_of_query]

    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        if self._index is None:
            raise RuntimeError("build() must run before search()")
        result = self._index.search(
            queries, k, ef=int(sweep_value), filter=self.filter_argument(filters), threads=1
        )
        plans = getattr(result, "plans", None)
        if plans is not None:
            self.details = {"plans": dict(Counter(str(p) for p in plans))}
        return pad_ids(result.ids, k)

    def close(self) -> None:
        self._index = None
        super().close()


class FannsRangeMethod(FannsMethod):
    """fanns with a range graph over ``update_date`` (when the dataset has it).

    Example:
        >>> FannsRangeMethod().name
        'fanns-range'
    """

    name: ClassVar[str] = "fanns-range"
    range_attribute: ClassVar[str] = "update_date"

    def extra_build_options(self, attributes: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
        if attributes and any(
            isinstance(row, dict) and row.get(self.range_attribute) is not None
            for row in attributes[:1000]
        ):
            return {"range_attribute": self.range_attribute}
        return {}


class FannsF32Method(FannsMethod):
    """fanns searching its float rows (``storage="f32"``), beside the default 8-bit codes.

    Example:
        >>> FannsF32Method().name
        'fanns-f32'
    """

    name: ClassVar[str] = "fanns-f32"

    def extra_build_options(self, attributes: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
        return {"storage": "f32"}


class FannsF16Method(FannsMethod):
    """fanns searching float16 copies of its rows (``storage="f16"``), rescored exactly.

    Example:
        >>> FannsF16Method().name
        'fanns-f16'
    """

    name: ClassVar[str] = "fanns-f16"

    def extra_build_options(self, attributes: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
        return {"storage": "f16"}
