"""compat: child processes, pools, queues and subprocesses that behave the same on
Linux, macOS and Windows, and say precisely how the OSes differ.

``import compat`` is cheap (it imports no submodule until a name is used), because
every spawned child pays for it. ``import compat as multiprocessing`` keeps a
standard-library program working: the context API is here, bound to the start
method compat's policy chooses (see :func:`choose_start_method`).
"""

# No ``from __future__ import annotations`` here: that statement imports the
# __future__ module, the only standard-library module ``import compat`` would load
# (annotations below that name typing-only names are quoted instead).
import sys

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# name -> private module that defines it. Loaded on first access (PEP 562).
_LAZY = {
    # errors and warnings
    "ChildError": "_errors",
    "ChildTimeout": "_errors",
    "CompatError": "_errors",
    "CompatWarning": "_errors",
    "ForkSafetyWarning": "_errors",
    "PortabilityWarning": "_errors",
    "SpawnError": "_errors",
    "StartMethodUnavailable": "_errors",
    # platform facts and the policy
    "PlatformFacts": "_platform",
    "Decision": "_policy",
    "available_start_methods": "_policy",
    "choose_start_method": "_policy",
    # contexts and the standard library's context API
    "Context": "_context",
    "get_context": "_context",
    "get_start_method": "_context",
    "set_start_method": "_context",
    "get_all_start_methods": "_context",
    "Array": "_default_api",
    "Barrier": "_default_api",
    "BoundedSemaphore": "_default_api",
    "Condition": "_default_api",
    "Event": "_default_api",
    "JoinableQueue": "_queue.joinable",
    "Lock": "_default_api",
    "Manager": "_default_api",
    "Pipe": "_default_api",
    "Pool": "_pool.pool",
    "Queue": "_queue.queue",
    "RLock": "_default_api",
    "RawArray": "_default_api",
    "RawValue": "_default_api",
    "Semaphore": "_default_api",
    "SimpleQueue": "_queue.simple",
    "Value": "_default_api",
    "active_children": "_default_api",
    "allow_connection_pickling": "_default_api",
    "cpu_count": "_cpu",
    "current_process": "_default_api",
    "freeze_support": "_default_api",
    "get_logger": "_default_api",
    "getppid": "_context",
    "log_to_stderr": "_default_api",
    "parent_process": "_default_api",
    "set_executable": "_default_api",
    "set_forkserver_preload": "_default_api",
    "set_spares": "_child.spares",
    "spawn_child": "_default_api",
    # pools and consumers
    "BrokenProcessPool": "_pool.executor",
    "Consumer": "_child.consumer",
    "ProcessPoolExecutor": "_pool.executor",
    "spawn_consumer": "_child.consumer",
    # running programs
    "Popen": "_run.popen",
    "UnsafeBatchArgument": "_run.cmdline",
    "find_program": "_run.which",
    "run": "_run.run",
    # processes
    "Child": "_child.child",
    "RemoteTraceback": "_child.child",
    "Process": "_child.process",
    # the standard library's exception names, for `import compat as multiprocessing`
    "AuthenticationError": "_context",
    "BufferTooShort": "_context",
    "ProcessError": "_context",
    "TimeoutError": "_context",
}

__all__ = ["__version__", *sorted(_LAZY)]

#: Submodules loaded on first use: the registry of OS differences, and one for each
#: public ``multiprocessing`` submodule (``compat.pool``, ``compat.managers``...; see
#: compat._submodules) plus ``compat.futures`` for ``concurrent.futures``. Like the
#: standard library's, they are not in ``__all__``.
_SUBMODULES = frozenset(
    {
        "connection",
        "context",
        "differences",
        "distributed",
        "dummy",
        "forkserver",
        "futures",
        "heap",
        "managers",
        "pool",
        "process",
        "queues",
        "reduction",
        "resource_sharer",
        "resource_tracker",
        "shared_memory",
        "sharedctypes",
        "spawn",
        "synchronize",
        "util",
    }
)


#: The standard library's top-level names that no start method affects, forwarded
#: (``multiprocessing.reducer`` is the ``multiprocessing.reduction`` module).
_FORWARDED = frozenset({"SUBDEBUG", "SUBWARNING", "reducer"})


def _import(name: str) -> "Any":
    """importlib.import_module(name), without importing importlib and warnings
    (half of what ``import compat`` would cost)."""
    __import__(name)
    return sys.modules[name]


def __getattr__(name: str) -> "Any":
    if name in _SUBMODULES:  # importing it makes it an attribute: no second call
        return _import(f"{__name__}.{name}")
    if name in _FORWARDED:
        return getattr(_import("multiprocessing"), name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'compat' has no attribute {name!r}")
    value = getattr(_import(f"{__name__}.{module}"), name)
    if getattr(value, "__module__", "").startswith(f"{__name__}."):
        # Public under this name (reprs, pickles by reference, docs); the standard
        # library's exceptions re-exported here keep their own module.
        value.__module__ = __name__
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES | _FORWARDED)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import (
        connection,
        context,
        differences,
        dummy,
        forkserver,
        futures,
        heap,
        managers,
        pool,
        process,
        queues,
        reduction,
        resource_sharer,
        resource_tracker,
        shared_memory,
        sharedctypes,
        spawn,
        synchronize,
        util,
    )
    from ._child.child import Child, RemoteTraceback
    from ._child.consumer import Consumer, spawn_consumer
    from ._child.process import Process
    from ._child.spares import set_spares
    from ._context import (
        AuthenticationError,
        BufferTooShort,
        Context,
        ProcessError,
        TimeoutError,
        get_all_start_methods,
        get_context,
        get_start_method,
        getppid,
        set_start_method,
    )
    from ._cpu import cpu_count
    from ._default_api import (
        Array,
        Barrier,
        BoundedSemaphore,
        Condition,
        Event,
        Lock,
        Manager,
        Pipe,
        RawArray,
        RawValue,
        RLock,
        Semaphore,
        Value,
        active_children,
        allow_connection_pickling,
        current_process,
        freeze_support,
        get_logger,
        log_to_stderr,
        parent_process,
        set_executable,
        set_forkserver_preload,
        spawn_child,
    )
    from ._errors import (
        ChildError,
        ChildTimeout,
        CompatError,
        CompatWarning,
        ForkSafetyWarning,
        PortabilityWarning,
        SpawnError,
        StartMethodUnavailable,
    )
    from ._platform import PlatformFacts
    from ._policy import Decision, available_start_methods, choose_start_method
    from ._pool.executor import BrokenProcessPool, ProcessPoolExecutor
    from ._pool.pool import Pool
    from ._queue.joinable import JoinableQueue
    from ._queue.queue import Queue
    from ._queue.simple import SimpleQueue
    from ._run.cmdline import UnsafeBatchArgument
    from ._run.popen import Popen
    from ._run.run import run
    from ._run.which import find_program
