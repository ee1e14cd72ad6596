"""The worker machinery under :class:`compat.Pool` and :class:`compat.ProcessPoolExecutor`.

Shape, and why it differs from the standard library's:

- Each worker has its own duplex pipe, so the parent knows which tasks each worker
  holds. ``multiprocessing.Pool`` shares one task queue and one result queue among
  all workers; a worker killed while holding the queue's lock, or a task taken and
  never answered, then hangs the pool forever (cpython#96062, bpo-22393; research
  POOL-04). Here a dead worker is noticed through its process sentinel (POSIX; on
  Windows until it reported ready) or the end of its pipe (Windows), the task it
  was running fails with ``ChildError``, the tasks queued behind it go back to the
  queue, and a replacement starts.
- One manager thread per pool (the standard library uses three) waits on every
  worker at once, reads results, and hands out work; a submitting thread gives work
  straight to an idle worker without waking it.
- Work goes only to workers that are ready and idle, in batches sized like guided
  scheduling (one task at a time until durations are known, then ``1 / (2 *
  workers)`` of the backlog, at most 10 ms of work); a busy worker is sent more
  early only while that keeps its queue within 10 ms of work, so no worker holds a
  queue of tasks while another is starting or idle (:mod:`compat._pool.dispatch`).
  Tiny tasks then cost one pipe round trip per batch instead of per task. A worker
  is never sent work while it may be blocked writing results, so the two pipe
  directions cannot deadlock.

This module holds the running pool (start workers, submit tasks, the manager
thread's loop, results, dead workers, time limits); how tasks go to workers is in
:mod:`compat._pool.dispatch`, how the pool ends (close, terminate, join, the pool's
states and grace periods) in :mod:`compat._pool.shutdown`, when a running task's time
is up in :mod:`compat._pool.deadlines`.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time

from .._native.locks import shared_lock
from .._native.threads import background_thread, block_again, unblock_for_user_code
from . import worker as wire
from .deadlines import next_deadline, overdue
from .dispatch import DispatchMixin, claim, update_estimate
from .io import DEFAULT_TRANSPORT, Wakeup, make_waiter
from .procs import (
    WorkerProc,
    close_quietly,
    default_process,
    drain_and_reap,
    kill_tree,
    method_of,
    start_worker,
)
from .shutdown import CLOSE, RUN, TERMINATE, ShutdownMixin
from .tasks import (
    STARTUP_FAILURES,
    ErrorMaker,
    Task,
    deliver,
    exitcode_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .tasks import Delivery


#: Seconds between looks at a dead worker whose batch another thread is writing.
JUDGE_POLL = 0.005


class WorkerPool(DispatchMixin, ShutdownMixin):
    """Processes, pipes and one manager thread; knows nothing of the public APIs.

    Closing, terminating and joining are in :class:`~compat._pool.shutdown.ShutdownMixin`."""

    def __init__(
        self,
        mp_context: Any,
        size: int,
        initializer: Optional[Callable[..., object]],
        initargs: tuple[Any, ...],
        maxtasks: Optional[int],
        *,
        flavour: str,
        error_type: Callable[..., BaseException],
        process_factory: Optional[Callable[..., Any]] = None,
        transport: Optional[str] = None,
        lazy: bool = False,
        task_timeout: Optional[float] = None,
        forward_logs: bool = True,
    ) -> None:
        self._ctx = mp_context
        #: whether workers' log records go to this process's handlers
        self.forward_logs = forward_logs
        #: the time limit of tasks that do not bring their own (None: no limit)
        self.task_timeout = task_timeout
        self.lazy = lazy
        self.method: Optional[str] = method_of(mp_context)
        self._errors = ErrorMaker(error_type, self.method, flavour)
        self.size = size
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasks = maxtasks
        self._flavour = flavour
        self._process_factory = process_factory or default_process
        self.transport = transport or DEFAULT_TRANSPORT
        self._watch_sentinels = self.transport == "stream"
        self._lock = shared_lock()  # a Ctrl+C cannot leave it held (compat._native.locks)
        self._room = threading.Condition(self._lock)
        self._pending: collections.deque[Task] = collections.deque()
        self._workers: list[WorkerProc] = []
        self.state = RUN
        self.broken: Optional[BaseException] = None
        self._feeders = 0
        self._startup_failures = 0
        self._last_startup_exit: Optional[int] = None
        self._seq = itertools.count(1)
        self._task_seconds: Optional[float] = None  # running estimate of one task's time
        #: a task with a time limit was submitted: the manager looks for overdue ones
        #: (a pool without limits skips that scan for each result it reads)
        self._limits = task_timeout is not None
        #: a batch could not be written to a worker (dispatch.DispatchMixin._send)
        self._send_failures = False
        self._waiter = make_waiter(self.transport)
        self._wakeup = Wakeup(self.transport)
        self._waiter.add(self._wakeup.waitable, None)
        self._thread: Optional[threading.Thread] = None
        self._exit_deadline: Optional[float] = None
        self._killed_stragglers = False
        self._closed_resources = False
        #: dead workers whose tasks wait for a write in progress to end
        self._unjudged: list[WorkerProc] = []

    def start_workers(self, count: Optional[int] = None) -> None:
        """Start workers up to ``count`` (default: the pool size) in this thread."""
        with self._lock:
            target = self.size if count is None else min(count, self.size)
            while len(self._workers) < target:
                self._start_worker_locked()

    def start_thread(self, name: str) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = background_thread(self._run, name=name)
            self._thread.start()

    def _start_worker_locked(self) -> WorkerProc:
        # Not inside signals_unblocked(): see compat._native.threads. A spawned
        # worker unblocks the manager thread's signals itself.
        worker = start_worker(
            self._ctx,
            self._process_factory,
            self.transport,
            self._initializer,
            self._initargs,
            self._maxtasks,
            self._flavour,
            self.forward_logs,
        )
        self._workers.append(worker)
        self._waiter.add(worker.conn, (worker, False))
        # The stream transport watches the sentinel always. The message transport
        # (Windows) does until the worker reports ready: before that, the child's
        # pipe end may still be a handle the parent duplicated for it (spawn's
        # DupHandle), so a worker dying while it starts never shows as EOF.
        self._waiter.add(worker.proc.sentinel, (worker, True))
        worker.sentinel_watched = True
        if self._thread is not None and self._thread is not threading.current_thread():
            # The manager's wait started before this worker existed.
            self._wakeup.wake()
        return worker

    def next_seq(self) -> int:
        return next(self._seq)

    def add_feeder(self) -> None:
        with self._lock:
            self._feeders += 1

    def remove_feeder(self) -> None:
        with self._lock:
            self._feeders -= 1
        self._wakeup.wake()

    def submit(self, tasks: list[Task], *, lazy: bool = False) -> None:
        """Queue ``tasks`` and hand them to idle workers now if there are any.

        ``lazy``: start workers on demand, up to the pool size (the executor)."""
        refused: list[Delivery] = []
        sends: list[tuple[WorkerProc, list[Task]]] = []
        with self._lock:
            for task in tasks:
                task.seq = next(self._seq)
                if task.timeout is None:
                    task.timeout = self.task_timeout
                if task.timeout is not None:
                    self._limits = True
            if self.broken is not None or self.state == TERMINATE:
                error = self.broken or self._errors.terminated(None, None, started=False)
                refused = [(t, False, error, False) for t in tasks]
            else:
                if lazy:
                    self._grow_locked(len(tasks))
                self._pending.extend(tasks)
                sends = self._dispatch_locked()
        if refused:
            self._deliver(refused)
            return
        if sends:
            self._send(sends)
            if any(t.timeout is not None for _, batch in sends for t in batch):
                # The manager thread arms time limits; it may be waiting without one.
                self._wakeup.wake()

    def take_pending(self) -> list[Task]:
        """Remove and return the tasks not started yet (an executor's cancellable
        futures). Those started stay: put back after their worker died, or the first
        one per worker still starting (see :func:`~compat._pool.dispatch.claim`)."""
        with self._lock:
            claim(self._pending, sum(1 for w in self._workers if not w.ready and w.idle))
            tasks = [t for t in self._pending if t.start is not None]
            kept = [t for t in self._pending if t.start is None]
            self._pending.clear()
            self._pending.extend(kept)
            self._room.notify_all()
        self._wakeup.wake()
        return tasks

    def wait_for_room(self, limit: int) -> None:
        """Block while more than ``limit`` tasks wait (imap feeders: backpressure)."""
        with self._room:
            while len(self._pending) > limit and self.state != TERMINATE:
                self._room.wait(0.5)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must never leave results waiting
            import traceback

            traceback.print_exc()
            self._abort(exc)
        finally:
            if self.state == TERMINATE:
                # terminate() ran on this thread (a finalizer triggered by a
                # callback) and could not release what this thread was using.
                self._release()

    def _loop(self) -> None:
        while True:
            timeout: Optional[float] = None
            with self._lock:
                if self.state == TERMINATE:
                    return
                if self.state == CLOSE and self._drained_locked():
                    if not self._workers:
                        return
                    timeout = self._exit_workers_locked()
                deadline = next_deadline(self._workers) if self._limits else None
                if self._unjudged:  # a batch is still being written to a dead worker
                    timeout = JUDGE_POLL if timeout is None else min(timeout, JUDGE_POLL)
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            ready = self._waiter.wait(timeout)
            frames: dict[WorkerProc, list[bytes]] = {}
            dead: list[WorkerProc] = []
            for key in ready:
                if key is None:
                    self._wakeup.clear()
                    continue
                worker: WorkerProc
                is_sentinel: bool
                worker, is_sentinel = key  # type: ignore[misc]  # registered so (_waiter.add)
                if worker.dead or worker in dead:
                    continue
                if is_sentinel or not worker.reader.read(frames.setdefault(worker, [])):
                    dead.append(worker)
            if self._send_failures:  # set (then the manager woken) by _send
                self._send_failures = False
                for worker in list(self._workers):
                    if worker.send_failed and worker not in dead and not worker.dead:
                        dead.append(worker)
            for worker in dead:
                drain_and_reap(self._waiter, worker, frames.setdefault(worker, []))
            deliveries: list[Delivery] = []
            with self._lock:
                if self.state == TERMINATE:
                    return
                for worker, got in frames.items():
                    self._on_frames_locked(worker, got, deliveries)
                for worker in dead:
                    self._on_death_locked(worker, deliveries)
                if self._unjudged:
                    for worker in [w for w in self._unjudged if not w.sending]:
                        self._unjudged.remove(worker)
                        self._judge_locked(worker, deliveries)
                late = overdue(self._workers, time.monotonic()) if self._limits else []
                for worker in late:
                    # Its death (noticed on a later pass) puts the tasks queued
                    # behind this one back: none of them started.
                    task = worker.outstanding.popleft()
                    worker.timed_out = True
                    deliveries.append(
                        (task, False, self._errors.timed_out(worker.proc, task), False)
                    )
                if self.lazy or len(self._workers) < self.size:
                    self._maintain_locked(deliveries)
                sends = self._dispatch_locked()
            for worker in late:
                kill_tree(worker)
            if sends:
                self._send(sends)
            if deliveries:
                self._deliver(deliveries)

    def _on_frames_locked(self, w: WorkerProc, frames: list[bytes], out: list[Delivery]) -> None:
        for frame in frames:
            kind, seq, seconds = wire.HEADER.unpack_from(frame)
            if kind == wire.READY:
                w.ready = True
                if not self._watch_sentinels and w.sentinel_watched:
                    # From now on EOF tells (and Windows waits on at most 64 handles).
                    self._waiter.remove(w.proc.sentinel)
                    w.sentinel_watched = False
                w.head_since = time.monotonic()
                self._startup_failures = 0
                continue
            if kind == wire.INIT_FAILED:
                w.init_failed = True
                self._break_locked(self._errors.initializer_failed(frame), out)
                continue
            queue = w.outstanding
            if queue and queue[0].seq == seq:
                task = queue.popleft()
            else:
                # Not the head: never expected (batches are written in order), but a
                # result must not be lost; None means terminate() took the task.
                found = next((t for t in queue if t.seq == seq), None)
                if found is None:
                    continue
                queue.remove(found)
                task = found
            out.append((task, kind == wire.RESULT, frame, True))
            w.head_since = time.monotonic()  # the next task starts now
            # The worker measured the run time itself: round trips and scheduling
            # delays (large on a busy machine) must not make tiny tasks look long.
            self._task_seconds = update_estimate(self._task_seconds, seconds)
            batch = w.batches[0]
            batch[2] += 1
            if batch[2] >= batch[1]:
                w.batches.popleft()
                w.last_done = time.monotonic()

    def _on_death_locked(self, w: WorkerProc, out: list[Delivery]) -> None:
        w.dead = True
        if w in self._workers:
            self._workers.remove(w)
        self._waiter.remove(w.conn)
        if w.sentinel_watched:
            self._waiter.remove(w.proc.sentinel)
            w.sentinel_watched = False
        if not w.sending:
            close_quietly(w.conn)
        else:
            # Another thread is writing it a batch right now: whether those tasks
            # reached it (and may have run) is known only once the write ends.
            self._unjudged.append(w)
            return
        self._judge_locked(w, out)

    def _judge_locked(self, w: WorkerProc, out: list[Delivery]) -> None:
        """Settle a dead worker's tasks: the one it was running fails, the rest
        (never started, or never written to it) go back to the queue."""
        tasks = list(w.outstanding)
        w.outstanding.clear()
        w.batches.clear()
        exitcode = exitcode_of(w.proc)
        if not w.ready and not w.init_failed:
            self._startup_failures += 1
            self._last_startup_exit = exitcode
        if tasks:
            if w.ready and not w.timed_out and tasks[0].seq not in w.unsent:
                # Tasks run in order and each result is sent before the next task
                # starts, so the first unanswered task is the one that was running.
                out.append((tasks[0], False, self._errors.died(w.proc, exitcode, tasks[0]), False))
                tasks = tasks[1:]
            self._pending.extendleft(reversed(tasks))
        if self._startup_failures >= STARTUP_FAILURES and self.broken is None:
            self._break_locked(self._errors.startup_failed(w.proc, self._last_startup_exit), out)
        elif self.broken is not None:
            self._break_locked(self.broken, out)

    def _maintain_locked(self, out: list[Delivery]) -> None:
        if self.state == TERMINATE or self.broken is not None:
            return
        if self.state == CLOSE and self._drained_locked():
            return
        try:
            if self.lazy:
                self._grow_locked()
            else:
                while len(self._workers) < self.size:
                    self._start_worker_locked()
        except Exception as exc:
            self._break_locked(self._errors.cannot_start(exc), out)

    def _break_locked(self, error: BaseException, out: list[Delivery]) -> None:
        if self.broken is None:
            self.broken = error
        while self._pending:
            out.append((self._pending.popleft(), False, self.broken, False))

    def _deliver(self, items: list[Delivery]) -> None:
        # Callbacks are user code: a subprocess one starts must get a normal mask.
        # (Not the context manager signals_unblocked(): this runs for every result.)
        if not unblock_for_user_code():
            deliver(items, self._errors)
            return
        try:
            deliver(items, self._errors)
        finally:
            block_again()

    @property
    def processes(self) -> list[Any]:
        """The live worker processes."""
        with self._lock:
            workers = list(self._workers)
        return [w.proc for w in workers if not w.dead and w.proc.exitcode is None]

    @property
    def thread(self) -> Optional[threading.Thread]:
        return self._thread


__all__ = ["CLOSE", "RUN", "TERMINATE", "Task", "WorkerPool"]
