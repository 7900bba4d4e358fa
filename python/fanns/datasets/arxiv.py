"""The arXiv-for-FANNS dataset layout: loading and writing.

A dataset directory holds (published names):

- ``database_vectors.fvecs``, ``database_attributes.jsonl`` (one JSON object per
  line, line ``i`` describing vector ``i``), required;
- ``query_vectors.fvecs``, required;
- ``em_query_attributes.jsonl``, ``r_query_attributes.jsonl``,
  ``emis_query_attributes.jsonl`` (line ``i`` belongs to query ``i``), optional;
- ``ground_truth.ivecs`` (unfiltered), ``ground_truth_em.ivecs``,
  ``ground_truth_r.ivecs``, ``ground_truth_emis.ivecs``, optional.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fanns.attributes import AttributeStore
from fanns.datasets.vecs import (
    PathLike,
    atomic_write,
    fvecs_shape,
    read_fvecs,
    read_ivecs,
    write_fvecs,
    write_ivecs,
)
from fanns.datasets.workloads import (
    AttributeColumns,
    UnfilteredWorkload,
    Workload,
    make_workload,
)

__all__ = [
    "ATTRIBUTE_KEYS",
    "ArxivDataset",
    "GROUND_TRUTH_FILES",
    "PUBLISHED_FILES",
    "QUERY_ATTRIBUTE_FILES",
    "ground_truth_filename",
    "load_arxiv_fanns",
    "read_jsonl",
    "write_arxiv_layout",
]

DATABASE_VECTORS = "database_vectors.fvecs"
DATABASE_ATTRIBUTES = "database_attributes.jsonl"
QUERY_VECTORS = "query_vectors.fvecs"
QUERY_ATTRIBUTE_FILES = {
    "em": "em_query_attributes.jsonl",
    "r": "r_query_attributes.jsonl",
    "emis": "emis_query_attributes.jsonl",
}
GROUND_TRUTH_FILES = {
    "unfiltered": "ground_truth.ivecs",
    "em": "ground_truth_em.ivecs",
    "r": "ground_truth_r.ivecs",
    "emis": "ground_truth_emis.ivecs",
}
PUBLISHED_FILES = (
    DATABASE_VECTORS,
    DATABASE_ATTRIBUTES,
    QUERY_VECTORS,
    *QUERY_ATTRIBUTE_FILES.values(),
    *GROUND_TRUTH_FILES.values(),
)
ATTRIBUTE_KEYS = (
    "submitter",
    "has_comment",
    "number_of_main_categories",
    "main_categories",
    "number_of_sub_categories",
    "sub_categories",
    "license",
    "number_of_versions",
    "update_date",
    "number_of_authors",
    "authors",
)


def ground_truth_filename(workload: str) -> str:
    """The published ground-truth file name of a workload.

    >>> ground_truth_filename("em")
    'ground_truth_em.ivecs'
    """
    try:
        return GROUND_TRUTH_FILES[workload]
    except KeyError:
        raise KeyError(
            f"unknown workload {workload!r}; expected one of {sorted(GROUND_TRUTH_FILES)}"
        ) from None


def iter_jsonl(path: PathLike, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Stream the JSON objects of a JSON-lines file, one per line, in a single pass.

    Blank lines are allowed only at the end of the file. A line that is not a
    JSON object raises ``ValueError`` naming the file and line.

    >>> next(iter_jsonl("em_query_attributes.jsonl"))  # doctest: +SKIP
    {'label': 1}
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    produced = 0
    blank_at = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and produced >= limit:
                return
            record, blank_at = jsonl_line(path, lineno, line, blank_at)
            if record is not None:
                produced += 1
                yield record


def jsonl_line(
    path: str, lineno: int, line: str, blank_at: int | None
) -> tuple[dict[str, Any] | None, int | None]:
    """The JSON object on line ``lineno`` of a JSON-lines file (None for a blank
    line), and the first blank line seen so far: only blank lines may follow
    one. Errors are ``ValueError`` naming the file and line."""
    if not line.strip():
        return None, lineno if blank_at is None else blank_at
    if blank_at is not None:
        raise ValueError(f"{path}:{blank_at}: blank line inside the file")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise ValueError(f"{path}:{lineno}: invalid JSON (nested too deeply)") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
    return record, blank_at


def read_jsonl(path: PathLike, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Read a JSON-lines file into a list of dicts (at most ``limit`` of them).

    >>> len(read_jsonl("r_query_attributes.jsonl"))  # doctest: +SKIP
    1000
    """
    return list(iter_jsonl(path, limit=limit))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not JSON")


def write_jsonl(path: PathLike, records: Sequence[Mapping[str, Any]]) -> None:
    """Write records as JSON lines (UTF-8, one object per line), atomically.

    >>> write_jsonl("/tmp/q.jsonl", [{"label": 1}])  # doctest: +SKIP
    """
    with atomic_write(path, "w") as f:
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise TypeError(f"record {i} must be a mapping, got {type(record).__name__}")
            f.write(json.dumps(dict(record), ensure_ascii=False, default=_json_default))
            f.write("\n")


class ArxivDataset:
    """Database vectors and attributes, query vectors, workloads and ground truth.

    ``vectors`` is ``(n, d)`` float32 (possibly memory-mapped), ``attributes`` a
    list of ``n`` dicts (given as such, or made on first use from ``store``, the
    :class:`~fanns.attributes.AttributeStore` a dataset loaded from files
    holds; ``store`` is None otherwise), ``queries`` ``(nq, d)`` float32, ``query_attributes`` a
    dict ``{"em" | "r" | "emis": list of nq dicts}`` and ``ground_truth`` a dict
    ``{workload name: list of nq int32 id arrays}``. ``workloads`` always holds
    ``"unfiltered"`` plus one :class:`~fanns.datasets.workloads.Workload` per
    query-attribute list; each carries its ground truth when known.

    >>> ds = load_arxiv_fanns("/data/arxiv-small")  # doctest: +SKIP
    >>> len(ds), ds.dim, sorted(ds.workloads)
    (1000, 4096, ['em', 'emis', 'r', 'unfiltered'])
    """

    def __init__(
        self,
        vectors: np.ndarray,
        attributes: Sequence[Mapping[str, Any]],
        queries: np.ndarray,
        *,
        query_attributes: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        ground_truth: Mapping[str, Sequence[np.ndarray]] | None = None,
        name: str = "arxiv",
        path: str | None = None,
    ) -> None:
        vectors = _float_matrix(vectors, "vectors")
        queries = _float_matrix(queries, "queries")
        n, dim = vectors.shape
        if queries.shape[0] == 0 and queries.shape[1] != dim:
            queries = np.empty((0, dim), dtype=np.float32)
        if queries.shape[1] != dim:
            raise ValueError(f"queries have dimension {queries.shape[1]}, vectors have {dim}")
        if isinstance(attributes, AttributeStore):
            if len(attributes) != n:
                raise ValueError(f"{len(attributes)} attribute rows for {n} vectors")
            self.store: AttributeStore | None = attributes
            self._records = None
            self.columns = AttributeColumns.from_store(attributes)
        else:
            if isinstance(attributes, (str, bytes, Mapping)) or not isinstance(
                attributes, Sequence
            ):
                raise TypeError(
                    "attributes must be a sequence of dicts (or an AttributeStore), one per vector"
                )
            attributes = list(attributes)
            if len(attributes) != n:
                raise ValueError(f"{len(attributes)} attribute records for {n} vectors")
            for i, record in enumerate(attributes):
                if not isinstance(record, Mapping):
                    raise TypeError(
                        f"attribute record {i} must be a dict, got {type(record).__name__}"
                    )
            self.store = None
            self._records = attributes
            self.columns = AttributeColumns(attributes)
        nq = queries.shape[0]
        self.name = name
        self.path = path
        self.vectors = vectors
        self.queries = queries
        self.query_attributes: dict[str, list[dict[str, Any]]] = {}
        self.workloads: dict[str, Workload] = {"unfiltered": UnfilteredWorkload(nq)}
        for wname, records in (query_attributes or {}).items():
            if wname not in QUERY_ATTRIBUTE_FILES:
                raise ValueError(
                    f"unknown workload {wname!r}; expected one of {sorted(QUERY_ATTRIBUTE_FILES)}"
                )
            records = [dict(r) if isinstance(r, Mapping) else r for r in records]
            if len(records) != nq:
                raise ValueError(
                    f"workload {wname!r} has {len(records)} query attribute records "
                    f"for {nq} queries"
                )
            self.workloads[wname] = make_workload(wname, records)
            self.query_attributes[wname] = records
        self.ground_truth: dict[str, list[np.ndarray]] = {}
        for wname, rows in (ground_truth or {}).items():
            if wname not in GROUND_TRUTH_FILES:
                raise ValueError(
                    f"unknown workload {wname!r}; expected one of {sorted(GROUND_TRUTH_FILES)}"
                )
            self.ground_truth[wname] = _check_ground_truth(rows, nq, n, wname)
            if wname in self.workloads:
                self.workloads[wname].ground_truth = self.ground_truth[wname]

    @property
    def attributes(self) -> list[dict[str, Any]]:
        """The attribute records, a dict per row. A dataset loaded from files
        holds columns (``store``): the dicts are made from them on first use,
        each with every attribute (None where a row has no value)."""
        if self._records is None:
            names = self.store.names
            columns = [self.store.column(name) for name in names]
            if names:
                self._records = [dict(zip(names, row)) for row in zip(*columns)]
            else:
                self._records = [{} for _ in range(len(self.store))]
        return self._records

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])

    @property
    def nq(self) -> int:
        """Number of queries."""
        return int(self.queries.shape[0])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:
        return (
            f"ArxivDataset(name={self.name!r}, n={len(self)}, dim={self.dim}, nq={self.nq}, "
            f"workloads={sorted(self.workloads)}, ground_truth={sorted(self.ground_truth)})"
        )


def _float_matrix(x: Any, name: str) -> np.ndarray:
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, dim), got shape {arr.shape}")
    if arr.dtype != np.float32:
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        ):
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        arr = arr.astype(np.float32)
    return arr


def _check_ground_truth(rows: Sequence[np.ndarray], nq: int, n: int, name: str) -> list[np.ndarray]:
    rows = list(rows)
    if len(rows) != nq:
        raise ValueError(f"ground truth {name!r} has {len(rows)} rows for {nq} queries")
    out = []
    for i, row in enumerate(rows):
        row = np.asarray(row)
        if row.ndim != 1 or (row.size and not np.issubdtype(row.dtype, np.integer)):
            raise ValueError(f"ground truth {name!r} row {i} must be a 1-D integer array")
        if row.size and (row.min() < 0 or row.max() >= n):
            raise ValueError(
                f"ground truth {name!r} row {i} holds ids outside [0, {n}); "
                "it does not belong to this database"
            )
        out.append(row.astype(np.int32))
    return out


def load_arxiv_fanns(
    path: PathLike,
    *,
    mmap: bool = True,
    count: int | None = None,
    name: str | None = None,
    ground_truth: bool = True,
    progress: Callable[[int, int], object] | None = None,
) -> ArxivDataset:
    """Load an arXiv-for-FANNS directory (published layout) as an :class:`ArxivDataset`.

    With ``mmap=True`` the database vectors are a read-only memory map of the
    file. ``count`` keeps only the first ``count`` database rows; the published
    ground truth refers to the whole database and is then not loaded. Missing
    query-attribute and ground-truth files are simply absent from the result; a
    missing database or query-vector file raises ``FileNotFoundError``.
    ``ground_truth=False`` skips the ground-truth files. ``progress(done,
    total)`` hears the bytes of the attribute file read (the long part of a
    load), as :func:`~fanns.datasets.read_attribute_store` reports them; an
    exception it raises (KeyboardInterrupt, as Ctrl-C does) stops the load.

    >>> ds = load_arxiv_fanns("/data/arxiv-medium")  # doctest: +SKIP
    >>> ds.workloads["em"].mask(0, ds).sum()  # doctest: +SKIP
    """
    directory = os.fspath(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no such dataset directory: {directory!r}")

    def file(fname: str) -> str:
        return os.path.join(directory, fname)

    n_total, _ = fvecs_shape(file(DATABASE_VECTORS))
    if not os.path.isfile(file(DATABASE_ATTRIBUTES)):
        raise FileNotFoundError(f"no such file: {file(DATABASE_ATTRIBUTES)!r}")
    vectors = read_fvecs(file(DATABASE_VECTORS), count=count, mmap=mmap)
    from fanns.datasets.attribute_file import (
        read_attribute_store,
    )  # it reads lines as this module does

    attributes = read_attribute_store(file(DATABASE_ATTRIBUTES), limit=count, progress=progress)
    if len(attributes) != vectors.shape[0]:
        raise ValueError(
            f"{file(DATABASE_ATTRIBUTES)!r} has {len(attributes)} records but "
            f"{file(DATABASE_VECTORS)!r} has {vectors.shape[0]} vectors"
        )
    queries = read_fvecs(file(QUERY_VECTORS), mmap=False)
    query_attributes = {}
    for wname, fname in QUERY_ATTRIBUTE_FILES.items():
        if os.path.isfile(file(fname)):
            records = read_jsonl(file(fname))
            if len(records) != queries.shape[0]:
                raise ValueError(
                    f"{file(fname)!r} has {len(records)} records but "
                    f"{file(QUERY_VECTORS)!r} has {queries.shape[0]} queries"
                )
            try:
                make_workload(wname, records)
            except ValueError as exc:
                raise ValueError(f"{file(fname)!r}: {exc}") from None
            query_attributes[wname] = records
    truth = {}
    if ground_truth and (count is None or count >= n_total):
        for wname, fname in GROUND_TRUTH_FILES.items():
            if os.path.isfile(file(fname)):
                rows = read_ivecs(file(fname))
                try:
                    truth[wname] = _check_ground_truth(
                        rows, queries.shape[0], vectors.shape[0], wname
                    )
                except ValueError as exc:
                    raise ValueError(f"{file(fname)!r}: {exc}") from None
    return ArxivDataset(
        vectors,
        attributes,
        queries,
        query_attributes=query_attributes,
        ground_truth=truth,
        name=name if name is not None else os.path.basename(os.path.abspath(directory)),
        path=directory,
    )


def write_arxiv_layout(dataset: ArxivDataset, directory: PathLike) -> str:
    """Write every file of ``dataset`` in the published layout into ``directory``.

    The directory is created if needed; each file is written atomically.
    ``load_arxiv_fanns(directory)`` reads the same dataset back. Returns the
    directory path.

    >>> write_arxiv_layout(synthetic_arxiv(n=1000), "/tmp/arxiv-synthetic")  # doctest: +SKIP
    '/tmp/arxiv-synthetic'
    """
    if not isinstance(dataset, ArxivDataset):
        raise TypeError(f"expected an ArxivDataset, got {type(dataset).__name__}")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)

    def file(fname: str) -> str:
        return os.path.join(directory, fname)

    write_fvecs(file(DATABASE_VECTORS), dataset.vectors)
    write_jsonl(file(DATABASE_ATTRIBUTES), dataset.attributes)
    write_fvecs(file(QUERY_VECTORS), dataset.queries)
    for wname, records in dataset.query_attributes.items():
        write_jsonl(file(QUERY_ATTRIBUTE_FILES[wname]), records)
    for wname, rows in dataset.ground_truth.items():
        write_ivecs(file(GROUND_TRUTH_FILES[wname]), rows)
    return directory
