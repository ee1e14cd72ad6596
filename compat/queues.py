"""``compat.queues``: ``multiprocessing.queues`` with compat's queues.

``Queue``, ``JoinableQueue`` and ``SimpleQueue`` are :class:`compat.Queue` and
friends (``qsize()`` on macOS, iteration that ends, no hang on a dead reader...).
Their ``ctx`` argument, required by the standard library's classes, is optional here:
None means compat's default context. Anything else is the standard library's."""

from __future__ import annotations

from multiprocessing import queues as _std

from ._queue.joinable import JoinableQueue
from ._queue.queue import Queue
from ._queue.simple import SimpleQueue
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["JoinableQueue", "Queue", "SimpleQueue"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
