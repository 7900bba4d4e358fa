"""ShardedIndex: one fanns.Index per Ray actor, searched by scatter-gather."""

from __future__ import annotations

import inspect
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from pyroaring import BitMap, FrozenBitMap

from fanns._validation import as_count, as_matrix, as_path
from fanns.attributes import AttributeStore
from fanns.distributed import storage
from fanns.distributed.assign import assign_by_hash, assign_by_key
from fanns.distributed.inputs import (
    check_ids,
    read_dataset,
    schema_store,
    schema_types,
    shard_columns,
    split_columns,
)
from fanns.distributed.result import ShardedSearchResult, ShardError, merge_shard_results
from fanns.distributed.shard import ShardServer
from fanns.distributed.stats import NONE, verdict
from fanns.filters import Expr, compile_filter, group_filters
from fanns.index import Index

_INDEX_PARAMS = tuple(
    name
    for name in inspect.signature(Index.build).parameters
    if name not in ("cls", "vectors", "attributes", "attribute_types")
)


def _ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("fanns.distributed needs Ray: pip install 'fanns[ray]'") from exc
    if not ray.is_initialized():
        ray.init()
    return ray


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
    def _create(cls, actors: list, infos: list[dict], meta: dict, actor_class) -> ShardedIndex:
        self = object.__new__(cls)
        self._actors = list(actors)
        self._infos = list(infos)
        self._meta = meta  # n, dim, metric, custom_ids, assignment, attribute_types, params
        self._actor_class = actor_class
        self._schema = schema_store(meta["attribute_types"], meta["attribute_names"])
        self._files: list[dict] | None = None
        self._directory: str | None = None
        self._lock = threading.Lock()
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
                in ``attributes``) and ``ids`` may name one of its columns.
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
        ray = _ray()
        unknown = sorted(set(index_params) - set(_INDEX_PARAMS))
        if unknown:
            raise TypeError(f"unknown index parameter {unknown[0]!r} for fanns.Index.build")
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
        members = _shard_rows(assignment, global_ids, shards)
        meta = {
            "n": int(n),
            "dim": int(dim),
            "metric": index_params.get("metric", "l2"),
            "custom_ids": custom_ids,
            "assignment": how,
            "attribute_types": types,
            "attribute_names": list(columns),
            "params": {k: v for k, v in index_params.items() if k != "threads"},
        }
        actor_class = _actor_class(ray, concurrency, actor_options)
        actors = [actor_class.remote(s) for s in range(shards)]
        calls = []
        for s, rows in enumerate(members):
            # Each shard's vectors go to the object store on their own; the
            # driver never holds more than one shard's copy.
            block = ray.put(np.ascontiguousarray(data[rows], dtype=np.float32))
            part = shard_columns(columns, rows)
            calls.append(actors[s].build.remote(block, part, types, global_ids[rows], index_params))
            del block
        infos = _gather(ray, actors, calls, progress)
        return cls._create(actors, infos, meta, actor_class)

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
        return len(self._actors)

    @property
    def actors(self) -> list:
        """The Ray actor handle of every shard, by shard number."""
        return list(self._actors)

    @property
    def shard_rows(self) -> list[int]:
        """Rows held by each shard."""
        return [info["rows"] for info in self._infos]

    @property
    def params(self) -> dict:
        """Construction parameters of the shards' indexes."""
        return dict(self._infos[0]["params"])

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
        return [info["stats"] for info in self._infos]

    @property
    def directory(self) -> str | None:
        """Directory the index was last saved to or loaded from (shards restart from it)."""
        return self._directory

    def memory_bytes(self, *, by_shard: bool = False) -> int | list[int]:
        """Bytes held by the shards' actors (index and id map); ``by_shard=True`` lists them."""
        parts = [info["memory_bytes"] for info in self._infos]
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

    def shard_counters(self) -> list[dict[str, int]]:
        """Calls each shard's actor served since it started (searches, queries, explains)."""
        ray = _ray()
        return [self._collect(ray, s, "counters", ()) for s in range(self.shards)]

    def close(self) -> None:
        """Stop the shards' actors; the index cannot be searched afterwards."""
        ray = _ray()
        for actor in self._actors:
            ray.kill(actor)
        self._closed = True

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
        allow_partial: bool = False,
        timeout: float | None = None,
    ) -> ShardedSearchResult:
        """Find the k nearest rows to each query that pass ``filter``, over all shards.

        Arguments as for :meth:`fanns.Index.search`; ``threads`` and
        ``exact_threshold`` apply on each shard. A ``pyroaring.BitMap`` filter
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
        ray = _ray()
        k = as_count(k, "k", minimum=1)
        options = self._options(ef, threads, exact_threshold)
        q = as_matrix(queries, "queries", dim=self.dim, allow_1d=True)
        nq = q.shape[0]
        groups = group_filters(filter, len(self), nq)
        distinct = [self._checked_filter(item) for item in groups.distinct]
        may = self._may_pass(distinct)
        query_filter = groups.query_filter
        q_ref = ray.put(q)
        calls: dict[int, tuple] = {}
        skipped = []
        for s in range(self.shards):
            wanted = (query_filter < 0) | may[np.maximum(query_filter, 0), s]
            if not wanted.any():
                skipped.append(s)
                continue
            rows = None if wanted.all() else np.flatnonzero(wanted)
            shard_filter = query_filter if rows is None else query_filter[rows]
            calls[s] = (q_ref, rows, distinct, shard_filter, k, options)
        answers, failed = self._scatter(ray, "search", calls, allow_partial, timeout)
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
        self, filter=None, *, k: int = 10, ef: int | None = None, exact_threshold: int | None = None
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
        ray = _ray()
        options = {"k": as_count(k, "k", minimum=1)}
        options.update(self._options(ef, None, exact_threshold))
        groups = group_filters(filter, len(self), 1)
        item = groups.distinct[0] if groups.distinct else None
        checked = None if item is None else self._checked_filter(item)
        may = self._may_pass([checked])[0] if checked is not None else np.ones(self.shards, bool)
        calls = {s: (checked, options) for s in range(self.shards) if may[s]}
        answers, _ = self._scatter(ray, "explain", calls, False, None)
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

    def _options(self, ef, threads, exact_threshold) -> dict:
        options = {"ef": as_count(ef, "ef", minimum=1, allow_none=True)}
        options["exact_threshold"] = as_count(
            exact_threshold, "exact_threshold", minimum=0, allow_none=True
        )
        if threads is not None:
            options["threads"] = as_count(threads, "threads", minimum=0, maximum=4096)
        return options

    def _checked_filter(self, item: Any) -> Any:
        """Check one distinct filter on the driver, so bad input fails before any shard runs."""
        n = len(self)
        if isinstance(item, Expr):
            compile_filter(item, self._schema, 0)  # unknown attributes, type mismatches
            return item
        if isinstance(item, (BitMap, FrozenBitMap)):
            if not self._meta["custom_ids"] and len(item) and item.max() >= n:
                raise ValueError(f"filter bitmap holds id {item.max()}, but the index has {n} ids")
            return item
        if isinstance(item, (np.ndarray, list, tuple)):
            if self._meta["custom_ids"]:
                raise TypeError(
                    "a boolean mask selects rows by global id and needs the default ids; "
                    "pass a pyroaring.BitMap of ids instead"
                )
            bitmap = compile_filter(item, None, n)  # dtype and length errors
            return np.asarray(item, dtype=bool) if len(bitmap) else BitMap()
        return compile_filter(item, None, n)  # raises the single index's TypeError

    def _may_pass(self, distinct: list[Any]) -> np.ndarray:
        """(filters, shards) bool: False where statistics prove no row of the shard passes."""
        may = np.ones((max(len(distinct), 1), self.shards), dtype=bool)
        for j, item in enumerate(distinct):
            if isinstance(item, Expr):
                may[j] = [verdict(item, info["stats"]) != NONE for info in self._infos]
            elif isinstance(item, (BitMap, FrozenBitMap)) and len(item) == 0:
                may[j] = False
        return may

    # ------------------------------------------------------------- failures
    def _scatter(self, ray, method: str, calls: dict, allow_partial: bool, timeout):
        """Send ``calls[s]`` to shard s, collect the answers; ``(answers, failed shards)``."""
        if getattr(self, "_closed", False):
            raise RuntimeError("this ShardedIndex was closed")
        refs = {s: getattr(self._actors[s], method).remote(*args) for s, args in calls.items()}
        answers, failed = {}, []
        for s, ref in refs.items():
            try:
                answers[s] = self._collect(ray, s, method, calls[s], ref, timeout)
            except ShardError:
                if not allow_partial:
                    raise
                failed.append(s)
        return answers, failed

    def _collect(self, ray, s: int, method: str, args: tuple, ref=None, timeout=None):
        """The answer of shard s; a dead actor is restarted from its file and asked once more."""
        from ray.exceptions import GetTimeoutError, RayActorError

        actor = self._actors[s]
        try:
            if ref is None:
                ref = getattr(actor, method).remote(*args)
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError as exc:
            raise ShardError(s, f"no answer within {timeout} s") from exc
        except RayActorError as exc:
            if self._files is None:
                raise ShardError(
                    s,
                    f"its actor died ({type(exc).__name__}); the index was not saved, so the "
                    "shard cannot be restarted (save() makes shards restartable)",
                ) from exc
            cause = exc
        self._restart(ray, s, actor, cause)
        try:
            return ray.get(getattr(self._actors[s], method).remote(*args), timeout=timeout)
        except (GetTimeoutError, RayActorError) as exc:
            raise ShardError(s, f"failed again after a restart from its file: {exc}") from exc

    def _restart(self, ray, s: int, dead, cause: Exception) -> None:
        with self._lock:
            if self._actors[s] is not dead:
                return  # another call already restarted it
            files = self._files[s]
            actor = self._actor_class.remote(s)
            try:
                info = ray.get(actor.load.remote(files["index"], files["ids"], files["checksums"]))
            except Exception as exc:
                ray.kill(actor)
                raise ShardError(
                    s,
                    f"its actor died ({type(cause).__name__}) and restarting it from "
                    f"{files['index']!r} failed: {exc}",
                ) from exc
            self._actors[s], self._infos[s] = actor, info

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
        ray = _ray()
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
            sums, _ = self._scatter(ray, "save", calls, False, None)
        except BaseException:
            storage.remove_stale_files(directory, _current_files(directory))
            raise
        entries = [
            {
                "index": names[s][0],
                "ids": names[s][1],
                "index_sha256": sums[s]["index"],
                "ids_sha256": sums[s]["ids"],
                "rows": self._infos[s]["rows"],
            }
            for s in range(self.shards)
        ]
        manifest = {"format": storage.FORMAT, "version": storage.VERSION, "shards": entries}
        manifest.update(self._meta)
        storage.write_manifest(directory, manifest)
        storage.remove_stale_files(directory, {name for pair in names for name in pair})
        self._set_files(directory, manifest)

    def _set_files(self, directory: str, manifest: dict) -> None:
        self._directory = directory
        self._files = [
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
        ray = _ray()
        directory = os.path.abspath(as_path(directory, "directory"))
        concurrency = as_count(concurrency, "concurrency", minimum=1, maximum=1024)
        manifest = storage.read_manifest(directory)
        meta = {key: manifest[key] for key in _META_KEYS if key in manifest}
        if set(meta) != set(_META_KEYS):
            raise ValueError(
                f"{directory!r}: the manifest misses {sorted(set(_META_KEYS) - set(meta))}"
            )
        actor_class = _actor_class(ray, concurrency, actor_options)
        self = cls._create([], [], meta, actor_class)
        self._set_files(directory, manifest)
        actors = [actor_class.remote(s) for s in range(len(self._files))]
        calls = [
            actor.load.remote(f["index"], f["ids"], f["checksums"])
            for actor, f in zip(actors, self._files)
        ]
        infos = _gather(ray, actors, calls, progress)
        rows = [info["rows"] for info in infos]
        if rows != [e["rows"] for e in manifest["shards"]] or sum(rows) != meta["n"]:
            for actor in actors:
                ray.kill(actor)
            raise ValueError(f"{directory!r}: the shard files do not match the manifest's rows")
        self._actors, self._infos = actors, infos
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


def _current_files(directory: str) -> set[str]:
    """Shard files named by the directory's manifest (none without one)."""
    try:
        manifest = storage.read_manifest(directory)
    except ValueError:
        return set()
    return {e[key] for e in manifest["shards"] for key in ("index", "ids")}


def _actor_class(ray, concurrency: int, actor_options: dict[str, Any] | None):
    options = {"scheduling_strategy": "SPREAD", "max_concurrency": concurrency}
    if actor_options is not None:
        if not isinstance(actor_options, dict):
            raise TypeError(f"actor_options must be a dict, not {type(actor_options).__name__}")
        options.update(actor_options)
    return ray.remote(ShardServer).options(**options)


def _shard_rows(assignment: np.ndarray, global_ids: np.ndarray, shards: int) -> list[np.ndarray]:
    """Input positions of each shard's rows, in increasing global id."""
    order = np.lexsort((global_ids, assignment))
    bounds = np.searchsorted(assignment[order], np.arange(shards + 1))
    members = [order[bounds[s] : bounds[s + 1]] for s in range(shards)]
    for s, rows in enumerate(members):
        if len(rows) == 0:
            raise ValueError(
                f"shard {s} would hold no rows ({len(global_ids)} rows over {shards} shards); "
                "use fewer shards"
            )
    return members


def _gather(ray, actors: list, calls: list, progress) -> list[dict]:
    """Wait for one call per actor, reporting progress; on failure stop every actor."""
    pending = {ref: s for s, ref in enumerate(calls)}
    infos: list[dict | None] = [None] * len(calls)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                s = pending.pop(ref)
                infos[s] = ray.get(ref)
                if progress is not None:
                    progress(len(calls) - len(pending), len(calls))
    except BaseException:
        for actor in actors:
            ray.kill(actor)
        raise
    return infos  # type: ignore[return-value]
