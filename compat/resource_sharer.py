"""``compat.resource_sharer`` is ``multiprocessing.resource_sharer``."""

from __future__ import annotations

from multiprocessing import resource_sharer as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
