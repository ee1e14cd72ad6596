"""``compat.synchronize`` is ``multiprocessing.synchronize``: the classes of the locks,
semaphores, conditions, events and barriers ``compat.Lock()`` and friends return (made
by the context of compat's start method), for ``isinstance`` checks and annotations.
Their constructors take the standard library's keyword-only ``ctx``: to make one, call
``compat.Lock()`` (or ``compat.get_context(method).Lock()``)."""

from __future__ import annotations

from multiprocessing import synchronize as _std
from multiprocessing.synchronize import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    Lock,
    RLock,
    Semaphore,
)

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Barrier", "BoundedSemaphore", "Condition", "Event", "Lock", "RLock", "Semaphore"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
