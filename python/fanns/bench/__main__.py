"""``python -m fanns.bench``: recall/QPS sweeps of fanns and its peers.

Example (a small synthetic run, well under a minute)::

    python -m fanns.bench --out /tmp/fanns-bench
    python -m fanns.bench --dataset ../shared/datasets/arxiv-mini --workload em,r,emis,sel-1 \\
        --methods fanns,hnswlib --max-queries 200 --out /tmp/arxiv-mini
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fanns.bench.config import parse_config
from fanns.bench.harness import run_benchmark

EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the benchmark, return the exit code:
    0 when complete, 130 when interrupted by Ctrl-C, 1 on an error, 2 on bad options."""
    args = list(sys.argv[1:] if argv is None else argv)
    config = parse_config(args)
    try:
        results = run_benchmark(config, command=["python -m fanns.bench", *args])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return EXIT_INTERRUPTED if results.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
