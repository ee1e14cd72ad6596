"""``compat.pool``: ``multiprocessing.pool`` with compat's :class:`~compat.Pool`.

``Pool`` is :class:`compat.Pool` (workers start with compat's start method and a
dead worker fails only its task). ``ThreadPool`` and everything else are the standard
library's: threads have no start method. compat's results subclass the standard
library's ``AsyncResult``, ``MapResult`` and ``IMapIterator``, so ``isinstance``
checks against this module's classes hold for both pools."""

from __future__ import annotations

from multiprocessing import pool as _std
from multiprocessing.pool import AsyncResult, ThreadPool

from ._pool.pool import Pool
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["AsyncResult", "Pool", "ThreadPool"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
