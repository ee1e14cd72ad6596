"""``compat.process`` is ``multiprocessing.process``: ``BaseProcess`` (the base class
of :class:`compat.Process` and of every standard-library process), and
``current_process``, ``active_children``, ``parent_process``, which see compat's
children and the standard library's alike."""

from __future__ import annotations

from multiprocessing import process as _std
from multiprocessing.process import (
    BaseProcess,
    active_children,
    current_process,
    parent_process,
)

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BaseProcess", "active_children", "current_process", "parent_process"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
