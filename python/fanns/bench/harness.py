"""The sweep: build each method once, then time every (workload, sweep value) point with
single-threaded queries, score recall against exact ground truth, and write the report.

Ctrl-C stops the run; whatever was measured so far is still written (``interrupted: true``).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from fanns.bench.config import BenchConfig
from fanns.bench.data import BenchData, load_data, make_workloads
from fanns.bench.files import write_json
from fanns.bench.groundtruth import data_fingerprint, ground_truth
from fanns.bench.machine import machine_info
from fanns.bench.memory import MemoryProbe
from fanns.bench.methods import METHODS, BuildParams, Method
from fanns.bench.progress import progress
from fanns.bench.recall import mean_recall
from fanns.bench.report import format_table, summarize, write_outputs
from fanns.bench.results import BuildRecord, Point, Results
from fanns.bench.workloads import BenchWorkload

Log = Callable[[str], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _print(message: str) -> None:
    print(message, flush=True)


def measure_point(
    method: Method,
    workload: BenchWorkload,
    value: Any,
    queries: np.ndarray,
    k: int,
    *,
    repeats: int = 3,
    warmup: int = 1,
    clock: str = "wall",
) -> Point:
    """Time ``repeats`` runs of one batch of queries (after ``warmup`` untimed ones) and score
    the last run's recall against ``workload.ground_truth``. ``clock="cpu"`` times the
    process's CPU seconds instead of wall-clock seconds."""
    timer = {"wall": time.perf_counter, "cpu": time.process_time}[clock]
    if workload.ground_truth is None:
        raise ValueError(f"workload {workload.name!r} has no ground truth yet")
    for _ in range(warmup):
        method.search(queries, k, value, workload.filters)
    seconds = []
    ids = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            start = timer()
            ids = method.search(queries, k, value, workload.filters)
            seconds.append(timer() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    ids = np.asarray(ids)
    nq = int(queries.shape[0])
    if ids.shape != (nq, k):
        raise ValueError(f"{method.name} returned ids of shape {ids.shape}, expected {(nq, k)}")
    median = max(statistics.median(seconds), 1e-9)
    return Point(
        method=method.name,
        workload=workload.name,
        param=method.sweep_param,
        value=value,
        recall=mean_recall(ids, workload.ground_truth, k),
        qps=nq / median,
        latency_ms_mean=1000.0 * median / max(nq, 1),
        nq=nq,
        k=k,
        seconds=[float(s) for s in seconds],
        details=dict(method.details),
    )


def _prepare_ground_truth(
    config: BenchConfig,
    data: BenchData,
    workloads: Sequence[BenchWorkload],
    results: Results,
    log: Log,
) -> None:
    cache_dir = os.path.join(config.out, "cache")
    fingerprint = None
    for workload in progress(workloads, desc="ground truth", enabled=config.progress):
        if fingerprint is None and workload.given_truth is None:
            fingerprint = data_fingerprint(data.vectors, data.queries)
        rows, source = ground_truth(
            workload,
            data.vectors,
            data.queries,
            config.k,
            metric=config.metric,
            cache_dir=cache_dir,
            fingerprint=fingerprint,
            progress=config.progress,
        )
        workload.ground_truth = rows
        results.workloads[workload.name] = {
            "origin": workload.origin,
            "filter": workload.filters.kind,
            "nq": workload.nq,
            "pass_fraction": workload.filters.pass_fraction(),
            "ground_truth": source,
            "mean_true_neighbours": float(np.mean([len(r) for r in rows])) if rows else 0.0,
        }
        log(
            f"workload {workload.name}: {workload.nq} queries, filter {workload.filters.kind}, "
            f"{100 * workload.filters.pass_fraction():.3g}% of rows pass, "
            f"ground truth {source}"
        )


def filter_attributes(
    data: BenchData, workloads: Sequence[BenchWorkload]
) -> list[dict[str, Any]] | None:
    """The attribute records reduced to the attributes the workloads' filter expressions read
    (``None`` when no workload filters on attributes): methods index only what is queried."""
    if data.attributes is None:
        return None
    names: set[str] = set()
    for workload in workloads:
        for expr in workload.filters.expressions or ():
            if expr is None:
                continue
            reader = getattr(expr, "attributes", None)
            if reader is None:
                return data.attributes
            names |= set(reader() if callable(reader) else reader)
    if not names:
        return None
    ordered = sorted(names)
    return [{name: record.get(name) for name in ordered} for record in data.attributes]


def _run_method(
    name: str,
    config: BenchConfig,
    data: BenchData,
    workloads: Sequence[BenchWorkload],
    attributes: list[dict[str, Any]] | None,
    results: Results,
    log: Log,
) -> None:
    cls = METHODS[name]
    reason = cls.missing_dependency()
    if reason is not None:
        results.skipped[name] = reason
        log(f"skipping {name}: {reason}")
        return
    method = cls()
    params = BuildParams(
        M=config.M,
        ef_construction=config.ef_construction,
        threads=config.threads_build,
        seed=config.seed,
    )
    try:
        log(f"building {name} ...")
        try:
            with MemoryProbe() as probe:
                start = time.perf_counter()
                method.build(data.vectors, attributes, config.metric, params)
                build_seconds = time.perf_counter() - start
        except Exception as exc:  # a failing method must not stop the others
            results.errors.append({"method": name, "stage": "build", "error": repr(exc)})
            log(f"{name}: build failed: {exc!r}")
            return
        record = BuildRecord(
            method=name,
            build_seconds=build_seconds,
            memory_bytes=method.memory_bytes(),
            rss_delta_bytes=probe.delta_bytes,
            peak_rss_delta_bytes=probe.peak_delta_bytes,
            params=params.as_dict(),
        )
        results.builds[name] = record
        log(f"built {name} in {build_seconds:.2f} s")
        values = method.sweep_values(config)
        for workload in workloads:
            desc = f"{name} / {workload.name}"
            try:
                method.prepare(workload.filters)
                for value in progress(
                    values, total=len(values), desc=desc, enabled=config.progress
                ):
                    results.points.append(
                        measure_point(
                            method,
                            workload,
                            value,
                            data.queries,
                            config.k,
                            repeats=config.repeats,
                            warmup=config.warmup,
                            clock=config.clock,
                        )
                    )
            except Exception as exc:
                results.errors.append(
                    {"method": name, "stage": f"search {workload.name}", "error": repr(exc)}
                )
                log(f"{name} on {workload.name}: search failed: {exc!r}")
            write_json(os.path.join(config.out, "results.json"), results.to_json())
    finally:
        method.close()


def run_benchmark(
    config: BenchConfig, *, command: Sequence[str] | None = None, log: Log = _print
) -> Results:
    """Run the whole sweep described by ``config`` and write its outputs to ``config.out``.

    Returns the :class:`Results`; ``results.interrupted`` is set when Ctrl-C stopped the run.

    Example:
        >>> import tempfile
        >>> cfg = BenchConfig(n=500, dim=8, nq=10, methods=["bruteforce"], workloads=["sel-10"],
        ...                   out=tempfile.mkdtemp(), progress=False, plots=False)
        >>> run_benchmark(cfg, log=lambda message: None).points[0].recall
        1.0
    """
    results = Results(
        command=list(command) if command is not None else list(sys.argv),
        config=config.as_dict(),
        started=_now(),
    )
    os.makedirs(config.out, exist_ok=True)
    try:
        results.machine = machine_info()
        data = load_data(config)
        results.dataset = data.describe()
        log(
            f"dataset {data.name}: n={data.n}, dim={data.vectors.shape[1]}, "
            f"{data.queries.shape[0]} queries"
        )
        workloads = make_workloads(config, data)
        _prepare_ground_truth(config, data, workloads, results, log)
        attributes = filter_attributes(data, workloads)
        results.dataset["filter_attributes"] = sorted(attributes[0]) if attributes else []
        for name in config.methods:
            _run_method(name, config, data, workloads, attributes, results, log)
        results.complete = True
    except KeyboardInterrupt:
        results.interrupted = True
        log("interrupted: writing the results measured so far")
    except Exception as exc:
        results.errors.append({"method": "", "stage": "setup", "error": repr(exc)})
        raise
    finally:
        results.finished = _now()
        results.machine = results.machine or machine_info()
        written = write_outputs(results, config.out, plots=config.plots)
        rows = summarize(results.points)
        if rows:
            log("")
            log(format_table(rows))
        log("")
        log(
            f"wrote {', '.join(sorted(set(map(os.path.basename, written.values()))))} "
            f"to {config.out}"
        )
    return results
