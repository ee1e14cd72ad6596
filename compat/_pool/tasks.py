"""Tasks as the worker machinery (``manager.py``) sees them, and the errors it
reports for them: a dead worker, a terminated pool, a failing initializer."""

from __future__ import annotations

import collections
import pickle
import sys

from .._errors import signal_name
from .._platform import WINDOWS
from . import worker as wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Protocol

#: Workers dying before they finish starting this many times in a row break the pool
#: (an initializer that crashes the process, a main module that cannot be imported).
STARTUP_FAILURES = 3

_SIGKILL_HINT = " (the OS killed it: out of memory, or someone ran kill -9)"
_EXIT_HINT = " (the task called sys.exit() or os._exit(), or the interpreter aborted)"


# For annotations only (typing.Protocol would import typing at run time).
if TYPE_CHECKING:

    class Sink(Protocol):
        """Receives the outcome of tasks: an AsyncResult, an imap iterator, a Future."""

        def _deliver(self, index: int, ok: bool, value: Any) -> None: ...


class Task:
    """One unit of work: what the worker runs, and where its outcome goes."""

    __slots__ = (
        "args",
        "blob",
        "func",
        "index",
        "kind",
        "label",
        "seq",
        "sink",
        "start",
        "timeout",
    )

    def __init__(
        self,
        sink: Sink,
        index: int,
        kind: int,
        func: Any,
        args: Any,
        label: str,
        blob: bytes,
        start: Optional[Callable[[], bool]] = None,
        timeout: Optional[float] = None,
    ) -> None:
        self.sink = sink
        self.index = index
        self.kind = kind
        self.func = func
        # For a chunk only its length: holding thousands of items until the result
        # comes back would make them survive into the garbage collector's older
        # generations, and full collections of them cost more than the task.
        self.args: Any = args if kind == wire.APPLY else len(args)
        self.label = label
        self.blob = blob
        self.start = start
        self.seq = 0
        #: seconds it may run in a worker before the worker is killed (None: no limit)
        self.timeout = timeout

    def describe(self) -> str:
        """A short description for error messages: which call, which function. One
        number per task: the call's number in the pool (``apply_async task #7``), the
        item's position (``imap item 4``) or the chunk's (``map chunk 3``)."""
        import reprlib

        name = getattr(self.func, "__qualname__", None) or reprlib.repr(self.func)
        if self.kind == wire.APPLY:
            args = reprlib.repr(tuple(self.args or ()))
            if args.endswith(",)"):
                args = args[:-2] + ")"
            if self.label.startswith("imap"):
                return f"{self.label} item {self.index}: {name}{args}"
            return f"{self.label} task #{self.seq}: {name}{args}"
        items = "1 item" if self.args == 1 else f"{self.args} items"
        return f"{self.label} chunk {self.index} ({items}): {name}"


if TYPE_CHECKING:
    #: (task, succeeded, value or the raw result frame, value is a raw frame)
    Delivery = tuple[Task, bool, Any, bool]


class ErrorMaker:
    """Builds the exceptions a pool reports, as ``error_type`` (``ChildError`` for the
    Pool, ``compat.BrokenProcessPool`` for the executor)."""

    def __init__(
        self, error_type: Callable[..., BaseException], method: Optional[str], flavour: str
    ) -> None:
        self.error_type = error_type
        self.method = method
        self.flavour = flavour

    def died(self, proc: Any, exitcode: Optional[int], task: Task) -> BaseException:
        sig = signal_name(exitcode)
        how = f"was killed by {sig}" if sig else f"exited with code {exitcode}"
        hint = _SIGKILL_HINT if sig == "SIGKILL" else ""
        if exitcode is not None and exitcode >= 0 and self.flavour == "pool":
            hint = _EXIT_HINT
        return self.error_type(
            f"worker {proc.name} (pid {proc.pid}) {how}{hint} while running "
            f"{task.describe()}; the pool started a replacement worker",
            exitcode=exitcode,
            pid=proc.pid,
            name=proc.name,
            method=self.method,
            task=task.describe(),
        )

    def timed_out(self, proc: Any, task: Task) -> BaseException:
        from .._errors import ChildTimeout

        what = task.describe()
        return ChildTimeout(
            f"{what} ran longer than its limit of {task.timeout:g} s; compat killed "
            f"worker {proc.name} (pid {proc.pid}) and its process tree, and the pool "
            f"started a replacement",
            timeout=task.timeout,
            task=what,
            pid=proc.pid,
            name=proc.name,
        )

    def terminated(
        self, proc: Any, task: Optional[Task], *, started: bool, killed: bool = False
    ) -> BaseException:
        what = task.describe() if task is not None else "the task"
        if started and proc is not None:
            return self.error_type(
                f"the pool was terminated while {what} was running in worker "
                f"{proc.name} (pid {proc.pid})",
                exitcode=exitcode_of(proc, killed=killed),
                pid=proc.pid,
                name=proc.name,
                method=self.method,
                task=what,
            )
        return self.error_type(
            f"the pool was terminated before {what} started", method=self.method, task=what
        )

    def initializer_failed(self, frame: bytes) -> BaseException:
        exc: BaseException
        try:
            exc = loads_exception(frame)
        except Exception as problem:
            exc = problem
        error = self.error_type(
            f"the pool's initializer raised {type(exc).__name__}: {exc}; the pool is "
            f"broken and runs no more tasks (a failing initializer is not retried)",
            remote_type=qualname(exc),
            remote_message=str(exc),
            remote_traceback=getattr(exc.__cause__, "tb", None),
            exception=exc,
            method=self.method,
        )
        error.__cause__ = exc
        return error

    def startup_failed(self, proc: Any, exitcode: Optional[int]) -> BaseException:
        sig = signal_name(exitcode)
        how = f"killed by {sig}" if sig else f"exit code {exitcode}"
        return self.error_type(
            f"{STARTUP_FAILURES} workers in a row died before they finished starting "
            f"(last: {proc.name}, {how}); the pool is broken. The worker's traceback "
            f"is on stderr. Under spawn and forkserver, check that the main module has "
            f"an `if __name__ == '__main__':` guard and that the initializer and its "
            f"arguments can be imported and unpickled in a fresh interpreter",
            exitcode=exitcode,
            pid=proc.pid,
            name=proc.name,
            method=self.method,
        )

    def cannot_start(self, exc: BaseException) -> BaseException:
        error = self.error_type(
            f"compat could not start a replacement worker: {type(exc).__name__}: {exc}",
            remote_type=qualname(exc),
            remote_message=str(exc),
            method=self.method,
        )
        error.__cause__ = exc
        return error

    def manager_failed(self, exc: BaseException) -> BaseException:
        return self.error_type(
            f"compat's pool manager thread failed ({type(exc).__name__}: {exc}); "
            f"every unfinished task fails and the pool is stopped",
            method=self.method,
        )

    def undecodable(self, exc: BaseException, task: Task) -> BaseException:
        """A result that reached the parent but cannot be unpickled there."""
        if self.flavour == "executor":
            return exc
        from .._stdlib import MaybeEncodingError

        error: BaseException = MaybeEncodingError(exc, f"<the result of {task.describe()}>")
        return error


def check_timeout(value: Any, name: str) -> Optional[float]:
    """A task time limit as given by the user: None, or seconds > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds, not {value!r}")
    return float(value)


def take_batch(
    pending: collections.deque[Task], n: int, max_bytes: Optional[int]
) -> tuple[list[Task], int]:
    """Up to ``n`` tasks from ``pending`` (no more than ``max_bytes`` of them), each
    marked started, and the size of their message (an upper bound). Executor futures
    cancelled while they waited are dropped here."""
    batch: list[Task] = []
    size = 32  # the list's pickling overhead and the frame header
    while pending and len(batch) < n:
        grown = size + len(pending[0].blob) + 16
        if max_bytes is not None and grown > max_bytes:
            break
        size = grown
        task = pending.popleft()
        start = task.start
        if start is not None:
            task.start = None  # once: a requeued task is already running
            try:
                started = start()
            except Exception:  # a future in a state it cannot leave
                started = False
            if not started:
                continue  # a cancelled future
        batch.append(task)
    return batch, size


def deliver(items: list[Delivery], errors: ErrorMaker) -> None:
    """Hand each outcome to its sink, unpickling raw result frames first. Runs
    without the pool's lock: sinks call user callbacks."""
    loads = pickle.loads
    for task, ok, value, raw in items:
        if raw:
            try:
                value = loads(memoryview(value)[wire.HEADER.size :])
            except BaseException as exc:
                # BaseException too (a __reduce__ calling sys.exit()): it belongs to
                # this task, and escaping here would end the manager thread with
                # this task already taken from its worker, so it never resolved.
                ok, value = False, errors.undecodable(exc, task)
        try:
            task.sink._deliver(task.index, ok, value)
        except BaseException:
            # A raising callback must not stop the pool (in multiprocessing.Pool it
            # kills the result thread and every later get() hangs).
            import traceback

            print(f"compat: exception in a callback for {task.describe()}:", file=sys.stderr)
            traceback.print_exc()
        # Arguments and results are released as soon as the task is delivered.
        task.func = task.args = task.sink = None  # type: ignore[assignment]
        task.blob = b""
        del value


def exitcode_of(proc: Any, *, killed: bool = False) -> Optional[int]:
    """The process's exit code in compat's convention (negative signal number when a
    signal or a crash ended it, on every OS)."""
    code = proc.exitcode
    if code is None or not WINDOWS:
        return code if code is None else int(code)
    # NTSTATUS crash codes -> negative POSIX signal numbers, the same on every OS.
    from .._exitcodes import normalize_exitcode

    return normalize_exitcode(int(code), windows=True, killed=killed)


def qualname(exc: Optional[BaseException]) -> Optional[str]:
    if exc is None:
        return None
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def loads_exception(frame: bytes) -> BaseException:
    value = pickle.loads(memoryview(frame)[wire.HEADER.size :])
    if not isinstance(value, BaseException):
        raise TypeError(f"expected an exception, got {type(value).__name__}")
    return value


def flush_child_logs() -> None:
    """Once the workers have ended: their log records are handled before ``join()``
    returns (:mod:`compat._child.logs`; nothing to do if it was never used)."""
    logs = sys.modules.get("compat._child.logs")
    if logs is not None:
        logs.flush()
