"""LanceDB: a table in a temporary directory with the attributes as columns, an IVF_HNSW_SQ
vector index (HNSW with the same ``M`` and ``ef_construction`` inside each IVF partition,
8-bit scalar-quantised vectors) and a scalar index on every filtered column, queried with SQL
``where`` pre-filters one query at a time.

The sweep runs over settings written ``"nprobes=P,ef=E"`` or ``"nprobes=P,ef=E,refine=R"``
(``refine_factor``: re-rank ``R * k`` candidates on the full vectors), plus ``"flat"``, an
exact scan that bypasses the vector index: every ``ef`` of the run with all partitions probed,
the two largest with half of them, and the two largest with all partitions and a refine step.
There is one partition per ``rows_per_partition`` rows.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fanns.bench.methods.base import BuildParams
from fanns.bench.methods.peer_base import PeerMethod
from fanns.bench.methods.peer_filters import LIST_TYPE, lance_identifier, lance_where

if TYPE_CHECKING:
    from fanns.bench.config import BenchConfig

_DISTANCES = {"l2": "l2", "ip": "dot", "cosine": "cosine"}
_SCALAR_INDEX = {
    "int": "BTree",
    "date": "BTree",
    "float": "BTree",
    "bool": "Bitmap",
    "string": "Bitmap",
    LIST_TYPE: "LabelList",
}
FLAT = "flat"


def parse_setting(value: Any) -> dict[str, int]:
    """The knobs of one sweep value (``{}`` for ``"flat"``).

    Example:
        >>> parse_setting("nprobes=4,ef=80,refine=2")
        {'nprobes': 4, 'ef': 80, 'refine': 2}
    """
    if value == FLAT:
        return {}
    out: dict[str, int] = {}
    for part in str(value).split(","):
        key, sep, number = part.partition("=")
        if not sep or key not in ("nprobes", "ef", "refine") or not number.isdigit():
            raise ValueError(
                f"bad LanceDB sweep value {value!r}: expected 'nprobes=P,ef=E[,refine=R]' or 'flat'"
            )
        out[key] = int(number)
    return out


def arrow_table(
    vectors: np.ndarray, records: list[dict[str, Any]] | None, types: dict[str, str]
) -> Any:
    """The rows as a pyarrow table: ``id``, ``vector`` (fixed-size float32 list) and one typed
    column per attribute (nulls for missing values)."""
    import pyarrow as pa

    n, dim = vectors.shape
    flat = pa.array(np.ascontiguousarray(vectors).reshape(-1), type=pa.float32())
    columns = {
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "vector": pa.FixedSizeListArray.from_arrays(flat, int(dim)),
    }
    arrow_types = {
        "int": pa.int64(),
        "date": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        LIST_TYPE: pa.list_(pa.string()),
    }
    for name, kind in types.items():
        values = [None if records is None else records[i].get(name) for i in range(n)]
        columns[name] = pa.array(values, type=arrow_types[kind])
    return pa.table(columns)


class LanceDBMethod(PeerMethod):
    """LanceDB with IVF_HNSW_SQ and SQL pre-filters.

    Example:
        >>> parse_setting(FLAT), LanceDBMethod.sweep_param
        ({}, 'setting')
    """

    name: ClassVar[str] = "lancedb"
    requires: ClassVar[tuple[str, ...]] = ("lancedb", "pyarrow")
    sweep_param: ClassVar[str | None] = "setting"
    rows_per_partition: ClassVar[int] = 8192
    refine_factor: ClassVar[int] = 4
    materialise_note = "rows tagged in boolean column {key!r} (BITMAP index), queried as `{key}`"

    def __init__(self) -> None:
        super().__init__()
        self._db: Any = None
        self._table: Any = None
        self._partitions = 1

    def build_store(
        self,
        vectors: np.ndarray,
        records: list[dict[str, Any]] | None,
        metric: str,
        params: BuildParams,
    ) -> None:
        import lancedb
        from lancedb.index import IvfHnswSq

        self._db = lancedb.connect(os.path.join(self.workdir, "db"))
        table = self._db.create_table("rows", data=arrow_table(vectors, records, self.schema.types))
        n = vectors.shape[0]
        self._partitions = max(1, math.ceil(n / self.rows_per_partition))
        config = IvfHnswSq(
            distance_type=_DISTANCES[metric],
            num_partitions=self._partitions,
            m=int(params.M),
            ef_construction=int(params.ef_construction),
        )
        table.create_index("vector", config=config)
        self._table = table
        for name, kind in self.schema.types.items():
            self._scalar_index(name, _SCALAR_INDEX[kind])

    def _scalar_index(self, column: str, kind: str) -> None:
        import lancedb.index

        self._table.create_index(column, config=getattr(lancedb.index, kind)())

    def sweep_values(self, config: BenchConfig) -> list[Any]:
        efs = super().sweep_values(config)
        every = self._partitions
        values: list[Any] = [FLAT]
        values += [f"nprobes={every},ef={ef}" for ef in efs]
        half = max(1, every // 2)
        if half < every:  # fewer partitions: only worth it with a wide search inside them
            values += [f"nprobes={half},ef={ef}" for ef in efs[-2:]]
        # refining takes refine * k candidates from HNSW, so ef must reach that many
        refine = self.refine_factor
        wide = sorted({max(ef, refine * int(config.k)) for ef in efs[-2:]})
        values += [f"nprobes={self._partitions},ef={ef},refine={refine}" for ef in wide]
        return values

    def translate(self, expr: Any) -> Any:
        return lance_where(expr, self.schema)

    def materialise(self, ids: np.ndarray, key: str) -> Any:
        listed = ", ".join(str(int(i)) for i in ids)
        self._table.add_columns({key: f"id IN ({listed})" if listed else "FALSE"})
        self._scalar_index(key, "Bitmap")
        return lance_identifier(key)

    def selected_ids(self, where: Any) -> np.ndarray:
        query = self._table.search().where(where).select(["id"]).limit(self._n)
        return np.sort(query.to_arrow().column("id").to_numpy().astype(np.int64))

    def search_group(self, queries: np.ndarray, k: int, sweep_value: Any, where: Any) -> list:
        setting = parse_setting(sweep_value)
        rows = []
        for q in queries:
            query = self._table.search(q, vector_column_name="vector").limit(k)
            query = query.select(["id", "_distance"])
            if where is not None:
                query = query.where(where, prefilter=True)
            if setting:
                query = query.nprobes(setting["nprobes"]).ef(setting["ef"])
                if "refine" in setting:
                    query = query.refine_factor(setting["refine"])
            else:
                query = query.bypass_vector_index()
            rows.append(query.to_arrow().column("id").to_numpy())
        return rows

    def search_details(self, sweep_value: Any) -> dict[str, Any]:
        details: dict[str, Any] = {"partitions": self._partitions, **parse_setting(sweep_value)}
        if sweep_value == FLAT:
            details["flat"] = True
        return details

    def close(self) -> None:
        self._table = None
        self._db = None
        super().close()
