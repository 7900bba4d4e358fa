"""What the range graph's modules share: names, limits and the cosine
normalisation of rows. Part of :class:`fanns.range_graph.RangeGraph`."""

from __future__ import annotations

import numpy as np

from fanns import _core
from fanns._validation import normalise_rows

METRICS = ("l2", "ip", "cosine")
PLAN_NAMES = np.array(list(_core.PLAN_NAMES))
STATE_KIND = "range_graph"
STATE_VERSION = 2
_SECTIONS = {
    "order": np.uint32,
    "links": np.uint32,
    "entries": np.uint32,
}
_MAX_ROWS = 2**32 - 2


def _normalised(matrix: np.ndarray, name: str) -> np.ndarray:
    """``matrix`` itself when its rows are already of unit length, else
    :func:`normalise_rows` of it (so the index's own vectors pass unchanged)."""
    norms = np.linalg.norm(matrix, axis=1)
    if len(norms) and np.all(np.abs(norms - 1.0) < 1e-5):
        return matrix
    return normalise_rows(matrix, name)
