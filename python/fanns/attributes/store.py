"""The attribute store: named, typed columns of one index."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import BitMap

from fanns.attributes._common import _FORMAT, _FORMATS_READ, _MAX_ROWS, _SECTION_PREFIX
from fanns.attributes.building import (
    _build_column,
    _check_n,
    _check_types,
    _column_from_sections,
    _columns_from_records,
    _SectionReader,
)
from fanns.attributes.numeric import _NumericColumn
from fanns.attributes.postings import _PostingColumn

if TYPE_CHECKING:
    from fanns.attributes._common import Bitmap, _Column


# ----------------------------------------------------------------------------
# the store


class AttributeStore:
    """Named attribute columns over ``n`` rows, with bitmap lookups for filters.

    Build one with :meth:`from_input`; read it back with :meth:`column` or
    ``store[name]``; save it with :meth:`to_sections` and rebuild it with
    :meth:`from_sections`.

    Example:
        >>> store = AttributeStore.from_input({"year": [2020, None, 2024]}, n=3)
        >>> store.column("year"), len(store), "year" in store
        ([2020, None, 2024], 3, True)
        >>> sorted(store.range_bitmap("year", 2021, None))
        [2]
    """

    def __init__(self, n: int, columns: Mapping[str, _Column] | None = None) -> None:
        self._n = int(n)
        self._columns: dict[str, _Column] = dict(columns or {})

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_input(
        cls,
        attributes: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None,
        n: int,
        types: Mapping[str, str] | None = None,
    ) -> AttributeStore:
        """Build a store from columns (``{name: values}``) or from ``n`` records (dicts).

        ``types`` optionally maps names to one of ``"int"``, ``"float"``,
        ``"bool"``, ``"string"``, ``"strings"``, ``"date"``; other columns are
        inferred. Raises ``ValueError`` for a column of the wrong length and
        ``TypeError`` for values that do not fit one type; both name the attribute.

        Example:
            >>> store = AttributeStore.from_input(
            ...     {"date": [20250101, 20250301]}, n=2, types={"date": "date"}
            ... )
            >>> store.types
            {'date': 'date'}
        """
        n = _check_n(n)
        declared = _check_types(types)
        if isinstance(attributes, AttributeStore):
            # Already built (e.g. by fanns.datasets.read_attribute_store): used as it is.
            if len(attributes) != n:
                raise ValueError(f"attributes hold {len(attributes)} rows, expected {n}")
            wrong = {k: v for k, v in declared.items() if attributes.types.get(k, v) != v}
            if wrong:
                name = next(iter(wrong))
                raise TypeError(f"attribute {name!r} is {attributes.types[name]}, not {wrong[name]}")
            return attributes
        if attributes is None:
            columns: dict[str, Any] = {}
        elif isinstance(attributes, Mapping):
            columns = dict(attributes)
        elif isinstance(attributes, (str, bytes)) or not isinstance(attributes, Iterable):
            raise TypeError(
                "attributes must be a mapping name -> column or a sequence of records (dicts), "
                f"not {type(attributes).__name__}"
            )
        else:
            columns = _columns_from_records(attributes, n)
        for name in columns:
            if not isinstance(name, str) or not name:
                raise TypeError(f"attribute names must be non-empty strings, got {name!r}")
        unknown = [name for name in declared if name not in columns]
        if unknown:
            raise KeyError(f"types names attribute {unknown[0]!r}, which is not in the attributes")
        built = {
            name: _build_column(name, column, n, declared.get(name))
            for name, column in columns.items()
        }
        return cls(n, built)

    # -- read back -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __getitem__(self, name: str) -> list:
        return self.column(name)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {c.kind}" for k, c in self._columns.items())
        return f"AttributeStore(n={self._n}, {{{inner}}})"

    @property
    def n(self) -> int:
        """Number of rows."""
        return self._n

    @property
    def names(self) -> list[str]:
        """Attribute names, in input order."""
        return list(self._columns)

    @property
    def types(self) -> dict[str, str]:
        """Mapping attribute name -> type."""
        return {name: column.kind for name, column in self._columns.items()}

    def _get(self, name: str) -> _Column:
        try:
            return self._columns[name]
        except (KeyError, TypeError):
            pass
        known = ", ".join(repr(k) for k in self._columns) or "none"
        raise KeyError(f"unknown attribute {name!r} (attributes: {known})")

    def type_of(self, name: str) -> str:
        """Type of attribute ``name``; ``KeyError`` naming it if unknown."""
        return self._get(name).kind

    def column(self, name: str) -> list:
        """Values of ``name`` as a list, ``None`` for missing (a list per row if set-valued)."""
        return self._get(name).to_list()

    # -- lookups used by filters ---------------------------------------------------
    def null_bitmap(self, name: str) -> Bitmap:
        """Rows where ``name`` is missing (read-only)."""
        return self._get(name).null

    def valid_bitmap(self, name: str) -> Bitmap:
        """Rows where ``name`` is present (read-only)."""
        return self._get(name).valid

    def _numeric(self, name: str) -> _NumericColumn:
        column = self._get(name)
        if not isinstance(column, _NumericColumn):
            raise TypeError(f"attribute {name!r} is {column.kind}, not numeric")
        return column

    def _postings(self, name: str) -> _PostingColumn:
        column = self._get(name)
        if not isinstance(column, _PostingColumn):
            raise TypeError(f"attribute {name!r} is {column.kind}, not string or strings")
        return column

    def range_bitmap(
        self,
        name: str,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> BitMap:
        """Rows of a numeric (or bool) column with ``lo <= value <= hi``; ``None`` = open end."""
        return self._numeric(name).range_bitmap(lo, hi, lo_inclusive, hi_inclusive)

    def range_bitset(
        self,
        name: str,
        lo: int | float | None,
        hi: int | float | None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
    ) -> tuple[np.ndarray, int]:
        """:meth:`range_bitmap` as packed uint64 words and a count (see
        ``filters.to_bitset`` for the layout), without building a bitmap."""
        return self._numeric(name).range_bitset(lo, hi, lo_inclusive, hi_inclusive)

    def isin_bitmap(self, name: str, values: Sequence[int | float]) -> BitMap:
        """Rows of a numeric (or bool) column equal to any of ``values``."""
        return self._numeric(name).isin_bitmap(values)

    def value_bitmap(self, name: str, value: str) -> Bitmap:
        """Rows of a string column equal to ``value`` (of a set column containing it).

        The result may be shared and must not be modified.
        """
        return self._postings(name).value_bitmap(value)

    def value_count(self, name: str, value: str) -> int:
        """Number of rows :meth:`value_bitmap` would return, without building it."""
        return self._postings(name).value_count(value)

    def sorted_order(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(row_ids, values)`` of the present rows of a numeric column, sorted by value."""
        column = self._numeric(name)
        return column.order, column.sorted_values

    def distinct_values(self, name: str) -> list[str]:
        """Sorted distinct strings of a string or set-valued column."""
        return list(self._postings(name).dictionary.values)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the store."""
        return sum(column.memory_bytes() for column in self._columns.values())

    # -- persistence ---------------------------------------------------------------
    def to_sections(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return ``(meta, sections)``: JSON-able metadata and plain numeric arrays.

        Section names start with ``"attr/"``.

        Example:
            >>> meta, sections = AttributeStore.from_input({"a": ["x", None]}, n=2).to_sections()
            >>> sorted(sections)
            ['attr/0/codes', 'attr/0/dict_bytes', 'attr/0/dict_offsets', 'attr/0/posting_offsets', 'attr/0/postings']
        """
        meta = {
            "format": _FORMAT,
            "n": self._n,
            "columns": [{"name": k, "type": c.kind} for k, c in self._columns.items()],
        }
        sections = {}
        for i, column in enumerate(self._columns.values()):
            for part, data in column.sections().items():
                sections[f"{_SECTION_PREFIX}{i}/{part}"] = np.ascontiguousarray(data)
        return meta, sections

    @classmethod
    def from_sections(
        cls, meta: Mapping[str, Any], sections: Mapping[str, np.ndarray], *, check: bool = True
    ) -> AttributeStore:
        """Rebuild a store saved with :meth:`to_sections`; ``ValueError`` if inconsistent.

        Sections whose names do not start with ``"attr/"`` are ignored. The
        sorted orders and posting lists a file holds are read as they are,
        after checks that keep every lookup in range; ``check`` also sorts
        them again to compare and decodes the dictionaries now (otherwise on
        first use). Files written before they were saved (format 1) are
        sorted on load.
        """
        if not isinstance(meta, Mapping):
            raise ValueError("attribute metadata must be a mapping")
        version = meta.get("format")
        if version not in _FORMATS_READ or isinstance(version, bool):
            raise ValueError(f"unsupported attribute store format {version!r}")
        n = meta.get("n")
        specs = meta.get("columns")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < _MAX_ROWS:
            raise ValueError(f"attribute metadata has an invalid row count {n!r}")
        if not isinstance(specs, list):
            raise ValueError("attribute metadata has no column list")
        own = {k: v for k, v in sections.items() if k.startswith(_SECTION_PREFIX)}
        used: set[str] = set()
        columns: dict[str, _Column] = {}
        for i, spec in enumerate(specs):
            if not isinstance(spec, Mapping):
                raise ValueError(f"attribute column {i} has invalid metadata")
            name, kind = spec.get("name"), spec.get("type")
            if not isinstance(name, str) or not name or name in columns:
                raise ValueError(f"attribute column {i} has an invalid or repeated name {name!r}")
            reader = _SectionReader(own, f"{_SECTION_PREFIX}{i}/", name, used)
            columns[name] = _column_from_sections(
                reader, kind, n, derived=version >= 2, check=check
            )
        leftover = sorted(set(own) - used)
        if leftover:
            raise ValueError(f"unexpected attribute section {leftover[0]!r}")
        return cls(n, columns)
