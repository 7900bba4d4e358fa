"""Summaries of a run: QPS at target recalls per method and workload, as text and markdown,
and every output file (JSON, markdown table, one plot per workload)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fanns.bench.files import write_json, write_text
from fanns.bench.results import Point, Results

THRESHOLDS = (0.9, 0.95, 0.99)
MISSING = "\u2014"


@dataclass
class SummaryRow:
    """Best QPS reaching each recall threshold (``None``: never reached) for one method on one
    workload, and the highest recall any of its points reached."""

    workload: str
    method: str
    best_qps: dict[float, float | None]
    best_value: dict[float, object]
    max_recall: float


def summarize(
    points: Iterable[Point], thresholds: Sequence[float] = THRESHOLDS
) -> list[SummaryRow]:
    """One :class:`SummaryRow` per (workload, method), grouped by workload (both in the order
    they first appear).

    Example:
        >>> pts = [Point("m", "w", "ef", e, r, q, 0.0, 1, 1)
        ...        for e, r, q in [(10, 0.8, 900.0), (20, 0.92, 500.0), (40, 0.97, 300.0)]]
        >>> row = summarize(pts)[0]
        >>> row.best_qps[0.9], row.best_qps[0.99], row.max_recall
        (500.0, None, 0.97)
    """
    grouped: dict[tuple[str, str], list[Point]] = {}
    workload_order: dict[str, int] = {}
    method_order: dict[str, int] = {}
    for p in points:
        grouped.setdefault((p.workload, p.method), []).append(p)
        workload_order.setdefault(p.workload, len(workload_order))
        method_order.setdefault(p.method, len(method_order))
    rows = []
    for workload, method in sorted(
        grouped, key=lambda key: (workload_order[key[0]], method_order[key[1]])
    ):
        pts = grouped[(workload, method)]
        best_qps: dict[float, float | None] = {}
        best_value: dict[float, object] = {}
        for t in thresholds:
            reaching = [p for p in pts if p.recall >= t]
            if reaching:
                best = max(reaching, key=lambda p: p.qps)
                best_qps[t], best_value[t] = best.qps, best.value
            else:
                best_qps[t], best_value[t] = None, None
        rows.append(SummaryRow(workload, method, best_qps, best_value, max(p.recall for p in pts)))
    return rows


def _qps(value: float | None) -> str:
    if value is None:
        return MISSING
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cells(rows: Sequence[SummaryRow], thresholds: Sequence[float]) -> list[list[str]]:
    table = []
    for row in rows:
        cells = [row.workload, row.method]
        cells += [_qps(row.best_qps.get(t)) for t in thresholds]
        cells.append(f"{row.max_recall:.4f}")
        table.append(cells)
    return table


def _header(thresholds: Sequence[float]) -> list[str]:
    return ["workload", "method", *[f"QPS@{t:g}" for t in thresholds], "max recall"]


def format_table(rows: Sequence[SummaryRow], thresholds: Sequence[float] = THRESHOLDS) -> str:
    """Aligned plain-text table of :func:`summarize` rows."""
    header = _header(thresholds)
    body = _cells(rows, thresholds)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2])]
        right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
        return "  ".join(left + right).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def format_markdown(rows: Sequence[SummaryRow], thresholds: Sequence[float] = THRESHOLDS) -> str:
    """GitHub-flavoured markdown table of :func:`summarize` rows.

    Example:
        >>> print(format_markdown([SummaryRow("w", "m", {0.9: 10.0}, {0.9: 20}, 0.95)], [0.9]))
        | workload | method | QPS@0.9 | max recall |
        |---|---|---:|---:|
        | w | m | 10 | 0.9500 |
    """
    header = _header(thresholds)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|---|" + "---:|" * (len(header) - 2),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in _cells(rows, thresholds)]
    return "\n".join(lines)


def _build_lines(results: Results) -> list[str]:
    lines = []
    for rec in results.builds.values():
        mem = "n/a" if rec.memory_bytes is None else f"{rec.memory_bytes / 2**20:.1f} MiB"
        rss = "n/a" if rec.rss_delta_bytes is None else f"{rec.rss_delta_bytes / 2**20:.1f} MiB"
        lines.append(f"| {rec.method} | {rec.build_seconds:.2f} | {mem} | {rss} |")
    if not lines:
        return []
    return [
        "| method | build s | reported memory | RSS growth |",
        "|---|---:|---:|---:|",
        *lines,
    ]


def markdown_report(results: Results, thresholds: Sequence[float] = THRESHOLDS) -> str:
    """The ``results.md`` text: run context, the QPS table and the build table."""
    machine = results.machine
    parts = [
        "# Benchmark results",
        "",
        f"- command: `{' '.join(results.command)}`",
        f"- machine: {machine.get('cpu_model', '?')}, {machine.get('usable_cores', '?')} cores, "
        f"SIMD {machine.get('simd_level', '?')}",
        f"- dataset: {results.dataset.get('name', '?')} (n={results.dataset.get('n', '?')}, "
        f"dim={results.dataset.get('dim', '?')}), k={results.config.get('k', '?')}, "
        "queries single-threaded",
    ]
    if results.interrupted:
        parts.append("- **interrupted**: partial results")
    if results.skipped:
        parts.append(
            "- skipped: " + "; ".join(f"{m} ({why})" for m, why in results.skipped.items())
        )
    rows = summarize(results.points, thresholds)
    parts += ["", "## QPS at recall@k", ""]
    parts.append(format_markdown(rows, thresholds) if rows else "_no points measured_")
    build = _build_lines(results)
    if build:
        parts += ["", "## Build", "", *build]
    return "\n".join(parts) + "\n"


def write_outputs(results: Results, out_dir: str, *, plots: bool = True) -> dict[str, str]:
    """Write ``results.json``, ``results.md`` and ``<workload>.png`` files into ``out_dir``;
    return the paths written by kind (without matplotlib, plots are skipped with a note)."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    json_path = os.path.join(out_dir, "results.json")
    write_json(json_path, results.to_json())
    written["json"] = json_path
    md_path = os.path.join(out_dir, "results.md")
    write_text(md_path, markdown_report(results))
    written["markdown"] = md_path
    if plots:
        try:
            from fanns.bench.plots import plot_all

            for workload, path in plot_all(results.points, out_dir).items():
                written[f"plot:{workload}"] = path
        except ImportError as exc:
            print(f"note: no plots written ({exc})", file=sys.stderr)
    return written
