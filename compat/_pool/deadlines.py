"""Per-task time limits (``task_timeout=``, ``apply_async(timeout=)``,
``submit_with_timeout``): when the task a worker is running must end.

A worker runs its tasks one after another, and sends each result before it starts
the next, so the parent knows when the task at the head of a worker's queue could
start: when its batch arrived or when the task before it answered, and never before
the worker reported ready (an initializer's time does not count). The limit counts
from there; the pipe's transit time makes it generous by microseconds, never short.
A chunk of ``map`` (``chunksize`` > 1) is one task: the limit applies to the chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

from .procs import WorkerProc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def head_deadline(w: WorkerProc) -> Optional[float]:
    """When the task ``w`` is running passes its limit (``time.monotonic()``), if it has one."""
    if not w.outstanding or not w.ready or w.dead or w.timed_out:
        return None
    limit = w.outstanding[0].timeout
    return None if limit is None else w.head_since + limit


def next_deadline(workers: Iterable[WorkerProc]) -> Optional[float]:
    """The earliest limit among the running tasks, or None."""
    deadlines = [d for d in map(head_deadline, workers) if d is not None]
    return min(deadlines) if deadlines else None


def overdue(workers: Iterable[WorkerProc], now: float) -> list[WorkerProc]:
    """The workers whose running task has passed its limit."""
    return [w for w in workers if (d := head_deadline(w)) is not None and d <= now]
