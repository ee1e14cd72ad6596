"""How a pool's manager thread waits for and reads its workers' messages.

Two interchangeable implementations, both exercised by the tests on Linux:

- ``"stream"`` (POSIX): one persistent ``select.poll`` object, and raw ``os.read`` of
  everything a worker's socket holds, split into ``Connection`` frames
  (:class:`compat._pool.frames.StreamReader`). One
  system call then returns many results; ``Connection.poll()`` would build a new
  selector per call.
- ``"message"`` (Windows, and anywhere): ``multiprocessing.connection.wait`` and
  ``Connection.recv_bytes``, the standard library's own path for named pipes.

Both watch a wakeup channel that other threads use to interrupt the wait.
"""

from __future__ import annotations

import os

from .._native.locks import shared_lock
from .._platform import POSIX
from .frames import StreamReader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

DEFAULT_TRANSPORT = "stream" if POSIX else "message"


class MessageReader:
    """Frames through ``Connection.recv_bytes`` (named pipes on Windows)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def read(self, frames: list[bytes]) -> bool:
        conn = self.conn
        try:
            while True:
                frames.append(conn.recv_bytes())
                if not conn.poll():
                    return True
        except (EOFError, OSError):
            return False


class PollWaiter:
    """``select.poll`` over registered file descriptors (POSIX)."""

    def __init__(self) -> None:
        # Typed as Any: select.poll does not exist on Windows, where this class is
        # never used (mypy --platform win32 checks this file too).
        import select

        self._select: Any = select
        self._poll = self._select.poll()
        self._keys: dict[int, object] = {}

    def add(self, obj: Any, key: object) -> None:
        fd = obj if isinstance(obj, int) else obj.fileno()
        self._keys[fd] = key
        self._poll.register(fd, self._select.POLLIN)

    def remove(self, obj: Any) -> None:
        fd = obj if isinstance(obj, int) else obj.fileno()
        if self._keys.pop(fd, None) is not None:
            self._poll.unregister(fd)

    def wait(self, timeout: Optional[float]) -> list[object]:
        ms = None if timeout is None else max(0, int(timeout * 1000))
        keys = self._keys
        return [keys[fd] for fd, _ in self._poll.poll(ms) if fd in keys]

    def readable(self, obj: Any) -> bool:
        fd = obj if isinstance(obj, int) else obj.fileno()
        p = self._select.poll()
        p.register(fd, self._select.POLLIN)
        return bool(p.poll(0))


class ConnectionWaiter:
    """``multiprocessing.connection.wait`` over Connection objects and sentinels."""

    def __init__(self) -> None:
        from multiprocessing.connection import wait

        self._wait = wait
        self._keys: dict[int, tuple[Any, object]] = {}

    def add(self, obj: Any, key: object) -> None:
        self._keys[id(obj)] = (obj, key)

    def remove(self, obj: Any) -> None:
        self._keys.pop(id(obj), None)

    def wait(self, timeout: Optional[float]) -> list[object]:
        entries = list(self._keys.values())
        ready = self._wait([obj for obj, _ in entries], timeout)
        ready_ids = {id(r) for r in ready}
        return [key for obj, key in entries if id(obj) in ready_ids]

    def readable(self, obj: Any) -> bool:
        return bool(self._wait([obj], 0))


class Wakeup:
    """Interrupts the manager thread's wait from any thread; cheap when repeated.

    At most one byte (or empty message) is ever in flight, so neither end needs to
    be non-blocking.
    """

    def __init__(self, transport: str) -> None:
        self._lock = shared_lock()  # see compat._native.locks
        self._pending = False
        self._closed = False
        self._stream = transport == "stream"
        self._reader: Any
        self._writer: Any
        if self._stream:
            self._reader, self._writer = os.pipe()
            self.waitable: Any = self._reader
        else:
            from multiprocessing import Pipe

            self._reader, self._writer = Pipe(duplex=False)
            self.waitable = self._reader

    def wake(self) -> None:
        with self._lock:
            if self._pending or self._closed:
                return
            try:
                if self._stream:
                    os.write(self._writer, b"\0")
                else:
                    self._writer.send_bytes(b"")
            except OSError:
                return
            self._pending = True

    def clear(self) -> None:
        with self._lock:
            if not self._pending or self._closed:
                return
            self._pending = False
            try:
                if self._stream:
                    os.read(self._reader, 1)
                else:
                    self._reader.recv_bytes()
            except (OSError, EOFError):
                pass

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stream:
                os.close(self._reader)
                os.close(self._writer)
            else:
                self._reader.close()
                self._writer.close()


def make_reader(transport: str, conn: Any) -> StreamReader | MessageReader:
    return StreamReader(conn.fileno()) if transport == "stream" else MessageReader(conn)


def make_waiter(transport: str) -> PollWaiter | ConnectionWaiter:
    return PollWaiter() if transport == "stream" else ConnectionWaiter()
