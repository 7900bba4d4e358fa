"""atheris entry point for one fuzz target of tests/fuzz_targets.py.

    python tests/fuzz/fuzz.py TARGET [libFuzzer options...]

TARGET is one of filter, search, load_dense, load_sparse, load_segmented. A
target that raises (anything but the documented exceptions, which it catches
itself), crashes the process, runs past -timeout or grows past -rss_limit_mb is a
finding; libFuzzer writes the input that did it to crash-*/timeout-*/oom-*.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

# Coverage of fanns guides the fuzzer; the harness itself is not instrumented.
with atheris.instrument_imports(include=["fanns"]):
    import fuzz_files
    import fuzz_segments
    import fuzz_targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in fuzz_targets.TARGETS:
        raise SystemExit(f"usage: fuzz.py {{{','.join(fuzz_targets.TARGETS)}}} [libFuzzer options]")
    target = fuzz_targets.TARGETS[sys.argv[1]]
    # Build the shared index and file templates before fuzzing starts.
    for name in ("dense", "sparse"):
        fuzz_files.template(name)
    fuzz_segments.segmented_template()
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
