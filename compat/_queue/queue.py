"""Queue: drop-in for ``multiprocessing.Queue``, on every OS.

Same API, exceptions and pickling rules as ``multiprocessing.Queue`` (``queue.Empty``
and ``queue.Full``; shared with children by passing it when they are created, under
every start method; after ``close()``, ``ValueError`` from ``put()`` and ``get()``,
``OSError`` from ``empty()`` in a process that has put, while ``qsize()`` and
``full()`` keep answering). Different on purpose:

- ``qsize()`` works on macOS too (the standard library raises
  ``NotImplementedError`` there, IPC-01), and ``empty()``/``qsize()`` count an
  item from the moment ``put()`` returns (IPC-03).
- ``for item in queue`` reads until the stream ends: the queue is empty and no
  other process can still put (see :mod:`compat._queue.registry`), so a reader
  needs no sentinel, no polling timeout and no ``terminate()``. A writer that
  died without closing makes the iteration raise :class:`compat.ChildError`
  (:mod:`compat._queue.endofstream`).
- ``put()`` pickles in the caller (errors raise there, IPC-04) and sends small
  items at once; ``maxsize=0`` is really unbounded (the standard library's
  semaphore stops at 32767 items on macOS, IPC-02).
- Faster: on Linux about 2.3-2.6x the messages per second of the standard
  library for small items and about 3x the MB/s for 1 MiB items
  (``bench/bench_queues.py``, which prints the ratios of the machine it runs on).
- A reader killed while waiting in ``get()`` no longer blocks every other
  reader forever: its lock is taken over (:class:`~compat._queue.robustlock.RobustLock`).

``JoinableQueue`` (:mod:`compat._queue.joinable`) is this queue with
``task_done()`` and ``join()``; ``SimpleQueue`` (:mod:`compat._queue.simple`) is
re-exported here. See :mod:`compat._queue.transport` for how items travel on each OS.
"""

from __future__ import annotations

import os
import pickle
import time
import types
import warnings
import weakref
from multiprocessing.connection import Pipe as _pipe
from queue import Empty, Full

from .._errors import CompatError
from .._stdlib import (
    Finalize,
    assert_spawning,
    get_spawning_popen,
    register_after_fork,
)
from .checks import check_maxsize, check_timeout, table_full
from .children import (
    install_fork_hooks,
    live,
    watch_reservation,
)
from .endofstream import EndOfStreamMixin
from .registry import (
    F_GOT,
    F_PUT,
    RING_AT,
    RLOCK_OWNER,
    Registry,
)
from .sender import Pickling, Sender
from .transport import (
    QueuePlan,
    current_plan,
    make_transport,
    prepare_pipe,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["Empty", "Full", "Queue"]


def _weak_method(obj: Any, method: Callable[[Any], None]) -> Callable[[], None]:
    """``obj.method`` without a strong reference to ``obj`` (nothing once it is gone)."""
    ref = weakref.ref(obj)

    def call() -> None:
        target = ref()
        if target is not None:
            method(target)

    return call


class Queue(EndOfStreamMixin):
    """A process-shared FIFO queue: ``multiprocessing.Queue`` with the differences
    listed in this module's docstring.

    ``maxsize`` (an int, 0 = unbounded) bounds the items in the queue: ``put()``
    then blocks, or raises ``queue.Full`` after ``timeout``. Linux and Windows
    accept up to 2**31-1, macOS up to 32767 (larger values warn elsewhere,
    raise there). ``ctx`` is the multiprocessing context (or compat Context)
    whose locks the queue uses; it must be the one the children are started with.

    Linux and macOS: a pipe read as a stream, with a shared read-ahead buffer;
    small items are written by ``put()`` itself. Windows: one named-pipe message
    per item, written by the feeder thread, large items in pieces.
    ``qsize()``, ``empty()``, ``full()`` and iteration behave the same on all three.
    Iteration (the end of the stream) is in
    :class:`~compat._queue.endofstream.EndOfStreamMixin`.
    """

    __module__ = "compat"  # public as compat.Queue: pickles by reference there

    def __class_getitem__(cls, item: Any) -> types.GenericAlias:
        return types.GenericAlias(cls, item)

    # compat's spawn pre-flight: passed to children at creation, like mp.Queue.
    _compat_shared_by_inheritance = True

    def __init__(self, maxsize: int = 0, *, ctx: Any = None, _plan: Optional[QueuePlan] = None):
        plan = _plan if _plan is not None else current_plan()
        self._maxsize = check_maxsize(maxsize, plan)
        from .._context import resolve_context  # lazy: children unpickling a queue skip it

        mp = resolve_context(ctx)
        self._plan = plan
        self._reader, self._writer = _pipe(duplex=False)
        prepare_pipe(plan, self._reader, self._writer)
        self._rlock = mp.Lock()
        self._wlock = mp.Lock()
        self._sem = mp.BoundedSemaphore(self._maxsize) if self._maxsize else None
        self._registry = Registry.create(mp)
        self._setup(self._registry.claim_creator(os.getpid()))

    # -- per-process state -------------------------------------------------
    def _setup(self, slot: int) -> None:
        if slot < 0:
            raise table_full()
        pid = os.getpid()
        self._pid = pid
        self._slot = slot
        self._closed = False
        self._marked = 0
        self._fork_ticket = -1
        self._rlock_robust = self._registry.robust(self._rlock, RLOCK_OWNER)
        self._transport = make_transport(
            self._plan,
            self._reader,
            self._writer,
            self._wlock,
            self._registry.words,
            RING_AT,
            self._registry.ring,
        )
        # Through a weak reference: the exit finalizer keeps the sender, and so the
        # transport, alive; a bound method there would keep this queue alive forever.
        self._transport.on_stall = _weak_method(self, Queue._on_stall)
        self._pickling = Pickling(self._transport.encode)
        self._frame = (
            self._pickling.stream_frame
            if self._transport.kind == "stream"
            else self._pickling.frame
        )
        self._sender = Sender(self._transport, self._registry, slot, pid)
        self._puts = self._registry.words
        self._sender.on_finish = self._transport.close
        self._exit_finalizer: Any = None
        self._voiding = False
        self._arm_exit()
        live.add(self)
        install_fork_hooks()
        register_after_fork(self, Queue._after_mp_bootstrap)

    def _arm_exit(self) -> None:
        # multiprocessing clears its finalizers when a child starts (after this
        # object was unpickled or forked), hence the re-arming after the bootstrap.
        fin = self._exit_finalizer
        if fin is None or not fin.still_active():
            self._exit_finalizer = Finalize(self, Sender.close, (self._sender,), exitpriority=10)

    def _after_mp_bootstrap(self) -> None:
        if self._pid == os.getpid() and not self._closed:
            self._arm_exit()

    def __getstate__(self) -> tuple[Any, ...]:
        assert_spawning(self)
        owner = os.getpid()
        ticket = self._registry.reserve(owner)
        if ticket < 0:
            raise table_full()
        popen = get_spawning_popen()
        if popen is not None:
            # The start can still fail (an argument after this one does not
            # pickle), or the child can die before it unpickles this queue.
            watch_reservation(self._registry, ticket, owner, popen)
        self._void_at_exit()
        return (*self._state(), ticket)

    def _state(self) -> tuple[Any, ...]:
        return (
            self._maxsize,
            self._plan,
            self._reader,
            self._writer,
            self._rlock,
            self._wlock,
            self._sem,
            self._registry,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            self._maxsize,
            self._plan,
            self._reader,
            self._writer,
            self._rlock,
            self._wlock,
            self._sem,
            self._registry,
        ) = state[:8]
        self._setup(self._registry.claim(state[8], os.getpid()))

    def _void_at_exit(self) -> None:
        if not self._voiding:
            self._voiding = True
            Finalize(None, self._registry.void_all, (os.getpid(),), exitpriority=-10)

    def _before_fork(self) -> None:
        if not self._closed and self._pid == os.getpid():
            self._fork_ticket = self._registry.reserve(self._pid)
            if self._fork_ticket >= 0:
                self._void_at_exit()

    def _after_fork_parent(self) -> None:
        self._fork_ticket = -1

    def _after_fork_child(self) -> None:
        if self._closed:
            return
        self._setup(self._registry.claim(self._fork_ticket, os.getpid()))

    def _fork_failed(self, exc: Exception) -> None:
        self._pid = -1
        self._closed = True
        warnings.warn(f"compat.Queue is not usable in this forked child: {exc}", stacklevel=1)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"maxsize={self._maxsize}"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"

    # -- the standard library's API ------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{type(self).__name__} {self!r} is closed")
        if self._pid != os.getpid():  # pragma: no cover - the fork hook failed
            raise CompatError("this queue was not set up in this process after fork")

    def _mark(self, flag: int) -> None:
        self._marked |= flag
        self._registry.add_flag(self._slot, flag)

    def put(self, obj: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Put ``obj`` on the queue (pickled now, in the caller).

        With ``maxsize`` reached: wait (``block``), at most ``timeout`` seconds,
        then raise ``queue.Full``. An unbounded queue never blocks here.
        """
        if self._closed:
            self._check_open()
        if timeout is not None:
            timeout = check_timeout(timeout)
        frame = self._frame(obj)
        if self._sem is not None and not self._sem.acquire(block, timeout):
            raise Full
        if not self._marked & F_PUT:
            self._mark(F_PUT)
        self._sender.put(frame)

    def put_nowait(self, obj: Any) -> None:
        self.put(obj, False)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Remove and return an item; raise ``queue.Empty`` when none arrives in time."""
        if self._closed:
            self._check_open()
        if not self._marked & F_GOT:
            self._mark(F_GOT)
        rlock = self._rlock_robust
        if block and timeout is None:
            rlock.acquire()
            try:
                data = self._transport.read_frame(None)
                if len(data):
                    self._puts[0] += 1  # header word 0: items taken
                else:  # a wake-up frame
                    data = self._read(None)
                if type(data) is memoryview:  # a reused buffer: unpickle before unlocking
                    data = pickle.loads(data)
                    self._took()
                    return data
            finally:
                rlock.release()
        else:
            timeout = check_timeout(timeout)
            deadline = time.monotonic() + (timeout or 0.0)
            if not (rlock.acquire(True, timeout) if block else rlock.acquire(False)):
                raise Empty
            try:
                # Asked before the read: the feeder may finish writing this process's
                # items between a read that found nothing and a later question, and
                # they would be in the pipe unread (Empty with qsize() > 0, seen in CI).
                own = not block and self._sender.pending()
                data = self._read(max(0.0, deadline - time.monotonic()) if block else 0.0)
                if data is None and (own or (not block and self._sender.pending())):
                    data = self._read_own_pending()
                if data is None:
                    raise Empty
                if type(data) is memoryview:
                    data = pickle.loads(data)
                    self._took()
                    return data
            finally:
                rlock.release()
        if self._sem is not None:
            self._sem.release()
        return pickle.loads(data)

    def _read_own_pending(self) -> Any:
        # get_nowait() right after put() in this process: the item is counted by
        # qsize() but may still be on its way through the feeder thread (always
        # so on Windows). Give it time instead of raising Empty (IPC-03): 1 s was
        # not enough for a 500-item burst on a 2-core machine at load 10 (CI); the
        # bound only matters if the feeder thread cannot run at all.
        end = time.monotonic() + 5.0
        while self._sender.pending() and time.monotonic() < end:
            if self._transport.poll(0.005):
                break
        return self._read(0.0)

    def _took(self) -> None:
        if self._sem is not None:
            self._sem.release()

    def _read(self, timeout: Optional[float]) -> Any:
        """One item's pickle, skipping wake-ups (read lock held)."""
        read = self._transport.read_frame
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            data = read(timeout)
            if data is None:
                return None
            if len(data):
                self._puts[0] += 1  # header word 0: items taken (read lock held)
                return data
            if deadline is not None:
                timeout = max(0.0, deadline - time.monotonic())

    def get_nowait(self) -> Any:
        return self.get(False)

    def qsize(self) -> int:
        """Items put and not yet taken, by every process; the same on every OS (and,
        as in the standard library, still after ``close()``)."""
        if self._pid != os.getpid():  # pragma: no cover - the fork hook failed
            self._check_open()
        return self._registry.qsize()

    def empty(self) -> bool:
        """``qsize() == 0``: True right after a ``put()`` has returned is impossible.

        After ``close()`` in a process that has put, ``OSError`` (the standard
        library's queue has closed its pipe then); otherwise it keeps answering."""
        if self._closed and self._marked & F_PUT:
            raise OSError("handle is closed")
        return self.qsize() == 0

    def full(self) -> bool:
        return bool(self._maxsize) and self.qsize() >= self._maxsize

    def close(self) -> None:
        """This process will neither put nor get any more.

        Items it put are still written (in the background); for readers that
        iterate, this process stops counting as a writer once they are.
        """
        if self._closed:
            return
        self._closed = True
        self._sender.close()

    def join_thread(self) -> None:
        """Wait until everything this process put is in the pipe (after close())."""
        if not self._closed:
            raise AssertionError(f"Queue {self!r} not closed: call close() first")
        self._sender.join()

    def cancel_join_thread(self) -> None:
        """Let this process exit without waiting for its unsent items (they are lost,
        and a reader iterating the queue is told so with ChildError)."""
        self._sender.cancelled = True
