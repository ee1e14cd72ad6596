"""Messages in ``multiprocessing.Connection``'s framing (a signed 4-byte big-endian
length; -1 then an 8-byte length for messages over 2 GiB) read and written with raw
``os.read``/``os.write`` on POSIX: the pool's manager reads many results with one
system call, and a worker reads its next batch and writes each result with one.
``Connection``'s Python layers cost a third of a small message's trip. Windows named
pipes keep ``Connection``'s own methods.

Imported by every worker: it imports only what the multiprocessing bootstrap has
already loaded.
"""

from __future__ import annotations

import os
from functools import partial

from .._native.handoff import write_frame
from .._stdlib import CONNECTION_HEADER, CONNECTION_LONG_HEADER, CONNECTION_LONG_MARKER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["StreamReader", "frame_reader", "frame_writer"]

#: The first read of a frame. os.read allocates the full size, then shrinks it to what
#: came: for a 60-byte message, a write and a 256 KiB read took 14 us on this Linux
#: machine (100-240 us under load), with a 64 KiB read 1-1.5 us. A large frame's
#: remainder is then read in one call.
_CHUNK = 1 << 16
_MAX_READ = 1 << 23


class StreamReader:
    """Frames from a POSIX socket or pipe, in ``Connection``'s format (a signed
    4-byte big-endian length; -1 then an 8-byte length for messages over 2 GiB)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.need = 0

    def read(self, frames: list[bytes]) -> bool:
        """Append the complete frames now readable; return False at end of file.

        Call only when the descriptor is readable (or closed): it reads once.
        """
        # Read a large frame's remainder in one call, but never ask for more than
        # 8 MiB at once: os.read allocates the full size before it shrinks it.
        size = min(max(_CHUNK, self.need - len(self.buf)), _MAX_READ)
        try:
            chunk = os.read(self.fd, size)
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            return True
        except OSError:
            return False
        if not chunk:
            return False
        buf = self.buf
        buf += chunk
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (n,) = CONNECTION_HEADER.unpack_from(buf, pos)
            head = 4
            if n == CONNECTION_LONG_MARKER:
                if end - pos < 12:
                    break
                (n,) = CONNECTION_LONG_HEADER.unpack_from(buf, pos + 4)
                head = 12
            if end - pos - head < n:
                self.need = head + n
                break
            frames.append(bytes(buf[pos + head : pos + head + n]))
            pos += head + n
        else:
            self.need = 0
        if pos:
            del buf[:pos]
        if not buf:
            self.need = 0
        return True


def frame_reader(conn: Any) -> Callable[[], bytes]:
    """``conn.recv_bytes``, or for a POSIX socket or pipe the same messages read with
    :class:`StreamReader` (a message that is already there costs no system call).
    Raises EOFError once the other end closed (or the descriptor failed). Only for a
    connection nothing else reads from: what it read ahead stays in its buffer."""
    from multiprocessing.connection import Connection

    if type(conn) is not Connection:  # Windows named pipes keep the standard path
        return conn.recv_bytes  # type: ignore[no-any-return]
    reader = StreamReader(conn.fileno())
    frames: list[bytes] = []

    def recv() -> bytes:
        while not frames:
            if not reader.read(frames):
                raise EOFError
        return frames.pop(0)

    return recv


def frame_writer(conn: Any) -> Callable[[bytes], None]:
    """``conn.send_bytes``, or for a POSIX socket the same frame written with one
    ``os.write`` (Connection's Python layers cost a third of a small result's trip)."""
    from multiprocessing.connection import Connection

    if type(conn) is not Connection:  # Windows named pipes keep the standard path
        return conn.send_bytes  # type: ignore[no-any-return]
    return partial(write_frame, conn.fileno())
