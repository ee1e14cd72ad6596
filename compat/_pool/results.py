"""What :class:`compat.Pool` returns: AsyncResult, MapResult and the imap iterators.

They subclass the standard library's classes, so ``isinstance(r,
multiprocessing.pool.AsyncResult)`` and type annotations keep working, but they
share nothing else with them: no ``threading.Event`` is made unless somebody waits
(most results are ready before ``get()``), and ``get()`` on the pool's own manager
thread (from inside a callback) raises instead of deadlocking. As in the standard
library, each is in its pool's ``_cache`` (job id -> result) until it is ready, and
leaves it before ``get()`` returns.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import types
from multiprocessing import TimeoutError as MpTimeoutError
from multiprocessing import pool as _mp_pool

from .._native.locks import shared_lock
from .._native.wakeups import Wakeups
from .._stdlib import IMapIterator as _StdIMapIterator
from .._stdlib import MapResult as _StdMapResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TypeVar

    _T = TypeVar("_T")
    Callback = Optional[Callable[[Any], object]]
else:
    # At run time _T only subscripts the generic base classes below, whose
    # __class_getitem__ (types.GenericAlias) takes any object: no TypeVar, no typing.
    _T = "_T"

# One lock for the ready flag of every result: held for a few instructions, and only
# contended when a thread starts waiting exactly as a result arrives.
_READY_LOCK = threading.Lock()
_JOBS = itertools.count()


def _deadlock_guard(owner: Any) -> None:
    """Raise instead of waiting forever on the thread that would deliver the result."""
    thread = getattr(getattr(owner, "_core", None), "thread", None)
    if thread is not None and thread is threading.current_thread():
        raise RuntimeError(
            "waiting for a pool result inside a pool callback would deadlock: "
            "callbacks run on the pool's manager thread, which delivers the results"
        )


class ApplyResult(_mp_pool.ApplyResult[_T]):
    """The result of :meth:`compat.Pool.apply_async`; same interface as
    ``multiprocessing.pool.AsyncResult`` (``get``, ``wait``, ``ready``, ``successful``)."""

    def __init__(
        self,
        pool: Any,
        callback: Callback,
        error_callback: Optional[Callable[[BaseException], object]],
    ) -> None:
        # The standard library's __init__ also makes an Event; not here.
        self._pool: Any = pool  # keeps the pool alive while the result is pending
        self._job = next(_JOBS)
        self._cache = _register(pool, self._job, self)
        self._callback = callback
        self._error_callback = error_callback
        self._is_ready = False
        # self._waiter: a Wakeups, made by the first wait (see wait()).
        self._success = False
        self._value: Any = None

    def ready(self) -> bool:
        return self._is_ready

    def successful(self) -> bool:
        if not self._is_ready:
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout: Optional[float] = None) -> None:
        if self._is_ready:
            return
        pool = self._pool
        if pool is not None and timeout is None:
            _deadlock_guard(pool)
        # No lock here, not a threading.Event: a Ctrl+C in the main thread must not be
        # able to leave a lock held (compat._native.wakeups). setdefault is atomic:
        # threads waiting together share one Wakeups, which _set_ready wakes.
        waiter: Wakeups = self.__dict__.setdefault("_waiter", Wakeups())
        waiter.wait_until(self.ready, timeout)

    def get(self, timeout: Optional[float] = None) -> _T:
        self.wait(timeout)
        if not self._is_ready:
            raise MpTimeoutError
        if self._success:
            return self._value  # type: ignore[no-any-return]
        raise self._value

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        self._success = ok
        self._value = value
        try:
            if ok:
                if self._callback is not None:
                    self._callback(value)
            elif self._error_callback is not None:
                self._error_callback(value)
        finally:
            self._set_ready()

    def _set_ready(self) -> None:
        if self._cache is not None:
            self._cache.pop(self._job, None)  # before any waiter wakes
        self._is_ready = True
        waiter = self.__dict__.get("_waiter")  # after the flag: see wait()
        if waiter is not None:
            waiter.wake()
        self._pool = None


AsyncResult = ApplyResult


def _register(pool: Any, job: int, result: Any) -> Optional[dict[int, Any]]:
    """Put ``result`` in ``pool._cache`` (the standard library's job table); return it."""
    cache: Optional[dict[int, Any]] = getattr(pool, "_cache", None)
    if cache is not None:
        cache[job] = result
    return cache


class MapResult(ApplyResult[list[_T]], _StdMapResult[_T]):
    """The result of ``map_async`` / ``starmap_async``: ready when every chunk is in;
    the first failure is the one raised (the standard library's rule)."""

    def __init__(
        self,
        pool: Any,
        chunksize: int,
        length: int,
        callback: Callback,
        error_callback: Optional[Callable[[BaseException], object]],
    ) -> None:
        super().__init__(pool, callback, error_callback)
        self._success = True
        self._value = [None] * length
        self._chunksize = chunksize
        self._number_left = 0 if chunksize <= 0 else -(-length // chunksize)
        self._error: Optional[BaseException] = None
        if self._number_left == 0:
            ApplyResult._deliver(self, 0, True, self._value)

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        with _READY_LOCK:
            if ok:
                size = self._chunksize
                self._value[index * size : (index + 1) * size] = value
            elif self._error is None:
                self._error = value
            self._number_left -= 1
            done = self._number_left == 0
        if done:
            if self._error is None:
                ApplyResult._deliver(self, index, True, self._value)
            else:
                ApplyResult._deliver(self, index, False, self._error)


if TYPE_CHECKING:
    _IMapBase = _StdIMapIterator
else:

    class _IMapBase(_StdIMapIterator):
        # The standard library's IMapIterator cannot be subscribed; this makes
        # IMapIterator[int] work like its other generic classes (typing.Generic
        # would import typing).
        __class_getitem__ = classmethod(types.GenericAlias)


class IMapIterator(_IMapBase[_T]):
    """The iterator :meth:`compat.Pool.imap` returns: results in input order;
    ``next(timeout)`` raises ``multiprocessing.TimeoutError`` when none arrives in
    time. With ``chunksize > 1`` it yields the items of each chunk in turn (the
    standard library returns a plain generator there, without ``next(timeout)``)."""

    def __init__(self, pool: Any, *, flatten: bool = False) -> None:
        self._pool: Any = pool
        self._core = pool._core
        # A lock and Wakeups, not a Condition: a Ctrl+C inside Condition.wait can
        # release the lock twice (compat._native.wakeups).
        self._lock = shared_lock()  # see compat._native.locks
        self._wakeups = Wakeups()
        self._job = next(_JOBS)
        self._cache = _register(pool, self._job, self)
        self._items: collections.deque[tuple[bool, Any]] = collections.deque()
        self._index = 0
        self._length: Optional[int] = None
        self._unsorted: dict[int, tuple[bool, Any]] = {}
        self._flatten = flatten
        self._chunk: collections.deque[Any] = collections.deque()

    def __iter__(self) -> IMapIterator[_T]:
        return self

    def _finished(self) -> None:
        """Every result is in: leave the pool's ``_cache`` and let the pool go."""
        if self._cache is not None:
            self._cache.pop(self._job, None)
        self._pool = None

    def next(self, timeout: Optional[float] = None) -> _T:
        if self._flatten:
            while not self._chunk:
                self._chunk.extend(self._next_item(timeout))
            return self._chunk.popleft()  # type: ignore[no-any-return]
        return self._next_item(timeout)  # type: ignore[no-any-return]

    __next__ = next

    def _next_item(self, timeout: Optional[float]) -> Any:
        # No lock on this side (the caller's, the main thread maybe): deque operations
        # are atomic, and _deliver appends an item before it counts it.
        deadline = None if timeout is None else time.monotonic() + timeout
        items = self._items
        while True:
            try:
                ok, value = items.popleft()
                break
            except IndexError:
                pass
            if self._index == self._length:
                if items:  # the last ones came in since the look above
                    continue
                self._finished()
                raise StopIteration
            if deadline is None:
                _deadlock_guard(self)
                remaining = None
            else:
                remaining = max(0.0, deadline - time.monotonic())
            news = self._wakeups.wait_until(self._has_news, remaining)
            if not news and not items and self._index != self._length:
                raise MpTimeoutError
        if ok:
            return value
        raise value

    def _has_news(self) -> bool:
        return bool(self._items) or self._index == self._length

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        with self._lock:
            if self._index == index:
                self._items.append((ok, value))
                self._index += 1
                while self._index in self._unsorted:
                    self._items.append(self._unsorted.pop(self._index))
                    self._index += 1
            else:
                self._unsorted[index] = (ok, value)
            if self._index == self._length:
                self._finished()
        self._wakeups.wake()

    def _set_length(self, length: int) -> None:
        with self._lock:
            self._length = length
            if self._index == self._length:
                self._finished()
        self._wakeups.wake()


class IMapUnorderedIterator(IMapIterator[_T]):
    """The iterator :meth:`compat.Pool.imap_unordered` returns: results as they come."""

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        with self._lock:
            self._items.append((ok, value))
            self._index += 1
            if self._index == self._length:
                self._finished()
        self._wakeups.wake()
