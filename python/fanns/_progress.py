"""Long engine work run so that it reports progress and stops on Ctrl-C.

The engine call runs in a worker thread (it releases the GIL); the calling
thread waits in short steps, reports ``progress(done, total)`` and, on
KeyboardInterrupt (or any exception the callback raises), asks the engine to
stop, waits for it (within the time of one insert of a build, or one block
of a load's checks: milliseconds) and re-raises. Builds and the engine's
checks of a loaded index (``_engine_file.engine_from_sections``) both run
through :func:`run_cancellable`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_POLL_SECONDS = 0.1


def run_cancellable(
    work: Callable[[], Any],
    *,
    done: Callable[[], int],
    cancel: Callable[[], None],
    total: int,
    progress: Callable[[int, int], Any] | None = None,
) -> Any:
    """``work()``'s result; ``work`` returning False means it was cancelled.

    Example:
        >>> run_cancellable(lambda: 7, done=lambda: 1, cancel=lambda: None, total=1)
        7
    """
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, not {type(progress).__name__}")
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="fanns-build", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(_POLL_SECONDS)
            if progress is not None and worker.is_alive():
                progress(min(int(done()), total), total)
    except BaseException:
        cancel()
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    if outcome["result"] is False:
        raise KeyboardInterrupt("cancelled")
    if progress is not None:
        progress(total, total)
    return outcome["result"]


def text_bar(label: str, stream=None) -> Callable[[int, int], None]:
    """A ``progress`` callback drawing a one-line bar on ``stream`` (stderr by
    default; nothing when it is not a terminal).

    Example:
        >>> index = fanns.Index.build(vectors, progress=text_bar("building"))  # doctest: +SKIP
    """
    import sys

    out = sys.stderr if stream is None else stream
    if not getattr(out, "isatty", lambda: False)():
        return lambda done, total: None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        out.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
        if done >= total:
            out.write("\n")
        out.flush()

    return show
