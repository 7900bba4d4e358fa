"""The shards' Ray actors: starting them, calling them, and restarting dead ones.

A :class:`ShardPool` holds one :class:`~fanns.distributed.shard.ShardServer`
actor per shard. :meth:`ShardPool.scatter` calls a method on several shards
at once and collects the answers. An actor that died (``RayActorError``) is
replaced by a new one that reads the shard's saved files, and the call is
made once more; without saved files, or if that fails too, the shard's
:class:`~fanns.distributed.result.ShardError` is raised (or, with
``allow_partial``, the shard is reported as failed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fanns.distributed.result import ShardError
from fanns.distributed.shard import ShardServer

__all__ = ["ShardPool", "ray_runtime"]


def ray_runtime():
    """The ``ray`` module, connected: the caller's instance, else a new local one."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("fanns.distributed needs Ray: pip install 'fanns[ray]'") from exc
    if not ray.is_initialized():
        ray.init()
    return ray


class ShardPool:
    """One actor per shard, with each shard's info and (once saved) its files."""

    def __init__(self, concurrency: int, actor_options: dict[str, Any] | None) -> None:
        self.ray = ray_runtime()
        options = {"scheduling_strategy": "SPREAD", "max_concurrency": concurrency}
        if actor_options is not None:
            if not isinstance(actor_options, dict):
                raise TypeError(f"actor_options must be a dict, not {type(actor_options).__name__}")
            options.update(actor_options)
        self._actor_class = self.ray.remote(ShardServer).options(**options)
        self.actors: list = []
        self.infos: list[dict] = []
        self.files: list[dict] | None = None
        self.closed = False
        self._lock = threading.Lock()

    def start(self, shards: int, method: str, args: list[tuple], progress: Callable | None) -> None:
        """Start ``shards`` actors and call ``method(*args[s])`` on each (build or load),
        reporting ``progress(done, shards)``; if any fails, stop them all and raise."""
        actors = [self._actor_class.remote(s) for s in range(shards)]
        pending = {getattr(actors[s], method).remote(*args[s]): s for s in range(shards)}
        infos: list[Any] = [None] * shards
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    infos[pending.pop(ref)] = self.ray.get(ref)
                    if progress is not None:
                        progress(shards - len(pending), shards)
        except BaseException:
            for actor in actors:
                self.ray.kill(actor)
            raise
        self.actors, self.infos = actors, infos

    def close(self) -> None:
        """Stop every actor."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.closed = True

    def scatter(
        self, method: str, calls: dict[int, tuple], *, allow_partial: bool = False, timeout=None
    ) -> tuple[dict[int, Any], list[int]]:
        """Call ``method(*calls[s])`` on every shard s in ``calls`` at once;
        return ``(answers by shard, failed shards)``."""
        if self.closed:
            raise RuntimeError("this ShardedIndex was closed")
        refs = {s: getattr(self.actors[s], method).remote(*args) for s, args in calls.items()}
        answers, failed = {}, []
        for s, ref in refs.items():
            try:
                answers[s] = self._collect(s, method, calls[s], ref, timeout)
            except ShardError:
                if not allow_partial:
                    raise
                failed.append(s)
        return answers, failed

    def _collect(self, s: int, method: str, args: tuple, ref, timeout):
        """Shard s's answer; a dead actor is restarted from its files and asked once more."""
        from ray.exceptions import GetTimeoutError, RayActorError

        actor = self.actors[s]
        try:
            return self.ray.get(ref, timeout=timeout)
        except GetTimeoutError as exc:
            raise ShardError(s, f"no answer within {timeout} s") from exc
        except RayActorError as exc:
            if self.files is None:
                raise ShardError(
                    s,
                    f"its actor died ({type(exc).__name__}); the index was not saved, so the "
                    "shard cannot be restarted (save() makes shards restartable)",
                ) from exc
            cause = exc
        self._restart(s, actor, cause)
        try:
            return self.ray.get(getattr(self.actors[s], method).remote(*args), timeout=timeout)
        except (GetTimeoutError, RayActorError) as exc:
            raise ShardError(s, f"failed again after a restart from its file: {exc}") from exc

    def _restart(self, s: int, dead, cause: Exception) -> None:
        with self._lock:
            if self.actors[s] is not dead:
                return  # another call already restarted it
            files = self.files[s]
            actor = self._actor_class.remote(s)
            try:
                info = self.ray.get(
                    actor.load.remote(files["index"], files["ids"], files["checksums"])
                )
            except Exception as exc:
                self.ray.kill(actor)
                raise ShardError(
                    s,
                    f"its actor died ({type(cause).__name__}) and restarting it from "
                    f"{files['index']!r} failed: {exc}",
                ) from exc
            self.actors[s], self.infos[s] = actor, info
