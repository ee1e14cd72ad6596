"""Locks that the main thread shares with compat's own threads, safe against a
Ctrl+C that arrives just as the main thread takes one.

From CPython 3.14 a ``with lock:`` statement runs pending signal handlers once the
lock's ``__enter__`` has returned and before the block starts (CPython gh-148874):
a KeyboardInterrupt raised there leaves the lock held, and ``__exit__`` never runs.
The main thread goes on with the exception; a pool's manager thread, a queue's
feeder or the spares' thread then blocks on that lock for ever, and the program
hangs at its next join. Before 3.14 ``with`` on a C lock has no such window (the
handler runs inside the block), so there :func:`shared_lock` is a plain Lock.

From 3.14 :func:`shared_lock` is a :class:`ReclaimingLock`: each entry first gives
back a hold its own thread leaked that way. compat never nests these locks (they
were plain Locks, which would deadlock), so a thread that holds one as it enters
leaked it. The main thread's next use of the object (``terminate()`` in a ``with``
block's exit, ``close()``, the finalizer at interpreter exit) reclaims it, and the
other threads go on.
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RECLAIMS", "ReclaimingLock", "shared_lock"]

#: Whether :func:`shared_lock` makes :class:`ReclaimingLock` (CPython 3.14+).
RECLAIMS = sys.version_info >= (3, 14)


class ReclaimingLock(_thread.RLock):  # type: ignore[misc]  # a C class in the stubs' eyes
    """A lock for ``with`` blocks that never nest, which releases a hold the entering
    thread leaked (see the module). Owned by one thread at a time, as an RLock; works
    with ``threading.Condition``."""

    __slots__ = ()

    def __enter__(self) -> bool:  # type: ignore[override]  # the stubs: __enter__ = acquire
        while self._is_owned():  # type: ignore[attr-defined]  # leaked (see the module)
            self.release()
        return self.acquire()


def shared_lock() -> Any:
    """A lock for state the main thread shares with compat's threads: a plain Lock
    before CPython 3.14, a :class:`ReclaimingLock` from 3.14 (see the module)."""
    return ReclaimingLock() if RECLAIMS else _thread.allocate_lock()
