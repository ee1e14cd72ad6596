"""How a :class:`~compat._pool.manager.WorkerPool` hands tasks to its workers.

Work goes only to idle workers, in batches sized like guided scheduling: an idle
worker takes ``1 / (2 * workers)`` of the backlog (at most :data:`MAX_BATCH` tasks).
Tiny tasks then cost one pipe round trip per batch instead of per task, and the last
batches shrink so that no worker is left with a long tail. A busy worker may get its
next batch early (prefetch) only while that cannot block either pipe direction.
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
#: Seconds of work a batch should hold once task durations are known: long tasks go
#: out one or two at a time (so no task waits behind a slow or descheduled worker),
#: tiny ones by the hundred.
BATCH_SECONDS = 0.01
#: Largest message sent to a worker that is still busy (its next batch, so that it
#: never idles through a round trip). Two of them must fit an empty pipe buffer on
#: every OS (macOS socket buffers and Windows multiprocessing pipes hold 8 KiB), so
#: writing one cannot block while the worker itself blocks writing results.
PREFETCH_BYTES = 2048


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
        live = sum(1 for w in workers if not (w.exiting or w.dead) and w.budget != 0) or 1
        cap = MAX_BATCH
        if self._task_seconds is not None:
            cap = max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(self._task_seconds, 1e-7))))
        now = time.monotonic()
        assigned: list[WorkerProc] = []
        for prefetch in (False, True):
            for w in workers:
                if not pending:
                    break
                if not prefetch:
                    if not w.idle:
                        continue
                elif not w.may_prefetch(now, self._task_seconds, PREFETCH_BYTES) or (
                    w.sending and w not in assigned
                ):
                    # (Another thread may still be writing this worker's current
                    # batch; a batch written before it would run out of order.)
                    continue
                n = min(cap, max(1, -(-len(pending) // (BATCH_SHARE * live))))
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
        for w, batch in sends:
            payload = pickle.dumps([(t.seq, t.blob) for t in batch], wire.PROTOCOL)
            try:
                w.conn.send_bytes(payload)
            except (OSError, ValueError):
                # The worker died (or the pool was terminated); its death handler
                # puts these tasks back, because the worker never saw them. Tasks of
                # batches written before are judged as usual.
                with self._lock:
                    w.unsent.update(t.seq for t in batch)
                w.send_failed = True
            with self._lock:
                w.sending -= 1
                if w.dead and not w.sending:
                    close_quietly(w.conn)
        if any(w.send_failed for w, _ in sends):
            self._wakeup.wake()
