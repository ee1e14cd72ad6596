"""JoinableQueue: drop-in for ``multiprocessing.JoinableQueue``, on every OS.

A :class:`~compat._queue.queue.Queue` (with all its differences from the standard
library's) that also counts unfinished items: ``task_done()`` and ``join()``. The
count lives in the queue's registry (:mod:`compat._queue.registry`), guarded by a
``Condition`` of the queue's context.
"""

from __future__ import annotations

from queue import Full

from .._stdlib import release_own_holds
from .checks import check_timeout
from .queue import Queue
from .registry import F_PUT
from .transport import QueuePlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["JoinableQueue"]


class JoinableQueue(Queue):
    """``multiprocessing.JoinableQueue``: a :class:`Queue` with ``task_done()`` and
    ``join()``. ``join()`` waits until every item put has been marked done."""

    __module__ = "compat"  # public as compat.JoinableQueue: pickles by reference there

    def __init__(self, maxsize: int = 0, *, ctx: Any = None, _plan: Optional[QueuePlan] = None):
        super().__init__(maxsize, ctx=ctx, _plan=_plan)
        from .._context import resolve_context  # lazy: children unpickling a queue skip it

        self._cond = resolve_context(ctx).Condition()

    def _held_cond(self) -> Any:
        """The count's Condition, for a ``with`` block, after giving back a hold this
        thread leaked. multiprocessing's ``Condition.__enter__`` is Python code: a
        Ctrl+C can raise as it returns, with its lock taken and ``__exit__`` never run
        (CPython 3.14+ also as any ``__enter__`` returns, gh-148874). Every other
        thread and process then waits for ever in ``put()``, ``task_done()`` or
        ``join()``. These never nest, so a thread that holds the lock as it enters one
        leaked it (its next use of the queue gives it back; compat._native.locks does
        the same for the locks compat's threads share)."""
        cond = self._cond
        release_own_holds(getattr(cond, "_lock", None))
        return cond

    def _state(self) -> tuple[Any, ...]:
        return (*super()._state(), self._cond)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._cond = state[8]
        super().__setstate__(state[:8] + state[9:])

    def put(self, obj: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if self._closed:
            self._check_open()
        if timeout is not None:
            timeout = check_timeout(timeout)
        frame = self._frame(obj)
        if self._sem is not None and not self._sem.acquire(block, timeout):
            raise Full
        if not self._marked & F_PUT:
            self._mark(F_PUT)
        with self._held_cond():  # counted before any reader can take it and call task_done()
            self._registry.unfinished_add(1)
        self._sender.put(frame)

    def task_done(self) -> None:
        """Mark one item taken from the queue as processed."""
        with self._held_cond():
            if self._registry.unfinished_add(0) <= 0:
                raise ValueError("task_done() called too many times")
            if self._registry.unfinished_add(-1) == 0:
                self._cond.notify_all()

    def join(self) -> None:
        """Block until every item put has had its ``task_done()``."""
        with self._held_cond():
            while self._registry.unfinished_add(0) > 0:
                self._cond.wait()
