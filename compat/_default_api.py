"""The default context's API as module-level functions: ``compat.Lock()``,
``compat.Event()``, ``compat.spawn_child(...)``..., so that ``import compat as
multiprocessing`` keeps a program working. Each is a thin wrapper over
:func:`compat.get_context` (CPython's design without its ``globals().update`` trick).
"""

from __future__ import annotations

from ._context import get_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from ._child.child import Child


def spawn_child(target: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Child:
    """Start ``target(*args, **kwargs)`` in a child process and return at once.

    The start method is the default context's (see :func:`compat.get_context`):
    fork on Linux and macOS when it is safe, else forkserver (Linux) or spawn
    (macOS), and spawn on Windows; ``child.method`` and
    ``child.decision.reason`` say which and why. Every argument goes to the
    target (like ``Executor.submit``); to choose a method use
    ``compat.get_context(method).spawn_child(...)``.

    Before a spawn or forkserver child starts, the target and arguments are
    checked in the parent (picklable, importable by the child, script guarded by
    ``if __name__ == "__main__":``) and a problem raises :class:`compat.SpawnError`
    naming the object and what to do. With cloudpickle installed, lambdas and
    closures travel by value.
    """
    return get_context().spawn_child(target, *args, **kwargs)


def Lock() -> Any:
    return get_context().Lock()


def RLock() -> Any:
    return get_context().RLock()


def Condition(lock: Any = None) -> Any:
    return get_context().Condition(lock)


def Semaphore(value: int = 1) -> Any:
    return get_context().Semaphore(value)


def BoundedSemaphore(value: int = 1) -> Any:
    return get_context().BoundedSemaphore(value)


def Event() -> Any:
    return get_context().Event()


def Barrier(parties: int, action: Any = None, timeout: Any = None) -> Any:
    return get_context().Barrier(parties, action, timeout)


def Value(typecode_or_type: Any, *args: Any, lock: Any = True) -> Any:
    return get_context().Value(typecode_or_type, *args, lock=lock)


def Array(typecode_or_type: Any, size_or_initializer: Any, *, lock: Any = True) -> Any:
    return get_context().Array(typecode_or_type, size_or_initializer, lock=lock)


def RawValue(typecode_or_type: Any, *args: Any) -> Any:
    return get_context().RawValue(typecode_or_type, *args)


def RawArray(typecode_or_type: Any, size_or_initializer: Any) -> Any:
    return get_context().RawArray(typecode_or_type, size_or_initializer)


def Manager() -> Any:
    return get_context().Manager()


def Pipe(duplex: bool = True) -> Any:
    return get_context().Pipe(duplex)


def current_process() -> Any:
    return get_context().current_process()


def parent_process() -> Any:
    return get_context().parent_process()


def active_children() -> list[Any]:
    return get_context().active_children()


def freeze_support() -> None:
    """Call first under ``if __name__ == "__main__":`` in programs frozen into
    executables (PyInstaller, cx_Freeze); a no-op elsewhere (research MAIN-07)."""
    get_context().freeze_support()


def get_logger() -> Any:
    return get_context().get_logger()


def log_to_stderr(level: Any = None) -> Any:
    return get_context().log_to_stderr(level)


def allow_connection_pickling() -> None:
    get_context().allow_connection_pickling()


def set_executable(executable: str) -> None:
    get_context().set_executable(executable)


def set_forkserver_preload(module_names: list[str]) -> None:
    get_context().set_forkserver_preload(module_names)
