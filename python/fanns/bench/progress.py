"""Progress bars when tqdm is installed, plain iteration otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterator[T]:
    """Iterate ``items``, drawing a tqdm bar on stderr when enabled and tqdm is available.

    Example:
        >>> list(progress(range(3), desc="demo", enabled=False))
        [0, 1, 2]
    """
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            yield from tqdm(items, total=total, desc=desc, leave=False, file=sys.stderr)
            return
    yield from items
