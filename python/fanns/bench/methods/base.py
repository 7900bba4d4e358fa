"""The interface every benchmarked method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fanns.bench.workloads import QueryFilters

if TYPE_CHECKING:
    from fanns.bench.config import BenchConfig


@dataclass(frozen=True)
class BuildParams:
    """Index construction settings shared by every graph method (``threads=0``: all cores)."""

    M: int = 16
    ef_construction: int = 200
    threads: int = 0
    seed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Method(ABC):
    """A method under test: build once, then answer query batches at several sweep values.

    Subclasses set ``name`` (as used on the command line), ``requires`` (modules that must
    import) and ``sweep_param`` (the swept search parameter's name, ``None`` for one point).
    ``search`` runs its queries single-threaded in one call (per group of queries sharing a
    filter where the library takes one filter per call) and returns int64 ids of shape
    ``(nq, k)`` padded with -1.

    Example:
        >>> from fanns.bench.methods import get_method
        >>> method = get_method("bruteforce")
        >>> method.name, method.sweep_param
        ('bruteforce', None)
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    sweep_param: ClassVar[str | None] = "ef"

    def __init__(self) -> None:
        self.details: dict[str, Any] = {}

    @classmethod
    def missing_dependency(cls) -> str | None:
        """Why this method cannot run here (a missing package), or ``None``."""
        for module in cls.requires:
            try:
                import_module(module)
            except ImportError as exc:
                return f"package {module!r} is not importable ({exc})"
        return None

    @abstractmethod
    def build(
        self,
        vectors: np.ndarray,
        attributes: Sequence[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        """Build the index over ``vectors`` (attributes only matter to attribute filters)."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, sweep_value: Any, filters: QueryFilters
    ) -> np.ndarray:
        """Top-``k`` ids of every query under its filter, at sweep value ``sweep_value``."""

    def sweep_values(self, config: BenchConfig) -> list[Any]:
        """Values of the swept parameter for this run: ``config.efs``, each raised to at least
        ``config.k`` and deduplicated (graph searches need ``ef >= k``)."""
        return sorted({max(int(ef), int(config.k)) for ef in config.efs})

    def prepare(self, filters: QueryFilters) -> None:
        """Ready a workload's filters before its sweep (untimed; by default nothing to do).

        Peers whose filter language cannot express a filter store it here, once per workload.
        """
        return None

    def memory_bytes(self) -> int | None:
        """Memory the built index reports for itself, ``None`` when it has no such report."""
        return None

    def close(self) -> None:
        """Release the index (subclasses drop their index and call this)."""
        self.details = {}


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 C order, for peers that
    implement cosine as inner product.

    Example:
        >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def pad_ids(ids: np.ndarray, k: int) -> np.ndarray:
    """Return ``ids`` as int64 with exactly ``k`` columns, padding with -1.

    Example:
        >>> pad_ids(np.array([[4, 2]]), 3).tolist()
        [[4, 2, -1]]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"expected 2-D ids, got shape {ids.shape}")
    if ids.shape[1] >= k:
        return np.ascontiguousarray(ids[:, :k])
    out = np.full((ids.shape[0], k), -1, dtype=np.int64)
    out[:, : ids.shape[1]] = ids
    return out
