"""``compat.heap`` is ``multiprocessing.heap`` (the arena allocator behind
``Value`` and ``Array``)."""

from __future__ import annotations

from multiprocessing import heap as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
