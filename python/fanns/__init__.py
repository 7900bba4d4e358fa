"""fanns: filtered approximate nearest-neighbour search.

Example:
    >>> import numpy as np, fanns
    >>> vectors = np.random.default_rng(0).standard_normal((1000, 32)).astype(np.float32)
    >>> index = fanns.Index.build(vectors, attributes={"year": np.arange(1000) % 30 + 1995})
    >>> ids, distances = index.search(vectors[:2], k=5, filter=fanns.field("year") >= 2010)
"""

from fanns._core import cpu_count, simd_best_level, simd_level, simd_levels
from fanns.filters import field
from fanns.hybrid import HybridSearchResult
from fanns.index import Index
from fanns.planner import Planner
from fanns.result import SearchResult
from fanns.sparse import SparseIndex, SparseSearchResult

__all__ = [
    "HybridSearchResult",
    "Index",
    "Planner",
    "SearchResult",
    "SparseIndex",
    "SparseSearchResult",
    "cpu_count",
    "field",
    "simd_best_level",
    "simd_level",
    "simd_levels",
]
__version__ = "0.1.0"
