"""SimpleQueue: drop-in for ``multiprocessing.SimpleQueue``, on every OS.

A locked pipe without a feeder thread, on the transports of
:mod:`compat._queue.transport`: ``put()`` writes before it returns (waiting
while the pipe is full, as the standard library's does) and pickles in the
caller; ``get()`` blocks. Different on purpose: faster on POSIX (one system call
for many small items, through the shared read-ahead buffer), and a reader killed
while waiting in ``get()`` does not block the other readers forever.
"""

from __future__ import annotations

import pickle
import types
from multiprocessing.connection import Pipe as _pipe

from .._stdlib import assert_spawning
from .robustlock import RobustLock
from .sender import Pickling
from .stream import RING_SIZE
from .transport import (
    QueuePlan,
    current_plan,
    make_transport,
    prepare_pipe,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["SimpleQueue"]


class SimpleQueue:
    """``multiprocessing.SimpleQueue``: a locked pipe without a feeder thread.

    ``put()`` writes before it returns (and waits while the pipe is full);
    ``get()`` blocks. Faster than the standard library's on POSIX (see
    :mod:`compat._queue.stream`). After ``close()``, ``put()``, ``get()`` and
    ``empty()`` raise ``OSError("handle is closed")``, as the standard library's
    (whose pipe is closed then).
    """

    __module__ = "compat"  # public as compat.SimpleQueue: pickles by reference there

    _compat_shared_by_inheritance = True

    def __class_getitem__(cls, item: Any) -> types.GenericAlias:
        return types.GenericAlias(cls, item)

    def __init__(self, *, ctx: Any = None, _plan: Optional[QueuePlan] = None) -> None:
        from .._context import resolve_context  # lazy: children unpickling a queue skip it

        mp = resolve_context(ctx)
        self._plan = _plan if _plan is not None else current_plan()
        self._reader, self._writer = _pipe(duplex=False)
        prepare_pipe(self._plan, self._reader, self._writer)
        self._rlock = mp.Lock()
        self._wlock = mp.Lock()
        self._steal = mp.Lock()
        # Words 0-1: the read-ahead ring's unread part (stream transport); 2-3:
        # who holds the read lock, so a reader killed in get() blocks nobody.
        self._shared = mp.RawArray("q", 4)
        self._ring = mp.RawArray("B", RING_SIZE)
        self._setup()

    def _setup(self) -> None:
        words = memoryview(self._shared).cast("B").cast("q")
        self._transport = make_transport(
            self._plan, self._reader, self._writer, self._wlock, words, 0, self._ring
        )
        self._rlock_robust = RobustLock(self._rlock, self._steal, words, 2)
        self._pickling = Pickling(self._transport.encode)
        self._frame = (
            self._pickling.stream_frame
            if self._transport.kind == "stream"
            else self._pickling.frame
        )
        self._closed = False

    def __getstate__(self) -> tuple[Any, ...]:
        assert_spawning(self)
        return (
            self._plan,
            self._reader,
            self._writer,
            self._rlock,
            self._wlock,
            self._steal,
            self._shared,
            self._ring,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            self._plan,
            self._reader,
            self._writer,
            self._rlock,
            self._wlock,
            self._steal,
            self._shared,
            self._ring,
        ) = state
        self._setup()

    def _check_open(self) -> None:
        if self._closed:
            raise OSError("handle is closed")

    def put(self, obj: Any) -> None:
        self._check_open()
        frame = self._frame(obj)
        if not self._transport.try_write(frame):
            self._transport.write([frame])

    def get(self) -> Any:
        self._check_open()
        with self._rlock_robust:
            while True:
                data = self._transport.read_frame(None)
                if len(data):
                    break
            if type(data) is memoryview:
                return pickle.loads(data)
        return pickle.loads(data)

    def empty(self) -> bool:
        self._check_open()
        return not self._transport.poll(0)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()
