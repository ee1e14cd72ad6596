"""``compat.connection`` is ``multiprocessing.connection``: ``Listener``, ``Client``,
``Pipe``, ``wait`` and ``Connection`` work the same whichever start method compat's
policy chooses, so nothing is bound to it."""

from __future__ import annotations

from multiprocessing import connection as _std
from multiprocessing.connection import Client, Connection, Listener, Pipe, wait

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Client", "Connection", "Listener", "Pipe", "wait"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
