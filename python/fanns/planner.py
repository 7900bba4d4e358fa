"""The planner's knobs, as one documented object.

The planner itself lives in the engine (``cpp/planner.h``): for each query it
picks a plan from the filter's passing rows and a cost model counted in bytes
of rows read, and :meth:`fanns.Index.explain` calls the same code. These
knobs tune it; the defaults are the engine's own.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

from fanns import _core

_DEFAULTS = dict(_core.PLANNER_DEFAULTS)
_LIMITS = dict(_core.PLANNER_LIMITS)


def _number(value, name: str, *, upper: float = math.inf) -> float:
    """A finite number in [0, upper], or a clear exception naming the knob."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Planner.{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not (0.0 <= value <= upper and math.isfinite(value)):
        bound = f"[0, {upper:g}]" if math.isfinite(upper) else "finite and >= 0"
        raise ValueError(f"Planner.{name} must be {'in ' if math.isfinite(upper) else ''}{bound}, got {value}")
    return value


@dataclass(frozen=True)
class Planner:
    """Knobs of the query planner, passed as ``index.search(..., planner=...)``.

    Attributes:
        exact_threshold: filters passing at most this many rows are scanned
            rather than traversed (None: the cost model decides). The
            ``exact_threshold`` keyword of ``search`` takes precedence.
        two_hop_selectivity: below this fraction of passing rows, a
            traversal starts in two-hop mode (plan ``"acorn"``) rather than
            gated (plan ``"filtered"``).
        switch_pass_rate: a gated traversal switches to two-hop mode when
            fewer than this fraction of the rows it scores pass.
        budget_factor: a traversal may score at most this multiple of the
            passing rows (plus 256) before the query is finished by a scan of
            the passing rows (on codes where that reads less, plan
            ``"scan"``; else exact).
        min_two_hop_degree: a two-hop traversal needs about this many passing
            rows within two hops of a row; below it the filter is scanned.
        max_collect: passing candidates scored per expansion in two-hop mode
            (0: the graph's links per node, ``M0``).
        group_scans: queries of one ``search`` call that share a filter are
            scanned together (on 8-bit codes each passing row is read once
            for up to 16 of them), so the planner scans more passing rows
            for them than for a query alone. A query's plan, and so its
            answer, may then differ between a batch and a call of its own;
            ``False`` plans every query as if alone.

    Queries answered by the range graph (a range on the index's range
    attribute) use ``exact_threshold`` only; the other knobs tune the main
    graph's traversals.

    Example:
        >>> planner = fanns.Planner(two_hop_selectivity=0.2)
        >>> result = index.search(queries, 10, filter=flt, planner=planner)
    """

    exact_threshold: int | None = None
    two_hop_selectivity: float = _DEFAULTS["two_hop_selectivity"]
    switch_pass_rate: float = _DEFAULTS["switch_pass_rate"]
    budget_factor: float = _DEFAULTS["budget_factor"]
    min_two_hop_degree: float = _DEFAULTS["min_two_hop_degree"]
    max_collect: int = _DEFAULTS["max_collect"]
    group_scans: bool = _DEFAULTS["group_scans"]

    def __post_init__(self) -> None:
        from fanns._validation import as_count

        as_count(self.exact_threshold, "Planner.exact_threshold", minimum=0, allow_none=True)
        as_count(self.max_collect, "Planner.max_collect", minimum=0, maximum=_LIMITS["max_collect"])
        for name in ("two_hop_selectivity", "switch_pass_rate"):
            _number(getattr(self, name), name, upper=1.0)
        _number(self.budget_factor, "budget_factor", upper=_LIMITS["budget_factor"])
        _number(self.min_two_hop_degree, "min_two_hop_degree")
        if not isinstance(self.group_scans, bool):
            kind = type(self.group_scans).__name__
            raise TypeError(f"Planner.group_scans must be True or False, not {kind}")

    def engine_params(self, exact_threshold: int | None = None) -> dict:
        """The knobs as the engine takes them, ``exact_threshold`` overriding."""
        # Field by field: dataclasses.asdict (recursive, deep-copying) took
        # about 15 µs, and every search call asks.
        params = {name: getattr(self, name) for name in _FIELDS}
        if exact_threshold is not None:
            params["exact_threshold"] = exact_threshold
        return params


_FIELDS = tuple(f.name for f in fields(Planner))
