"""``compat.spawn`` is ``multiprocessing.spawn`` (``freeze_support``,
``set_executable``, ``get_executable``...): the spawn start method's helpers, the
same whichever method compat's policy chooses."""

from __future__ import annotations

from multiprocessing import spawn as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
