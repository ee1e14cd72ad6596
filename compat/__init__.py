"""compat: child processes, pools, queues and subprocesses that behave the same on
Linux, macOS and Windows, and say precisely how the OSes differ.

``import compat`` is cheap (it imports no submodule until a name is used), because
every spawned child pays for it. ``import compat as multiprocessing`` keeps a
standard-library program working: the context API is here, bound to the start
method compat's policy chooses (see :func:`choose_start_method`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

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
    "Array": "_context",
    "Barrier": "_context",
    "BoundedSemaphore": "_context",
    "Condition": "_context",
    "Event": "_context",
    "JoinableQueue": "_queue.queue",
    "Lock": "_context",
    "Manager": "_context",
    "Pipe": "_context",
    "Pool": "_pool.pool",
    "Queue": "_queue.queue",
    "RLock": "_context",
    "RawArray": "_context",
    "RawValue": "_context",
    "Semaphore": "_context",
    "SimpleQueue": "_queue.queue",
    "Value": "_context",
    "active_children": "_context",
    "allow_connection_pickling": "_context",
    "cpu_count": "_cpu",
    "current_process": "_context",
    "freeze_support": "_context",
    "get_logger": "_context",
    "getppid": "_context",
    "log_to_stderr": "_context",
    "parent_process": "_context",
    "set_executable": "_context",
    "set_forkserver_preload": "_context",
    "spawn_child": "_context",
    # pools and consumers
    "BrokenProcessPool": "_pool.executor",
    "Consumer": "_child.consumer",
    "ProcessPoolExecutor": "_pool.executor",
    "spawn_consumer": "_child.consumer",
    # running programs
    "Popen": "_run.popen",
    "UnsafeBatchArgument": "_run.cmdline",
    "find_program": "_run.which",
    "run": "_run.popen",
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


def __getattr__(name: str) -> Any:
    if name == "differences":  # the registry subpackage, loaded on first use
        return importlib.import_module(".differences", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'compat' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._child.child import Child, RemoteTraceback
    from ._child.consumer import Consumer, spawn_consumer
    from ._child.process import Process
    from ._context import (
        Array,
        AuthenticationError,
        Barrier,
        BoundedSemaphore,
        BufferTooShort,
        Condition,
        Context,
        Event,
        Lock,
        Manager,
        Pipe,
        ProcessError,
        RawArray,
        RawValue,
        RLock,
        Semaphore,
        TimeoutError,
        Value,
        active_children,
        allow_connection_pickling,
        current_process,
        freeze_support,
        get_all_start_methods,
        get_context,
        get_logger,
        get_start_method,
        getppid,
        log_to_stderr,
        parent_process,
        set_executable,
        set_forkserver_preload,
        set_start_method,
        spawn_child,
    )
    from ._cpu import cpu_count
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
    from ._queue.queue import JoinableQueue, Queue, SimpleQueue
    from ._run.cmdline import UnsafeBatchArgument
    from ._run.popen import Popen, run
    from ._run.which import find_program
