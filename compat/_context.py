"""Contexts: everything that makes processes or IPC objects, bound to one start
method so that objects of different methods never mix.

The module-level functions (``compat.Lock()``, ``compat.Queue()``...) use the
default context, whose start method compat's policy chooses once, at first use,
so that ``import compat as multiprocessing`` keeps a program working.
"""

from __future__ import annotations

import os
import threading
from multiprocessing import (
    AuthenticationError,
    BufferTooShort,
    ProcessError,
    TimeoutError,
)

from ._errors import ForkSafetyWarning, warn_user
from ._platform import PlatformFacts
from ._policy import Decision, choose_start_method, fork_hazards

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from ._child.child import Child
    from ._child.process import Process

__all__ = [
    "AuthenticationError",
    "BufferTooShort",
    "Context",
    "ProcessError",
    "TimeoutError",
    "get_all_start_methods",
    "get_context",
    "get_start_method",
    "getppid",
    "set_start_method",
]


class Context:
    """The standard library's context API bound to one start method.

    ``compat.get_context("spawn")`` returns one; ``ctx.method`` and
    ``ctx.decision.reason`` say which method and why. Every factory
    (``Lock``, ``Queue``, ``Pool``, ``Process``, ``spawn_child``...) makes objects
    of that method, so a Queue and the child it is passed to always agree (mixing
    a fork-context Lock with a spawn child breaks: research START-05).
    """

    __module__ = "compat"

    ProcessError = ProcessError
    BufferTooShort = BufferTooShort
    TimeoutError = TimeoutError
    AuthenticationError = AuthenticationError

    def __init__(
        self, decision: Decision, *, die_with_parent: bool = True, forward_logs: bool = True
    ) -> None:
        import multiprocessing

        self.decision = decision
        #: Whether :meth:`spawn_child` and :meth:`spawn_consumer` children end when
        #: this process ends (see :func:`compat.get_context`).
        self.die_with_parent = die_with_parent
        #: Whether the log records of the children this context starts go to this
        #: process's handlers (see :func:`compat.get_context`).
        self.forward_logs = forward_logs
        self.mp_context: Any = multiprocessing.get_context(decision.method)
        if decision.method == "forkserver":
            self.set_forkserver_preload(["__main__"])

    def __repr__(self) -> str:
        outlive = "" if self.die_with_parent else ", children may outlive this process"
        if not self.forward_logs:
            outlive += ", children's logs not forwarded"
        return f"<compat.Context {self.method!r}{outlive}: {self.decision.reason}>"

    @property
    def method(self) -> str:
        """The start method: ``"fork"``, ``"spawn"`` or ``"forkserver"``."""
        return self.decision.method

    # Processes -----------------------------------------------------------------
    @property
    def Process(self) -> type[Process]:
        """The :class:`compat.Process` class bound to this context's method."""
        from ._child.process import PROCESS_CLASSES

        return PROCESS_CLASSES[self.method]

    def spawn_child(self, target: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Child:
        """Start ``target(*args, **kwargs)`` in a child of this context's method."""
        from ._child.child import start_child

        return start_child(self, target, args, kwargs)

    def _warn_if_fork_unsafe(self) -> None:
        # The default method is chosen once (objects made earlier must match it);
        # if the policy chose fork and forking has become unsafe since, say so.
        if self.method != "fork" or self.decision.source != "policy":
            return
        hazards = fork_hazards(PlatformFacts.current())
        if hazards:
            warn_user(
                "compat's default start method is fork (chosen when it was safe), but now "
                + "; ".join(hazards)
                + ". Use compat.get_context('forkserver') (or 'spawn'), or set "
                "COMPAT_START_METHOD, before creating the objects the child needs",
                ForkSafetyWarning,
            )

    # Synchronisation and shared memory (the standard library's, of this method)
    def Lock(self) -> Any:
        return self.mp_context.Lock()

    def RLock(self) -> Any:
        return self.mp_context.RLock()

    def Condition(self, lock: Any = None) -> Any:
        return self.mp_context.Condition(lock)

    def Semaphore(self, value: int = 1) -> Any:
        return self.mp_context.Semaphore(value)

    def BoundedSemaphore(self, value: int = 1) -> Any:
        return self.mp_context.BoundedSemaphore(value)

    def Event(self) -> Any:
        return self.mp_context.Event()

    def Barrier(self, parties: int, action: Any = None, timeout: Any = None) -> Any:
        return self.mp_context.Barrier(parties, action, timeout)

    def Value(self, typecode_or_type: Any, *args: Any, lock: Any = True) -> Any:
        return self.mp_context.Value(typecode_or_type, *args, lock=lock)

    def Array(self, typecode_or_type: Any, size_or_initializer: Any, *, lock: Any = True) -> Any:
        return self.mp_context.Array(typecode_or_type, size_or_initializer, lock=lock)

    def RawValue(self, typecode_or_type: Any, *args: Any) -> Any:
        return self.mp_context.RawValue(typecode_or_type, *args)

    def RawArray(self, typecode_or_type: Any, size_or_initializer: Any) -> Any:
        return self.mp_context.RawArray(typecode_or_type, size_or_initializer)

    def Manager(self) -> Any:
        """A started ``multiprocessing.managers.SyncManager`` of this context. Its
        server process ends with this process, however this process ends (the
        standard library's server outlives a parent killed with SIGKILL)."""
        from multiprocessing.managers import SyncManager

        from ._native.lifeline import arm, make_lifeline
        from ._native.threads import async_signals_blocked

        manager = SyncManager(ctx=self.mp_context)
        with async_signals_blocked(self.method):  # arm() unblocks them in the server
            manager.start(arm, (make_lifeline(),))
        return manager

    # Queues, pipes and pools: compat's own, bound to this context
    def Queue(self, maxsize: int = 0) -> Any:
        """A :class:`compat.Queue` of this context's method."""
        from ._queue.queue import Queue

        return Queue(maxsize, ctx=self.mp_context)

    def JoinableQueue(self, maxsize: int = 0) -> Any:
        """A :class:`compat.JoinableQueue` of this context's method."""
        from ._queue.joinable import JoinableQueue

        return JoinableQueue(maxsize, ctx=self.mp_context)

    def SimpleQueue(self) -> Any:
        """A :class:`compat.SimpleQueue` of this context's method."""
        from ._queue.simple import SimpleQueue

        return SimpleQueue(ctx=self.mp_context)

    def Pipe(self, duplex: bool = True) -> Any:
        return self.mp_context.Pipe(duplex)

    def Pool(
        self,
        processes: Optional[int] = None,
        initializer: Optional[Callable[..., Any]] = None,
        initargs: tuple[Any, ...] = (),
        maxtasksperchild: Optional[int] = None,
    ) -> Any:
        """A :class:`compat.Pool` of this context's method and ``forward_logs``."""
        from ._pool.pool import Pool

        return Pool(processes, initializer, initargs, maxtasksperchild, context=self)

    def ProcessPoolExecutor(
        self,
        max_workers: Optional[int] = None,
        initializer: Optional[Callable[..., Any]] = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: Optional[int] = None,
    ) -> Any:
        """A :class:`compat.ProcessPoolExecutor` of this context's method and logs."""
        from ._pool.executor import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers,
            self,
            initializer,
            initargs,
            max_tasks_per_child=max_tasks_per_child,
        )

    def spawn_consumer(self, consumer: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run generator ``consumer`` in a child of this context's method (see
        :func:`compat.spawn_consumer`)."""
        from ._child.consumer import start_consumer

        return start_consumer(consumer, args, kwargs, ctx=self)

    # Process information and configuration
    def cpu_count(self) -> int:
        """The number of CPUs this process may use (never less than 1)."""
        return _cpu_count()

    def current_process(self) -> Any:
        return self.mp_context.current_process()

    def parent_process(self) -> Any:
        return self.mp_context.parent_process()

    def active_children(self) -> list[Any]:
        return list(self.mp_context.active_children())

    def freeze_support(self) -> None:
        self.mp_context.freeze_support()

    def get_logger(self) -> Any:
        return self.mp_context.get_logger()

    def log_to_stderr(self, level: Any = None) -> Any:
        return self.mp_context.log_to_stderr(level)

    def allow_connection_pickling(self) -> None:
        self.mp_context.allow_connection_pickling()

    def set_executable(self, executable: str) -> None:
        self.mp_context.set_executable(executable)

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        """Modules the forkserver imports once, so its children need not.

        compat adds its own child bootstrap (``compat._child.child``) to the list, which
        saves every forkserver child that import. Takes effect when the server
        starts (the first forkserver child)."""
        names = list(module_names)
        if "compat._child.child" not in names:
            names.append("compat._child.child")
        self.mp_context.set_forkserver_preload(names)

    @property
    def reducer(self) -> Any:
        return self.mp_context.reducer

    def get_start_method(self, allow_none: bool = False) -> str:
        return self.method

    def set_start_method(self, method: Optional[str], force: bool = False) -> None:
        # The standard library's concrete contexts refuse too.
        raise ValueError(
            "cannot set the start method of a concrete context; use "
            "compat.set_start_method() or compat.get_context(method)"
        )

    def get_all_start_methods(self) -> list[str]:
        return get_all_start_methods()

    def get_context(
        self,
        method: Optional[str] = None,
        *,
        die_with_parent: Optional[bool] = None,
        forward_logs: Optional[bool] = None,
    ) -> Context:
        keep = self.die_with_parent if die_with_parent is None else die_with_parent
        logs = self.forward_logs if forward_logs is None else forward_logs
        return get_context(method, die_with_parent=keep, forward_logs=logs)

    def getppid(self) -> int:
        return getppid()


_lock = threading.Lock()
_default: Optional[Context] = None
_by_method: dict[str, Context] = {}


def get_context(
    method: Optional[str] = None, *, die_with_parent: bool = True, forward_logs: bool = True
) -> Context:
    """A :class:`Context` bound to ``method``, or compat's default context.

    ``method=None`` returns the default context: its method is chosen by
    :func:`compat.choose_start_method` at first use (``COMPAT_START_METHOD``
    counts) and then kept, so every object it makes agrees. An unknown or
    unavailable method raises :class:`compat.StartMethodUnavailable` (a
    ``ValueError``) listing what this OS offers: Windows offers only ``spawn``.

    ``die_with_parent``: children started by the context's ``spawn_child`` and
    ``spawn_consumer`` end as soon as this process ends, however it ends (killed
    with SIGKILL included), on every OS: Linux has the kernel kill them when a
    pipe only this process holds closes, macOS and Windows watch that pipe (the
    parent's process handle on Windows) from a thread in the child. Pass
    ``die_with_parent=False`` for children meant to outlive this process, e.g.
    ``compat.get_context(die_with_parent=False).spawn_child(task)``. Pool and
    executor workers always end with their pool's process. ``Process`` keeps the
    standard library's behaviour (a non-daemonic child outlives its parent).

    ``forward_logs``: the log records of the children the context starts
    (``spawn_child``, ``spawn_consumer``, its ``Pool`` and ``ProcessPoolExecutor``
    workers, and pools given the context) are handled by this process's loggers and
    handlers (``logging.basicConfig`` included), under every start method and on
    every OS: a child's handlers are replaced by one that sends each record through
    a pipe, and a thread here hands it to ``logging.getLogger(record.name)``, whose
    current levels, filters and handlers decide; ``record.processName`` and
    ``record.process`` are the child's. Needs ``logging`` imported before the child
    starts. ``forward_logs=False`` leaves children's logging alone, as the standard
    library does: a forked child writes through the handlers it inherited, a spawned
    one starts unconfigured (Windows, and macOS by default).
    """
    if not die_with_parent or not forward_logs:
        base = get_context(method)
        with _lock:
            key = f"{base.method}:{die_with_parent}:{forward_logs}"
            ctx = _by_method.get(key)
            if ctx is None or ctx.decision is not base.decision:
                ctx = _by_method[key] = Context(
                    base.decision, die_with_parent=die_with_parent, forward_logs=forward_logs
                )
        return ctx
    global _default
    if method is None:
        ctx = _default
        if ctx is None:
            with _lock:
                if _default is None:
                    _default = Context(choose_start_method())
                ctx = _default
        return ctx
    ctx = _by_method.get(method) if isinstance(method, str) else None
    if ctx is None:
        decision = choose_start_method(method)
        with _lock:
            ctx = _by_method.setdefault(decision.method, Context(decision))
    return ctx


def resolve_context(ctx: Any, *, argument: str = "ctx") -> Any:
    """The multiprocessing context that a ``ctx`` argument (``context=`` of Pool,
    ``mp_context=`` of the executor, ``ctx=`` of queues and consumers) stands for.

    ``None``: the default context's (the start method compat's policy chose); a
    compat :class:`Context` (or any object with an ``mp_context``): its
    ``mp_context``; a multiprocessing context (anything with ``Process``, ``Pipe``
    and ``Lock``): itself. Anything else raises TypeError naming ``argument`` and
    what to pass.
    """
    if ctx is None:
        return get_context().mp_context
    inner = getattr(ctx, "mp_context", None)
    if inner is not None:
        return inner
    if all(hasattr(ctx, name) for name in ("Process", "Pipe", "Lock")):
        return ctx
    raise TypeError(
        f"{argument} must be a compat Context (compat.get_context(...)) or a "
        f"multiprocessing context (multiprocessing.get_context(...)), not {type(ctx).__name__}"
    )


def set_start_method(method: Optional[str], force: bool = False) -> None:
    """Fix the default context's start method, like ``multiprocessing.set_start_method``.

    Raises ``RuntimeError`` once the default is in use unless ``force`` is true;
    ``set_start_method(None, force=True)`` lets the policy choose again. Unlike
    the standard library this never changes ``multiprocessing``'s own default.
    """
    global _default
    with _lock:
        if _default is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None:
            if not force:
                raise ValueError("method must be a start method name, or None with force=True")
            _default = None
            return
    decision = choose_start_method(method)
    with _lock:
        _default = Context(decision)


def replace_default(ctx: Optional[Context]) -> Optional[Context]:
    """Make ``ctx`` the default context (None: the policy chooses again at next use),
    return the one it replaces: compat's pytest plugin runs a test's method with it."""
    global _default
    with _lock:
        previous, _default = _default, ctx
    return previous


def get_start_method(allow_none: bool = False) -> Optional[str]:
    """The default context's start method (choosing it now unless ``allow_none``)."""
    if _default is None and allow_none:
        return None
    return get_context().method


def get_all_start_methods() -> list[str]:
    """The start methods this interpreter offers, as ``multiprocessing`` lists them."""
    import multiprocessing

    return list(multiprocessing.get_all_start_methods())


def getppid() -> int:
    """The pid of the process that started this one, under every start method.

    ``os.getppid()`` is wrong in a forkserver child (it returns the server's pid,
    research START-06) and, on Windows, may name an unrelated process after the
    parent exited (PROC-06). Inside a multiprocessing child this returns the
    real parent's pid; elsewhere ``os.getppid()``.
    """
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        return int(parent.pid)
    return os.getppid()


def _cpu_count() -> int:
    from ._cpu import cpu_count as real

    return real()
