"""``compat.sharedctypes``: ``multiprocessing.sharedctypes`` bound to compat's policy.

``Value``, ``Array`` and ``synchronized`` make their lock with the context of compat's
default start method when ``ctx`` is None (the standard library uses its own default,
whose lock a child of another method cannot use); ``ctx`` may be a compat
``Context`` or a ``multiprocessing`` context. ``RawValue``, ``RawArray``, ``copy``
and the ``Synchronized*`` classes are the standard library's (they hold no lock)."""

from __future__ import annotations

from multiprocessing import sharedctypes as _std
from multiprocessing.sharedctypes import RawArray, RawValue, copy

from ._context import resolve_context
from ._submodules import forward, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Array", "RawArray", "RawValue", "Value", "copy", "synchronized"]


def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> Any:
    """A ctypes object in shared memory, synchronized by ``lock`` (see the module)."""
    return _std.Value(typecode_or_type, *args, lock=lock, ctx=resolve_context(ctx))


def Array(
    typecode_or_type: Any, size_or_initializer: Any, *, lock: Any = True, ctx: Any = None
) -> Any:
    """A ctypes array in shared memory, synchronized by ``lock`` (see the module)."""
    return _std.Array(typecode_or_type, size_or_initializer, lock=lock, ctx=resolve_context(ctx))


def synchronized(obj: Any, lock: Any = None, ctx: Any = None) -> Any:
    """``obj`` (a shared ctypes object) wrapped with a lock (see the module)."""
    return _std.synchronized(obj, lock, resolve_context(ctx))


def __getattr__(name: str) -> Any:
    return forward(_std, __name__, name)


def __dir__() -> list[str]:
    return names(__all__, _std)
