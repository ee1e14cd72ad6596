"""Every private or undocumented standard-library name compat relies on, in one place.

compat improves on ``multiprocessing`` and ``subprocess`` partly by reusing their
internals: ForkingPickler's reducer table, ``util.Finalize``, the Connection frame
layout, ``Popen``'s Ctrl+C grace wait... A CPython release may rename any of them.
So that such a change can never switch a feature off without a word:

- feature modules reach these names only through this module, never with
  ``getattr(..., default)``: ``from .._stdlib import Finalize`` at the top of a
  feature raises :class:`StdlibChanged` (an ``ImportError``) naming the missing name
  when the feature is imported;
- :data:`PRIVATE_NAMES` lists each name with what compat uses it for, and
  ``tests/test_stdlib.py`` checks every entry on every CPython of the test matrix.

Importing this module imports nothing: each name is resolved (and its module
imported) on first use, because spawned children import compat too.
"""

from __future__ import annotations

import importlib
import struct
import sys
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:  # typed views of the names __getattr__ resolves at run time
    from concurrent.futures.process import _RemoteTraceback as ExecutorRemoteTraceback
    from multiprocessing.context import assert_spawning, get_spawning_popen, set_spawning_popen
    from multiprocessing.pool import IMapIterator, MapResult
    from multiprocessing.resource_tracker import ensure_running as ensure_resource_tracker
    from multiprocessing.util import Finalize, is_exiting, register_after_fork
    from typing import Any, NamedTuple

__all__ = [
    "BASE_PROCESS_ATTRS",
    "CONNECTION_HEADER",
    "CONNECTION_LONG_HEADER",
    "CONNECTION_LONG_MARKER",
    "PRIVATE_NAMES",
    "ExecutorRemoteTraceback",
    "Finalize",
    "IMapIterator",
    "MapResult",
    "PrivateName",
    "StdlibChanged",
    "assert_spawning",
    "check",
    "check_popen_hooks",
    "ensure_resource_tracker",
    "extra_reducers",
    "forget_shared_memory",
    "get_spawning_popen",
    "holds_process_call",
    "inherited_types",
    "is_exiting",
    "process_call",
    "register_after_fork",
    "release_own_holds",
    "resolve",
    "semlock_of",
    "set_process_call",
    "set_spawning_popen",
    "skip_popen_sigint_wait",
    "start_popen",
    "subprocess_fast_paths",
    "windows_popen_handle",
]


class StdlibChanged(ImportError):
    """This CPython lacks a standard-library internal that compat relies on."""


# The fields, for the type checker; collections.namedtuple makes them at run time
# (typing.NamedTuple would import typing into every child; see compat._platform).
if TYPE_CHECKING:

    class _PrivateNameFields(NamedTuple):
        module: str
        path: str
        why: str
        kind: str = "attr"
else:
    _PrivateNameFields = namedtuple(
        "_PrivateNameFields", ["module", "path", "why", "kind"], defaults=("attr",)
    )


class PrivateName(_PrivateNameFields):
    """One standard-library internal compat uses.

    ``kind`` says how its presence is checked:

    - ``"attr"``: ``module`` has the dotted attribute ``path``;
    - ``"code"``: ``path`` is ``"Class.function attribute"``: the function's code
      uses that (instance) attribute name;
    - ``"source"``: ``path`` is a snippet of the module's source (names that exist
      only on another OS, such as Windows' ``Popen._handle``).
    """

    __slots__ = ()


#: alias -> the internal it stands for. Aliases of kind ``"attr"`` that are identifiers
#: can be imported from this module (``from compat._stdlib import Finalize``); the
#: others are reached through the functions below.
PRIVATE_NAMES: dict[str, PrivateName] = {
    "ForkingPickler._extra_reducers": PrivateName(
        "multiprocessing.reduction",
        "ForkingPickler._extra_reducers",
        "the reducers multiprocessing registers (connections, sockets, locks), merged "
        "once into a reused Pickler's dispatch table by the pool wire and Queue sender",
    ),
    "Finalize": PrivateName(
        "multiprocessing.util",
        "Finalize",
        "finalizers that run at garbage collection and, ordered, at interpreter exit "
        "(pools, queues, consumers), before multiprocessing joins its children",
    ),
    "register_after_fork": PrivateName(
        "multiprocessing.util",
        "register_after_fork",
        "a Queue re-arms its state in a child started by multiprocessing's bootstrap",
    ),
    "is_exiting": PrivateName(
        "multiprocessing.util",
        "is_exiting",
        "the Queue sender stays quiet about a broken pipe during interpreter exit",
    ),
    "assert_spawning": PrivateName(
        "multiprocessing.context",
        "assert_spawning",
        "queues refuse to be pickled except to a child being started, as the standard library's do",
    ),
    "get_spawning_popen": PrivateName(
        "multiprocessing.context",
        "get_spawning_popen",
        "a Queue pickled for a starting child finds that child (to count it as a writer)",
    ),
    "ensure_resource_tracker": PrivateName(
        "multiprocessing.resource_tracker",
        "ensure_running",
        "the doctor starts the tracker before it times its probes",
    ),
    "unregister_resource": PrivateName(
        "multiprocessing.resource_tracker",
        "unregister",
        "the doctor's shared-memory probe tells the tracker a segment it lost is gone",
    ),
    "SharedMemory._name": PrivateName(
        "multiprocessing.shared_memory",
        "SharedMemory.__init__ _name",
        "the tracker knows a segment by this name (with the leading slash on POSIX)",
        "code",
    ),
    "ConnectionBase": PrivateName(
        "multiprocessing.connection",
        "_ConnectionBase",
        "pre-flight: connections travel to a child only as Process arguments",
    ),
    "BufferWrapper": PrivateName(
        "multiprocessing.heap",
        "BufferWrapper",
        "pre-flight: shared-memory buffers travel to a child only as Process arguments",
    ),
    "SemLock._is_mine": PrivateName(
        "_multiprocessing",
        "SemLock._is_mine",
        "a JoinableQueue's thread gives back a hold of its Condition it leaked (Ctrl+C)",
    ),
    "SEM_VALUE_MAX": PrivateName(
        "multiprocessing.synchronize",
        "SEM_VALUE_MAX",
        "a Queue's maxsize is capped by the semaphore's maximum (32767 on macOS)",
    ),
    "PoolRemoteTraceback": PrivateName(
        "multiprocessing.pool",
        "RemoteTraceback",
        "a Pool task's exception carries the remote traceback as the standard library's does",
    ),
    "MaybeEncodingError": PrivateName(
        "multiprocessing.pool",
        "MaybeEncodingError",
        "a Pool result that cannot be pickled fails as in the standard library",
    ),
    "MapResult": PrivateName(
        "multiprocessing.pool",
        "MapResult",
        "compat's map results subclass it, so isinstance checks keep working",
    ),
    "IMapIterator": PrivateName(
        "multiprocessing.pool",
        "IMapIterator",
        "compat's imap iterators subclass it, so isinstance checks keep working",
    ),
    "ExecutorRemoteTraceback": PrivateName(
        "concurrent.futures.process",
        "_RemoteTraceback",
        "an executor task's exception carries the remote traceback as the standard library's does",
    ),
    "Process._Popen": PrivateName(
        "multiprocessing.context",
        "Process._Popen",
        "compat.Process starts through the Popen of the context compat chose",
    ),
    "BaseProcess._target": PrivateName(
        "multiprocessing.process",
        "BaseProcess.__init__ _target",
        "pre-flight reads (and for cloudpickle, swaps) a Process's target and arguments",
        "code",
    ),
    "BaseProcess._args": PrivateName(
        "multiprocessing.process", "BaseProcess.__init__ _args", "as _target", "code"
    ),
    "BaseProcess._kwargs": PrivateName(
        "multiprocessing.process", "BaseProcess.__init__ _kwargs", "as _target", "code"
    ),
    "SemLock._semlock": PrivateName(
        "multiprocessing.synchronize",
        "SemLock.__init__ _semlock",
        "pre-flight finds locks made by a fork context, which a spawn child cannot use",
        "code",
    ),
    "Popen._sigint_wait_secs": PrivateName(
        "subprocess",
        "Popen.__init__ _sigint_wait_secs",
        "compat.Popen forwards Ctrl+C to its child's own group before the grace wait",
        "code",
    ),
    "Popen._readerthread": PrivateName(
        "subprocess",
        "def _readerthread(self, fh, buffer):",
        "Windows: compat.Popen's communicate() reads bytes and decodes in the caller",
        "source",
    ),
    "Popen._handle": PrivateName(
        "subprocess",
        "self._handle = Handle(hp)",
        "Windows: the process handle compat puts into a Job Object",
        "source",
    ),
    "Connection frame": PrivateName(
        "multiprocessing.connection",
        'struct.pack("!i", -1)',
        "the pool reads and writes Connection frames itself on POSIX sockets: a signed "
        "4-byte big-endian length; above 2 GiB -1, then an 8-byte length",
        "source",
    ),
}

# The names compat._stdlib_child uses (the second home of private names: what the
# children compat starts itself need, kept out of this module's imports).
PRIVATE_NAMES.update(
    (alias, PrivateName(*entry))
    for alias, entry in importlib.import_module(__name__ + "_child").PRIVATE.items()
)

# The Connection frame layout (PRIVATE_NAMES["Connection frame"]).
CONNECTION_HEADER = struct.Struct("!i")
CONNECTION_LONG_HEADER = struct.Struct("!Q")
CONNECTION_LONG_MARKER = -1


def resolve(alias: str) -> Any:
    """The object an ``"attr"`` entry of :data:`PRIVATE_NAMES` names; a missing one
    raises :class:`StdlibChanged` naming it and what compat needs it for."""
    entry = PRIVATE_NAMES[alias]
    obj: Any = importlib.import_module(entry.module)
    try:
        for part in entry.path.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise _changed(entry) from None
    return obj


def check(alias: str) -> None:
    """Raise :class:`StdlibChanged` unless the internal ``alias`` names exists here."""
    entry = PRIVATE_NAMES[alias]
    if entry.kind == "attr":
        resolve(alias)
        return
    module = importlib.import_module(entry.module)
    if entry.kind == "code":
        function, attribute = entry.path.split(" ")
        owner, name = function.split(".")
        code = getattr(getattr(module, owner), name).__code__
        if attribute not in code.co_names:
            raise _changed(entry)
        return
    import inspect

    if entry.path not in inspect.getsource(module):
        raise _changed(entry)


def _changed(entry: PrivateName) -> StdlibChanged:
    version = ".".join(map(str, sys.version_info[:3]))
    return StdlibChanged(
        f"compat needs {entry.module}: {entry.path} ({entry.why}), which CPython {version} "
        "does not have; please report this at compat's issue tracker"
    )


def __getattr__(name: str) -> Any:
    entry = PRIVATE_NAMES.get(name)
    if entry is None or entry.kind != "attr":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = resolve(name)
    globals()[name] = value  # later lookups skip this function
    return value


def extra_reducers() -> dict[Any, Any]:
    """ForkingPickler's reducer table: the live dict ``ForkingPickler.register`` fills."""
    table: dict[Any, Any] = resolve("ForkingPickler._extra_reducers")
    return table


# multiprocessing.Process internals
#: Attributes every BaseProcess has; anything else on a subclass instance is the
#: user's state, which a spawn child receives by pickling.
BASE_PROCESS_ATTRS = frozenset(
    {
        "_identity",
        "_config",
        "_parent_pid",
        "_parent_name",
        "_popen",
        "_closed",
        "_target",
        "_args",
        "_kwargs",
        "_name",
        "_start_method",
        "_compat_method",
    }
)


def process_call(process: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """``(target, args, kwargs)`` of a not yet started ``multiprocessing`` Process."""
    state = vars(process)
    return state["_target"], tuple(state["_args"]), dict(state["_kwargs"])


def set_process_call(
    process: Any, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Replace what a not yet started Process will call (cloudpickle carriers)."""
    state = vars(process)
    state["_target"], state["_args"], state["_kwargs"] = target, args, kwargs


def holds_process_call(process: Any) -> bool:
    """Whether ``process`` still holds its call: ``start()`` drops it once the child runs."""
    return "_target" in vars(process)


def start_popen(mp_context: Any, process: Any) -> Any:
    """Start ``process`` with ``mp_context``'s Popen (what ``BaseProcess.start`` calls)."""
    return mp_context.Process._Popen(process)


def semlock_of(obj: Any) -> Any:
    """The ``_semlock`` of a multiprocessing lock-like object, or None for other objects."""
    return getattr(obj, "_semlock", None)


def release_own_holds(lock: Any) -> None:
    """Release the multiprocessing lock ``lock`` as often as this thread holds it
    (``SemLock._is_mine``); nothing for a lock of another kind."""
    semlock = semlock_of(lock)
    if semlock is not None:
        while semlock._is_mine():
            lock.release()


#: Objects that travel to a child only when passed at creation (Process arguments):
#: their reducers need the spawning machinery (``assert_spawning``), so pre-flight
#: lets them through and inspects their locks instead.
_INHERITED = {
    "multiprocessing.connection": ("ConnectionBase",),
    "multiprocessing.synchronize": ("SemLock", "Condition", "Event", "Barrier"),
    "multiprocessing.queues": ("Queue", "SimpleQueue"),
    "multiprocessing.sharedctypes": ("SynchronizedBase",),
    "multiprocessing.heap": ("BufferWrapper",),
    "socket": ("socket",),
}


def inherited_types() -> tuple[type, ...]:
    """The classes of :data:`_INHERITED` whose modules are loaded (if a module is not
    loaded, no instance exists); a missing class raises :class:`StdlibChanged`."""
    found: list[type] = []
    for module_name, names in _INHERITED.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name in names:
            cls = resolve(name) if name in PRIVATE_NAMES else getattr(module, name)
            found.append(cls)
    return tuple(found)


# subprocess.Popen internals
def check_popen_hooks() -> None:
    """Raise :class:`StdlibChanged` if ``subprocess.Popen`` no longer has the hooks
    compat.Popen overrides (cheap: code names, not source)."""
    from ._platform import WINDOWS

    check("Popen._sigint_wait_secs")
    if WINDOWS:  # the reader-thread hook exists (and is called) on Windows only
        import subprocess

        if not hasattr(subprocess.Popen, "_readerthread"):
            raise _changed(PRIVATE_NAMES["Popen._readerthread"])


def skip_popen_sigint_wait(popen: Any) -> None:
    """Turn off ``subprocess.Popen``'s grace wait after Ctrl+C for ``popen``."""
    popen._sigint_wait_secs = 0.0


def forget_shared_memory(shm: Any) -> None:
    """Tell the resource tracker that ``shm``'s segment is gone (it was unlinked by
    someone else), so that it does not warn about a leak at exit."""
    from multiprocessing import resource_tracker

    resource_tracker.unregister(shm._name, "shared_memory")


def subprocess_fast_paths() -> dict[str, bool]:
    """Whether ``subprocess`` may start programs with posix_spawn and with vfork here.

    An observation for the doctor (SUB entries), not a feature: CPython's switches
    ``_USE_POSIX_SPAWN`` and ``_USE_VFORK`` (3.10+) read as False where absent.
    """
    import subprocess

    return {
        "posix_spawn": bool(getattr(subprocess, "_USE_POSIX_SPAWN", False)),
        "vfork": bool(getattr(subprocess, "_USE_VFORK", False)),
    }


def windows_popen_handle(popen: Any) -> int:
    """The process handle of a ``subprocess.Popen`` on Windows."""
    return int(popen._handle)
