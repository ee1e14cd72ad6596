"""Waits that a Ctrl+C can interrupt anywhere without leaving a lock behind.

Python raises KeyboardInterrupt in the main thread at the next point where the
interpreter checks for signals, which may fall inside the standard library's lock
handling. ``concurrent.futures.wait`` acquires each future's lock in a Python loop,
and ``threading.Condition.__enter__`` is Python code that returns after its acquire
(``Future.done()`` goes through it): interrupted there, the main thread keeps the
lock, the pool's manager thread then blocks for ever setting that future's result,
and ``with executor:`` hangs. ``Condition.wait`` releases and re-acquires its lock in
Python code: interrupted between, the ``with`` block releases a lock it no longer
holds (RuntimeError instead of KeyboardInterrupt, or worse, another thread's hold).
The main thread's indefinite waits loop on short slices (:func:`main_thread_slice`),
so they pass through those windows several times a second.

:class:`Wakeups` replaces a Condition for those waits: each waiting call blocks on a
private lock of its own (one C ``acquire``), and registers it in a list with single
list operations, atomic under the GIL: the waiting side holds no shared lock, ever.
Not even in a ``with`` block: on CPython 3.14 a signal handler can raise between a
lock's ``__enter__`` and the block (CPython gh-148874), and the lock stays held. The
side that changes the state calls :meth:`Wakeups.wake` afterwards.
"""

from __future__ import annotations

import _thread
import time

from .threads import main_thread_slice

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

__all__ = ["Wakeups"]


class Wakeups:
    """The threads waiting for something that another thread will make true."""

    __slots__ = ("_gates",)

    def __init__(self) -> None:
        # The private locks of the waiting calls, held while registered here.
        self._gates: list[_thread.LockType] = []

    def wake(self) -> None:
        """Wake every thread waiting now; call it after changing what they wait for."""
        gates = self._gates
        while gates:
            try:
                gate = gates.pop()
            except IndexError:  # a waiter took its own out meanwhile
                break
            try:
                gate.release()
            except RuntimeError:  # released already (its waiter re-registered it
                pass  # while we held it): a spurious wake-up, harmless

    def wait_until(self, ready: Callable[[], bool], timeout: Optional[float] = None) -> bool:
        """Return ``ready()`` once it is true, or after ``timeout`` seconds (None: no
        limit). ``ready`` is called without any lock held, and must not take one
        that another thread shares, for the same reason. In the main thread an
        indefinite wait still wakes every ``SIGNAL_CHECK`` seconds, to notice a
        Ctrl+C whose signal landed in another thread."""
        if ready():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        gates = self._gates
        gate = _thread.allocate_lock()
        gate.acquire()
        try:
            while True:
                if gate not in gates:
                    # Woken (wake() took it out and released it), or first time here:
                    # held again before it goes in, so that wake() can release it.
                    gate.acquire(False)
                    gates.append(gate)
                # Registered before this look: a change made after it wakes us.
                if ready():
                    return True
                if deadline is None:
                    remaining = None
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                step = main_thread_slice(remaining)
                gate.acquire(True, -1 if step is None else step)
        finally:
            try:
                gates.remove(gate)
            except ValueError:  # wake() took it out already
                pass
