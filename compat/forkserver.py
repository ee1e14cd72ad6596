"""``compat.forkserver`` is ``multiprocessing.forkserver`` (``ensure_running``,
``set_forkserver_preload``...). compat's forkserver contexts use this server too;
``compat.set_forkserver_preload`` adds compat's own bootstrap to the list. POSIX only,
as in the standard library."""

from __future__ import annotations

from multiprocessing import forkserver as _std

from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = list(_std.__all__)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
