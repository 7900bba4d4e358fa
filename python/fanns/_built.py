"""What :class:`fanns.Index`, :class:`fanns.SparseIndex` and
:class:`fanns.range_graph.RangeGraph` share: each is made only by its own
class methods (never by calling the class), keeps its construction
parameters, describes itself in one ``repr`` form, and (the two indexes)
stores its attribute columns in its file beside the engine's sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fanns.attributes import AttributeStore


class Built:
    """Base of the engine-backed structures. Subclasses set ``_MADE_BY`` (how
    to get one, for the error of calling the class) and ``_params``."""

    _MADE_BY = ""
    _params: dict

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError(f"use {self._MADE_BY}")

    @classmethod
    def _blank(cls):
        """An instance without ``__init__`` (the class methods fill it in)."""
        return object.__new__(cls)

    @property
    def params(self) -> dict:
        """Construction parameters (a copy)."""
        return dict(self._params)

    def _describe(self, fields: Mapping[str, Any], *, after: str = "") -> str:
        """``<fanns.Name key=value ... memory=X MiB after>``; ``fields`` in order."""
        parts = [f"<fanns.{type(self).__name__}"]
        parts += [f"{key}={value}" for key, value in fields.items()]
        parts.append(f"memory={self.memory_bytes() / 2**20:.1f} MiB")
        if after:
            parts.append(after)
        return " ".join(parts) + ">"


def attribute_sections(
    store: AttributeStore, meta: dict[str, Any], sections: dict[str, np.ndarray]
) -> None:
    """Add ``store``'s columns to a file's ``meta`` (``"attributes"``) and ``sections``."""
    attr_meta, attr_sections = store.to_sections()
    sections.update(attr_sections)
    meta["attributes"] = attr_meta


def attributes_from_file(
    path: str,
    meta: Mapping[str, Any],
    sections: Mapping[str, np.ndarray],
    rows: int,
    what: str,
    *,
    check: bool,
) -> AttributeStore:
    """The attribute columns a file holds beside ``rows`` rows of ``what``
    (``"vectors"``, ``"documents"``); anything inconsistent raises ValueError.
    ``check`` (a full verify): also what :meth:`AttributeStore.from_sections`
    checks only when asked."""
    try:
        attr_meta = meta["attributes"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path!r} is corrupt (missing or bad field: {exc})") from exc
    store = AttributeStore.from_sections(attr_meta, sections, check=check)
    if len(store) != rows:
        raise ValueError(f"{path!r} is corrupt (attribute rows do not match {what})")
    return store
