"""Feeding a child's stdin from a thread, so that a timeout holds while the child does not read.

Why: the standard library's Windows ``Popen._communicate`` starts reader threads for
stdout and stderr, then writes ``input`` to stdin *in the calling thread*, and only
then waits for the readers with the timeout. A child that never reads its stdin
fills the pipe buffer (a few KiB), the write blocks, and ``communicate(input,
timeout=...)`` (so ``run(input=..., timeout=...)``) never returns. The POSIX
``_communicate`` polls stdin with the other pipes and honours the timeout, so only
Windows hands stdin to a :class:`StdinFeeder` (``compat.Popen.communicate``); the
code is OS-independent so that the tests run it on Linux.
"""

from __future__ import annotations

import errno
import io

from .._native.threads import background_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Optional

__all__ = ["StdinFeeder"]


class StdinFeeder:
    """Write ``data`` to ``stream`` and close it, in a daemon thread.

    Errors are those the standard library ignores in ``communicate()``: a broken
    pipe, and EINVAL (how Windows reports a write to a pipe whose reader exited or
    closed it). The type of ``data`` is checked in the caller, before the thread
    starts, as ``communicate()`` would raise it there; any other error is kept in
    :attr:`error` for the caller to raise.

    If something outside the tree holds the read end open without reading, the
    thread stays blocked; it is a daemon thread and owns the stream, so nothing
    else waits for it (the caller must not close ``stream`` itself: on Windows
    ``close()`` would block on the lock the blocked ``write()`` holds).
    """

    def __init__(self, stream: IO[Any], data: Any) -> None:
        _check_input(stream, data)
        self.error: Optional[BaseException] = None
        self._stream = stream
        self._data = data
        self._thread = background_thread(self._run, name="compat stdin feeder")
        self._thread.start()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds; True when the stream is written and closed."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self._data:
                self._stream.write(self._data)
        except BaseException as exc:  # kept for the caller; a thread cannot raise to it
            if not _ignored(exc):
                self.error = exc
        finally:
            self._data = None
            try:
                self._stream.close()
            except BaseException as exc:
                if not _ignored(exc) and self.error is None:
                    self.error = exc


def _ignored(exc: BaseException) -> bool:
    # What the standard library's Popen._stdin_write ignores (bpo-19612, bpo-30418).
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EINVAL
    )


def _check_input(stream: object, data: Any) -> None:
    if not data:
        return
    if isinstance(stream, io.TextIOBase):
        if not isinstance(data, str):
            raise TypeError(f"input must be str in text mode, not {type(data).__name__}")
    else:
        memoryview(data)  # TypeError unless bytes-like, as communicate() raises
