"""The filter expression tree: field(), comparisons, and &, |, ~."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fanns.filters.values import (
    _OPERATORS,
    _ORDERING,
    FilterPart,
    _dedupe,
    _fmt,
    _fmt_list,
    _number,
    _scalar,
    _string,
    _tag,
    _uniform_values,
    _values,
)

if TYPE_CHECKING:
    from fanns.filters.values import Scalar


# Deepest nesting of &, | and ~ a filter may have (a chain of one operator
# is one level): compiling, hashing and printing an expression recurse once
# per level, so a limit keeps them far from Python's recursion limit.
MAX_DEPTH = 100

_NO_TRUTH_VALUE = (
    "a filter expression has no truth value. Combine filters with & (and), | (or) and "
    "~ (not) instead of and/or/not, put each comparison in parentheses, and write "
    "field(name).between(lo, hi) instead of a chained comparison like lo <= field(name) <= hi"
)


# ----------------------------------------------------------------------------
# expression tree


class Expr(FilterPart):
    """A filter expression: an immutable tree of comparisons joined by ``&``, ``|``, ``~``.

    Two expressions are equal (and hash equal) when their :meth:`key` is.

    Example:
        >>> f = (field("a") == 1) | field("b").is_null()
        >>> f == ((field("a") == 1) | field("b").is_null())
        True
    """

    __slots__ = ("_key", "_depth")

    def __init__(self, key: tuple | None, depth: int = 1) -> None:
        if depth > MAX_DEPTH:
            raise ValueError(
                f"filter expression nests deeper than {MAX_DEPTH} levels of &, | and ~; "
                "combine many terms at one level instead, e.g. field(a).isin(values) or "
                "a & b & c rather than (a & (b | (c & ...)))"
            )
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_depth", depth)

    def key(self) -> tuple:
        """Structural, hashable identity of the expression (``a & b`` and ``b & a`` agree)."""
        return self._key

    def attributes(self) -> set[str]:
        """Names of the attributes this expression reads."""
        raise NotImplementedError

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("filter expressions are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("filter expressions are immutable")

    def __bool__(self) -> bool:
        raise TypeError(_NO_TRUTH_VALUE)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self.key() == other.key()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self.key() != other.key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key())

    def __and__(self, other: Any) -> Expr:
        return And((self, _operand(other, "&")))

    def __rand__(self, other: Any) -> Expr:
        return And((_operand(other, "&"), self))

    def __or__(self, other: Any) -> Expr:
        return Or((self, _operand(other, "|")))

    def __ror__(self, other: Any) -> Expr:
        return Or((_operand(other, "|"), self))

    def __invert__(self) -> Expr:
        return Not(self)

    def __reduce__(self) -> tuple:
        return (type(self), self._args())

    def _args(self) -> tuple:
        raise NotImplementedError


def _operand(other: Any, op: str) -> Expr:
    if isinstance(other, Expr):
        return other
    if isinstance(other, Field):
        raise TypeError(
            f"{other!r} is not a filter by itself; compare it first, e.g. ({other!r} == value)"
        )
    raise TypeError(
        f"cannot combine a filter with a {type(other).__name__} using {op}; if you wrote "
        "field(a) == x & field(b) == y, add parentheses: (field(a) == x) & (field(b) == y)"
    )


def _wrap(expr: Expr) -> str:
    text = repr(expr)
    return f"({text})" if isinstance(expr, (Compare, And, Or)) else text


class Compare(Expr):
    """``field(name) <op> value`` with op one of ``== != < <= > >=``."""

    __slots__ = ("name", "op", "value")

    def __init__(self, name: str, op: str, value: Scalar) -> None:
        if op not in _OPERATORS:
            raise ValueError(f"unknown comparison operator {op!r}")
        what = f"field({name!r}) {op} ..."
        value = _number(name, value, what) if op in _ORDERING else _scalar(name, value, what)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)
        super().__init__(("cmp", name, op, _tag(value)))

    def _args(self) -> tuple:
        return (self.name, self.op, self.value)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}) {self.op} {_fmt(self.value)}"


class Between(Expr):
    """``lo <= field(name) <= hi`` (both ends inclusive)."""

    __slots__ = ("name", "lo", "hi")

    def __init__(self, name: str, lo: int | float, hi: int | float) -> None:
        what = f"field({name!r}).between()"
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "lo", _number(name, lo, what))
        object.__setattr__(self, "hi", _number(name, hi, what))
        super().__init__(("between", name, _tag(self.lo), _tag(self.hi)))

    def _args(self) -> tuple:
        return (self.name, self.lo, self.hi)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).between({_fmt(self.lo)}, {_fmt(self.hi)})"


class IsIn(Expr):
    """``field(name)`` equals one of ``values`` (an empty list matches nothing)."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: Iterable[Scalar]) -> None:
        what = f"field({name!r}).isin()"
        uniform = _uniform_values(name, values, what)
        if uniform is not None:  # one type throughout: deduplicated and keyed in bulk
            items, key = uniform
        else:
            items = _dedupe(_scalar(name, v, what) for v in _values(name, values, what))
            key = tuple(sorted(_tag(v) for v in items))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", items)
        super().__init__(("isin", name, key))

    def _args(self) -> tuple:
        return (self.name, self.values)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).isin({_fmt_list(self.values)})"


class Contains(Expr):
    """Set-valued membership: ``mode`` is ``"one"``, ``"any"`` or ``"all"``."""

    __slots__ = ("name", "mode", "values")

    _METHODS = {"one": "contains", "any": "contains_any", "all": "contains_all"}

    def __init__(self, name: str, mode: str, values: Iterable[str]) -> None:
        if mode not in self._METHODS:
            raise ValueError(f"unknown contains mode {mode!r}")
        what = f"field({name!r}).{self._METHODS[mode]}()"
        items = _dedupe(_string(name, v, what) for v in _values(name, values, what))
        if mode == "one" and len(items) != 1:
            raise ValueError(f"{what} takes exactly one value")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "values", items)
        key_values = tuple(sorted(items))
        super().__init__(("contains", name, "any" if mode == "one" else mode, key_values))

    def _args(self) -> tuple:
        return (self.name, self.mode, self.values)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        method = self._METHODS[self.mode]
        if self.mode == "one":
            return f"field({self.name!r}).contains({self.values[0]!r})"
        return f"field({self.name!r}).{method}({_fmt_list(self.values)})"


class IsNull(Expr):
    """Rows where the attribute is missing."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)
        super().__init__(("is_null", name))

    def _args(self) -> tuple:
        return (self.name,)

    def attributes(self) -> set[str]:
        return {self.name}

    def __repr__(self) -> str:
        return f"field({self.name!r}).is_null()"


class _Junction(Expr):
    """Terms joined by one operator. A chain ``a | b | c | ...`` built one
    operator at a time costs O(1) per step: nested junctions of the same kind
    are flattened, and the key computed, only when first needed."""

    __slots__ = ("_parts", "_terms")
    _tag_name = ""
    _symbol = ""

    def __init__(self, terms: Iterable[Expr]) -> None:
        parts = tuple(terms)
        depth = 1
        for term in parts:
            if not isinstance(term, Expr):
                raise TypeError(f"cannot combine a filter with a {type(term).__name__}")
            # A junction of the same kind merges into this one: no new level.
            depth = max(depth, term._depth if type(term) is type(self) else term._depth + 1)
        if not parts:
            raise ValueError(f"{type(self).__name__} needs at least one term")
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_terms", None)
        super().__init__(None, depth)

    @property
    def terms(self) -> tuple[Expr, ...]:
        """The terms, with nested junctions of the same kind merged in."""
        if self._terms is None:
            flat: list[Expr] = []
            stack = list(reversed(self._parts))
            while stack:
                term = stack.pop()
                if type(term) is not type(self):
                    flat.append(term)
                elif term._terms is not None:
                    flat.extend(term._terms)
                else:
                    stack.extend(reversed(term._parts))
            object.__setattr__(self, "_terms", tuple(flat))
        return self._terms

    def key(self) -> tuple:
        if self._key is None:
            keys = tuple(sorted((t.key() for t in self.terms), key=repr))
            object.__setattr__(self, "_key", (self._tag_name, keys))
        return self._key

    def _args(self) -> tuple:
        return (self.terms,)

    def attributes(self) -> set[str]:
        return set().union(*(t.attributes() for t in self.terms))

    def __repr__(self) -> str:
        return f" {self._symbol} ".join(_wrap(t) for t in self.terms)


class And(_Junction):
    """All terms pass."""

    __slots__ = ()
    _tag_name = "and"
    _symbol = "&"


class Or(_Junction):
    """At least one term passes."""

    __slots__ = ()
    _tag_name = "or"
    _symbol = "|"


class Not(Expr):
    """Complement over all rows (rows with missing values included)."""

    __slots__ = ("term",)

    def __init__(self, term: Expr) -> None:
        if not isinstance(term, Expr):
            raise TypeError(f"~ needs a filter, not a {type(term).__name__}")
        object.__setattr__(self, "term", term)
        super().__init__(None, term._depth + 1)

    def key(self) -> tuple:
        if self._key is None:
            object.__setattr__(self, "_key", ("not", self.term.key()))
        return self._key

    def _args(self) -> tuple:
        return (self.term,)

    def attributes(self) -> set[str]:
        return self.term.attributes()

    def __repr__(self) -> str:
        return "~" + _wrap(self.term)


class Field(FilterPart):
    """An attribute reference; comparing it builds a filter expression.

    Example:
        >>> field("year").between(2019, 2021)
        field('year').between(2019, 2021)
        >>> field("authors").contains_any(["Ada", "Alan"])
        field('authors').contains_any(['Ada', 'Alan'])
    """

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"an attribute name must be a non-empty str, got {name!r}")
        object.__setattr__(self, "name", name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("fields are immutable")

    def __reduce__(self) -> tuple:
        return (Field, (self.name,))

    def __repr__(self) -> str:
        return f"field({self.name!r})"

    def __eq__(self, value: Any) -> Expr:  # type: ignore[override]
        return Compare(self.name, "==", value)

    def __ne__(self, value: Any) -> Expr:  # type: ignore[override]
        return Compare(self.name, "!=", value)

    def __lt__(self, value: Any) -> Expr:
        return Compare(self.name, "<", value)

    def __le__(self, value: Any) -> Expr:
        return Compare(self.name, "<=", value)

    def __gt__(self, value: Any) -> Expr:
        return Compare(self.name, ">", value)

    def __ge__(self, value: Any) -> Expr:
        return Compare(self.name, ">=", value)

    def between(self, lo: int | float, hi: int | float) -> Expr:
        """``lo <= value <= hi``; matches nothing when ``lo > hi``."""
        return Between(self.name, lo, hi)

    def isin(self, values: Iterable[Scalar]) -> Expr:
        """Value equals one of ``values``; ``isin([])`` matches nothing."""
        return IsIn(self.name, values)

    def contains(self, value: str) -> Expr:
        """Set-valued attribute holds ``value``."""
        return Contains(self.name, "one", [value])

    def contains_any(self, values: Iterable[str]) -> Expr:
        """Set-valued attribute holds at least one of ``values`` (``[]`` matches nothing)."""
        return Contains(self.name, "any", values)

    def contains_all(self, values: Iterable[str]) -> Expr:
        """Set-valued attribute holds every one of ``values`` (``[]``: every present row)."""
        return Contains(self.name, "all", values)

    def is_null(self) -> Expr:
        """Attribute is missing."""
        return IsNull(self.name)

    def _not_a_filter(self, *_: Any) -> Expr:
        raise TypeError(
            f"{self!r} is not a filter by itself; compare it first, e.g. ({self!r} == value), "
            "and put each comparison in parentheses when combining with & or |"
        )

    __and__ = __rand__ = __or__ = __ror__ = __invert__ = _not_a_filter


def field(name: str) -> Field:
    """Refer to attribute ``name`` in a filter expression.

    Example:
        >>> (field("year") >= 2020) & ~field("venue").isin(["arXiv"])
        (field('year') >= 2020) & ~field('venue').isin(['arXiv'])
    """
    return Field(name)
