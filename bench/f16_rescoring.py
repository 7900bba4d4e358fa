"""How much rescoring f16 rows need, beside 8-bit codes: a scan-plan model.

For each query the ``--depth`` best rows by approximate distance (what the
``scan`` plan keeps; a traversal keeps its ``ef`` best the same way) are
ranked, then scored again exactly as ``rescore()`` in cpp/store/scorers.h
does: batches of 4 rows, stopping once 8 encoded rows were sampled and the
next candidate's approximate distance exceeds the worst kept exact distance
by 3x the largest error seen. Reported per encoding:

- needed: rows of the approximate ranking that must be rescored to hold the
  exact top-k of the candidates (the least any rule could rescore)
- rescored: rows the engine's stopping rule rescores
- missed: queries whose rescored top-k differs from the candidates' exact top-k
- top-k without rescoring: queries whose approximate top-k ids are already
  the exact top-k of the candidates

f16 distances are the engine's (rows scaled by the engine's power of two,
widened, summed in float32); sq8 distances are the decoded codes' exact
distances to the float query (the engine also rounds the query to bytes, so
its sq8 errors are somewhat larger than modelled here).

    python bench/f16_rescoring.py --dataset ../shared/datasets/arxiv-mini
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import fanns
from fanns.datasets import read_fvecs


def l2(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q = queries.astype(np.float64)
    r = rows.astype(np.float64)
    return (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]


def rescored_by_rule(approx: np.ndarray, exact: np.ndarray, k: int) -> tuple[int, list[int]]:
    """Rows rescore() scores for one query (candidates sorted by approx) and the ids it keeps."""
    kept: list[tuple[float, int]] = []
    largest, sampled, done = 0.0, 0, 0
    while done < len(approx):
        if len(kept) >= k and sampled >= 8 and approx[done] > max(kept)[0] + 3 * largest:
            break
        for j in range(done, min(done + 4, len(approx))):
            if exact[j] != approx[j]:
                largest = max(largest, abs(exact[j] - approx[j]))
                sampled += 1
            kept = sorted([*kept, (exact[j], j)])[:k]
        done = min(done + 4, len(approx))
    return done, [j for _, j in kept]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    base = np.ascontiguousarray(read_fvecs(os.path.join(args.dataset, "database_vectors.fvecs")))
    queries = np.ascontiguousarray(read_fvecs(os.path.join(args.dataset, "query_vectors.fvecs")))
    queries = queries[: args.queries]
    exact = l2(queries, base).astype(np.float32)

    # f16 as the engine stores it
    exponent = int(np.clip(14 - np.frexp(np.abs(base).max())[1], -60, 60))  # store/half_rows.h
    scale = np.float32(2.0**exponent)
    halves = (base * scale).astype(np.float16).astype(np.float32)
    q_scaled = queries * scale
    approx_f16 = (l2(q_scaled, halves) / (float(scale) ** 2)).astype(np.float32)
    # sq8 as decoded codes
    coded = fanns.Index.build(base, storage="sq8", M=2, threads=2, ef_construction=1)._engine.state()
    dim = base.shape[1]
    decoded = coded["code_low"] + coded["code_step"] * coded["codes"][:, :dim].astype(np.float32)
    approx_sq8 = l2(queries, decoded).astype(np.float32)

    print(f"{args.dataset}: {base.shape[0]} x {dim}, {len(queries)} queries, depth {args.depth}, k {args.k}")
    print("| encoding | needed (mean / max) | rescored by rule (mean / max) | missed | top-k without rescoring |")
    print("|---|---:|---:|---:|---:|")
    for name, approx in (("f16", approx_f16), ("sq8", approx_sq8)):
        needed, rescored, missed, unrescored = [], [], 0, 0
        for i in range(len(queries)):
            order = np.argsort(approx[i], kind="stable")[: args.depth]
            a, e = approx[i, order], exact[i, order]
            best = set(np.argsort(e, kind="stable")[: args.k].tolist())
            needed.append(max(best) + 1)
            count, kept = rescored_by_rule(a, e, args.k)
            rescored.append(count)
            missed += set(kept) != best
            unrescored += set(range(args.k)) == best
        print(
            f"| {name} | {np.mean(needed):.1f} / {max(needed)} | {np.mean(rescored):.1f} / {max(rescored)} "
            f"| {missed} | {unrescored}/{len(queries)} |"
        )


if __name__ == "__main__":
    main()
