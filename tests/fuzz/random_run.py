"""Seeded random-input run of the fuzz targets, for volume where atheris's
coverage instrumentation is too slow: the same targets, inputs of random
bytes, a 10 s limit per input (SIGALRM) and a check of the process's peak
memory.

    python tests/fuzz/random_run.py TARGET COUNT [SEED]

Prints the inputs run, the slowest input and the peak RSS; any failure is
printed with its input (hex) and the run exits with status 1.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import fuzz_targets  # noqa: E402

LIMIT_SECONDS = 10
LIMIT_RSS_MB = 2048


def _timeout(*_):
    raise TimeoutError(f"an input ran past {LIMIT_SECONDS} s")


def main() -> int:
    name, count = sys.argv[1], int(sys.argv[2])
    seed = sys.argv[3] if len(sys.argv) > 3 else "0"
    target = fuzz_targets.TARGETS[name]
    rng = random.Random(f"{name}-{seed}")
    signal.signal(signal.SIGALRM, _timeout)
    slowest, start = 0.0, time.time()
    for i in range(count):
        data = rng.randbytes(rng.choice([8, 32, 128, 512, 2048, 4096]))
        began = time.time()
        signal.alarm(LIMIT_SECONDS)
        try:
            target(data)
        except BaseException as exc:
            signal.alarm(0)
            print(f"FAILURE {name} input {i}: {exc!r}\n{data.hex()}", flush=True)
            return 1
        signal.alarm(0)
        slowest = max(slowest, time.time() - began)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if rss_mb > LIMIT_RSS_MB:
            print(f"FAILURE {name} input {i}: peak RSS {rss_mb:.0f} MB", flush=True)
            return 1
        if (i + 1) % 10000 == 0:
            print(f"{name}: {i + 1} inputs, {time.time() - start:.0f} s", flush=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name}: {count} inputs, 0 failures, {time.time() - start:.0f} s, "
        f"slowest input {slowest:.2f} s, peak RSS {rss_mb:.0f} MB",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
