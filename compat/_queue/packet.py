"""The packet transport of a compat Queue (Windows): one pipe message per item.

One ``Connection.send_bytes`` message per item, as the standard library does over
its message-mode named pipes, whose writes cannot be made non-blocking. Items
larger than ``max_packet`` travel as a header message (``b"\\0"`` + 8-byte
length) and pieces, so no single write or read exceeds what a pipe carries in one
piece. An empty message is a *wake-up*; ``write_wake()`` sends none (a blocking
send could wait for a reader), so readers poll instead. The plan that picks this
transport is in :mod:`compat._queue.transport`.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, cast

    from .transport import Message
else:

    def cast(_type: object, value: object) -> object:
        """typing.cast at run time (it returns ``value``), without importing typing."""
        return value


__all__ = ["PacketTransport"]

_LONG = struct.Struct("<Q")  # the length in a large item's header message


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
