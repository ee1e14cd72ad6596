"""``compat.dummy`` is ``multiprocessing.dummy``: the same API on threads (``Pool`` is
a ``ThreadPool``, ``Process`` a thread), which no start method affects.
``compat.dummy.connection`` is ``multiprocessing.dummy.connection``."""

from __future__ import annotations

import sys
from multiprocessing import dummy as _std
from multiprocessing.dummy import (
    Array,
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    JoinableQueue,
    Lock,
    Manager,
    Namespace,
    Pipe,
    Pool,
    Process,
    Queue,
    RLock,
    Semaphore,
    Value,
    active_children,
    connection,
    current_process,
    freeze_support,
)

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Array",
    "Barrier",
    "BoundedSemaphore",
    "Condition",
    "Event",
    "JoinableQueue",
    "Lock",
    "Manager",
    "Namespace",
    "Pipe",
    "Pool",
    "Process",
    "Queue",
    "RLock",
    "Semaphore",
    "Value",
    "active_children",
    "current_process",
    "freeze_support",
]

# `import compat.dummy.connection` finds it here (this module is not a package).
sys.modules.setdefault(f"{__name__}.connection", connection)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names([*__all__, "connection"], _std)
