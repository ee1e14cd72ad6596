"""One pool worker as the parent sees it: its process, its pipe, the tasks it holds,
and the process-level steps (start it, reap it, ask it to exit)."""

from __future__ import annotations

import collections
import sys

from .._native.lifeline import make_lifeline
from .._native.threads import async_signals_blocked, stop_started
from . import worker as wire
from .frames import frame_writer
from .io import make_reader
from .tasks import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

#: Seconds to wait for a process to finish exiting once its pipe has closed.
REAP_GRACE = 5.0


class WorkerProc:
    """A worker process and the parent's bookkeeping for it."""

    __slots__ = (
        "batches",
        "budget",
        "conn",
        "dead",
        "exiting",
        "head_since",
        "init_failed",
        "last_done",
        "outstanding",
        "proc",
        "reader",
        "ready",
        "send_failed",
        "sending",
        "sentinel_watched",
        "timed_out",
        "unsent",
        "write",
    )

    def __init__(self, proc: Any, conn: Any, reader: Any, budget: Optional[int]) -> None:
        self.proc = proc
        self.conn = conn
        #: writes one message to it (``conn.send_bytes``; one ``os.write`` on POSIX).
        #: Only while ``sending`` counts the call: the descriptor is closed only when
        #: no thread is writing (its number could be reused by then).
        self.write = frame_writer(conn)
        self.reader = reader
        #: tasks it may still be sent before maxtasksperchild retires it (None: no limit)
        self.budget = budget
        #: tasks sent and not answered yet, in the order the worker runs them
        self.outstanding: collections.deque[Task] = collections.deque()
        self.ready = False  # its initializer finished
        self.exiting = False  # asked to exit
        self.dead = False
        self.init_failed = False
        self.send_failed = False
        self.sending = 0  # batches being written by other threads right now
        self.unsent: set[int] = set()  # seqs of tasks whose batch could not be written
        #: [sent at (time.monotonic), tasks, results received, bytes] per batch in flight
        self.batches: collections.deque[list[float]] = collections.deque()
        self.last_done = 0.0  # when its previous batch finished
        #: when the task at the head of ``outstanding`` could start (its time limit
        #: counts from here): its batch arrived, or the task before it answered
        self.head_since = 0.0
        self.timed_out = False  # killed because its running task ran too long
        self.sentinel_watched = False  # the manager waits on its process sentinel

    @property
    def may_run_more(self) -> bool:
        """Whether it may still be given tasks (now or once it is ready)."""
        return not (
            self.exiting or self.dead or self.budget == 0 or self.init_failed or self.timed_out
        )

    @property
    def idle(self) -> bool:
        """It holds no task and may be given some: ready, or still starting (the
        dispatcher sends only to ready workers; the executor counts starting ones as
        the idle workers it need not start again)."""
        return not self.outstanding and self.may_run_more

    def may_prefetch(self, now: float, task_seconds: Optional[float], max_bytes: int) -> bool:
        """Whether it may get its next batch (of at most ``max_bytes``) before it
        finishes the current one.

        Only with one batch in flight that is either read already (a result of it
        came back) or no larger than ``max_bytes``: its pipe from the parent then
        holds at most ``max_bytes``, so one more such message cannot block. And only
        when task durations are known and the current batch is not overdue: a worker
        busy with a long task gets nothing more, so queued tasks go to the first
        worker that frees up instead of waiting behind it.
        """
        if (
            len(self.batches) != 1
            or self.exiting
            or self.dead
            or self.init_failed
            or self.timed_out
        ):
            return False
        sent_at, count, answered, size = self.batches[0]
        if self.budget == 0 or (answered == 0 and size > max_bytes) or task_seconds is None:
            return False
        return now - max(sent_at, self.last_done) < 2 * count * task_seconds + 0.002


def start_worker(
    ctx: Any,
    process_factory: Callable[..., Any],
    transport: str,
    initializer: Optional[Callable[..., object]],
    initargs: tuple[Any, ...],
    maxtasks: Optional[int],
    flavour: str,
    forward_logs: bool = True,
) -> WorkerProc:
    """Start one worker process running :func:`compat._pool.worker.worker_main`
    (``forward_logs``: its log records go to this process's handlers,
    :mod:`compat._child.logs`)."""
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    proc: Any = None
    logs: Any = None
    try:
        if forward_logs and "logging" in sys.modules:
            from .._child.logs import ChildLogs

            logs = ChildLogs(ctx)
        proc = process_factory(
            ctx,
            target=wire.worker_main,
            args=(
                child_conn,
                initializer,
                initargs,
                maxtasks,
                flavour,
                make_lifeline(),
                logs and logs.sender,
            ),
        )
        # The standard library's names: ForkPoolWorker-3, SpawnPoolWorker-1...
        proc.name = proc.name.replace("Process", "PoolWorker")
        proc.daemon = True
        # Blocked while it starts: a Ctrl+C then reaches worker_main, which ends the
        # worker quietly, not its interpreter's start-up (a fatal error, a traceback).
        with async_signals_blocked(method_of(ctx)):
            proc.start()
    except BaseException:
        if proc is not None:  # the factory itself may have raised
            stop_started(proc)
        parent_conn.close()
        if logs is not None:
            logs.discard()
        raise
    finally:
        # The child has its own copy now (fork: inherited; spawn/forkserver: sent
        # during start()); keeping ours would hide the child's death from EOF.
        child_conn.close()
    if logs is not None:
        logs.attach()
    return WorkerProc(proc, parent_conn, make_reader(transport, parent_conn), maxtasks)


def drain_and_reap(waiter: Any, w: WorkerProc, frames: list[bytes]) -> None:
    """Read what a dead worker sent before it died, then reap its process."""
    try:
        while waiter.readable(w.conn) and w.reader.read(frames):
            pass
    except (OSError, ValueError):
        pass
    proc = w.proc
    proc.join(REAP_GRACE)
    if proc.exitcode is None:  # its pipe closed but it lives on: make it so
        proc.kill()
        proc.join(REAP_GRACE)


def kill_tree(w: WorkerProc) -> None:
    """Kill a worker and the processes it started (a task past its time limit)."""
    from .._native.descendants import kill_with_descendants

    try:
        kill_with_descendants(w.proc.pid, w.proc.kill)
    except (OSError, ValueError, AttributeError):
        pass


def ask_to_exit(w: WorkerProc) -> None:
    """Send the exit request (an empty message) once."""
    if w.exiting:
        return
    w.exiting = True
    try:
        w.conn.send_bytes(b"")
    except (OSError, ValueError):
        pass


def default_process(ctx: Any, *args: Any, **kwargs: Any) -> Any:
    return ctx.Process(*args, **kwargs)


def method_of(ctx: Any) -> Optional[str]:
    """The start method of a multiprocessing context, or None if it cannot say."""
    try:
        method = ctx.get_start_method(allow_none=False)
    except (AttributeError, TypeError, ValueError):
        return None
    return method if isinstance(method, str) else None


def close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except (OSError, ValueError):
        pass
