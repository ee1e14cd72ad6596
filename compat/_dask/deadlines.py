"""Per-task time limits on Dask: a task with a limit announces its start from the
worker (a worker event, :data:`.remote.START_TOPIC`); the limit counts from when
the caller hears it, so queueing on the scheduler does not count, and transit makes
the limit generous by milliseconds, never short. Past it, :class:`Deadlines` calls
``expire(call, worker, pid)`` on its own thread."""

from __future__ import annotations

import heapq
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["Deadlines"]


class Deadlines:
    """The running tasks that have a limit, and a thread that fires when one passes."""

    def __init__(self, expire: Callable[[Any, str, Optional[int]], None]) -> None:
        self._expire = expire
        self._cond = threading.Condition()
        self._waiting: dict[str, tuple[Any, float]] = {}  # task id -> (call, limit)
        self._heap: list[tuple[float, str, str, Optional[int]]] = []
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def expect(self, task_id: str, call: Any, limit: float) -> None:
        """``call`` has ``limit`` seconds once its start is announced."""
        with self._cond:
            self._waiting[task_id] = (call, limit)

    def forget(self, task_id: str) -> None:
        with self._cond:
            self._waiting.pop(task_id, None)

    def started(self, event: Any) -> None:
        """Handler of the start events (runs on the client's event loop)."""
        msg = event[1] if isinstance(event, tuple) else event
        now = time.monotonic()
        with self._cond:
            entry = self._waiting.get(msg["task"])
            if entry is None or self._closed:
                return
            heapq.heappush(self._heap, (now + entry[1], msg["task"], msg["worker"], msg["pid"]))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="compat-dask-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, task_id, worker, pid = heapq.heappop(self._heap)
                entry = self._waiting.pop(task_id, None)
            if entry is not None:
                try:
                    self._expire(entry[0], worker, pid)
                except Exception:
                    pass
