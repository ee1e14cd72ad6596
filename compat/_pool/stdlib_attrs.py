"""The private attributes of ``multiprocessing.Pool`` and
``concurrent.futures.ProcessPoolExecutor`` that real programs read, on compat's pools.

Supported for compatibility (kept in step with the workers):

- ``Pool._pool``: the live worker ``Process`` objects (a fresh list on each read);
  ``Pool._cache``: job id -> the result of every unfinished call (an entry goes when
  its result is ready); ``Pool._state``: ``"RUN"``, ``"CLOSE"`` or ``"TERMINATE"``;
  ``Pool._processes``: the pool's size.
- ``ProcessPoolExecutor._processes``: pid -> ``Process`` of the live workers (they
  start on demand, as in the standard library); ``_max_workers``; ``_broken``:
  False, or the message saying why the executor is broken.

Internals compat's pools do not have (each worker has its own pipe, one manager
thread runs the pool) raise ``AttributeError`` naming the public replacement, instead
of the bare "object has no attribute".
"""

from __future__ import annotations

from collections.abc import MutableMapping

from .manager import WorkerPool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["ExecutorAttributes", "PoolAttributes"]

_QUEUES = (
    "compat's pools have no shared task and result queues (each worker has its own "
    "pipe): count unfinished calls with len(pool._cache), or keep their AsyncResults"
)
_THREADS = (
    "compat's pools run one manager thread of their own: use close(), join() and "
    "terminate(), and ready()/wait() on the results"
)
_POOL_INTERNALS = {
    "_taskqueue": _QUEUES,
    "_inqueue": _QUEUES,
    "_outqueue": _QUEUES,
    "_quick_put": _QUEUES,
    "_quick_get": _QUEUES,
    "_worker_handler": _THREADS,
    "_task_handler": _THREADS,
    "_result_handler": _THREADS,
    "_change_notifier": _THREADS,
}
_MANAGER = (
    "compat's executor runs one manager thread of its own: use shutdown(), "
    "terminate_workers() or kill_workers()"
)
_WORK = (
    "compat's executor keeps no work-item table: keep the futures submit() returns "
    "and use concurrent.futures.wait() or as_completed() on them"
)
_EXECUTOR_INTERNALS = {
    "_pending_work_items": _WORK,
    "_work_ids": _WORK,
    "_queue_count": _WORK,
    "_call_queue": _WORK,
    "_result_queue": _WORK,
    "_executor_manager_thread": _MANAGER,
    "_executor_manager_thread_wakeup": _MANAGER,
    "_idle_worker_semaphore": "workers start on demand; ProcessPoolExecutor._processes lists them",
    "_safe_to_dynamically_spawn_children": (
        "workers start on demand except under fork, where all start at the first submit()"
    ),
    "_cancel_pending_futures": "use shutdown(cancel_futures=True)",
}


def _missing(obj: Any, name: str, internals: dict[str, str], public: str) -> AttributeError:
    hint = internals.get(name)
    if hint is None:
        return AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return AttributeError(
        f"{public} has no {name} (a private attribute of the standard library's): {hint}"
    )


class PoolAttributes:
    """The ``multiprocessing.Pool`` private attributes (see the module)."""

    _core: Optional[WorkerPool]

    @property
    def _state(self) -> str:
        return self._core.state if self._core is not None else "INIT"

    @property
    def _pool(self) -> list[Any]:
        """The live worker ``Process`` objects."""
        return self._core.processes if self._core is not None else []

    @_pool.setter
    def _pool(self, value: Any) -> None:
        raise AttributeError("compat.Pool starts and replaces its own workers; _pool is read-only")

    if not TYPE_CHECKING:  # at run time only: the type checker keeps flagging typos

        def __getattr__(self, name: str) -> Any:
            raise _missing(self, name, _POOL_INTERNALS, "compat.Pool")


class ExecutorAttributes:
    """The ``ProcessPoolExecutor`` private attributes (see the module)."""

    _core: Optional[WorkerPool]

    @property
    def _processes(self) -> MutableMapping[int, Any]:
        """pid -> ``Process`` of the live workers (the standard library's attribute)."""
        core = self._core
        return {p.pid: p for p in core.processes} if core is not None else {}

    @_processes.setter
    def _processes(self, value: MutableMapping[int, Any]) -> None:
        raise AttributeError("compat.ProcessPoolExecutor manages its own workers")

    @property
    def _broken(self) -> Any:
        """False, or why the executor is broken (the standard library's convention)."""
        core = self._core
        return str(core.broken) if core is not None and core.broken is not None else False

    @_broken.setter
    def _broken(self, value: Any) -> None:
        raise AttributeError("compat.ProcessPoolExecutor decides itself when it is broken")

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            raise _missing(self, name, _EXECUTOR_INTERNALS, "compat.ProcessPoolExecutor")
