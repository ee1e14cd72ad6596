"""``compat.context``: ``multiprocessing.context`` with compat's process classes.

``Process``, ``ForkProcess``, ``SpawnProcess`` and ``ForkServerProcess`` are
:class:`compat.Process` and its pinned-method subclasses (pre-flight checks included;
``Process`` starts with the method of compat's default context). The context classes
(``BaseContext``, ``SpawnContext``...) and the rest are the standard library's;
compat's own context is :class:`compat.Context`, from :func:`compat.get_context`."""

from __future__ import annotations

from multiprocessing import context as _std
from multiprocessing.context import BaseContext

from ._child.process import ForkProcess, ForkServerProcess, Process, SpawnProcess
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BaseContext", "ForkProcess", "ForkServerProcess", "Process", "SpawnProcess"]


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
