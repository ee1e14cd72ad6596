"""``compat.resource_tracker`` is ``multiprocessing.resource_tracker``: one
tracker serves compat's and the standard library's objects alike."""

from __future__ import annotations

from multiprocessing import resource_tracker as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
