"""Translate fanns filter expressions into the filter languages of embedded vector databases.

Two targets: Chroma's ``where`` dictionaries and the SQL ``WHERE`` strings LanceDB evaluates.
Both translators follow fanns' semantics (see :mod:`fanns.filters`): a missing value never
matches a comparison, ``isin`` or ``contains``, and ``~`` is the complement over all rows.

Chroma metadata holds one scalar per key, so a list-valued (``strings``) attribute is stored as
one boolean key per value (:func:`chroma_list_key`) and ``contains`` becomes a test of those keys.
Chroma has no ``$not`` and no test for a missing key: a negation is pushed down to the leaves
(De Morgan), which is exact only on attributes without missing values. Whatever cannot be
written exactly raises :class:`Untranslatable`; callers then materialise the filter's rows in
the peer's store instead (and say so in the results).

Example:
    >>> from fanns.filters import field
    >>> schema = PeerSchema.from_records([{"year": 2020, "cats": ["cs"]}, {"year": 2024,
    ...                                   "cats": ["math", "cs"]}])
    >>> chroma_where((field("year") >= 2021) & field("cats").contains("cs"), schema)
    {'$and': [{'year': {'$gte': 2021}}, {'cats=cs': True}]}
    >>> lance_where((field("year") >= 2021) & field("cats").contains("cs"), schema)
    "(`year` >= 2021) AND array_has(`cats`, 'cs')"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fanns.attributes import AttributeStore
from fanns.filters import And, Between, Compare, Contains, Expr, IsIn, IsNull, Not, Or

__all__ = [
    "PeerSchema",
    "Untranslatable",
    "chroma_list_key",
    "chroma_where",
    "lance_where",
]

LIST_TYPE = "strings"


class Untranslatable(ValueError):
    """The expression has no exact equivalent in the peer's filter language."""


@dataclass(frozen=True)
class PeerSchema:
    """Attribute types (fanns' names: int, float, date, bool, string, strings) and which
    attributes have missing values, as the translators need them."""

    types: dict[str, str]
    nullable: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_store(cls, store: AttributeStore) -> PeerSchema:
        """Schema of the columns of a fanns attribute store."""
        types = dict(store.types)
        nullable = frozenset(name for name in types if len(store.null_bitmap(name)) > 0)
        return cls(types, nullable)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> PeerSchema:
        """Schema of per-row attribute records (types inferred as fanns infers them)."""
        return cls.from_store(AttributeStore.from_input(list(records), n=len(records)))

    def type_of(self, name: str) -> str:
        try:
            return self.types[name]
        except KeyError:
            known = ", ".join(sorted(self.types)) or "none"
            raise KeyError(f"unknown attribute {name!r} (indexed: {known})") from None


def chroma_list_key(name: str, value: str) -> str:
    """The boolean Chroma metadata key standing for "list attribute ``name`` holds ``value``".

    Example:
        >>> chroma_list_key("main_categories", "cs")
        'main_categories=cs'
    """
    return f"{name}={value}"


# ----------------------------------------------------------------------------
# Chroma


_CHROMA_OPS = {"==": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_NEGATED_OPS = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _chroma_value(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        raise Untranslatable("Chroma metadata filters take finite numbers only")
    return value


def _chroma_join(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {op: parts}


def _chroma_compare(name: str, op: str, value: Any, schema: PeerSchema) -> dict[str, Any]:
    kind = schema.type_of(name)
    if kind == LIST_TYPE:
        raise Untranslatable(f"{name!r} is list-valued; compare it with contains()")
    value = _chroma_value(value)
    if op == "!=" and name in schema.nullable:
        # Chroma's $ne also passes rows without the key; fanns' != does not.
        if kind in ("int", "float", "date"):
            return {"$or": [{name: {"$lt": value}}, {name: {"$gt": value}}]}
        raise Untranslatable(f"!= on {name!r}, which has missing values")
    if op == "==":
        return {name: value}
    return {name: {_CHROMA_OPS[op]: value}}


def _chroma_leaf(expr: Expr, schema: PeerSchema, negate: bool) -> dict[str, Any]:
    if isinstance(expr, Compare):
        op = _NEGATED_OPS[expr.op] if negate else expr.op
        if negate and expr.name in schema.nullable:
            raise Untranslatable(f"~ over {expr.name!r}, which has missing values")
        return _chroma_compare(expr.name, op, expr.value, schema)
    if isinstance(expr, Between):
        lo, hi = _chroma_value(expr.lo), _chroma_value(expr.hi)
        if negate:
            if expr.name in schema.nullable:
                raise Untranslatable(f"~ over {expr.name!r}, which has missing values")
            return {"$or": [{expr.name: {"$lt": lo}}, {expr.name: {"$gt": hi}}]}
        return {"$and": [{expr.name: {"$gte": lo}}, {expr.name: {"$lte": hi}}]}
    if isinstance(expr, IsIn):
        if not expr.values:
            raise Untranslatable("an empty isin() matches no row")
        if schema.type_of(expr.name) == LIST_TYPE:
            raise Untranslatable(f"{expr.name!r} is list-valued; use contains_any()")
        if negate and expr.name in schema.nullable:
            raise Untranslatable(f"~ over {expr.name!r}, which has missing values")
        values = [_chroma_value(v) for v in expr.values]
        return {expr.name: {"$nin" if negate else "$in": values}}
    if isinstance(expr, Contains):
        if schema.type_of(expr.name) != LIST_TYPE:
            raise Untranslatable(f"contains() needs a list-valued attribute, {expr.name!r} is not")
        if negate:
            raise Untranslatable("~ over contains(): Chroma cannot test for a missing key")
        if not expr.values:
            raise Untranslatable("contains_any() / contains_all() of no value")
        keys = [{chroma_list_key(expr.name, v): True} for v in expr.values]
        return _chroma_join("$and" if expr.mode == "all" else "$or", keys)
    if isinstance(expr, IsNull):
        raise Untranslatable("Chroma cannot select rows without a metadata key")
    raise Untranslatable(f"no Chroma form for {type(expr).__name__}")


def _chroma(expr: Expr, schema: PeerSchema, negate: bool) -> dict[str, Any]:
    if isinstance(expr, Not):
        return _chroma(expr.term, schema, not negate)
    if isinstance(expr, (And, Or)):
        is_and = isinstance(expr, And) != negate  # De Morgan under a negation
        parts = [_chroma(t, schema, negate) for t in expr.terms]
        return _chroma_join("$and" if is_and else "$or", parts)
    return _chroma_leaf(expr, schema, negate)


def chroma_where(expr: Expr, schema: PeerSchema) -> dict[str, Any]:
    """Chroma ``where`` dictionary selecting exactly the rows ``expr`` selects.

    List-valued attributes must be stored as :func:`chroma_list_key` keys. Raises
    :class:`Untranslatable` when no exact dictionary exists.

    Example:
        >>> from fanns.filters import field
        >>> schema = PeerSchema({"n": "int"})
        >>> chroma_where(~field("n").between(2, 4), schema)
        {'$or': [{'n': {'$lt': 2}}, {'n': {'$gt': 4}}]}
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"expected a filter expression, got {type(expr).__name__}")
    return _chroma(expr, schema, False)


# ----------------------------------------------------------------------------
# LanceDB (DataFusion SQL)


def lance_identifier(name: str) -> str:
    """A column name quoted for LanceDB's SQL filters.

    Example:
        >>> lance_identifier("update_date")
        '`update_date`'
    """
    if "`" in name:
        raise Untranslatable(f"column name {name!r} holds a backtick")
    return f"`{name}`"


def lance_literal(value: Any) -> str:
    """A bool / int / float / str constant written as a SQL literal.

    Example:
        >>> lance_literal("it's"), lance_literal(True), lance_literal(2.5)
        ("'it''s'", 'TRUE', '2.5')
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Untranslatable(f"no SQL literal for {value!r}")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise Untranslatable(f"no SQL literal for a {type(value).__name__}")


def _lance_list(values: Sequence[Any]) -> str:
    return ", ".join(lance_literal(v) for v in values)


def _lance_leaf(expr: Expr, schema: PeerSchema) -> str:
    name = lance_identifier(expr.name)  # type: ignore[attr-defined]
    kind = schema.type_of(expr.name)  # type: ignore[attr-defined]
    if isinstance(expr, Contains):
        if kind != LIST_TYPE:
            raise Untranslatable(f"contains() needs a list-valued attribute, {expr.name!r} is not")
        if not expr.values:
            return "FALSE" if expr.mode != "all" else f"({name} IS NOT NULL)"
        if expr.mode == "one":
            return f"array_has({name}, {lance_literal(expr.values[0])})"
        func = "array_has_all" if expr.mode == "all" else "array_has_any"
        return f"{func}({name}, [{_lance_list(expr.values)}])"
    if isinstance(expr, IsNull):
        return f"({name} IS NULL)"
    if kind == LIST_TYPE:
        raise Untranslatable(f"{expr.name!r} is list-valued; use contains()")  # type: ignore
    if isinstance(expr, Compare):
        op = "<>" if expr.op == "!=" else "=" if expr.op == "==" else expr.op
        return f"({name} {op} {lance_literal(expr.value)})"
    if isinstance(expr, Between):
        return f"({name} BETWEEN {lance_literal(expr.lo)} AND {lance_literal(expr.hi)})"
    if isinstance(expr, IsIn):
        if not expr.values:
            return "FALSE"
        return f"({name} IN ({_lance_list(expr.values)}))"
    raise Untranslatable(f"no SQL form for {type(expr).__name__}")


def _lance(expr: Expr, schema: PeerSchema) -> str:
    if isinstance(expr, Not):
        # NULL (a missing value) must count as "does not pass", so ~ passes it
        return f"({_lance(expr.term, schema)} IS NOT TRUE)"
    if isinstance(expr, (And, Or)):
        joiner = " AND " if isinstance(expr, And) else " OR "
        text = joiner.join(_lance(t, schema) for t in expr.terms)
        return text if len(expr.terms) == 1 else f"({text})"
    return _lance_leaf(expr, schema)


def lance_where(expr: Expr, schema: PeerSchema) -> str:
    """LanceDB SQL filter selecting exactly the rows ``expr`` selects (list-valued attributes
    are ``list<string>`` columns).

    Example:
        >>> from fanns.filters import field
        >>> lance_where(~(field("n") == 3) | field("s").isin(["a"]),
        ...             PeerSchema({"n": "int", "s": "string"}))
        "((`n` = 3) IS NOT TRUE) OR (`s` IN ('a'))"
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"expected a filter expression, got {type(expr).__name__}")
    text = _lance(expr, schema)
    if isinstance(expr, (And, Or)) and text.startswith("(") and len(expr.terms) > 1:
        text = text[1:-1]
    return text
