"""Command line for fanns datasets.

Examples::

    python -m fanns.datasets download small /data/arxiv-small
    python -m fanns.datasets synthetic /data/synthetic --n 20000 --dim 128
    python -m fanns.datasets groundtruth /data/arxiv-small --workloads em r
    python -m fanns.datasets lift ../shared/datasets/arxiv-mini /data/arxiv-mini-4096 --dim 4096
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from fanns._progress import text_bar
from fanns.datasets.arxiv import GROUND_TRUTH_FILES, load_arxiv_fanns, write_arxiv_layout
from fanns.datasets.download import DATASET_SIZES, DEFAULT_BASE_URL, download_arxiv_fanns
from fanns.datasets.groundtruth import compute_ground_truth, write_ground_truth
from fanns.datasets.lift import lift_dataset
from fanns.datasets.synthetic import synthetic_arxiv


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fanns.datasets",
        description="Download, generate and prepare arXiv-for-FANNS datasets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    dl = sub.add_parser("download", help="download a published set (resumable)")
    dl.add_argument("size", choices=DATASET_SIZES)
    dl.add_argument("dir", help="destination directory")
    dl.add_argument("--base-url", default=DEFAULT_BASE_URL, help="server (default: %(default)s)")
    dl.add_argument("--no-progress", action="store_true", help="no progress bars")
    dl.add_argument("--retries", type=int, default=3, help="resumptions per file")
    dl.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")

    syn = sub.add_parser("synthetic", help="write an arXiv-like synthetic set")
    syn.add_argument("dir", help="destination directory")
    syn.add_argument("--n", type=int, default=10_000, help="database rows")
    syn.add_argument("--dim", type=int, default=128, help="vector dimension")
    syn.add_argument("--nq", type=int, default=200, help="queries")
    syn.add_argument("--seed", type=int, default=0, help="random seed")
    syn.add_argument("--k", type=int, default=100, help="ground-truth depth")
    syn.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")

    lift = sub.add_parser(
        "lift", help="write a copy of a dataset lifted to a higher dimension (no ground truth)"
    )
    lift.add_argument("source", help="dataset directory (published layout)")
    lift.add_argument("dir", help="destination directory")
    lift.add_argument("--dim", type=int, default=4096, help="target dimension")
    lift.add_argument("--noise", type=float, default=0.1, help="norm of the added noise")
    lift.add_argument("--seed", type=int, default=0, help="seed of the projection and noise")

    gt = sub.add_parser("groundtruth", help="compute exact ground truth for a dataset directory")
    gt.add_argument("dir", help="dataset directory (published layout)")
    gt.add_argument(
        "--workloads",
        nargs="+",
        choices=sorted(GROUND_TRUTH_FILES),
        help="workloads to compute (default: every workload of the dataset)",
    )
    gt.add_argument("--k", type=int, default=100, help="ground-truth depth")
    gt.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    gt.add_argument("--force", action="store_true", help="overwrite existing ground-truth files")
    gt.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    >>> main(["synthetic", "/tmp/syn", "--n", "2000", "--dim", "32"])  # doctest: +SKIP
    0
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "download":
            path = download_arxiv_fanns(
                args.size,
                args.dir,
                base_url=args.base_url,
                progress=not args.no_progress,
                retries=args.retries,
                timeout=args.timeout,
            )
            print(f"downloaded arxiv-for-fanns-{args.size} to {path}")
        elif args.command == "synthetic":
            started = time.perf_counter()
            dataset = synthetic_arxiv(
                args.n, args.dim, nq=args.nq, seed=args.seed, k=args.k, threads=args.threads
            )
            write_arxiv_layout(dataset, args.dir)
            print(
                f"wrote {dataset.name} ({len(dataset)} x {dataset.dim}, {dataset.nq} queries) "
                f"to {args.dir} in {time.perf_counter() - started:.1f} s"
            )
        elif args.command == "lift":
            started = time.perf_counter()
            lift_dataset(args.source, args.dir, dim=args.dim, noise=args.noise, seed=args.seed)
            print(
                f"wrote {args.source} lifted to {args.dim}-d in {args.dir} in "
                f"{time.perf_counter() - started:.1f} s; compute its ground truth with "
                f"'python -m fanns.datasets groundtruth {args.dir}'"
            )
        else:
            dataset = load_arxiv_fanns(
                args.dir, ground_truth=False, progress=text_bar("reading attributes")
            )
            names = args.workloads or list(dataset.workloads)
            for name in names:
                if name not in dataset.workloads:
                    raise KeyError(f"workload {name!r} has no query attribute file in {args.dir}")
                target = os.path.join(args.dir, GROUND_TRUTH_FILES[name])
                if os.path.exists(target) and not args.force:
                    print(f"{target} exists; skipped (use --force to recompute)")
                    continue
                started = time.perf_counter()
                rows = compute_ground_truth(
                    dataset, name, args.k, threads=args.threads, progress=not args.no_progress
                )
                write_ground_truth(args.dir, name, rows)
                print(f"wrote {target} in {time.perf_counter() - started:.1f} s")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
