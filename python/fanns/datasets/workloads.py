"""Query workloads of the arXiv-for-FANNS benchmark and their exact predicates.

Four workloads share one set of query vectors; line ``i`` of a workload's
query-attribute file belongs to query ``i``:

- ``unfiltered``: every row passes;
- ``em`` (exact match): ``number_of_sub_categories == label``;
- ``r`` (range): ``range_start <= update_date <= range_end``;
- ``emis`` (exact match in set): ``label in main_categories``.

A missing or null attribute value never matches. Masks are computed with numpy
over a columnar view of the needed attributes, extracted once per attribute
list and cached, so no per-row Python work happens per query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

import numpy as np

__all__ = [
    "AttributeColumns",
    "ContainsWorkload",
    "EqualityWorkload",
    "RangeWorkload",
    "UnfilteredWorkload",
    "Workload",
    "make_workload",
]

_MISSING = object()


class SetColumn:
    """Rows holding each value of a set-valued (list of strings) attribute.

    >>> col = AttributeColumns([{"c": ["a", "b"]}, {"c": ["b"]}]).set_column("c")
    >>> col.rows_with("b").tolist()
    [0, 1]
    """

    def __init__(self, vocabulary: dict[str, int], rows: np.ndarray, offsets: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self._rows = rows
        self._offsets = offsets

    def rows_with(self, value: str) -> np.ndarray:
        """Row ids (sorted, int64) whose set contains ``value``; empty when no row does."""
        code = self.vocabulary.get(value)
        if code is None:
            return np.empty(0, dtype=np.int64)
        return self._rows[self._offsets[code] : self._offsets[code + 1]]


class AttributeColumns:
    """A lazily built, cached columnar view over a list of attribute records (dicts).

    ``int_column(name)`` gives ``(values int64, valid bool)``; ``set_column(name)``
    gives a :class:`SetColumn`. A column is extracted in one pass over the records
    the first time it is asked for. An attribute absent from every record raises
    ``KeyError``; a value of the wrong type raises ``ValueError``.

    >>> cols = AttributeColumns([{"year": 2020}, {"year": None}])
    >>> values, valid = cols.int_column("year")
    >>> valid.tolist()
    [True, False]
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = records
        self._store = None
        self._n = len(records)
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, store) -> AttributeColumns:
        """The view of an :class:`~fanns.attributes.AttributeStore`: columns
        come from its typed arrays and postings, with no record per row.

        >>> from fanns.attributes import AttributeStore
        >>> cols = AttributeColumns.from_store(AttributeStore.from_input([{"c": ["a"]}, {}], 2))
        >>> cols.set_column("c").rows_with("a").tolist()
        [0]
        """
        view = cls([])
        view._n = len(store)
        view._store = store
        return view

    def __len__(self) -> int:
        return self._n

    def _store_column(self, name: str, kinds: tuple[str, ...], expected: str):
        store = self._store
        if name not in store.names:
            raise KeyError(f"attribute {name!r} is absent from every record")
        column = store._columns[name]
        if column.kind not in kinds:
            raise ValueError(f"attribute {name!r} holds {column.kind} values; expected {expected}")
        return column

    def _values(self, name: str) -> list[Any]:
        try:
            values = [record.get(name, _MISSING) for record in self._records]
        except AttributeError as exc:
            raise TypeError("attribute records must be mappings (dicts)") from exc
        if self._n and all(v is _MISSING for v in values):
            raise KeyError(f"attribute {name!r} is absent from every record")
        return values

    def int_column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(values, valid)``: int64 values (0 where invalid) and a bool validity mask."""
        key = ("int", name)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build_int(name)
            return self._cache[key]

    def set_column(self, name: str) -> SetColumn:
        """Return the :class:`SetColumn` of a list-of-strings attribute."""
        key = ("set", name)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build_set(name)
            return self._cache[key]

    def _build_int(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if self._store is not None:
            column = self._store_column(name, ("int", "date", "null"), "an int")
            if column.kind == "null":
                values, valid = np.zeros(self._n, np.int64), np.zeros(self._n, bool)
            else:
                values, valid = column.values.astype(np.int64), column.valid_mask.copy()
            values.setflags(write=False)
            valid.setflags(write=False)
            return values, valid
        raw = self._values(name)
        valid = np.zeros(self._n, dtype=bool)
        values = np.zeros(self._n, dtype=np.int64)
        cleaned = []
        for i, v in enumerate(raw):
            if v is None or v is _MISSING:
                cleaned.append(0)
                continue
            if type(v) is not int:
                raise ValueError(
                    f"attribute {name!r} of row {i} is {v!r} ({type(v).__name__}); expected an int"
                )
            valid[i] = True
            cleaned.append(v)
        try:
            values[:] = cleaned
        except OverflowError as exc:
            raise ValueError(f"attribute {name!r} holds an int outside the int64 range") from exc
        values.setflags(write=False)
        valid.setflags(write=False)
        return values, valid

    def _build_set(self, name: str) -> SetColumn:
        if self._store is not None:
            column = self._store_column(name, ("strings", "null"), "a list of strings")
            if column.kind == "null":
                return SetColumn({}, np.empty(0, np.int64), np.zeros(1, np.int64))
            words = column.dictionary.values
            rows = column.postings.astype(np.int64)  # by code, rows ascending within a code
            rows.setflags(write=False)
            return SetColumn(dict(zip(words, range(len(words)))), rows, column.posting_offsets)
        raw = self._values(name)
        vocabulary: dict[str, int] = {}
        codes: list[int] = []
        rows: list[int] = []
        for i, v in enumerate(raw):
            if v is None or v is _MISSING:
                continue
            if not isinstance(v, (list, tuple)):
                raise ValueError(
                    f"attribute {name!r} of row {i} is {v!r} ({type(v).__name__}); "
                    "expected a list of strings"
                )
            for item in v:
                if type(item) is not str:
                    raise ValueError(
                        f"attribute {name!r} of row {i} holds {item!r}; expected strings"
                    )
                code = vocabulary.get(item)
                if code is None:
                    code = vocabulary[item] = len(vocabulary)
                codes.append(code)
                rows.append(i)
        code_array = np.asarray(codes, dtype=np.int64)
        row_array = np.asarray(rows, dtype=np.int64)
        order = np.argsort(code_array, kind="stable")
        sorted_rows = row_array[order]
        offsets = np.searchsorted(code_array[order], np.arange(len(vocabulary) + 1))
        sorted_rows.setflags(write=False)
        return SetColumn(vocabulary, sorted_rows, offsets)


AttributeSource = Union[AttributeColumns, Sequence[Mapping[str, Any]], Any]

_CACHE_LOCK = threading.Lock()
_RECENT: list[tuple[Any, int, AttributeColumns]] = []
_RECENT_SIZE = 2


def columns_of(data: AttributeSource) -> AttributeColumns:
    """The cached :class:`AttributeColumns` of a dataset, a columns object or a list of records.

    For a plain list the view is cached for the most recently used lists (by
    identity), so the list must not be modified while it is in use.

    >>> records = [{"year": 2020}]
    >>> columns_of(records) is columns_of(records)
    True
    """
    if isinstance(data, AttributeColumns):
        return data
    columns = getattr(data, "columns", None)
    if isinstance(columns, AttributeColumns):
        return columns
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Sequence):
        raise TypeError(
            "expected an ArxivDataset, an AttributeColumns or a sequence of attribute dicts, "
            f"got {type(data).__name__}"
        )
    with _CACHE_LOCK:
        for i, (obj, n, cols) in enumerate(_RECENT):
            if obj is data and n == len(data):
                _RECENT.insert(0, _RECENT.pop(i))
                return cols
        cols = AttributeColumns(data)
        _RECENT.insert(0, (data, len(data), cols))
        del _RECENT[_RECENT_SIZE:]
        return cols


class Workload:
    """A named list of per-query predicates over the database attributes.

    ``mask(i, data)`` is the exact boolean mask of rows that query ``i`` may
    return; ``filter(i)`` is the same predicate as a :mod:`fanns.filters`
    expression (``None`` when every row passes). ``ground_truth`` holds the
    published or computed ground truth (a list of int32 id arrays) when known.
    """

    name: str
    attribute: str | None = None

    def __init__(self, name: str, nq: int) -> None:
        self.name = name
        self._nq = int(nq)
        self.ground_truth: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return self._nq

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, queries={self._nq})"

    def _check_index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"query index must be an int, got {type(i).__name__}")
        if not 0 <= i < self._nq:
            raise IndexError(f"query index {i} out of range for {self._nq} queries")
        return int(i)

    def mask(self, i: int, data: AttributeSource) -> np.ndarray:
        """Boolean mask (length n) of the rows that pass query ``i``'s predicate.

        >>> wl = EqualityWorkload("em", "number_of_sub_categories", [2])
        >>> wl.mask(0, [{"number_of_sub_categories": 2}, {"number_of_sub_categories": 1}])
        array([ True, False])
        """
        i = self._check_index(i)
        return self._mask(i, columns_of(data))

    def masks(self, data: AttributeSource) -> Iterator[np.ndarray]:
        """Yield ``mask(i, data)`` for every query in order."""
        columns = columns_of(data)
        for i in range(self._nq):
            yield self._mask(i, columns)

    def filter(self, i: int) -> Any:
        """Query ``i``'s predicate as a :func:`fanns.filters.field` expression (None: no filter)."""
        return self._filter(self._check_index(i))

    def filters(self) -> list[Any]:
        """``filter(i)`` for every query, in order."""
        return [self._filter(i) for i in range(self._nq)]

    def params(self, i: int) -> dict[str, Any]:
        """Query ``i``'s attribute record as in the published query-attribute file."""
        return self._params(self._check_index(i))

    def _mask(self, i: int, columns: AttributeColumns) -> np.ndarray:
        raise NotImplementedError

    def _filter(self, i: int) -> Any:
        raise NotImplementedError

    def _params(self, i: int) -> dict[str, Any]:
        raise NotImplementedError


class UnfilteredWorkload(Workload):
    """Every row passes every query.

    >>> UnfilteredWorkload(3).mask(0, [{}, {}]).tolist()
    [True, True]
    """

    def __init__(self, nq: int, name: str = "unfiltered") -> None:
        super().__init__(name, nq)

    def _mask(self, i: int, columns: AttributeColumns) -> np.ndarray:
        return np.ones(len(columns), dtype=bool)

    def _filter(self, i: int) -> None:
        return None

    def _params(self, i: int) -> dict[str, Any]:
        return {}


def _int_array(values: Sequence[int], what: str) -> np.ndarray:
    out = []
    for j, v in enumerate(values):
        if type(v) is not int and not isinstance(v, np.integer):
            raise ValueError(f"{what} of query {j} is {v!r}; expected an int")
        out.append(int(v))
    try:
        return np.asarray(out, dtype=np.int64).reshape(-1)
    except OverflowError as exc:
        raise ValueError(f"{what} holds an int outside the int64 range") from exc


class EqualityWorkload(Workload):
    """Query ``i`` keeps rows whose int attribute equals ``values[i]`` (EM).

    >>> wl = EqualityWorkload("em", "number_of_sub_categories", [1, 2])
    >>> wl.mask(1, [{"number_of_sub_categories": 2}, {"number_of_sub_categories": None}])
    array([ True, False])
    """

    def __init__(self, name: str, attribute: str, values: Sequence[int]) -> None:
        self.values = _int_array(values, "label")
        super().__init__(name, len(self.values))
        self.attribute = attribute

    def _mask(self, i: int, columns: AttributeColumns) -> np.ndarray:
        values, valid = columns.int_column(self.attribute)
        return valid & (values == self.values[i])

    def _filter(self, i: int) -> Any:
        from fanns.filters import field

        return field(self.attribute) == int(self.values[i])

    def _params(self, i: int) -> dict[str, Any]:
        return {"label": int(self.values[i])}


class RangeWorkload(Workload):
    """Query ``i`` keeps rows with ``low[i] <= attribute <= high[i]`` (R; both ends inclusive).

    >>> wl = RangeWorkload("r", "update_date", [20200101], [20201231])
    >>> wl.mask(0, [{"update_date": 20200505}, {"update_date": 20210101}])
    array([ True, False])
    """

    def __init__(self, name: str, attribute: str, low: Sequence[int], high: Sequence[int]) -> None:
        self.low = _int_array(low, "range_start")
        self.high = _int_array(high, "range_end")
        if self.low.shape != self.high.shape:
            raise ValueError(
                f"range starts ({self.low.size}) and ends ({self.high.size}) differ in number"
            )
        super().__init__(name, len(self.low))
        self.attribute = attribute

    def _mask(self, i: int, columns: AttributeColumns) -> np.ndarray:
        values, valid = columns.int_column(self.attribute)
        return valid & (values >= self.low[i]) & (values <= self.high[i])

    def _filter(self, i: int) -> Any:
        from fanns.filters import field

        return field(self.attribute).between(int(self.low[i]), int(self.high[i]))

    def _params(self, i: int) -> dict[str, Any]:
        return {"range_start": int(self.low[i]), "range_end": int(self.high[i])}


class ContainsWorkload(Workload):
    """Query ``i`` keeps rows whose list-of-strings attribute contains ``values[i]`` (EMIS).

    >>> wl = ContainsWorkload("emis", "main_categories", ["cs"])
    >>> wl.mask(0, [{"main_categories": ["cs", "math"]}, {"main_categories": ["math"]}])
    array([ True, False])
    """

    def __init__(self, name: str, attribute: str, values: Sequence[str]) -> None:
        values = list(values)
        for j, v in enumerate(values):
            if not isinstance(v, str):
                raise ValueError(f"label of query {j} is {v!r}; expected a string")
        self.values = values
        super().__init__(name, len(values))
        self.attribute = attribute

    def _mask(self, i: int, columns: AttributeColumns) -> np.ndarray:
        out = np.zeros(len(columns), dtype=bool)
        out[columns.set_column(self.attribute).rows_with(self.values[i])] = True
        return out

    def _filter(self, i: int) -> Any:
        from fanns.filters import field

        return field(self.attribute).contains(self.values[i])

    def _params(self, i: int) -> dict[str, Any]:
        return {"label": self.values[i]}


def _field_values(records: Sequence[Mapping[str, Any]], key: str, name: str) -> list[Any]:
    out = []
    for j, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"{name} query {j}: expected a JSON object, got {record!r}")
        if key not in record:
            raise ValueError(f"{name} query {j}: missing key {key!r} in {dict(record)!r}")
        out.append(record[key])
    return out


def make_workload(name: str, records: Sequence[Mapping[str, Any]]) -> Workload:
    """Build a published workload (``"em"``, ``"r"`` or ``"emis"``) from its query records.

    >>> make_workload("r", [{"range_start": 20200101, "range_end": 20201231}])
    RangeWorkload(name='r', queries=1)
    """
    if name == "em":
        return EqualityWorkload(
            name, "number_of_sub_categories", _field_values(records, "label", name)
        )
    if name == "r":
        return RangeWorkload(
            name,
            "update_date",
            _field_values(records, "range_start", name),
            _field_values(records, "range_end", name),
        )
    if name == "emis":
        return ContainsWorkload(name, "main_categories", _field_values(records, "label", name))
    raise ValueError(f"unknown workload {name!r}; expected 'em', 'r' or 'emis'")
