"""Benchmarked methods as plug-ins: one file per method, registered here by name.

Adding a method means writing one :class:`Method` subclass and registering it::

    >>> from fanns.bench.methods import METHODS, register_method
    >>> sorted(METHODS)[:2]
    ['bruteforce', 'chroma']
"""

from __future__ import annotations

from fanns.bench.methods.base import BuildParams, Method, pad_ids
from fanns.bench.methods.bruteforce import BruteForceMethod
from fanns.bench.methods.chroma_method import ChromaMethod
from fanns.bench.methods.faiss_method import FaissMethod
from fanns.bench.methods.fanns_method import (
    FannsF16Method,
    FannsF32Method,
    FannsMethod,
    FannsRangeMethod,
)
from fanns.bench.methods.hnswlib_method import HnswlibMethod
from fanns.bench.methods.lancedb_method import LanceDBMethod
from fanns.bench.methods.prefilter import PrefilterMethod

METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Make ``cls`` selectable by its ``name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> Method:
    """A fresh instance of the method registered as ``name``."""
    try:
        return METHODS[name]()
    except KeyError:
        raise KeyError(
            f"unknown method {name!r}: expected one of {', '.join(sorted(METHODS))}"
        ) from None


for _cls in (
    FannsMethod,
    FannsF32Method,
    FannsF16Method,
    FannsRangeMethod,
    HnswlibMethod,
    FaissMethod,
    BruteForceMethod,
    PrefilterMethod,
    ChromaMethod,
    LanceDBMethod,
):
    register_method(_cls)

__all__ = ["METHODS", "BuildParams", "Method", "get_method", "pad_ids", "register_method"]
