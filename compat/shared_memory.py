"""``compat.shared_memory`` is ``multiprocessing.shared_memory``: ``SharedMemory`` and
``ShareableList`` are named segments any process can attach to, whatever started it.
``compat.managers.SharedMemoryManager`` starts its server with compat's start method."""

from __future__ import annotations

from multiprocessing import shared_memory as _std
from multiprocessing.shared_memory import ShareableList, SharedMemory

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ShareableList", "SharedMemory"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
