"""Filter expressions over vector attributes, and their compilation to bitsets.

Build a filter from :func:`field` with comparison operators and combine
filters with ``&`` (and), ``|`` (or) and ``~`` (not)::

    >>> from fanns.filters import field
    >>> recent_ml = (field("year") >= 2020) & field("cats").contains("cs.LG")
    >>> recent_ml
    (field('year') >= 2020) & field('cats').contains('cs.LG')

Operators by attribute type:

=====================  ==================================================
int, float, date       ``==  !=  <  <=  >  >=``, ``between``, ``isin``
bool                   ``==  !=``, ``isin``
string (categorical)   ``==  !=``, ``isin``
strings (set-valued)   ``contains``, ``contains_any``, ``contains_all``
any                    ``is_null``
=====================  ==================================================

Missing values
    A missing value never matches a comparison, ``between``, ``isin`` or
    ``contains*`` -- including ``!=``: ``field("a") != 1`` keeps only rows
    where ``a`` is present and differs from 1. ``~`` is the complement over all
    rows, so ``~(field("a") == 1)`` also keeps the rows where ``a`` is missing.
    ``field("a").is_null()`` selects the missing rows.

Parenthesise comparisons when combining them: ``&`` binds tighter than
``==`` in Python. Filters have no truth value (``bool(f)`` raises
``TypeError``), which catches ``and`` / ``or`` / ``not`` and chained comparisons
such as ``1 < field("a") < 3``; write ``field("a").between(lo, hi)`` for an
inclusive range.

A compiled filter is a :class:`pyroaring.BitMap` of passing row ids
(:func:`compile_filter`); the search engine receives it as a packed ``uint64``
bitset (:func:`to_bitset`). :func:`prepare_filters` does both for a batch of
queries, compiling each distinct filter once.
"""

from __future__ import annotations

from fanns.filters.batches import (
    FilterGroups,
    PreparedFilters,
    compile_groups,
    find_range,
    group_filters,
    prepare_filters,
    split_conjuncts,
)
from fanns.filters.compiler import compile_filter, to_bitset
from fanns.filters.expressions import (
    MAX_DEPTH,
    And,
    Between,
    Compare,
    Contains,
    Expr,
    Field,
    IsIn,
    IsNull,
    Not,
    Or,
    field,
)

__all__ = [
    "MAX_DEPTH",
    "And",
    "Between",
    "Compare",
    "Contains",
    "Expr",
    "Field",
    "FilterGroups",
    "IsIn",
    "IsNull",
    "Not",
    "Or",
    "PreparedFilters",
    "compile_filter",
    "compile_groups",
    "field",
    "find_range",
    "group_filters",
    "prepare_filters",
    "split_conjuncts",
    "to_bitset",
]
