"""How soon Ctrl-C stops a long index load.

Writes an index file of the size asked for (rows of random floats, a graph
with empty neighbour lists: every check of a ``verify="full"`` load still
reads every row and list), then loads it several times and sends the process
SIGINT from a timer thread at chosen moments; prints how long after each
signal the load raised KeyboardInterrupt, and in which part of the load
(the fraction of its progress) the signal landed.

    python bench/load_cancel.py /tmp/big.fanns --rows 400000 --dim 1024
    python bench/load_cancel.py /tmp/big.fanns --at 0.5,2,4,6 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time

import numpy as np

import fanns
from fanns import _fileformat
from fanns._progress import text_bar


def make_file(path: str, rows: int, dim: int) -> None:
    """An index file of ``rows`` x ``dim`` float32 rows (f32 storage)."""
    small = fanns.Index.build(
        np.random.default_rng(0).standard_normal((64, dim)).astype(np.float32),
        storage="f32",
        M=8,
        ef_construction=16,
        threads=1,
    )
    small_path = path + ".small"
    small.save(small_path)
    meta, sections = _fileformat.read_index_file(small_path, "hnsw")
    os.unlink(small_path)
    slot0 = sections["hnsw/links0"].shape[1]
    rng = np.random.default_rng(1)
    vectors = np.empty((rows, dim), np.float32)
    for start in range(0, rows, 10_000):
        stop = min(rows, start + 10_000)
        vectors[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
    sections = {
        "hnsw/vectors": vectors,
        "hnsw/links0": np.zeros((rows, slot0), np.uint32),
        "hnsw/levels": np.zeros(rows, np.uint8),
        "hnsw/upper_offsets": np.zeros(rows + 1, np.uint64),
        "hnsw/upper_links": np.zeros(0, np.uint32),
    }
    meta["entry"], meta["max_level"] = 0, 0
    attr_meta, attr_sections = fanns.attributes.AttributeStore(rows, {}).to_sections()
    meta["attributes"] = attr_meta
    sections.update(attr_sections)
    _fileformat.write_index_file(path, "hnsw", meta, sections)


def stop_after(
    path: str, seconds: float, mmap: bool, at_fraction: float | None = None
) -> tuple[float, float, float]:
    """``(latency, fraction at the signal, load seconds before it)``: SIGINT
    ``seconds`` into a ``verify="full"`` load, or (``at_fraction``) from
    another thread once the progress reaches that fraction."""
    state = {"fraction": 0.0}

    def progress(done: int, total: int) -> None:
        state["fraction"] = done / total
        if at_fraction is not None and done / total >= at_fraction and "armed" not in state:
            state["armed"] = True
            threading.Thread(target=interrupt).start()

    def interrupt() -> None:
        state["sent"] = time.perf_counter()
        state["sent_fraction"] = state["fraction"]
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(3600 if at_fraction is not None else seconds, interrupt)
    start = time.perf_counter()
    timer.start()
    try:
        fanns.Index.load(path, mmap=mmap, verify="full", progress=progress)
    except KeyboardInterrupt:
        stopped = time.perf_counter()
    else:
        timer.cancel()
        timer.join()
        return float("nan"), 1.0, time.perf_counter() - start
    timer.cancel()  # fired already, or never to fire (at_fraction)
    timer.join()
    return stopped - state["sent"], state["sent_fraction"], state["sent"] - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument(
        "--at", default="0.5,1.5,3,4.5,6", help="seconds into the load to send SIGINT"
    )
    parser.add_argument(
        "--fractions", default="", help="also send SIGINT once the load's progress reaches these"
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    # Python leaves SIGINT ignored when it started so (a background job of a
    # shell without job control): take it as Ctrl-C here either way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not os.path.exists(args.path):
        make_file(args.path, args.rows, args.dim)
    print(f"{args.path}: {os.path.getsize(args.path) / 2**30:.2f} GiB")
    for mmap in (False, True):
        begin = time.perf_counter()
        fanns.Index.load(args.path, mmap=mmap, verify="full", progress=text_bar("loading"))
        whole = time.perf_counter() - begin
        print(f"mmap={mmap}: a whole verify='full' load takes {whole:.2f} s (wall)")
        latencies = []
        for _ in range(args.rounds):
            for seconds in map(float, args.at.split(",")):
                latency, fraction, into = stop_after(args.path, seconds, mmap)
                if latency == latency:
                    latencies.append(latency)
                where = f"{into:5.2f} s in ({fraction:5.1%} of the load)"
                print(f"  SIGINT {where}: stopped after {latency * 1000:7.1f} ms")
            for fraction in [float(f) for f in args.fractions.split(",") if f]:
                latency, at, into = stop_after(args.path, 0, mmap, at_fraction=fraction)
                if latency == latency:
                    latencies.append(latency)
                where = f"{into:5.2f} s in ({at:5.1%} of the load)"
                print(f"  SIGINT {where}: stopped after {latency * 1000:7.1f} ms")
        if latencies:
            middle, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
            print(f"  median {middle:.1f} ms, max {worst:.1f} ms")


if __name__ == "__main__":
    main()
