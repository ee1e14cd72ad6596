"""What runs in a Dask worker: one call or one chunk of calls, with an exception
returned (not raised) together with its formatted traceback, so that the caller
rebuilds it exactly as compat's local pools do (a ``RemoteTraceback`` cause)."""

from __future__ import annotations

import os
import pickle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["APPLY", "MAP", "STARMAP", "START_TOPIC", "hard_exit", "run"]

APPLY, MAP, STARMAP = 0, 1, 2
#: Prefix of the worker event a task with a time limit logs when it starts (one
#: topic per pool; see .deadlines).
START_TOPIC = "compat-task-start"


def run(
    func: Callable[..., Any],
    kind: int,
    payload: Any,
    flavour: str,
    timed: Optional[tuple[str, str]] = None,
) -> tuple[bool, Any]:
    """Run ``payload`` (APPLY: ``(args, kwargs)``; MAP/STARMAP: a chunk of items) and
    return ``(True, result or list of results)`` or ``(False, remote exception)``.
    ``timed``: (event topic, this task's id), announced when it starts (it has a
    time limit)."""
    if timed is not None:
        _announce(*timed)
    try:
        if kind == APPLY:
            args, kwargs = payload
            return True, func(*args, **kwargs)
        if kind == STARMAP:
            return True, [func(*item) for item in payload]
        return True, [func(item) for item in payload]
    except BaseException as exc:
        return False, _remote(exc, flavour)


async def hard_exit() -> None:
    """Run by ``client.run(..., wait=False)`` (which takes coroutines only) in a
    worker whose task is past its limit: end the worker
    process at once (its nanny starts a new one), as compat's pools kill theirs."""
    os._exit(70)


def _announce(topic: str, task_id: str) -> None:
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(topic, {"task": task_id, "worker": worker.address, "pid": os.getpid()})


def _remote(exc: BaseException, flavour: str) -> Any:
    from .._pool.worker import RemoteException, _encoding_error

    remote = RemoteException(exc, flavour)
    try:
        # An exception that pickles but cannot be rebuilt fails here, where the task
        # is known, not in the caller's deserialisation (as compat's local workers).
        pickle.loads(pickle.dumps(remote))
    except BaseException as problem:
        return _encoding_error(problem, exc, flavour)
    return remote
