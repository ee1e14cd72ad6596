"""RobustLock: a multiprocessing lock whose holder's death is detected and taken over.

The holder's pid and process token sit in two words of shared memory (a
Queue's :class:`~compat._queue.registry.Registry` table, or a SimpleQueue's own
array), so a waiter can tell a live holder from a dead one. Queues guard their
table and their read end with it: a reader killed while waiting in ``get()``
does not block every other reader forever, as it does with the standard
library's queues.
"""

from __future__ import annotations

import os
import time

from .._native.liveness import pid_alive, process_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["RobustLock"]

#: Seconds a lock may look held by nobody (its holder died between taking it and
#: writing its pid) before a waiter takes it over.
ORPHAN_AFTER = 10.0


class RobustLock:
    """A multiprocessing ``Lock`` that outlives a holder killed while holding it.

    The holder's pid is kept in shared memory. A process that waits longer than
    half a second looks at it; if that process is gone (terminated while blocked
    in ``get()``, killed while starting up...), the waiter takes the lock over
    instead of waiting forever, which is what the standard library's queues do.
    A second, briefly held lock makes sure only one waiter takes it over.
    """

    __slots__ = ("_at", "_lock", "_steal", "_words")

    def __init__(self, lock: Any, steal: Any, words: Any, at: int) -> None:
        self._lock = lock
        self._steal = steal
        self._words = words
        self._at = at

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        if self._lock.acquire(False):
            me = _me or _identity()
            w, at = self._words, self._at
            w[at] = me[0]
            w[at + 1] = me[1]
            return True
        if not block:
            return False
        return self._wait(timeout)

    def release(self) -> None:
        self._words[self._at] = 0
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _mine(self) -> None:
        pid, token = _identity()
        w = self._words
        w[self._at] = pid
        w[self._at + 1] = token

    def _wait(self, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        unowned_since: Optional[float] = None
        w, at = self._words, self._at
        while True:
            step = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if step <= 0:
                return False
            if self._lock.acquire(True, step):
                self._mine()
                return True
            owner, token = w[at], w[at + 1]
            if owner == 0:
                now = time.monotonic()
                unowned_since = unowned_since or now
                if now - unowned_since < ORPHAN_AFTER:
                    continue
            elif pid_alive(owner, token):
                unowned_since = None
                continue
            if self._take_over(owner):
                return True

    def _take_over(self, dead: int) -> bool:
        if not self._steal.acquire(True, 1.0):
            return False
        try:
            if self._words[self._at] != dead:  # somebody got it meanwhile
                return False
            if not self._lock.acquire(False):
                pass  # still held by the dead process: it is ours now, as it is
            self._mine()
            return True
        finally:
            self._steal.release()


_me: list[int] = []
_hooked = False


def _identity() -> list[int]:
    """[pid, process token] of this process, cached until the next fork."""
    global _hooked
    if not _me:
        if not _hooked:
            _hooked = True
            register = getattr(os, "register_at_fork", None)
            if register is not None:
                register(after_in_child=_me.clear)
        pid = os.getpid()
        _me[:] = [pid, process_token(pid)]
    return _me
