"""Describe the machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from fanns.bench.blas import openblas_threads


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (falls back to :func:`platform.processor`).

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where available)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def package_version(module: str, distribution: str | None = None) -> str | None:
    """Installed version of a package, or ``None`` when it is not importable."""
    from importlib import import_module, metadata

    try:
        mod = import_module(module)
    except ImportError:
        return None
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            version = metadata.version(distribution or module)
        except metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def machine_info() -> dict[str, Any]:
    """CPU, cores, SIMD level and library versions as a JSON-able dict.

    Example:
        >>> info = machine_info()
        >>> sorted(info)[:3]
        ['blas_threads', 'cpu_model', 'logical_cores']
    """
    try:
        from fanns import simd_level

        simd = simd_level()
    except ImportError:
        simd = None
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "simd_level": simd,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            "fanns": package_version("fanns"),
            "numpy": package_version("numpy"),
            "hnswlib": package_version("hnswlib"),
            "faiss": package_version("faiss", "faiss-cpu"),
            "pyroaring": package_version("pyroaring"),
        },
        "blas_threads": openblas_threads(),
    }
