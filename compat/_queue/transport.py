"""How a compat Queue moves pickled items through its pipe: the plan per platform.

Two transports, chosen by :func:`plan_for` from the platform alone (so the
Windows path is exercised on Linux by passing ``PlatformFacts.simulated("win32")``):

- ``"stream"`` (POSIX, :mod:`compat._queue.stream`): the pipe is a byte stream of
  length-prefixed frames, written straight from ``put()`` when small and by the
  feeder thread otherwise, read ahead into a buffer in shared memory that every
  reader of every process takes its next frame from.
- ``"packet"`` (Windows, :mod:`compat._queue.packet`): one ``Connection.send_bytes``
  message per item, as the standard library does over its message-mode named pipes;
  large items in pieces.

A frame of length 0 (stream) or an empty message (packet) is a *wake-up*: it
carries no item and tells waiting readers to look at the writers again.
"""

from __future__ import annotations

import os

from .._native.pipes import set_pipe_size
from .._platform import (
    LINUX,
    MACOS,
    WINDOWS,
    PlatformFacts,
)
from .._record import Record
from .packet import PacketTransport
from .stream import StreamTransport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union

    #: A frame ready for the pipe: one ``bytes`` (small), or a list of buffers.
    #: (For annotations only: there is no such name at run time.)
    Message = Union[bytes, list[Any]]

__all__ = ["QueuePlan", "current_plan", "make_transport", "plan_for"]

_LINUX_PIPE_SIZE = 1 << 20  # the default /proc/sys/fs/pipe-max-size

# POSIX-only call of the stream transport, looked up once (and typed for the
# Windows type check, where it does not exist and is never reached).
_set_blocking: Any = getattr(os, "set_blocking", None)


class QueuePlan(Record):
    """How a queue talks on one platform; a pure function of the platform name."""

    _fields = (
        "platform",
        "transport",
        "write_through",
        "pipe_size",
        "max_packet",
        "sem_value_max",
    )
    __slots__ = _fields
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

    def __init__(
        self,
        platform: str,
        transport: str,
        write_through: bool,
        pipe_size: int,
        max_packet: int,
        sem_value_max: int,
    ) -> None:
        self._init(platform, transport, write_through, pipe_size, max_packet, sem_value_max)


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
    if plan.pipe_size:
        set_pipe_size(writer.fileno(), plan.pipe_size)  # Linux; the default also works
