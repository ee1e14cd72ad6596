"""``compat.util`` is ``multiprocessing.util`` (logging, ``Finalize``,
``register_after_fork``...): nothing in it depends on a start method."""

from __future__ import annotations

from multiprocessing import util as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
