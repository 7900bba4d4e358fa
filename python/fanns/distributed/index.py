"""ShardedIndex: one fanns.Index per Ray actor, searched by scatter-gather."""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from fanns._validation import as_count, as_matrix, as_path
from fanns.attributes import AttributeStore
from fanns.distributed import storage
from fanns.distributed.assign import assign_by_hash, assign_by_key, shard_members
from fanns.distributed.cluster import ShardPool
from fanns.distributed.filtering import check_filter, may_pass, search_options
from fanns.distributed.inputs import (
    check_ids,
    read_dataset,
    schema_store,
    schema_types,
    shard_columns,
    split_columns,
)
from fanns.distributed.result import ShardedSearchResult, merge_shard_results
from fanns.filters import group_filters
from fanns.index import METRICS, Index
from fanns.planner import Planner

_INDEX_PARAMS = tuple(
    name
    for name in inspect.signature(Index.build).parameters
    if name not in ("cls", "vectors", "attributes", "attribute_types")
)


class ShardedIndex:
    """A filtered k-NN index split over Ray actors, searched like :class:`fanns.Index`.

    Each shard is a :class:`fanns.Index` over some of the rows, held by one
    threaded Ray actor. Rows go to shards by a fixed hash of their global id
    or by ranges of a key attribute (see :mod:`fanns.distributed.assign`). A
    search sends the whole batch with its filters to every shard that may hold
    passing rows (shard statistics skip the others, see
    :mod:`fanns.distributed.stats`), each shard returns its own top-k, and the
    driver merges them by distance, then global id (why k per shard is enough:
    :mod:`fanns.distributed.result`). Global ids are the rows' positions in the
    input, or ``ids=`` when given.

    Rows cannot be added, deleted or replaced yet, as on :class:`fanns.Index`.

    Example:
        >>> import numpy as np, ray, fanns
        >>> from fanns.distributed import ShardedIndex
        >>> ray.init(num_cpus=2)  # or connect to a cluster; build() starts one if needed
        >>> vectors = np.random.default_rng(0).standard_normal((4000, 32)).astype(np.float32)
        >>> years = np.arange(4000) % 30 + 1995
        >>> index = ShardedIndex.build(vectors, attributes={"year": years}, shards=4)
        >>> ids, distances = index.search(vectors[:3], k=5, filter=fanns.field("year") >= 2010)
    """

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("use ShardedIndex.build(vectors, ...) or ShardedIndex.load(directory)")

    @classmethod
    def _create(cls, pool: ShardPool, meta: dict) -> ShardedIndex:
        self = object.__new__(cls)
        self._pool = pool
        self._meta = meta  # see _META_KEYS
        self._schema = schema_store(meta["attribute_types"], meta["attribute_names"])
        self._directory: str | None = None
        return self

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        vectors,
        *,
        attributes=None,
        attribute_types: dict[str, str] | None = None,
        shards: int = 2,
        ids=None,
        shard_key: str | None = None,
        progress: Callable[[int, int], Any] | None = None,
        vector_column: str = "vector",
        concurrency: int = 8,
        actor_options: dict[str, Any] | None = None,
        **index_params: Any,
    ) -> ShardedIndex:
        """Build ``shards`` indexes in parallel, one per Ray actor.

        Args:
            vectors: (n, dim) array-like (a memory map is read one shard at a
                time) or a Ray Dataset whose ``vector_column`` holds the vectors;
                a dataset's other columns are the attributes (or those named
                in ``attributes``) and ``ids`` may name one of its columns
                (without it a row's id is its position in the order the
                dataset yields rows). A dataset is read once through the driver.
            attributes, attribute_types: as for :meth:`fanns.Index.build`.
            shards: number of shards (actors).
            ids: global ids of the rows (distinct integers >= 0); default the
                row numbers 0..n-1.
            shard_key: assign contiguous ranges of this attribute (int, float,
                date or string) to the shards instead of hashing ids, so
                filters on it skip shards.
            progress: called as ``progress(shards_built, shards)`` after each shard.
            concurrency: calls each actor serves at once (searches release the GIL).
            actor_options: extra Ray actor options (``num_cpus``, ``resources``,
                ``scheduling_strategy``...); shards are spread over nodes by default.
            **index_params: passed to :meth:`fanns.Index.build` on every shard
                (``metric``, ``M``, ``ef_construction``, ``threads``, ``gamma``,
                ``range_attribute``...).

        Example:
            >>> index = ShardedIndex.build(vectors, attributes=records, shards=4,
            ...                            shard_key="update_date", M=16)
        """
        unknown = sorted(set(index_params) - set(_INDEX_PARAMS))
        if unknown:
            raise TypeError(f"unknown index parameter {unknown[0]!r} for fanns.Index.build")
        metric = index_params.get("metric", "l2")
        if not isinstance(metric, str) or metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        shards = as_count(shards, "shards", minimum=1, maximum=65536)
        concurrency = as_count(concurrency, "concurrency", minimum=1, maximum=1024)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be callable, not {type(progress).__name__}")
        vectors, attributes, ids = read_dataset(vectors, attributes, ids, vector_column)
        data = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
        as_matrix(data[:1] if data.ndim == 2 else data, "vectors")  # type and shape errors
        n, dim = data.shape
        global_ids = check_ids(ids, n)
        custom_ids = global_ids is not None
        if global_ids is None:
            global_ids = np.arange(n, dtype=np.int64)
        columns = split_columns(attributes, n)
        store = AttributeStore.from_input(columns, n, attribute_types)
        types = schema_types(store)
        if shard_key is None:
            assignment = assign_by_hash(global_ids, shards)
            how = {"by": "hash", "hash": "splitmix64"}
        else:
            assignment = assign_by_key(store, shard_key, global_ids, shards)
            how = {"by": "key", "attribute": shard_key}
        del store
        members = shard_members(assignment, global_ids, shards)
        meta = {
            "n": int(n),
            "dim": int(dim),
            "metric": metric,
            "custom_ids": custom_ids,
            "assignment": how,
            "attribute_types": types,
            "attribute_names": list(columns),
            "params": {k: v for k, v in index_params.items() if k != "threads"},
        }
        pool = ShardPool(concurrency, actor_options)
        args = []
        for rows in members:
            # One shard's vectors at a time go to the object store (a memory
            # map is read there shard by shard); the driver keeps no copy.
            block = pool.ray.put(np.ascontiguousarray(data[rows], dtype=np.float32))
            part = shard_columns(columns, rows)
            args.append((block, part, types, global_ids[rows], index_params))
        pool.start(shards, "build", args, progress)
        return cls._create(pool, meta)

    # ----------------------------------------------------------- properties
    def __len__(self) -> int:
        return self._meta["n"]

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return self._meta["dim"]

    @property
    def metric(self) -> str:
        """``"l2"``, ``"ip"`` or ``"cosine"``."""
        return self._meta["metric"]

    @property
    def shards(self) -> int:
        """Number of shards."""
        return len(self._pool.actors)

    @property
    def actors(self) -> list:
        """The Ray actor handle of every shard, by shard number."""
        return list(self._pool.actors)

    @property
    def shard_rows(self) -> list[int]:
        """Rows held by each shard."""
        return [info["rows"] for info in self._pool.infos]

    @property
    def params(self) -> dict:
        """Construction parameters of the shards' indexes."""
        return dict(self._pool.infos[0]["params"])

    @property
    def attribute_types(self) -> dict[str, str]:
        """Type of every attribute (as on every shard)."""
        return dict(self._schema.types)

    @property
    def assignment(self) -> dict:
        """How rows were assigned: ``{"by": "hash", ...}`` or ``{"by": "key", ...}``."""
        return dict(self._meta["assignment"])

    @property
    def shard_statistics(self) -> list[dict]:
        """Per-shard attribute statistics used to skip shards (min/max, value sets, counts)."""
        return [info["stats"] for info in self._pool.infos]

    @property
    def directory(self) -> str | None:
        """Directory the index was last saved to or loaded from (shards restart from it)."""
        return self._directory

    def memory_bytes(self, *, by_shard: bool = False) -> int | list[int]:
        """Bytes held by the shards' actors (index and id map); ``by_shard=True`` lists them."""
        parts = [info["memory_bytes"] for info in self._pool.infos]
        return parts if by_shard else sum(parts)

    def __repr__(self) -> str:
        names = ", ".join(self._schema.names) or "none"
        how = self._meta["assignment"]
        by = "hash" if how["by"] == "hash" else f"key={how['attribute']!r}"
        return (
            f"<fanns.distributed.ShardedIndex n={len(self)} dim={self.dim} "
            f"metric={self.metric!r} shards={self.shards} by={by} "
            f"rows=[{', '.join(map(str, self.shard_rows))}] attributes=[{names}] "
            f"memory={self.memory_bytes() / 2**20:.1f} MiB>"
        )

    def shard_counters(self) -> list[dict[str, Any]]:
        """Per shard, what its actor served since it started: ``searches`` (calls),
        ``queries``, ``explains``, ``search_seconds`` spent in the shard's search and
        ``search_cpu_seconds``, its CPU time (complete with ``threads=1``)."""
        calls = {s: () for s in range(self.shards)}
        answers, _ = self._pool.scatter("counters", calls)
        return [answers[s] for s in range(self.shards)]

    def close(self) -> None:
        """Stop the shards' actors; the index cannot be searched afterwards."""
        self._pool.close()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # --------------------------------------------------------------- search
    def search(
        self,
        queries,
        k: int = 10,
        *,
        ef: int | None = None,
        filter=None,
        threads: int = 0,
        exact_threshold: int | None = None,
        planner: Planner | None = None,
        allow_partial: bool = False,
        timeout: float | None = None,
    ) -> ShardedSearchResult:
        """Find the k nearest rows to each query that pass ``filter``, over all shards.

        Arguments as for :meth:`fanns.Index.search`; ``threads``,
        ``exact_threshold`` and ``planner`` apply on each shard. A ``pyroaring.BitMap`` filter
        holds global ids; a boolean mask is indexed by global id and needs the
        default ids (row numbers). ``timeout`` (seconds) bounds the wait per
        shard. A shard whose actor died is restarted from its file when the
        index was saved or loaded, and asked again once; otherwise, or if that
        fails too, :class:`ShardError` names it, unless ``allow_partial=True``:
        then the result covers the shards that answered
        (``result.shards_answered``, ``result.shards_failed``).

        Returns:
            :class:`ShardedSearchResult`, a :class:`fanns.SearchResult` with global ids.

        Example:
            >>> result = index.search(queries, k=10, filter=fanns.field("year") >= 2020)
            >>> result.ids.shape, result.shards_answered
            ((100, 10), (0, 1, 2, 3))
        """
        k = as_count(k, "k", minimum=1)
        options = search_options(ef, threads, exact_threshold, planner)
        if not isinstance(allow_partial, (bool, np.bool_)):
            raise TypeError(f"allow_partial must be True or False, not {allow_partial!r}")
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        nq = q.shape[0]
        groups = group_filters(filter, len(self), nq)
        distinct = [self._check(item) for item in groups.distinct]
        may = may_pass(distinct, self.shard_statistics, self.shards)
        query_filter = groups.query_filter
        # The batch and its filters are serialised once, whatever the number of shards.
        q_ref, distinct_ref = self._pool.ray.put(q), self._pool.ray.put(distinct)
        calls: dict[int, tuple] = {}
        skipped = []
        for s in range(self.shards):
            wanted = (query_filter < 0) | may[np.maximum(query_filter, 0), s]
            if not wanted.any():
                skipped.append(s)
                continue
            rows = None if wanted.all() else np.flatnonzero(wanted)
            shard_filter = query_filter if rows is None else query_filter[rows]
            calls[s] = (q_ref, rows, distinct_ref, shard_filter, k, options)
        answers, failed = self._pool.scatter(
            "search", calls, allow_partial=allow_partial, timeout=timeout
        )
        parts = {s: (*answer, calls[s][1]) for s, answer in answers.items()}
        ids, distances, plans, shard_plans = merge_shard_results(parts, nq, k, self.shards)
        return ShardedSearchResult(
            ids=ids,
            distances=distances,
            plans=plans,
            shard_plans=shard_plans,
            shards_answered=tuple(sorted([*answers, *skipped])),
            shards_failed=tuple(failed),
        )

    def explain(
        self,
        filter=None,
        *,
        k: int = 10,
        ef: int | None = None,
        exact_threshold: int | None = None,
        planner: Planner | None = None,
    ) -> dict:
        """Say how each shard would answer a query with ``filter``, and which are skipped.

        Returns :meth:`fanns.Index.explain`'s keys summed over the shards
        (``passing``, ``n``, ``selectivity``; ``plan`` is the one most asked
        shards would start with) plus ``shards``: one explain dict per shard
        (``{"shard": s, "plan": "skipped", "passing": 0, ...}`` for a shard
        whose statistics prove no row passes) and ``skipped``: their numbers.

        Example:
            >>> index.explain(fanns.field("update_date") >= 20240101)["skipped"]
            [0, 1]
        """
        options = {"k": as_count(k, "k", minimum=1)}
        options.update(search_options(ef, None, exact_threshold, planner))
        groups = group_filters(filter, len(self), 1)
        item = groups.distinct[0] if groups.distinct else None
        checked = None if item is None else self._check(item)
        may = may_pass([checked], self.shard_statistics, self.shards)[0]
        calls = {s: (checked, options) for s in range(self.shards) if may[s]}
        answers, _ = self._pool.scatter("explain", calls)
        per_shard = [
            answers.get(s) or {"shard": s, "plan": "skipped", "passing": 0, "n": rows}
            for s, rows in enumerate(self.shard_rows)
        ]
        passing = sum(entry["passing"] for entry in per_shard)
        plans = [entry["plan"] for entry in answers.values()]
        return {
            "plan": max(sorted(set(plans)), key=plans.count) if plans else "empty",
            "passing": passing,
            "n": len(self),
            "selectivity": passing / len(self) if len(self) else 0.0,
            "filter": repr(item) if item is not None else None,
            "shards": per_shard,
            "skipped": [s for s in range(self.shards) if not may[s]],
        }

    def _check(self, item: Any) -> Any:
        return check_filter(item, self._schema, len(self), self._meta["custom_ids"])

    # ------------------------------------------------------------------ io
    def save(self, directory: str | os.PathLike) -> None:
        """Write every shard's index and ids plus ``manifest.json`` into ``directory``.

        Each actor writes its own files, so on a cluster ``directory`` must be
        a file system every node sees. The manifest (with a SHA-256 per file)
        is replaced last and atomically: a failed save leaves the previous
        save intact. Afterwards a dead shard is restarted from these files.

        Example:
            >>> index.save("/data/arxiv-sharded")
            >>> index = ShardedIndex.load("/data/arxiv-sharded")
        """
        directory = os.path.abspath(as_path(directory, "directory"))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create {directory!r}: {exc}") from exc
        token = uuid.uuid4().hex[:12]
        names = [storage.shard_file_names(s, token) for s in range(self.shards)]
        paths = [tuple(os.path.join(directory, name) for name in pair) for pair in names]
        calls = {s: paths[s] for s in range(self.shards)}
        try:
            sums, _ = self._pool.scatter("save", calls)
        except BaseException:
            storage.remove_stale_files(directory, storage.current_files(directory))
            raise
        entries = [
            {
                "index": names[s][0],
                "ids": names[s][1],
                "index_sha256": sums[s]["index"],
                "ids_sha256": sums[s]["ids"],
                "rows": self._pool.infos[s]["rows"],
            }
            for s in range(self.shards)
        ]
        manifest = {"format": storage.FORMAT, "version": storage.VERSION, "shards": entries}
        manifest.update(self._meta)
        storage.write_manifest(directory, manifest)
        self._set_files(directory, manifest)
        storage.remove_stale_files(directory, {name for pair in names for name in pair})

    def _set_files(self, directory: str, manifest: dict) -> None:
        self._directory = directory
        self._pool.files = [
            {
                "index": os.path.join(directory, e["index"]),
                "ids": os.path.join(directory, e["ids"]),
                "checksums": {"index": e["index_sha256"], "ids": e["ids_sha256"]},
            }
            for e in manifest["shards"]
        ]

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        *,
        progress: Callable[[int, int], Any] | None = None,
        concurrency: int = 8,
        actor_options: dict[str, Any] | None = None,
    ) -> ShardedIndex:
        """Start one actor per shard of a saved index, each reading and checking its files.

        A missing or altered file raises ``ValueError`` naming it.
        """
        directory = os.path.abspath(as_path(directory, "directory"))
        concurrency = as_count(concurrency, "concurrency", minimum=1, maximum=1024)
        manifest = storage.read_manifest(directory)
        meta = {key: manifest[key] for key in _META_KEYS if key in manifest}
        if set(meta) != set(_META_KEYS):
            raise ValueError(
                f"{directory!r}: the manifest misses {sorted(set(_META_KEYS) - set(meta))}"
            )
        self = cls._create(ShardPool(concurrency, actor_options), meta)
        self._set_files(directory, manifest)
        files = self._pool.files
        args = [(f["index"], f["ids"], f["checksums"]) for f in files]
        self._pool.start(len(files), "load", args, progress)
        rows = [info["rows"] for info in self._pool.infos]
        if rows != [e["rows"] for e in manifest["shards"]] or sum(rows) != meta["n"]:
            self._pool.close()
            raise ValueError(f"{directory!r}: the shard files do not match the manifest's rows")
        return self


_META_KEYS = (
    "n",
    "dim",
    "metric",
    "custom_ids",
    "assignment",
    "attribute_types",
    "attribute_names",
    "params",
)
