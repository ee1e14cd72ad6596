"""How a compat Queue moves pickled items through its pipe.

Two transports, chosen by :func:`plan_for` from the platform alone (so the
Windows path is exercised on Linux by passing ``PlatformFacts.simulated("win32")``):

- ``"stream"`` (POSIX): the pipe is a byte stream of frames, each a 4-byte
  little-endian length (``0xFFFFFFFF`` then 8 bytes for 4 GiB and more) and the
  pickle. Both ends are non-blocking: a small frame (at most ``PIPE_BUF`` bytes,
  which POSIX writes atomically) goes straight into the pipe from ``put()`` when
  there is room, everything else is written by the queue's feeder thread, many
  frames per ``writev``. A reader takes in as much as the pipe holds, up to
  :data:`RING_SIZE` bytes, into a buffer in shared memory: the frames it did not
  need wait there for the next reader, of any process, so one system call serves
  many items and several readers still share one stream. Readers wait in
  ``poll``, so every wait has a timeout. Linux pipes are enlarged to 1 MiB
  (``F_SETPIPE_SZ``): fewer round trips for large items, and the join-before-drain
  deadlock (IPC-05) needs 16x more data.
- ``"packet"`` (Windows): one ``Connection.send_bytes`` message per item, as the
  standard library does over its message-mode named pipes, whose writes cannot be
  made non-blocking. Items larger than ``max_packet`` travel as a header message
  (``b"\\0"`` + 8-byte length) and pieces, so no single write or read exceeds
  what a pipe carries in one piece.

A frame of length 0 (stream) or an empty message (packet) is a *wake-up*: it
carries no item and tells waiting readers to look at the writers again.
"""

from __future__ import annotations

import importlib
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union, cast

from .._platform import (
    LINUX,
    MACOS,
    WINDOWS,
    PlatformFacts,
)

__all__ = ["Message", "QueuePlan", "current_plan", "make_transport", "plan_for"]

#: A frame ready for the pipe: one ``bytes`` (small), or a list of buffers.
Message = Union[bytes, list[Any]]

_HEAD = struct.Struct("<I")
_LONG = struct.Struct("<Q")
_BIG = 0xFFFFFFFF
_SMALL_READ = 1 << 16  # frames up to this size are built into one bytes object
#: Bytes of the shared read-ahead buffer of a stream queue: one read takes in
#: many small frames, and any reader takes the next one from there.
RING_SIZE = 1 << 16
_RING_FRAME = RING_SIZE // 4  # larger frames are read around the ring
_KEEP_BUFFER = 1 << 24  # read buffers up to 16 MiB are kept for the next large frame
_IOV_MAX = 512  # buffers per writev (POSIX guarantees at least 16; Linux and macOS 1024)
_WRITE_WINDOW = 2 << 20  # bytes offered per writev: about what a (Linux) pipe takes
_WAKE = _HEAD.pack(0)
_LINUX_PIPE_SIZE = 1 << 20  # the default /proc/sys/fs/pipe-max-size
_F_SETPIPE_SZ = 1031  # Linux fcntl command (fcntl.F_SETPIPE_SZ, 3.10+)
_STALL = 1.0  # seconds without progress inside a frame before asking on_stall

# POSIX-only calls of the stream transport, looked up once (and typed for the
# Windows type check, where they do not exist and are never reached).
_readv: Any = getattr(os, "readv", None)
_writev: Any = getattr(os, "writev", None)
_set_blocking: Any = getattr(os, "set_blocking", None)
_POLLIN: int = getattr(select, "POLLIN", 1)
_POLLOUT: int = getattr(select, "POLLOUT", 4)


@dataclass(frozen=True)
class QueuePlan:
    """How a queue talks on one platform; a pure function of the platform name."""

    platform: str
    transport: str
    """``"stream"`` or ``"packet"`` (see the module docstring)."""
    write_through: bool
    """``put()`` writes small items itself when the pipe has room."""
    pipe_size: int
    """Pipe capacity to ask for (Linux), or 0 to keep the OS default."""
    max_packet: int
    """Largest single message of the packet transport."""
    sem_value_max: int
    """Largest semaphore value: ``maxsize`` above it cannot work (macOS: 32767, IPC-02)."""


def plan_for(facts: PlatformFacts) -> QueuePlan:
    """The plan for the platform ``facts`` describe."""
    return _plan(facts.platform)


_current: Optional[QueuePlan] = None


def current_plan() -> QueuePlan:
    """The plan for this interpreter's platform (computed once)."""
    global _current
    if _current is None:
        name = "win32" if WINDOWS else "darwin" if MACOS else "linux" if LINUX else "posix"
        _current = _plan(name)
    return _current


def _plan(platform: str) -> QueuePlan:
    if platform == "win32":
        # Windows semaphores hold a LONG; named pipes are message-mode and blocking.
        return QueuePlan(platform, "packet", False, 0, 16 << 20, 2**31 - 1)
    if platform == "darwin":
        return QueuePlan(platform, "stream", True, 0, 16 << 20, 32767)
    size = _LINUX_PIPE_SIZE if platform.startswith("linux") else 0
    return QueuePlan(platform, "stream", True, size, 16 << 20, 2**31 - 1)


def make_transport(
    plan: QueuePlan, reader: Any, writer: Any, wlock: Any, words: Any, at: int, ring: Any
) -> Any:
    """The transport of ``plan`` over two ``Connection`` ends, in this process.

    The stream transport reads ahead into ``ring`` (shared bytes, see
    :data:`RING_SIZE`) and keeps its start and end in ``words[at]`` and
    ``words[at + 1]`` (shared 64-bit words, initially 0), so that whichever
    reader comes next finds the frames another one read ahead.
    """
    if plan.transport == "packet":
        return PacketTransport(reader, writer, wlock, plan.max_packet)
    return StreamTransport(reader, writer, wlock, words, at, ring)


def prepare_pipe(plan: QueuePlan, reader: Any, writer: Any) -> None:
    """Configure a new pipe once, in the creating process (children share the setting)."""
    if plan.transport != "stream":
        return
    # O_NONBLOCK lives on the open file description, which every process that
    # receives these ends (fork or fd passing) shares.
    _set_blocking(reader.fileno(), False)
    _set_blocking(writer.fileno(), False)
    if plan.pipe_size and LINUX:
        fcntl: Any = importlib.import_module("fcntl")
        command = getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ)
        try:
            fcntl.fcntl(writer.fileno(), command, plan.pipe_size)
        except OSError:  # over the per-user pipe quota: the default 64 KiB works too
            pass


def _header(size: int) -> bytes:
    if size < _BIG:
        return _HEAD.pack(size)
    return _HEAD.pack(_BIG) + _LONG.pack(size)


class StreamTransport:
    """POSIX pipe as a stream of length-prefixed frames (see the module docstring)."""

    kind = "stream"

    def __init__(
        self, reader: Any, writer: Any, wlock: Any, words: Any, at: int, ring: Any
    ) -> None:
        self._words = words
        self._at = at  # words[at]: first unread byte of the ring; words[at + 1]: its end
        self._ring = memoryview(ring).cast("B")
        self._reader = reader
        self._writer = writer
        self._rfd: int = reader.fileno()
        self._wfd: int = writer.fileno()
        self._wlock = wlock
        self._buffer = bytearray()
        self.atomic: int = getattr(select, "PIPE_BUF", 512)
        #: Called (under the read lock) when a frame stops arriving midway; may raise.
        self.on_stall: Optional[Callable[[], None]] = None
        poll = getattr(select, "poll", None)
        self._rpoll: Any = None
        self._wpoll: Any = None
        if poll is not None:
            self._rpoll = poll()
            self._rpoll.register(self._rfd, _POLLIN)
            self._wpoll = poll()
            self._wpoll.register(self._wfd, _POLLOUT)

    def encode(self, data: Any) -> Message:
        """A frame from a pickle: ``bytes``, or a list of pieces."""
        if type(data) is bytes:
            size = len(data)
            if size < _SMALL_READ:
                return (_HEAD.pack(size) if size < _BIG else _header(size)) + data
            return [_header(size), data]
        return [_header(sum(map(len, data))), *data]

    def try_write(self, frame: Message) -> bool:
        """Write a small frame now if the pipe has room and no one else is writing."""
        if type(frame) is not bytes or len(frame) > self.atomic:
            return False
        if not self._wlock.acquire(False):
            return False
        try:
            os.write(self._wfd, frame)  # <= PIPE_BUF: all or nothing (EAGAIN)
        except BlockingIOError:
            return False
        finally:
            self._wlock.release()
        return True

    def write(self, frames: list[Message]) -> None:
        """Write ``frames`` in order, contiguously, waiting for room as needed."""
        iov: list[Any] = []
        small: list[bytes] = []
        for frame in frames:
            if type(frame) is bytes:
                small.append(frame)
                continue
            if small:
                iov.append(b"".join(small))
                small = []
            iov.extend(frame)
        if small:
            iov.append(b"".join(small))
        with self._wlock:
            self._write_all(iov)

    def write_wake(self) -> bool:
        """Post a wake-up frame if that is possible without waiting."""
        if not self._wlock.acquire(True, 0.5):
            return False
        try:
            os.write(self._wfd, _WAKE)
        except OSError:  # full (EAGAIN) or no reader left (EPIPE): nobody to wake
            return False
        finally:
            self._wlock.release()
        return True

    def _write_all(self, iov: list[Any]) -> None:
        fd = self._wfd
        start = 0
        while start < len(iov):
            # Hand the kernel about what the pipe can take: converting hundreds of
            # buffers per call would cost more than the call itself.
            end, total = start, 0
            while end < len(iov) and end - start < _IOV_MAX and total < _WRITE_WINDOW:
                total += len(iov[end])
                end += 1
            try:
                n = _writev(fd, iov[start:end])
            except BlockingIOError:
                self._wait(self._wpoll, fd, True, None)
                continue
            while n and start < len(iov):
                length = len(iov[start])
                if n >= length:
                    n -= length
                    start += 1
                else:
                    iov[start] = memoryview(iov[start]).cast("B")[n:]
                    n = 0
            while start < len(iov) and not len(iov[start]):
                start += 1

    def poll(self, timeout: Optional[float]) -> bool:
        if self._words[self._at + 1] > self._words[self._at]:
            return True
        return self._wait(self._rpoll, self._rfd, False, timeout)

    def read_frame(self, timeout: Optional[float]) -> Optional[Any]:
        """Read one frame (the caller holds the read lock).

        Returns None when no frame began within ``timeout`` (None: wait), an
        empty buffer for a wake-up, else the pickle as a ``memoryview`` that is
        valid until the read lock is released. Raises EOFError when every write
        end is closed.

        Small frames come from the shared ring, which one ``read`` fills with
        as many frames as the pipe holds (a system call per many items).
        """
        w, at, ring = self._words, self._at, self._ring
        head, tail = w[at], w[at + 1]
        if tail - head >= 4:
            (size,) = _HEAD.unpack_from(ring, head)
            end = head + 4 + size
            if end <= tail and size < _BIG:
                if end == tail:
                    w[at] = w[at + 1] = 0
                else:
                    w[at] = end
                return ring[head + 4 : end]
        return self._fill(timeout)

    def _fill(self, timeout: Optional[float]) -> Optional[Any]:
        """Read from the pipe until the ring holds a whole frame (or a big one is read)."""
        w, at, ring, fd = self._words, self._at, self._ring, self._rfd
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            head, tail = w[at], w[at + 1]
            size = -1
            if tail - head >= 4:
                (size,) = _HEAD.unpack_from(ring, head)
                if size == _BIG and tail - head >= 12:
                    (size,) = _LONG.unpack_from(ring, head + 4)
                    return self._read_big(head, tail, 12, size)
                if size != _BIG:
                    if head + 4 + size <= tail:
                        return self.read_frame(0)
                    if size > _RING_FRAME:
                        return self._read_big(head, tail, 4, size)
            if head and (tail == head or RING_SIZE - head < _RING_FRAME + 12):
                ring[: tail - head] = ring[head:tail]  # keep the partial frame, at the start
                tail -= head
                head = 0
                w[at], w[at + 1] = 0, tail
            try:
                n = _readv(fd, [ring[tail:]])
            except BlockingIOError:
                if tail > head:  # the rest of a frame is on its way
                    if not self._wait(self._rpoll, fd, False, _STALL) and self.on_stall:
                        self.on_stall()
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._wait(self._rpoll, fd, False, left)
                continue
            if n == 0:
                if tail > head:
                    raise EOFError("the queue's pipe was closed in the middle of an item")
                raise EOFError("the queue's pipe was closed by every writer")
            w[at + 1] = tail + n

    def _read_big(self, head: int, tail: int, header: int, size: int) -> memoryview:
        """A frame too large for the ring: copy what the ring has, read the rest."""
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        have = min(tail - head - header, size)
        view[:have] = self._ring[head + header : head + header + have]
        self._words[self._at] = self._words[self._at + 1] = 0
        self._read_into(view[have:])
        if size > _KEEP_BUFFER:
            self._buffer = bytearray()
        return view

    def _read_into(self, view: memoryview) -> None:
        fd = self._rfd
        while len(view):
            try:
                n = _readv(fd, [view])
            except BlockingIOError:
                if not self._wait(self._rpoll, fd, False, _STALL) and self.on_stall is not None:
                    self.on_stall()
                continue
            if n == 0:
                raise EOFError("the queue's pipe was closed in the middle of an item")
            view = view[n:]

    @staticmethod
    def _wait(poller: Any, fd: int, write: bool, timeout: Optional[float]) -> bool:
        if poller is not None:
            ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
            try:
                return bool(poller.poll(ms))
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                return False
        rlist, wlist = ([], [fd]) if write else ([fd], [])
        ready = select.select(rlist, wlist, [], timeout)
        return bool(ready[0] or ready[1])

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class PacketTransport:
    """One ``Connection`` message per item (Windows; see the module docstring)."""

    kind = "packet"

    def __init__(self, reader: Any, writer: Any, wlock: Any, max_packet: int) -> None:
        self._reader = reader
        self._writer = writer
        self._wlock = wlock
        self._max = max_packet
        self.atomic = 0
        self.on_stall: Optional[Callable[[], None]] = None

    def encode(self, data: Any) -> Message:
        return data if type(data) is bytes else b"".join(data)

    def try_write(self, frame: Message) -> bool:
        return False

    def write(self, frames: list[Message]) -> None:
        send = self._writer.send_bytes
        # The lock keeps the pieces of a large item together; on Windows a single
        # message needs no lock (message-mode writes are atomic), on the POSIX
        # pipe this transport also runs on, it does.
        with self._wlock:
            for frame in frames:
                size = len(frame)
                if size <= self._max:
                    send(frame)
                    continue
                send(b"\0" + _LONG.pack(size))
                view = memoryview(cast(bytes, frame)).cast("B")
                for start in range(0, size, self._max):
                    send(view[start : start + self._max])

    def write_wake(self) -> bool:
        return False  # a blocking send could wait for a reader; readers poll instead

    def poll(self, timeout: Optional[float]) -> bool:
        return bool(self._reader.poll(timeout))

    def read_frame(self, timeout: Optional[float]) -> Optional[Any]:
        if timeout is not None and not self._reader.poll(max(timeout, 0.0)):
            return None
        data = self._reader.recv_bytes()
        if len(data) == 9 and data[0] == 0:
            (size,) = _LONG.unpack_from(data, 1)
            buf = bytearray(size)
            done = 0
            while done < size:
                done += self._reader.recv_bytes_into(buf, done)
            return buf
        return data

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
