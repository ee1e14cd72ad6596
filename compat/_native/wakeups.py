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
private lock of its own (one C ``acquire``), holds no shared lock while it blocks or
looks at the state, and takes the shared one only in ``with`` blocks on a C lock,
whose ``__enter__`` returns straight into the block, left through ``__exit__``
whatever is raised inside. The side that changes
the state calls :meth:`Wakeups.wake` afterwards.
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

    __slots__ = ("_gates", "_lock")

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        # Invariant (under _lock): a gate in the list is held (locked); wake()
        # releases a gate only as it takes it out of the list.
        self._gates: list[_thread.LockType] = []

    def wake(self) -> None:
        """Wake every thread waiting now; call it after changing what they wait for."""
        with self._lock:
            gates, self._gates = self._gates, []
            for gate in gates:
                gate.release()

    def wait_until(self, ready: Callable[[], bool], timeout: Optional[float] = None) -> bool:
        """Return ``ready()`` once it is true, or after ``timeout`` seconds (None: no
        limit). ``ready`` is called without any lock held. In the main thread an
        indefinite wait still wakes every ``SIGNAL_CHECK`` seconds, to notice a
        Ctrl+C whose signal landed in another thread."""
        if ready():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        gate = _thread.allocate_lock()
        gate.acquire()
        try:
            while True:
                with self._lock:
                    if gate not in self._gates:
                        # Woken: wake() released it (or our acquire took it back).
                        gate.acquire(False)
                        self._gates.append(gate)
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
            with self._lock:
                if gate in self._gates:
                    self._gates.remove(gate)
