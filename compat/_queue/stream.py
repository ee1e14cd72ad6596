"""The stream transport of a compat Queue (Linux, macOS): a pipe read as a stream of frames.

The pipe is a byte stream of frames, each a 4-byte little-endian length
(``0xFFFFFFFF`` then 8 bytes for 4 GiB and more) and the pickle. Both ends are
non-blocking: a small frame (at most ``PIPE_BUF`` bytes, which POSIX writes
atomically) goes straight into the pipe from ``put()`` when there is room,
everything else is written by the queue's feeder thread, many frames per
``writev``. A reader takes in as much as the pipe holds, up to :data:`RING_SIZE`
bytes, into a buffer in shared memory: the frames it did not need wait there for
the next reader, of any process, so one system call serves many items and several
readers still share one stream. Readers wait in ``poll``, so every wait has a
timeout. Linux pipes are enlarged to 1 MiB (``F_SETPIPE_SZ``, see
:func:`compat._queue.transport.prepare_pipe`): fewer round trips for large items,
and the join-before-drain deadlock (IPC-05) needs 16x more data.

A frame of length 0 is a *wake-up*: it carries no item and tells waiting readers
to look at the writers again. The plan that picks this transport is in
:mod:`compat._queue.transport`.
"""

from __future__ import annotations

import os
import select
import struct
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .transport import Message

__all__ = ["RING_SIZE", "StreamTransport"]

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
_STALL = 1.0  # seconds without progress inside a frame before asking on_stall

# POSIX-only calls of the stream transport, looked up once (and typed for the
# Windows type check, where they do not exist and are never reached).
_readv: Any = getattr(os, "readv", None)
_writev: Any = getattr(os, "writev", None)
_POLLIN: int = getattr(select, "POLLIN", 1)
_POLLOUT: int = getattr(select, "POLLOUT", 4)


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
