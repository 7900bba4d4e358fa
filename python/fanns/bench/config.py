"""Run settings of the benchmark: command-line options, optional JSON config files."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fanns.bench.workloads import parse_workload_name

DEFAULT_METHODS = ("fanns", "hnswlib", "faiss", "bruteforce")
DEFAULT_EFS = (10, 20, 40, 80, 160, 320, 640)
DEFAULT_SYNTHETIC_WORKLOADS = ("sel-10", "sel-1", "anti-1")
METRICS = ("l2", "ip", "cosine")
CONFIG_DIRS = (os.path.join("bench", "configs"),)


@dataclass
class BenchConfig:
    """Everything that decides what a run measures.

    ``workloads=None`` means the dataset's own workloads plus ``sel-10, sel-1, anti-1``;
    ``max_queries=None`` uses every query; ``threads_build=0`` builds on all cores.

    Example:
        >>> BenchConfig().dataset, BenchConfig().k
        ('synthetic', 10)
    """

    dataset: str = "synthetic"
    n: int = 2000
    dim: int = 32
    nq: int = 50
    workloads: list[str] | None = None
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    k: int = 10
    M: int = 16
    ef_construction: int = 200
    efs: list[int] = field(default_factory=lambda: list(DEFAULT_EFS))
    threads_build: int = 0
    repeats: int = 3
    warmup: int = 1
    clock: str = "wall"
    out: str = "fanns-bench-results"
    max_queries: int | None = None
    metric: str = "l2"
    seed: int = 0
    progress: bool = True
    plots: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CLOCKS = ("wall", "cpu")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _names(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = [item.strip() for item in items if item.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return list(dict.fromkeys(names))


def _workload_names(value: str | Sequence[str]) -> list[str]:
    names = _names(value)
    for name in names:
        try:
            parse_workload_name(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _ef_list(value: str | Sequence[int]) -> list[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        out.append(_positive_int(str(item).strip()))
    if not out:
        raise argparse.ArgumentTypeError("expected a comma-separated list of ef values")
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m fanns.bench`` argument parser."""
    d = BenchConfig()
    p = argparse.ArgumentParser(
        prog="python -m fanns.bench",
        description="Recall/QPS sweeps of fanns and peer libraries on filtered ANN workloads.",
    )
    p.add_argument("--config", help="JSON file (or name under bench/configs) of option defaults")
    p.add_argument(
        "--dataset",
        default=d.dataset,
        help="directory in the arXiv-for-FANNS layout, or 'synthetic' (default)",
    )
    p.add_argument("--n", type=_positive_int, default=d.n, help="synthetic: rows")
    p.add_argument("--dim", type=_positive_int, default=d.dim, help="synthetic: dimension")
    p.add_argument("--nq", type=_positive_int, default=d.nq, help="synthetic: queries")
    p.add_argument(
        "--workload",
        "--workloads",
        dest="workloads",
        type=_workload_names,
        default=None,
        help="comma-separated: unfiltered, em, r, emis, sel-P, anti-P, corr-P "
        "(default: the dataset's own plus sel-10, sel-1, anti-1)",
    )
    p.add_argument(
        "--methods",
        type=_names,
        default=list(d.methods),
        help=f"comma-separated methods (default: {','.join(DEFAULT_METHODS)})",
    )
    p.add_argument("--k", type=_positive_int, default=d.k, help="neighbours per query")
    p.add_argument("--M", dest="M", type=_positive_int, default=d.M, help="graph degree")
    p.add_argument("--ef-construction", type=_positive_int, default=d.ef_construction)
    p.add_argument(
        "--ef", dest="efs", type=_ef_list, default=list(d.efs), help="comma-separated ef sweep"
    )
    p.add_argument(
        "--threads-build",
        type=_non_negative_int,
        default=d.threads_build,
        help="build threads (0: all cores); queries always run on one thread",
    )
    p.add_argument("--repeats", type=_positive_int, default=d.repeats, help="timed runs per point")
    p.add_argument("--warmup", type=_non_negative_int, default=d.warmup, help="untimed runs first")
    p.add_argument(
        "--clock",
        choices=CLOCKS,
        default=d.clock,
        help="what a query's time is: wall-clock seconds, or the process's CPU seconds (steadier "
        "on a shared machine; every method's searches run on the calling thread or count their "
        "own threads' time)",
    )
    p.add_argument("--out", default=d.out, help="output directory")
    p.add_argument("--max-queries", type=_positive_int, default=None, help="use the first Q")
    p.add_argument("--metric", choices=METRICS, default=d.metric)
    p.add_argument("--seed", type=_non_negative_int, default=d.seed)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="write no PNG plots")
    return p


def _find_config(name: str) -> str:
    if os.path.isfile(name):
        return name
    for directory in CONFIG_DIRS:
        for candidate in (os.path.join(directory, name), os.path.join(directory, name + ".json")):
            if os.path.isfile(candidate):
                return candidate
    raise FileNotFoundError(f"config {name!r} not found (looked in . and {', '.join(CONFIG_DIRS)})")


_LIST_OPTIONS = {"workloads": _workload_names, "methods": _names, "efs": _ef_list}


def _config_defaults(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        try:
            raw = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config {path!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {path!r} must hold a JSON object")
    known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    aliases = {"workload": "workloads", "ef": "efs"}
    out = {}
    for key, value in raw.items():
        if key.startswith("_"):  # "_comment" and the like
            continue
        dest = aliases.get(key.replace("-", "_"), key.replace("-", "_"))
        if dest not in known:
            raise ValueError(f"config {path!r}: unknown option {key!r}")
        try:
            if dest in _LIST_OPTIONS:
                value = _LIST_OPTIONS[dest](value)
            elif known[dest].type is not None and value is not None:
                value = known[dest].type(str(value))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"config {path!r}: option {key!r}: {exc}") from None
        if known[dest].choices is not None and value not in known[dest].choices:
            choices = ", ".join(map(str, known[dest].choices))
            raise ValueError(f"config {path!r}: option {key!r} must be one of {choices}")
        out[dest] = value
    return out


def parse_config(argv: Sequence[str] | None = None) -> BenchConfig:
    """Parse command-line options (over any ``--config`` file's values) into a config.

    Example:
        >>> cfg = parse_config(["--n", "100", "--ef", "8,16", "--methods", "bruteforce"])
        >>> cfg.n, cfg.efs, cfg.methods
        (100, [8, 16], ['bruteforce'])
    """
    parser = build_parser()
    first, _ = parser.parse_known_args(argv)
    if first.config:
        try:
            parser.set_defaults(**_config_defaults(_find_config(first.config), parser))
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
    args = parser.parse_args(argv)
    if args.dataset != "synthetic" and not os.path.isdir(args.dataset):
        parser.error(f"--dataset: {args.dataset!r} is neither 'synthetic' nor a directory")
    from fanns.bench.methods import METHODS

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(
            f"--methods: unknown {', '.join(unknown)} (known: {', '.join(sorted(METHODS))})"
        )
    values = {k: v for k, v in vars(args).items() if k != "config"}
    return BenchConfig(**values)
