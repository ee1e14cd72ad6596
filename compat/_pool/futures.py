"""The futures side of :class:`compat.ProcessPoolExecutor`: the Future it returns, the
sink that resolves it, how a call becomes a task, and the helpers of ``map`` (the
standard library's, which are private there)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures import TimeoutError as FuturesTimeoutError
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    RUNNING,
)

from .._errors import SpawnError
from .._native.wakeups import Wakeups
from .._stdlib import ExecutorRemoteTraceback
from .payload import encode
from .tasks import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, TypeVar

    _T = TypeVar("_T")
else:
    # At run time _T only subscripts the generic base class below, whose
    # __class_getitem__ (types.GenericAlias) takes any object: no TypeVar, no typing.
    _T = "_T"

__all__ = [
    "FutureSink",
    "SignalAwareFuture",
    "batched",
    "cancel",
    "chain_from_iterable_of_lists",
    "make_task",
    "result_or_cancel",
]


class SignalAwareFuture(Future[_T]):
    """A ``concurrent.futures.Future`` whose ``result()`` and ``exception()`` in the
    main thread survive a Ctrl+C landing anywhere in them.

    An indefinite wait there wakes every ``SIGNAL_CHECK`` seconds to notice a signal
    that landed in another thread (see :mod:`compat._native.threads`). And the main
    thread's waits never hold the future's Condition: its ``__enter__`` is Python
    code, so a KeyboardInterrupt raised just after it acquired the lock keeps the
    lock, and the manager thread then blocks for ever resolving the future (a hang
    in ``with executor:``); see :mod:`compat._native.wakeups`. Other threads (which
    never get a KeyboardInterrupt) wait as the standard library does.
    """

    _wakeups: Optional[Wakeups] = None  # made by the first main-thread wait

    def result(self, timeout: Optional[float] = None) -> _T:
        if threading.current_thread() is not threading.main_thread():
            return super().result(timeout)
        self._wait_in_main_thread(timeout)
        if self._state in _CANCELLED:
            raise CancelledError()
        error = self._exception
        if error is not None:
            try:
                raise error
            finally:
                error = None  # no reference cycle through this frame (as the stdlib)
        return self._result  # type: ignore[return-value]

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if threading.current_thread() is not threading.main_thread():
            return super().exception(timeout)
        self._wait_in_main_thread(timeout)
        if self._state in _CANCELLED:
            raise CancelledError()
        return self._exception

    def done(self) -> bool:
        # One attribute read: no Condition (whose __enter__ a Ctrl+C can interrupt).
        return self._state in _DONE

    def cancel(self) -> bool:
        if self._state in _STARTED:
            return False  # the common case (result_or_cancel), without the Condition
        cancelled = super().cancel()
        if cancelled:
            self._wake()
        return cancelled

    def set_result(self, result: _T) -> None:
        super().set_result(result)
        self._wake()

    def set_exception(self, exception: Optional[BaseException]) -> None:
        super().set_exception(exception)
        self._wake()

    def _wake(self) -> None:
        # After the state changed: a waiter that makes _wakeups later sees done().
        wakeups = self._wakeups
        if wakeups is not None:
            wakeups.wake()

    def _wait_in_main_thread(self, timeout: Optional[float]) -> None:
        if self._state in _DONE:
            return
        wakeups = self._wakeups  # only the main thread makes it: no lock
        if wakeups is None:
            wakeups = self._wakeups = Wakeups()
        if not wakeups.wait_until(self.done, timeout):
            raise FuturesTimeoutError()


_CANCELLED = (CANCELLED, CANCELLED_AND_NOTIFIED)
_DONE = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)
_STARTED = (RUNNING, FINISHED)


class FutureSink:
    """Where a task's outcome goes: its future."""

    __slots__ = ("future",)

    def __init__(self, future: Future[Any]) -> None:
        self.future = future

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        try:
            if ok:
                self.future.set_result(value)
            else:
                self.future.set_exception(value)
        except InvalidStateError:  # cancelled while it waited
            pass


def make_task(
    future: Future[Any],
    kind: int,
    fn: Any,
    sent: Any,
    args: Any,
    kwargs: Any,
    label: str,
    index: int = 0,
    first: int = 0,
) -> Optional[Task]:
    """The task for one ``submit`` (``label`` ``"submit"``) or one chunk of ``map``
    (``index``: the chunk's number, ``first``: its first call's), or None after
    failing ``future`` with an argument's pickling error. ``sent`` is what
    :func:`compat._pool.payload.prepare_function` said to send for ``fn``; a function
    that cannot be sent raises :class:`compat.SpawnError`."""
    layout = "submit" if label == "submit" else "zip"
    try:
        blob = encode(
            kind,
            sent,
            args,
            kwargs,
            what=f"ProcessPoolExecutor.{label}",
            layout=layout,
            first=first,
        )
    except SpawnError:
        raise
    except Exception as exc:
        # The standard library sets the pickling error, with its traceback as a
        # _RemoteTraceback cause, on the future.
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        exc.__cause__ = ExecutorRemoteTraceback(f'\n"""\n{text}"""')  # type: ignore[arg-type]
        future.set_exception(exc)
        return None
    return Task(
        FutureSink(future),
        index,
        kind,
        fn,
        args,
        label,
        blob,
        start=future.set_running_or_notify_cancel,
    )


def cancel(tasks: list[Task]) -> None:
    """Cancel the futures of ``tasks`` (none of them reached a worker)."""
    for task in tasks:
        sink = task.sink
        if isinstance(sink, FutureSink):
            sink.future.cancel()


def batched(iterable: Iterable[Any], n: int) -> Iterator[tuple[Any, ...]]:
    it = iter(iterable)
    while True:
        chunk = tuple(itertools.islice(it, n))
        if not chunk:
            return
        yield chunk


def result_or_cancel(future: Future[Any], timeout: Optional[float] = None) -> Any:
    try:
        try:
            return future.result(timeout)
        finally:
            future.cancel()
    finally:
        del future


def chain_from_iterable_of_lists(iterable: Iterator[list[Any]]) -> Iterator[Any]:
    for element in iterable:
        element.reverse()
        while element:
            yield element.pop()
