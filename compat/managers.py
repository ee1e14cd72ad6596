"""``compat.managers``: ``multiprocessing.managers`` whose managers start with compat's
start method.

``BaseManager``, ``SyncManager`` and ``SharedMemoryManager`` are the standard
library's, subclass and ``register()`` as usual, with these differences:

- Without ``ctx`` the server starts with the start method of compat's default
  context (its policy, or ``COMPAT_START_METHOD``), where the standard library uses
  its own default; ``ctx`` may be a compat ``Context`` or a ``multiprocessing``
  context.
- ``start()`` gives the server a lifeline, as :func:`compat.Manager` does: it ends
  within milliseconds of the process that started it, however that process ends
  (SIGKILL included; the standard library's server outlives it). A compat ``Context``
  made with ``die_with_parent=False`` opts out.
- ``start()`` at the top level of a script outside ``if __name__ == "__main__":``
  raises :class:`compat.SpawnError` under spawn and forkserver before the server
  starts (a :class:`compat.PortabilityWarning` under fork).

Proxies, ``Token``, ``Namespace``, ``connect()``, ``get_server()`` and the rest are
the standard library's.
"""

from __future__ import annotations

from collections.abc import Iterable
from multiprocessing import managers as _std
from multiprocessing.managers import BaseProxy, Token

from ._child.main_checks import check_main_guard
from ._context import resolve_context
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["BaseManager", "BaseProxy", "SharedMemoryManager", "SyncManager", "Token"]


class BaseManager(_std.BaseManager):
    """``multiprocessing.managers.BaseManager`` started with compat's start method,
    whose server ends with this process (see the module)."""

    _compat_start: tuple[str, bool]  # the start method and die_with_parent (_bind)

    def __init__(
        self,
        address: Any = None,
        authkey: Optional[bytes] = None,
        serializer: str = "pickle",
        ctx: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address, authkey, serializer, _bind(self, ctx), **kwargs)

    def start(
        self, initializer: Optional[Callable[..., object]] = None, initargs: Iterable[Any] = ()
    ) -> None:
        """Start the server process (see the module for what compat adds)."""
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        from ._native.lifeline import make_lifeline

        method, die_with_parent = self._compat_start
        check_main_guard(method, f"a {type(self).__name__} server")
        lifeline = make_lifeline(die_with_parent=die_with_parent)
        super().start(_serve, (lifeline, initializer, tuple(initargs)))


def _bind(manager: Any, ctx: Any) -> Any:
    """The multiprocessing context ``ctx`` stands for; remembers what start() needs."""
    resolved = resolve_context(ctx, argument="ctx")
    method = resolved.get_start_method()
    manager._compat_start = (method, getattr(ctx, "die_with_parent", True))
    return resolved


def _serve(lifeline: Any, initializer: Optional[Callable[..., object]], initargs: Any) -> None:
    """The server's initializer: die with the parent, then run the user's."""
    lifeline.arm()
    if initializer is not None:
        initializer(*initargs)


# The standard library's class first: its registry (Queue, dict, list...) is found
# before BaseManager's, whatever is registered on compat's BaseManager itself.
class SyncManager(_std.SyncManager, BaseManager):
    """``multiprocessing.managers.SyncManager`` (what :func:`compat.Manager` starts)
    started with compat's start method, whose server ends with this process."""


class SharedMemoryManager(_std.SharedMemoryManager, BaseManager):
    """``multiprocessing.managers.SharedMemoryManager`` started with compat's start
    method, whose server ends with this process."""

    def __init__(
        self,
        address: Any = None,
        authkey: Optional[bytes] = None,
        serializer: str = "pickle",
        ctx: Any = None,
        **kwargs: Any,
    ) -> None:
        # The standard library's __init__ calls its BaseManager's by name.
        super().__init__(address, authkey, serializer, _bind(self, ctx), **kwargs)


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
