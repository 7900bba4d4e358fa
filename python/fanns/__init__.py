"""fanns: filtered approximate nearest-neighbour search."""

from fanns._core import simd_level

__all__ = ["simd_level"]
__version__ = "0.1.0"
