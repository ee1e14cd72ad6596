"""How a :class:`~compat._pool.manager.WorkerPool` ends: its states, and the steps that
stop its workers and free its pipes.

- ``close()`` lets the work finish; the manager thread then asks each worker to exit
  and, past :data:`EXIT_GRACE`, terminates (then kills) the ones that do not.
- ``terminate()`` stops every worker now and fails the tasks not finished, in bounded
  time (:data:`KILL_GRACE`, then ``REAP_GRACE``).
- ``join()`` waits for the manager thread and the workers; the pipes are released once
  nothing can use them any more.

The rest of the pool (starting workers, dispatching tasks, reading results, replacing
dead workers) is in :mod:`compat._pool.manager`, whose ``WorkerPool`` mixes this in.
"""

from __future__ import annotations

import collections
import threading
import time

from .._native.threads import join_started
from .io import Wakeup
from .procs import REAP_GRACE, WorkerProc, ask_to_exit, close_quietly
from .tasks import ErrorMaker, Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from .tasks import Delivery

RUN = "RUN"
CLOSE = "CLOSE"
TERMINATE = "TERMINATE"

#: Seconds a worker may take to exit once asked (close) before it is terminated.
EXIT_GRACE = 10.0
#: Seconds between terminate() (SIGTERM) and kill() (SIGKILL) for a worker.
KILL_GRACE = 2.0


class ShutdownMixin:
    """The closing, terminating and joining half of ``WorkerPool``."""

    # Set by WorkerPool.__init__; declared here for the type checker.
    state: str
    broken: Optional[BaseException]
    _lock: threading.Lock
    _room: threading.Condition
    _pending: collections.deque[Task]
    _workers: list[WorkerProc]
    _feeders: int
    _errors: ErrorMaker
    _wakeup: Wakeup
    _thread: Optional[threading.Thread]
    _exit_deadline: Optional[float]
    _killed_stragglers: bool
    _closed_resources: bool

    if TYPE_CHECKING:  # WorkerPool's; terminate() fails the unfinished tasks through it

        def _deliver(self, items: list[Delivery]) -> None: ...

    def _drained_locked(self) -> bool:
        """True once a closed pool may let its workers go: no task waits or runs."""
        return (
            not self._pending
            and not self._feeders
            and not any(w.outstanding for w in self._workers)
        )

    def _exit_workers_locked(self) -> float:
        now = time.monotonic()
        if self._exit_deadline is None:
            self._exit_deadline = now + EXIT_GRACE
        for w in self._workers:
            ask_to_exit(w)
        if now >= self._exit_deadline:
            # A worker that does not exit when asked (a non-daemon thread started by
            # a task, a hung atexit handler) must not make join() wait forever.
            for w in self._workers:
                if self._killed_stragglers:
                    w.proc.kill()
                else:
                    w.proc.terminate()
            self._killed_stragglers = True
            self._exit_deadline = now + KILL_GRACE
        return max(0.05, self._exit_deadline - now)

    def close(self) -> None:
        with self._lock:
            if self.state == RUN:
                self.state = CLOSE
        self._wakeup.wake()

    def terminate(self, *, kill: bool = False) -> None:
        """Stop every worker now; tasks not finished fail. Bounded in time."""
        with self._lock:
            self.state = TERMINATE
            self._room.notify_all()
            workers = list(self._workers)
            orphans = list(self._pending)
            self._pending.clear()
            running = [(w, list(w.outstanding)) for w in workers]
            for w in workers:
                w.outstanding.clear()
                w.batches.clear()
        self._wakeup.wake()
        for w in workers:
            try:
                if kill:
                    w.proc.kill()
                else:
                    w.proc.terminate()
            except (OSError, ValueError, AttributeError):
                pass
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            join_started(thread, KILL_GRACE + REAP_GRACE)
        deadline = time.monotonic() + KILL_GRACE
        for w in workers:
            try:
                w.proc.join(max(0.0, deadline - time.monotonic()))
                if w.proc.exitcode is None:
                    w.proc.kill()
                    w.proc.join(REAP_GRACE)
            except (OSError, ValueError, AttributeError):
                pass
        failures: list[Delivery] = [
            (t, False, self._errors.terminated(None, t, started=False), False) for t in orphans
        ]
        for w, tasks in running:
            for i, t in enumerate(tasks):
                failures.append(
                    (
                        t,
                        False,
                        self._errors.terminated(w.proc, t, started=(i == 0), killed=kill),
                        False,
                    )
                )
        self._deliver(failures)
        if thread is None or not thread.is_alive():
            self._release()

    def _abort(self, exc: BaseException) -> None:
        with self._lock:
            self.broken = self._errors.manager_failed(exc)
        self.terminate(kill=True)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the manager thread and the workers; True when all have ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            join_started(
                thread, None if deadline is None else max(0.0, deadline - time.monotonic())
            )
            if thread.is_alive():
                return False
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            w.proc.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if all(w.proc.exitcode is not None for w in workers):
            self._release()
            return True
        return False

    def _release(self) -> None:
        with self._lock:
            if self._closed_resources:
                return
            self._closed_resources = True
            workers = list(self._workers)
            self._workers = []
            for w in workers:
                w.dead = True
                if not w.sending:  # else the sending thread closes it when done
                    close_quietly(w.conn)
        self._wakeup.close()


__all__ = ["CLOSE", "EXIT_GRACE", "KILL_GRACE", "RUN", "TERMINATE", "ShutdownMixin"]
