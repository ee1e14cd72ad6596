"""How a :class:`~compat._pool.manager.WorkerPool` hands tasks to its workers.

The rule (issue 14): no worker holds a queue of tasks while another is starting or
idle. So:

- Work goes only to workers that reported ready (their initializer finished) and
  hold no task. A worker still starting gets nothing: its tasks would wait for its
  interpreter and initializer while a ready worker idles (a fresh ``Pool(2)``
  running four 1 s sleeps took 3 s, one worker running three of them).
- Until the first task answers, its duration is unknown and a worker gets one task
  at a time. Then batches are sized like guided scheduling: an idle worker takes
  ``1 / (2 * workers)`` of the backlog (workers still starting count, so they keep
  their share), at most :data:`BATCH_SECONDS` of work and :data:`MAX_BATCH` tasks.
  Tiny tasks then cost one pipe round trip per batch instead of per task, long ones
  go out one by one, and the last batches shrink so that no worker is left with a
  long tail.
- A busy worker may get its next batch early (prefetch), so that it does not idle
  through a round trip, only while the tasks queued behind its running one stay
  within :data:`BATCH_SECONDS` of work (never for a task longer than that), more
  tasks wait than there are workers (the last ones go to whoever is free), and
  writing the batch cannot block either pipe direction.
"""

from __future__ import annotations

import collections
import pickle
import threading
import time

from . import worker as wire
from .io import Wakeup
from .procs import WorkerProc, close_quietly
from .shutdown import TERMINATE
from .tasks import Task, take_batch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

MAX_BATCH = 256
BATCH_SHARE = 2
#: Seconds of work a batch should hold once task durations are known, and the most
#: a worker may hold queued behind its running task: long tasks go out one at a time
#: (so no task waits behind a slow or descheduled worker), tiny ones by the hundred.
BATCH_SECONDS = 0.01
#: Largest message sent to a worker that is still busy (its next batch, so that it
#: never idles through a round trip). Two of them must fit an empty pipe buffer on
#: every OS (macOS socket buffers and Windows multiprocessing pipes hold 8 KiB), so
#: writing one cannot block while the worker itself blocks writing results.
PREFETCH_BYTES = 2048


def update_estimate(estimate: Optional[float], seconds: float) -> float:
    """The running estimate of one task's duration, after a task ran ``seconds``.

    A moving average that follows longer tasks faster than shorter ones: a pool that
    ran tiny tasks and is now given long ones must stop batching and prefetching
    them at once, while a few quick answers among long tasks must not make it batch
    the long ones."""
    if estimate is None:
        return seconds
    if seconds > estimate:
        return 0.5 * estimate + 0.5 * seconds
    return 0.8 * estimate + 0.2 * seconds


def batch_cap(estimate: Optional[float]) -> int:
    """The most tasks one batch may hold: one while durations are unknown."""
    if estimate is None:
        return 1
    return max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(estimate, 1e-7))))


def prefetch_room(w: WorkerProc, estimate: float) -> int:
    """How many more tasks the busy worker ``w`` may be sent now: the tasks queued
    behind its running one stay within :data:`BATCH_SECONDS` of work."""
    queued = len(w.outstanding) - 1
    return min(MAX_BATCH, int(BATCH_SECONDS / max(estimate, 1e-7))) - queued


def claim(pending: collections.deque[Task], count: int) -> None:
    """Mark the first ``count`` tasks of ``pending`` started, without tying them to
    one worker: whichever worker is ready first takes them.

    For the executor's ``shutdown(cancel_futures=True)``: the standard library's call
    queue holds the first tasks for workers that have not started yet, and marks
    their futures running, so they are not cancelled; the same tasks run here.
    Futures cancelled while they waited are dropped."""
    i = 0
    while i < len(pending) and count > 0:
        task = pending[i]
        start = task.start
        if start is not None:
            task.start = None
            try:
                started = start()
            except Exception:  # a future in a state it cannot leave
                started = False
            if not started:
                del pending[i]
                continue
        i += 1
        count -= 1


class DispatchMixin:
    """The dispatching half of ``WorkerPool`` (which sets these attributes)."""

    state: str
    broken: Optional[BaseException]
    size: int
    _lock: threading.Lock
    _room: threading.Condition
    _pending: collections.deque[Task]
    _workers: list[WorkerProc]
    _feeders: int
    _send_failures: bool
    _task_seconds: Optional[float]
    _wakeup: Wakeup

    def _start_worker_locked(self) -> WorkerProc:
        raise NotImplementedError

    def _grow_locked(self, extra: int = 0) -> None:
        if self.state == TERMINATE or self.broken is not None:
            return
        idle = sum(1 for w in self._workers if w.idle)
        while len(self._workers) < self.size and idle < len(self._pending) + extra:
            self._start_worker_locked()
            idle += 1

    def _dispatch_locked(self) -> list[tuple[WorkerProc, list[Task]]]:
        pending = self._pending
        sends: list[tuple[WorkerProc, list[Task]]] = []
        if not pending or self.state == TERMINATE:
            return sends
        workers = self._workers
        # Workers still starting count: the first ready one must leave them a share.
        # (Plain loops and attributes, not properties: this runs for every result.)
        live = 0
        idle: list[WorkerProc] = []
        for w in workers:
            if w.may_run_more:
                live += 1
                if w.ready and not w.outstanding:
                    idle.append(w)
        live = live or 1
        estimate = self._task_seconds
        # The last tasks (one per worker or fewer) wait for a worker that is free:
        # queued behind a busy one, the last of them would end the run late while
        # another worker idles.
        prefetching = estimate is not None and len(pending) > live
        if not idle and not prefetching:
            if self._feeders:
                self._room.notify_all()
            return sends
        cap = batch_cap(estimate)
        now = time.monotonic()
        assigned: list[WorkerProc] = []
        # First the idle workers, then (prefetch) the busy ones.
        for prefetch, candidates in ((False, idle), (True, workers if prefetching else [])):
            for w in candidates:
                if not pending:
                    break
                if not prefetch:
                    room = cap
                elif (
                    len(pending) <= live
                    or (w.sending and w not in assigned)
                    or not w.may_prefetch(now, estimate, PREFETCH_BYTES)
                ):
                    # (Another thread may still be writing this worker's current
                    # batch; a batch written before it would run out of order.)
                    continue
                else:
                    room = min(cap, prefetch_room(w, estimate))  # type: ignore[arg-type]
                    if room <= 0:
                        continue
                n = min(room, max(1, -(-len(pending) // (BATCH_SHARE * live))))
                if w.budget is not None:
                    n = min(n, w.budget)
                batch, size = take_batch(pending, n, PREFETCH_BYTES if prefetch else None)
                if batch:
                    if not w.outstanding:
                        w.head_since = now
                    w.batches.append([now, len(batch), 0, size])
                    w.outstanding.extend(batch)
                    if w.budget is not None:
                        w.budget -= len(batch)
                    w.sending += 1
                    sends.append((w, batch))
                    assigned.append(w)
        if self._feeders:
            self._room.notify_all()
        return sends

    def _send(self, sends: list[tuple[WorkerProc, list[Task]]]) -> None:
        failed = False
        for w, batch in sends:
            payload = pickle.dumps([(t.seq, t.blob) for t in batch], wire.PROTOCOL)
            try:
                w.write(payload)
            except (OSError, ValueError):
                # The worker died (or the pool was terminated); its death handler
                # puts these tasks back, because the worker never saw them. Tasks of
                # batches written before are judged as usual.
                with self._lock:
                    w.unsent.update(t.seq for t in batch)
                w.send_failed = True
                self._send_failures = True
            failed = failed or w.send_failed
            with self._lock:
                w.sending -= 1
                if w.dead and not w.sending:
                    close_quietly(w.conn)
        if failed:
            self._wakeup.wake()
