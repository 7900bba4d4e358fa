"""Resident-set-size probes for the build step (Linux ``/proc``, with a portable fallback)."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass


def _status_field(name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    parts = line.split()
                    return int(parts[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_rss_bytes() -> int | None:
    """Resident set size of this process now, or ``None`` where it cannot be read.

    Example:
        >>> rss = current_rss_bytes()
        >>> rss is None or rss > 0
        True
    """
    return _status_field("VmRSS")


def peak_rss_bytes() -> int | None:
    """Highest resident set size of this process so far (``VmHWM``), or ``None``."""
    peak = _status_field("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # pragma: no cover - non-POSIX
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage) if sys.platform == "darwin" else int(usage) * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; ``True`` if that worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@dataclass
class MemoryProbe:
    """Measure how much resident memory a block of work adds.

    ``delta_bytes`` is RSS after minus RSS before; ``peak_delta_bytes`` is the highest RSS
    reached inside the block minus RSS before (``None`` where the peak cannot be reset).

    Example:
        >>> import numpy as np
        >>> with MemoryProbe() as probe:
        ...     block = np.ones(1 << 22)
        >>> probe.delta_bytes is None or probe.delta_bytes >= 0
        True
    """

    before_bytes: int | None = None
    after_bytes: int | None = None
    peak_delta_bytes: int | None = None
    _peak_ok: bool = False

    def __enter__(self) -> MemoryProbe:
        gc.collect()
        self._peak_ok = reset_peak_rss()
        self.before_bytes = current_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.collect()
        self.after_bytes = current_rss_bytes()
        peak = peak_rss_bytes() if self._peak_ok else None
        if peak is not None and self.before_bytes is not None:
            self.peak_delta_bytes = max(0, peak - self.before_bytes)

    @property
    def delta_bytes(self) -> int | None:
        if self.before_bytes is None or self.after_bytes is None:
            return None
        return self.after_bytes - self.before_bytes
