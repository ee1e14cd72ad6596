"""The futures side of :class:`compat.ProcessPoolExecutor`: the Future it returns, the
sink that resolves it, how a call becomes a task, and the helpers of ``map`` (the
standard library's, which are private there)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import wait as futures_wait

from .._errors import SpawnError
from .._native.threads import main_thread_slice
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
    """A ``concurrent.futures.Future`` whose indefinite ``result()`` and
    ``exception()`` in the main thread still notice Ctrl+C: they wake every
    ``SIGNAL_CHECK`` seconds to look (see :mod:`compat._native.threads`)."""

    def result(self, timeout: Optional[float] = None) -> _T:
        self._wait_noticing_signals(timeout)
        return super().result(timeout)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self._wait_noticing_signals(timeout)
        return super().exception(timeout)

    def _wait_noticing_signals(self, timeout: Optional[float]) -> None:
        step = main_thread_slice(timeout)
        if step != timeout:
            while not self.done():
                futures_wait([self], timeout=step)


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
