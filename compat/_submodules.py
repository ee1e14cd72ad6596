"""What compat's public submodules share (``compat.pool``, ``compat.managers``,
``compat.connection``...): each mirrors the ``multiprocessing`` module of the same
name, so that ``import compat as multiprocessing`` keeps ``multiprocessing.pool.X``
and ``from multiprocessing.managers import X`` working.

A submodule defines what compat binds to its start-method policy (``Pool``, the
managers, the queues, ``Value``...) and re-exports the standard library's public
names; any other name is looked up in the standard library's module on first use
(:func:`forward`), so a program that reaches for a less common name gets the same
object it would get from ``multiprocessing``. None of them is imported by
``import compat``; ``compat.pool`` and ``from compat.pool import ...`` import them.
"""

from __future__ import annotations

import types
from collections.abc import Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["forward", "names"]


def forward(std: types.ModuleType, public: str, name: str) -> Any:
    """``std.<name>``, for the module-level ``__getattr__`` of the submodule ``public``."""
    if not (name.startswith("__") and name.endswith("__")):  # a module's own, never std's
        try:
            return getattr(std, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {public!r} has no attribute {name!r}")


def names(public: Iterable[str], std: types.ModuleType) -> list[str]:
    """``dir()`` of a submodule: its public names and the standard library module's."""
    return sorted(set(public) | {n for n in dir(std) if not n.startswith("__")})
