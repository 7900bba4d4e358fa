"""What a benchmark run measured, as plain records that serialise to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Point:
    """One (method, workload, sweep value) measurement.

    ``qps`` is the number of queries over the median wall time of the repeated runs; recall is
    the mean recall@k over the queries; ``latency_ms_mean`` is that median time per query.
    """

    method: str
    workload: str
    param: str | None
    value: Any
    recall: float
    qps: float
    latency_ms_mean: float
    nq: int
    k: int
    seconds: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildRecord:
    """Construction of one method's index: time, self-reported memory and RSS growth."""

    method: str
    build_seconds: float
    memory_bytes: int | None
    rss_delta_bytes: int | None
    peak_rss_delta_bytes: int | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Results:
    """Everything a run produced; ``interrupted`` marks a run stopped early by Ctrl-C.

    Example:
        >>> r = Results(command=["fanns-bench"])
        >>> r.to_json()["points"], r.to_json()["interrupted"]
        ([], False)
    """

    command: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    builds: dict[str, BuildRecord] = field(default_factory=dict)
    points: list[Point] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False
    complete: bool = False
    started: str = ""
    finished: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "command": list(self.command),
            "command_line": " ".join(self.command),
            "config": self.config,
            "machine": self.machine,
            "dataset": self.dataset,
            "workloads": self.workloads,
            "builds": {name: asdict(rec) for name, rec in self.builds.items()},
            "points": [asdict(p) for p in self.points],
            "skipped": self.skipped,
            "errors": self.errors,
            "interrupted": self.interrupted,
            "complete": self.complete,
            "started": self.started,
            "finished": self.finished,
        }
