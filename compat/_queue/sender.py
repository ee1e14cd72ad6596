"""The writing half of a compat Queue in one process: pickling and the feeder thread.

Differences from the standard library's feeder, and why:

- Items are pickled in ``put()``, in the caller: an unpicklable item raises there
  (the standard library prints a traceback in its thread and drops it, IPC-04),
  and a mutable item changed after ``put()`` arrives as it was at ``put()``.
- A small item goes straight into the pipe when the pipe has room (no thread
  wake-up, and it is safe the moment ``put()`` returns, even if the process then
  ends with ``os._exit``). Only when the pipe is full, or the item is large, does
  the feeder thread take over; it then writes everything waiting in one go.
- A process that cannot exit because nothing reads what it put (the
  "joining processes that use queues" deadlock, IPC-05) says so on stderr
  after :data:`EXIT_STALL_REPORT` seconds, instead of hanging silently.
"""

from __future__ import annotations

import copyreg
import errno
import os
import pickle
import struct
import sys
import threading
import time
from multiprocessing.reduction import ForkingPickler
from types import SimpleNamespace

from .._native.locks import shared_lock
from .._native.threads import background_thread
from .._stdlib import Finalize, extra_reducers, is_exiting
from .._stdlib_child import PLAIN_TYPES
from .registry import Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["EXIT_STALL_REPORT", "Pickling", "Sender"]

#: Seconds an exiting process waits on a full pipe before explaining why on stderr.
EXIT_STALL_REPORT = 5.0
#: A put closer than this (seconds) to the previous one is part of a burst.
BURST = 0.0002

_monotonic = time.monotonic


class Pickling:
    """``ForkingPickler`` (the reducers multiprocessing and libraries register),
    reused between items: building one costs more than pickling a small item.

    The pickler writes into a list (``list.append``, no Python frame per write),
    and hands a large ``bytes`` item over as the object itself, not a copy.
    """

    def __init__(self, encode: Any) -> None:
        #: The transport's encode(): a pickle (bytes or pieces) to a frame.
        self.encode = encode
        self._lock = threading.Lock()
        self._parts: list[Any] = []
        self._pickler: Optional[ForkingPickler] = None
        self._sizes = (-1, -1)

    def stream_frame(self, obj: Any) -> Any:
        """``obj`` as a frame of the stream transport (length prefix and pickle)."""
        cls = type(obj)
        if cls in PLAIN_TYPES:
            if cls is not bytes or len(obj) < _BY_REFERENCE:
                data = _plain_dumps(obj, _PROTOCOL)
                return _pack_length(len(data)) + data
        elif cls is tuple and len(obj) <= 8:
            for item in obj:
                if type(item) not in PLAIN_TYPES or type(item) is bytes:
                    break
            else:  # a short tuple of numbers and strings: the plain path too
                data = _plain_dumps(obj, _PROTOCOL)
                return _pack_length(len(data)) + data
        return self.encode(self.dumps(obj))

    def frame(self, obj: Any) -> Any:
        """``obj`` as a frame of this transport (the general path)."""
        return self.encode(self.dumps(obj))

    def dumps(self, obj: Any) -> Any:
        """The pickle of ``obj``: one ``bytes``, or a list of ``bytes`` pieces."""
        cls = type(obj)
        if cls in PLAIN_TYPES and (cls is not bytes or len(obj) < _BY_REFERENCE):
            # No reducer can apply to these exact types: the plain C function
            # gives the same bytes as ForkingPickler, three times faster.
            return _plain_dumps(obj, _PROTOCOL)
        lock = self._lock
        if not lock.acquire(False):  # another thread, or put() from a __reduce__
            return _collect(_fresh_dump(obj))
        try:
            pickler = self._pickler
            # Reducers registered after the pickler was built must apply too.
            if (
                pickler is None
                or self._sizes[0] != len(_DISPATCH)
                or self._sizes[1] != len(_EXTRA_REDUCERS)
            ):
                self._sizes = (len(_DISPATCH), len(_EXTRA_REDUCERS))
                pickler = self._pickler = ForkingPickler(SimpleNamespace(write=self._parts.append))
            parts = self._parts
            try:
                pickler.dump(obj)
            except BaseException:
                self._pickler = None
                parts.clear()
                raise
            pickler.clear_memo()
            if len(parts) == 1:
                return parts.pop()
            out = _collect(parts)
            parts.clear()
            return out
        finally:
            lock.release()


_DISPATCH = copyreg.dispatch_table
_BY_REFERENCE = 1 << 16  # the C pickler passes bytes this large to write() as they are
_PROTOCOL = pickle.DEFAULT_PROTOCOL  # what ForkingPickler uses
_plain_dumps = pickle.dumps
_pack_length = struct.Struct("<I").pack  # the stream transport's frame header
_EXTRA_REDUCERS = extra_reducers()


def _fresh_dump(obj: Any) -> list[Any]:
    parts: list[Any] = []
    ForkingPickler(SimpleNamespace(write=parts.append)).dump(obj)
    return parts


def _collect(parts: list[Any]) -> Any:
    # A large bytearray (or buffer) arrives by reference: snapshot it now, as
    # put() promises; bytes are immutable and stay shared.
    out = [p if type(p) is bytes else bytes(p) for p in parts]
    return out[0] if len(out) == 1 else out


class Sender:
    """Moves this process's frames into the pipe, in order."""

    def __init__(self, transport: Any, registry: Registry, slot: int, pid: int) -> None:
        self.transport = transport
        self.registry = registry
        self.slot = slot
        self.pid = pid
        self.lock = shared_lock()  # see compat._native.locks
        self.cond = threading.Condition(self.lock)
        self.frames: list[Any] = []
        self.busy = False
        self.thread: Optional[threading.Thread] = None
        self.closing = False
        self.finished = False
        self.cancelled = False
        self.progress = 0
        self.waiting = False
        self.inflight = 0
        self.last_put = 0.0
        self.on_finish: Optional[Any] = None
        self.words = registry.words
        self.unsent_at = registry.unsent_index(slot)
        self.puts_at = registry.puts_index(slot)

    def put(self, frame: Any) -> None:
        """Send ``frame`` (counted in qsize() from now on)."""
        with self.lock:
            if self.closing:
                raise ValueError("the queue is closed")
            frames = self.frames
            if not frames and not self.busy:
                # A put far from the previous one goes straight into the pipe
                # (lowest latency, nothing left behind); a burst is batched by
                # the feeder, a few large writes instead of one per item.
                now = _monotonic()
                sparse = now - self.last_put > BURST
                self.last_put = now
                if sparse and self.transport.try_write(frame):
                    self.words[self.puts_at] += 1
                    return
            frames.append(frame)
            # Counted as unsent until written: if this process dies, readers
            # know how many of its items were lost.
            self.words[self.unsent_at] += 1
            if self.thread is None:
                self._start()
            elif self.waiting:
                self.cond.notify()

    def pending(self) -> bool:
        """Items of this process are waiting for the feeder (no lock: a hint)."""
        return bool(self.frames) or self.busy

    def unsent(self) -> int:
        with self.lock:
            return len(self.frames) + self.inflight

    def _start(self) -> None:
        thread = background_thread(self._run, name="QueueFeederThread")
        self.thread = thread
        thread.start()
        Finalize(thread, self.join_at_exit, exitpriority=-5)

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.frames and not self.closing:
                    self.waiting = True
                    self.cond.wait()
                    self.waiting = False
                if not self.frames:
                    break
                batch, self.frames = self.frames, []
                self.busy = True
                self.inflight = len(batch)
            try:
                self.transport.write(batch)
            except Exception as exc:
                # EPIPE: every reader end is closed, nobody can ever read these.
                epipe = isinstance(exc, OSError) and exc.errno == errno.EPIPE
                if not epipe and not is_exiting():
                    # Imported here: on 3.14+ traceback imports _colorize, and with it
                    # dataclasses, inspect and ast (about 10 ms in every child).
                    import traceback

                    traceback.print_exc()
            finally:
                with self.lock:
                    self.busy = False
                    self.inflight = 0
                    self.progress += 1
                    self.words[self.unsent_at] -= len(batch)
                    self.words[self.puts_at] += len(batch)
        self._finish()

    def close(self) -> None:
        """No more puts from this process: flush (in the background), then release."""
        if os.getpid() != self.pid:  # a copy a forked child inherited with its finalizers
            return
        with self.lock:
            if self.closing:
                return
            self.closing = True
            thread = self.thread
            self.cond.notify()
        if thread is None:
            self._finish()

    def _finish(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.finished = True
        if self.slot >= 0 and self.registry.release(self.slot, self.pid):
            # Readers waiting for the end of the stream look at the writers now.
            try:
                self.transport.write_wake()
            except (OSError, ValueError):
                pass
        if self.on_finish is not None:
            self.on_finish()

    def join(self) -> None:
        """Wait until everything put has been written (after close())."""
        self._wait_thread()

    def join_at_exit(self) -> None:
        if os.getpid() != self.pid:
            return
        if self.cancelled:
            # cancel_join_thread(): do not wait. Items still buffered are lost,
            # and readers are told so at the end of the stream.
            with self.lock:
                if self.finished:
                    return
                self.finished = True
                lost = len(self.frames) + self.inflight
            if self.slot >= 0:
                self.registry.release(self.slot, self.pid, lost=lost)
            return
        self._wait_thread()

    def _wait_thread(self) -> None:
        thread = self.thread
        if thread is None or thread is threading.current_thread():
            return
        seen, since, reported = self.progress, time.monotonic(), False
        while thread.is_alive():
            thread.join(0.2)
            if self.progress != seen:
                seen, since = self.progress, time.monotonic()
            elif not reported and time.monotonic() - since >= EXIT_STALL_REPORT:
                reported = True
                _report_stall(self.unsent())


def _report_stall(unsent: int) -> None:
    name = "this process"
    try:
        import multiprocessing

        name = multiprocessing.current_process().name
    except Exception:
        pass
    msg = (
        f"compat.Queue: {name} (pid {os.getpid()}) is waiting for a reader: "
        f"{unsent} item{'' if unsent == 1 else 's'} it put cannot enter the queue's pipe, "
        "which is full. "
        "It exits once they are read; a process that join()s it before reading the "
        "queue waits forever (read the queue first, then join).\n"
    )
    try:
        sys.stderr.write(msg)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
