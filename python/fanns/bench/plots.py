"""Recall-versus-QPS plots, one PNG per workload (matplotlib's Agg canvas, no GUI state)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from fanns.bench.results import Point

_MARKERS = "osD^v<>ph*"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def _sweep_order(p: Point) -> tuple:
    numeric = isinstance(p.value, (int, float)) and not isinstance(p.value, bool)
    return (0, p.value, p.recall) if numeric else (1, 0, p.recall)


def plot_workload(points: Sequence[Point], workload: str, path: str) -> None:
    """Draw recall@k (x) against QPS (y, log scale) for every method on ``workload``.

    Example:
        >>> import os, tempfile
        >>> pts = [Point("m", "w", "ef", 10, 0.9, 1000.0, 1.0, 10, 10)]
        >>> out = os.path.join(tempfile.mkdtemp(), "w.png")
        >>> plot_workload(pts, "w", out)
        >>> open(out, "rb").read(4)
        b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.92)
    ax = fig.add_subplot(1, 1, 1)
    methods: dict[str, list[Point]] = {}
    for p in points:
        if p.workload == workload and p.qps > 0:
            methods.setdefault(p.method, []).append(p)
    for i, (method, pts) in enumerate(methods.items()):
        pts = sorted(pts, key=_sweep_order)
        ax.plot(
            [p.recall for p in pts],
            [p.qps for p in pts],
            marker=_MARKERS[i % len(_MARKERS)],
            linestyle="-" if len(pts) > 1 else "none",
            label=method,
        )
    ax.set_yscale("log")
    ax.set_xlabel("recall@k")
    ax.set_ylabel("queries per second (one thread)")
    ax.set_title(workload)
    ax.grid(True, which="major", alpha=0.3)
    if methods:
        ax.legend(loc="best", fontsize="small")
    fig.savefig(path, format="png")


def plot_all(points: Iterable[Point], out_dir: str) -> dict[str, str]:
    """One ``<workload>.png`` in ``out_dir`` for each workload with points; name -> path."""
    from fanns.bench.files import atomic_path

    points = list(points)
    written = {}
    for workload in dict.fromkeys(p.workload for p in points):
        path = os.path.join(out_dir, _safe_name(workload) + ".png")
        with atomic_path(path, suffix=".png") as tmp:
            plot_workload(points, workload, tmp)
        written[workload] = path
    return written
