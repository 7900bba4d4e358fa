"""Type stubs for the compiled engine module ``fanns._core``."""

from typing import Any

import numpy as np
import numpy.typing as npt

PLAN_NAMES: list[str]

def simd_level() -> str: ...
def simd_best_level() -> str: ...
def simd_levels() -> list[str]: ...
def cpu_count() -> int: ...
def fuse(
    a_ids: np.ndarray,
    a_scores: np.ndarray,
    b_ids: np.ndarray,
    b_scores: np.ndarray,
    k: int,
    rule: int,
    fusion_k: float,
    a_weight: float,
    b_weight: float,
    threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def _rank_candidates(distances: npt.ArrayLike, ids: npt.ArrayLike) -> npt.NDArray[np.int64]: ...
def _parallel_sum(
    count: int, threads: int, chunk: int, nested: int = 0, fail_at: int = -1
) -> tuple[int, int, int]: ...
def _scratch_pool_idle_after(holders: int) -> int: ...
def pairwise_distances(
    kind: str, queries: npt.ArrayLike, base: npt.ArrayLike, level: str
) -> npt.NDArray[np.float32]: ...
def code_dot_products(
    queries: npt.ArrayLike, codes: npt.ArrayLike, level: str, by_ids: bool = False
) -> npt.NDArray[np.int64]: ...

class HnswIndex:
    def __init__(
        self,
        dim: int,
        metric: str,
        M: int,
        M0: int,
        ef_construction: int,
        seed: int,
        m_beta: int = 0,
        storage: str = "f32",
    ) -> None: ...
    def build(self, vectors: npt.NDArray[np.float32], threads: int) -> None: ...
    def search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        ef: int,
        threads: int,
        bitsets: list[npt.NDArray[np.uint64]],
        counts: list[int],
        query_filter: npt.NDArray[np.int32] | None,
        planner: dict[str, Any],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int8]]: ...
    def plan_for(
        self, passing: int, filtered: bool, ef: int, k: int, planner: dict[str, Any]
    ) -> str: ...
    def state(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any]) -> None: ...
    def vectors(self) -> npt.NDArray[np.float32]: ...
    def neighbours(self, id: int, level: int) -> npt.NDArray[np.uint32]: ...
    def memory_bytes(self) -> int: ...
    def memory_parts(self) -> dict[str, int]: ...
    def codes_handle(self) -> Any: ...
    @property
    def storage(self) -> str: ...
    @property
    def coded(self) -> bool: ...
    @property
    def size(self) -> int: ...
    @property
    def dim(self) -> int: ...

RANGE_PLAN_NAMES: list[str]

class RangeGraphIndex:
    def __init__(
        self, dim: int, metric: str, M: int, ef_construction: int, leaf_size: int, quantized: bool
    ) -> None: ...
    def build(
        self,
        vectors: npt.NDArray[np.float32],
        order: npt.NDArray[np.uint32],
        threads: int,
        codes_from: HnswIndex | None = None,
    ) -> None: ...
    def search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        lo: npt.NDArray[np.uint64],
        hi: npt.NDArray[np.uint64],
        ef: int,
        threads: int,
        bitsets: list[npt.NDArray[np.uint64]],
        query_filter: npt.NDArray[np.int32] | None,
        exact_threshold: int,
        max_links: int,
        entry_points: int,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int8]]: ...
    def state(self) -> dict[str, Any]: ...
    def restore(
        self,
        state: dict[str, Any],
        vectors: npt.NDArray[np.float32],
        codes_from: HnswIndex | None = None,
    ) -> None: ...
    def order(self) -> npt.NDArray[np.uint32]: ...
    def neighbours(self, position: int, depth: int) -> npt.NDArray[np.uint32]: ...
    def memory_bytes(self) -> int: ...
    def code_bytes(self) -> int: ...
    @property
    def quantized(self) -> bool: ...
    @property
    def shares_codes(self) -> bool: ...
    @property
    def size(self) -> int: ...
    @property
    def total_rows(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def depths(self) -> int: ...

# The sparse engine classes (SparseIndex, PlainInvertedIndex) are used through
# fanns.sparse.SparseIndex; their signatures live in cpp/bindings/sparse_bindings.cpp.
SparseIndex: Any
PlainInvertedIndex: Any
