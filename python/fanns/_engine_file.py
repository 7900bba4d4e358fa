"""The HNSW engine's part of an index file: which sections it writes, and how
an engine is made again from them.

:func:`engine_sections` names the engine's own memory (float rows, level-0
links, levels, codes, f16 rows) as read-only views, so a save writes them without a
copy; :func:`engine_from_sections` builds an engine that reads the sections
in place (views of a memory map, or arrays read for it), so a load makes no
second copy either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fanns import _core
from fanns._progress import run_cancellable

METRICS = ("l2", "ip", "cosine")
STORAGES = ("sq8", "f16", "f32")
PARAM_KEYS = ("M", "M0", "ef_construction", "seed", "gamma", "m_beta")
_PREFIX = "hnsw/"
_SECTION_DTYPES = {
    "vectors": np.dtype("<f4"),
    "links0": np.dtype("<u4"),
    "levels": np.dtype("u1"),
    "upper_offsets": np.dtype("<u8"),
    "upper_links": np.dtype("<u4"),
    "codes": np.dtype("u1"),
    "code_low": np.dtype("<f4"),
    "code_step": np.dtype("<f4"),
    "code_centre": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
}
_REQUIRED = ("vectors", "links0", "levels", "upper_offsets", "upper_links")
_SCALARS = ("entry", "max_level", "code_similarity", "f16_exponent")


def engine_sections(engine) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, sections)`` of a built engine: scalars for the header, arrays
    (views of the engine's memory where it has them) for the payload."""
    state = engine.sections()
    meta = {key: state.pop(key) for key in _SCALARS if key in state}
    meta = {key: bool(v) if key == "code_similarity" else int(v) for key, v in meta.items()}
    return meta, {_PREFIX + name: array for name, array in state.items()}


def new_engine(dim: int, metric: str, params: dict):
    return _core.HnswIndex(
        dim,
        metric,
        params["M"],
        params["M0"],
        params["ef_construction"],
        params["seed"],
        params["m_beta"],
        params["storage"],
    )


def restore_work(nbytes: dict[str, int], check: bool) -> int:
    """The bytes :func:`engine_from_sections` counts on a meter for the
    engine's checks, from the sections' sizes (``nbytes[name]``): rows and
    level-0 lists when ``check``, and the levels (a row each; their upper
    lists are checked with them)."""
    names = ("vectors", "links0", "levels") if check else ("levels",)
    return sum(int(nbytes.get(_PREFIX + name, 0)) for name in names)


def engine_from_sections(
    path: str, meta: dict, sections: dict[str, np.ndarray], *, check: bool, meter=None
) -> tuple[Any, str, dict]:
    """``(engine, metric, params)`` from an index file's meta and sections.

    The engine reads the sections' rows, links and codes in place. ``check``:
    every row and level-0 link is checked before use (it reads them all);
    otherwise only sizes, levels and upper lists are. The checks run in a
    worker thread (:func:`fanns._progress.run_cancellable`): ``meter`` (a
    ``_fileformat.Meter`` that expects :func:`restore_work` bytes) advances
    with them, and Ctrl-C or an exception from its callback stops them
    within a few milliseconds of work; nothing is kept.
    """
    try:
        metric = meta["metric"]
        params = {key: int(meta["params"][key]) for key in PARAM_KEYS}
        # Files from before storage was a choice searched float rows.
        params["storage"] = meta["params"].get("storage", "f32")
        dim = int(meta["dim"])
        state: dict[str, Any] = {
            name: sections[_PREFIX + name] for name in _SECTION_DTYPES if _PREFIX + name in sections
        }
        missing = [name for name in _REQUIRED if name not in state]
        if missing:
            raise KeyError(f"section hnsw/{missing[0]}")
        state["entry"] = int(meta["entry"])
        state["max_level"] = int(meta["max_level"])
        if "codes" in state:
            state["code_similarity"] = bool(meta["code_similarity"])
        if "f16" in state:
            state["f16_exponent"] = int(meta["f16_exponent"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # int(inf): OverflowError
        raise ValueError(f"{path!r} is corrupt (missing or bad field: {exc})") from exc
    _check_fields(path, metric, dim, params, state)
    engine = new_engine(dim, metric, params)
    n = len(state["levels"])
    # The engine counts rows through its passes (see Hnsw::restore): rows,
    # upper lists (a level each), level-0 lists; each pass weighs its bytes.
    nbytes = {name: a.nbytes for name, a in sections.items()}
    weights = [nbytes.get(_PREFIX + name, 0) for name in ("vectors", "levels", "links0")]
    if not check:
        weights = weights[1:2]
    passes = len(weights)
    reported = [0]

    def advance(rows_passed: int, _total: int) -> None:
        share = 0
        for i, weight in enumerate(weights):
            share += weight * min(max(rows_passed - i * n, 0), n) // max(n, 1)
        if meter is not None and share > reported[0]:
            meter.advance(share - reported[0])
            reported[0] = share

    run_cancellable(
        lambda: engine.restore(state, borrow=True, check=check),
        done=engine.progress,
        cancel=engine.cancel,
        total=n * passes,
        progress=advance if meter is not None and meter.callback is not None else None,
    )
    return engine, metric, params


def _check_fields(path: str, metric, dim: int, params: dict, state: dict) -> None:
    """Reject a file whose fields are out of range before the engine sees them."""

    def corrupt(what: str) -> ValueError:
        return ValueError(f"{path!r} is corrupt ({what})")

    if metric not in METRICS or not 0 < dim < 2**31:
        raise corrupt("metric or dimension")
    if params["storage"] not in STORAGES:
        raise corrupt(f"unknown storage {params['storage']!r}")
    M, M0 = params["M"], params["M0"]
    if not (2 <= M <= 512 and M <= M0 <= 1024 and 0 <= params["m_beta"] <= M0):
        raise corrupt("graph degree parameters")
    if not (1 <= params["ef_construction"] < 2**31 and 0 <= params["seed"] < 2**63):
        raise corrupt("construction parameters")
    if not (0 <= state["entry"] < 2**32 and -1 <= state["max_level"] <= 30):
        raise corrupt("entry point or top level")
    if "f16" in state and not -60 <= state["f16_exponent"] <= 60:
        raise corrupt("f16 scale")
    for name, dtype in _SECTION_DTYPES.items():
        if name in state and state[name].dtype != dtype:
            raise corrupt(f"section {name!r} has type {state[name].dtype}, expected {dtype}")
