"""``compat.futures``: ``concurrent.futures`` with compat's process pool.

``ProcessPoolExecutor`` is :class:`compat.ProcessPoolExecutor` (compat's start
method; a dead worker fails only its future) and ``BrokenProcessPool`` is
:class:`compat.BrokenProcessPool`, a subclass of
``concurrent.futures.process.BrokenProcessPool``. ``ThreadPoolExecutor``,
``Future``, ``wait``, ``as_completed`` and everything else are the standard
library's: ``import compat.futures as futures`` stands in for
``import concurrent.futures as futures``."""

from __future__ import annotations

import concurrent.futures as _std
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    InvalidStateError,
    ThreadPoolExecutor,
    TimeoutError,
    as_completed,
    wait,
)

from ._pool.executor import BrokenProcessPool, ProcessPoolExecutor
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "BrokenProcessPool",
    "CancelledError",
    "Executor",
    "Future",
    "InvalidStateError",
    "ProcessPoolExecutor",
    "ThreadPoolExecutor",
    "TimeoutError",
    "as_completed",
    "wait",
]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
