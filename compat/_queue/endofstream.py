"""How iterating a compat Queue ends: ``for item in queue`` reads until the stream ends.

The stream ends when the queue is empty and no other process can still put (the
writers the registry counts, :mod:`compat._queue.registry`), so a reader needs no
sentinel, no polling timeout and no ``terminate()``. A writer that ended without
closing the queue makes the iteration raise :class:`compat.ChildError` after every
item it sent; one that died in the middle of an item makes any read raise it.

The rest of the queue (putting, ``get()``, sharing with children) is in
:mod:`compat._queue.queue`, whose ``Queue`` mixes this in.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

from .._errors import ChildError
from .checks import lost_error
from .registry import F_GOT, Registry
from .robustlock import RobustLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["EndOfStreamMixin"]

_POLL = 0.1  # seconds between looks at the writers while an iterating reader waits
_END = object()


class EndOfStreamMixin:
    """The iteration half of ``Queue``: items until the stream ends."""

    # Set by Queue._setup; declared here for the type checker.
    _registry: Registry
    _slot: int
    _marked: int
    _rlock_robust: RobustLock
    _transport: Any
    _puts: Any

    if TYPE_CHECKING:  # Queue's

        def _check_open(self) -> None: ...

        def _mark(self, flag: int) -> None: ...

        def _took(self) -> None: ...

    def __iter__(self) -> Iterator[Any]:
        """Items until the stream ends: the queue is empty and no other process
        can still put. No sentinel, polling timeout or ``terminate()`` needed.

        Who can still put: a process that received the queue when it was started
        (as an argument, or inherited through fork) from its start until it calls
        ``close()``, exits, or reads the queue (``get()`` or iteration) without
        having put; a process that has put, until it closes or exits. The process
        that created the queue counts only once it has put, so a parent that just
        hands the queue to its children needs no ``close()``; while it has
        neither put nor closed, the stream ends only after another writer has
        finished. Under fork, every child forked while the queue exists holds it
        (a Pool's workers too) until it exits.

        Raises :class:`compat.ChildError` at the end, after every item that
        arrived, if a process that put items ended without closing the queue
        (killed, or ``os._exit`` without ``close()``/``join_thread()``); the
        message says how many of its items may be lost.
        """
        while True:
            item = self._next_or_end()
            if item is _END:
                return
            yield item

    def _next_or_end(self) -> Any:
        self._check_open()
        if self._marked & F_GOT == 0:
            self._mark(F_GOT)
        while not self._rlock_robust.acquire(True, _POLL):
            if self._ended():  # another reader holds the lock; maybe it took the last item
                return _END
        try:
            data = self._read_until_end()
            if data is _END:
                return _END
            if type(data) is memoryview:
                data = pickle.loads(data)
                self._took()
                return data
        finally:
            self._rlock_robust.release()
        self._took()
        return pickle.loads(data)

    def _read_until_end(self) -> Any:
        read = self._transport.read_frame
        timeout = 0.0
        while True:
            data = read(timeout)
            if data is None:
                if timeout == 0.0:
                    timeout = _POLL / 2  # a writer may be just about to send
                    continue
                if self._ended():
                    return _END
                timeout = _POLL
                continue
            if len(data):
                self._puts[0] += 1  # header word 0: items taken (read lock held)
                return data
            # A wake-up: a writer finished.
            if self._ended():
                return _END
            timeout = 0.0

    def _ended(self) -> bool:
        scan = self._registry.scan(self._slot)
        # Look at the pipe after the writers: a writer sends before it releases.
        if not scan.ended or self._transport.poll(0):
            return False
        if scan.lost:
            raise lost_error(scan.lost_pid, scan.lost_unsent)
        return True

    def _on_stall(self) -> None:
        scan = self._registry.scan(self._slot)
        if scan.lost:
            raise ChildError(
                f"a process writing to this queue (pid {scan.lost_pid}) died in the middle "
                "of an item; the queue cannot be read any further",
                pid=scan.lost_pid,
            )
