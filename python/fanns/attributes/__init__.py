"""Columnar store for the attributes attached to indexed vectors.

Each attribute is one column of ``n`` values, one per vector id. A column has a
type, given explicitly or inferred from its non-missing values:

``"int"``, ``"date"``, ``"float"``
    Ordered numbers, kept as a numpy array with a validity mask and a sorted
    order, so range lookups are two binary searches. ``"date"`` is an ordered
    integer (``YYYYMMDD``, epoch seconds, ...) and behaves like ``"int"``.
``"bool"``
    ``True`` / ``False``.
``"string"``
    Categorical strings: a sorted dictionary of distinct values, one code per
    row and one posting list (sorted row ids) per distinct value.
``"strings"``
    Set-valued: each row holds a list of strings (authors, categories, ...).
    Stored as a flat code array with per-row offsets plus one posting list per
    distinct string.
``"null"``
    Inferred for a column whose values are all missing; it matches nothing.

Missing values are ``None``, an absent key in a record, or NaN in a float
column. They never match a comparison.

Example:
    >>> store = AttributeStore.from_input(
    ...     [{"year": 2021, "cats": ["cs.LG"]}, {"year": 2019}], n=2
    ... )
    >>> store.types
    {'year': 'int', 'cats': 'strings'}
    >>> store["cats"]
    [['cs.LG'], None]
"""

from __future__ import annotations

from fanns.attributes._common import (
    ATTRIBUTE_TYPES,
    NUMERIC_TYPES,
    bitmap_from_ids,
    bitmap_ids,
    pack_mask,
)
from fanns.attributes.store import AttributeStore

__all__ = ["ATTRIBUTE_TYPES", "NUMERIC_TYPES", "AttributeStore", "bitmap_from_ids", "bitmap_ids", "pack_mask"]
