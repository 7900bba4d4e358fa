"""Searches running beside one writer: every answer must be the exact answer
of a state the index held while that search ran (between the writes that had
returned when it started and the writes that had begun when it ended)."""

from __future__ import annotations

import threading
import time

import numpy as np

import fanns
from fanns import field
from oracle import exact_distances

DIM = 8
SECONDS = 3.0


def _vectors(rng, m):
    return rng.standard_normal((m, DIM)).astype(np.float32)


def test_searches_see_a_consistent_snapshot_while_one_thread_writes():
    rng = np.random.default_rng(3)
    n = 300
    base = _vectors(rng, n)
    cats = ["a", "b", "z"]
    labels = [cats[i] for i in rng.integers(0, 2, n)]
    labels[0] = "z"  # a row no filter below passes: the filter never passes every row
    index = fanns.Index.build(
        base, ids=np.arange(n) * 10, attributes={"c": labels}, M=8, ef_construction=48
    )
    state = {i * 10: (base[i], labels[i]) for i in range(n)}
    states = [dict(state)]  # states[v]: the rows after v writes
    progress = {"started": 0, "completed": 0}
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        w = np.random.default_rng(4)
        next_id = 10 * n
        try:
            while not stop.is_set():
                live = np.array(sorted(state))
                op = w.integers(3)
                progress["started"] += 1
                if op == 0:
                    m = int(w.integers(1, 30))
                    ids = np.arange(next_id, next_id + m)
                    next_id += m
                    vectors = _vectors(w, m)
                    c = [cats[i] for i in w.integers(0, 2, m)]
                    index.add(vectors, ids=ids, attributes={"c": c})
                    state.update({int(i): (vectors[j], c[j]) for j, i in enumerate(ids)})
                elif op == 1 and len(live) > 50:
                    gone = w.choice(live, size=20, replace=False)
                    index.delete(gone)
                    for i in gone.tolist():
                        del state[i]
                else:
                    ids = w.choice(live, size=10, replace=False)
                    vectors = _vectors(w, 10)
                    c = [cats[i] for i in w.integers(0, 2, 10)]
                    index.upsert(vectors, ids=ids, attributes={"c": c})
                    state.update({int(i): (vectors[j], c[j]) for j, i in enumerate(ids)})
                states.append(dict(state))
                progress["completed"] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    checked = {"exact": 0, "graph": 0}

    def matches(result, queries, first, last, exact):
        """Whether some state in [first, last] explains the whole answer."""
        for v in range(last, first - 1, -1):
            rows = states[v]
            ids = np.array(sorted(rows))
            if exact:
                ids = np.array([i for i in ids if rows[i][1] != "z"])
            vectors = np.stack([rows[int(i)][0] for i in ids])
            truth = exact_distances(queries, vectors, "l2")
            ok = True
            for q in range(len(queries)):
                got = result.ids[q]
                pos = np.searchsorted(ids, got)
                if np.any(pos >= len(ids)) or not np.array_equal(
                    ids[np.minimum(pos, len(ids) - 1)], got
                ):
                    ok = False
                    break
                if not np.allclose(result.distances[q], truth[q, pos], rtol=1e-4, atol=1e-4):
                    ok = False
                    break
                if exact and not np.allclose(
                    result.distances[q], np.sort(truth[q])[: len(got)], rtol=1e-4, atol=1e-4
                ):
                    ok = False
                    break
            if ok:
                return True
        return False

    def searcher(seed):
        s = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                queries = _vectors(s, 3)
                exact = bool(s.integers(2))
                first = progress["completed"]
                if exact:
                    result = index.search(queries, k=5, filter=field("c") != "z")
                else:
                    result = index.search(queries, k=5, ef=32)
                last = progress["started"]
                while len(states) <= last and not stop.is_set():
                    time.sleep(0.001)  # the write that began has not recorded its state yet
                last = min(last, len(states) - 1)
                assert (result.ids >= 0).all()
                assert matches(result, queries, first, last, exact), (
                    first,
                    last,
                    result.plans,
                )
                checked["exact" if exact else "graph"] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=searcher, args=(seed,)) for seed in (5, 6)
    ]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert progress["completed"] >= 10 and checked["exact"] >= 10 and checked["graph"] >= 10
    assert len(index) == len(state)


def test_two_writers_are_serialised():
    rng = np.random.default_rng(8)
    index = fanns.Index.create(DIM, M=8, ef_construction=32)
    rows = {t: _vectors(rng, 200) for t in (0, 1)}
    errors: list[BaseException] = []

    def writer(t):
        try:
            for b in range(10):
                ids = t * 10_000 + np.arange(b * 20, b * 20 + 20)
                index.add(rows[t][b * 20 : b * 20 + 20], ids=ids)
                index.delete(ids[:5])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    kept = np.concatenate(
        [t * 10_000 + np.arange(200).reshape(10, 20)[:, 5:].ravel() for t in (0, 1)]
    )
    np.testing.assert_array_equal(np.sort(index.ids), np.sort(kept))
    got = index.get(kept)
    expected = np.concatenate(
        [rows[t].reshape(10, 20, DIM)[:, 5:].reshape(-1, DIM) for t in (0, 1)]
    )
    np.testing.assert_array_equal(got.vectors, expected)
