"""The exceptions and warnings compat raises.

Each subclasses what a standard-library user would already catch, so that
``except ValueError`` or ``except TimeoutError`` keeps working when code moves
from ``multiprocessing`` to ``compat``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "ChildError",
    "ChildTimeout",
    "CompatError",
    "CompatWarning",
    "ForkSafetyWarning",
    "PortabilityWarning",
    "SpawnError",
    "StartMethodUnavailable",
    "signal_name",
]

# Signal numbers that are the same on every POSIX system, with their names. Used
# where the signal module cannot name them (Windows has no SIGKILL at all), so a
# ChildError reads the same on every OS.
_PORTABLE_SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    6: "SIGABRT",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
}


def signal_name(exitcode: Optional[int]) -> Optional[str]:
    """The signal name for a negative exit code (``-9`` -> ``"SIGKILL"``), else None."""
    if exitcode is None or exitcode >= 0:
        return None
    number = -exitcode
    try:
        import signal

        return signal.Signals(number).name
    except (ValueError, AttributeError, TypeError):
        return _PORTABLE_SIGNALS.get(number, f"signal {number}")


class CompatError(Exception):
    """Base class of every exception compat raises on its own account."""

    __module__ = "compat"


class StartMethodUnavailable(CompatError, ValueError):
    """The requested start method is unknown or does not exist on this platform."""

    __module__ = "compat"


class SpawnError(CompatError):
    """A child cannot be started the way it was asked; raised in the parent before
    any process starts, with one sentence saying what is wrong and what to do."""

    __module__ = "compat"


class ChildTimeout(CompatError, TimeoutError):
    """A timeout passed: a wait on a child (the child is still running), or a pool
    task that ran past its limit (``task_timeout=``, ``apply_async(timeout=)``,
    ``submit_with_timeout``). A pool kills the worker that ran the task, and that
    worker's process tree, and starts a replacement; the other tasks are unaffected.

    Attributes (None where they do not apply): ``timeout`` (seconds), ``task`` (which
    call, which function), ``pid`` and ``name`` of the killed worker.
    """

    __module__ = "compat"

    def __init__(
        self,
        message: str = "",
        *,
        timeout: Optional[float] = None,
        task: Optional[str] = None,
        pid: Optional[int] = None,
        name: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.task = task
        self.pid = pid
        self.name = name

    def __reduce__(self) -> Any:
        return _rebuild_timeout, (
            str(self),
            {"timeout": self.timeout, "task": self.task, "pid": self.pid, "name": self.name},
        )


def _rebuild_timeout(message: str, fields: dict[str, Any]) -> ChildTimeout:
    return ChildTimeout(message, **fields)


class ChildError(CompatError):
    """A child process failed: its target raised, or it died before returning.

    Attributes (None where they do not apply):

    - ``exitcode``: the child's exit code, negative signal number when a signal
      killed it, on every OS (see :attr:`compat.Child.exitcode`).
    - ``signal_name``: ``"SIGKILL"``, ``"SIGSEGV"``... when a signal killed it.
    - ``remote_type``: qualified name of the exception raised in the child.
    - ``remote_message``: ``str()`` of that exception.
    - ``remote_traceback``: the child's formatted traceback.
    - ``exception``: the child's exception object, when it could travel back
      (also set as ``__cause__``).
    - ``pid``, ``name``, ``method``: which child it was.
    """

    __module__ = "compat"

    def __init__(
        self,
        message: str,
        *,
        exitcode: Optional[int] = None,
        remote_type: Optional[str] = None,
        remote_message: Optional[str] = None,
        remote_traceback: Optional[str] = None,
        exception: Optional[BaseException] = None,
        pid: Optional[int] = None,
        name: Optional[str] = None,
        method: Optional[str] = None,
        task: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.exitcode = exitcode
        self.signal_name = signal_name(exitcode)
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.exception = exception
        self.pid = pid
        self.name = name
        self.method = method
        self.task = task

    def __reduce__(self) -> tuple[Any, ...]:
        # Travels between processes (a Pool worker's error reaches the parent).
        kwargs = {
            "exitcode": self.exitcode,
            "remote_type": self.remote_type,
            "remote_message": self.remote_message,
            "remote_traceback": self.remote_traceback,
            "pid": self.pid,
            "name": self.name,
            "method": self.method,
            "task": self.task,
        }
        # type(self): subclasses with the same constructor (the executor's
        # BrokenProcessPool) travel through this one reducer.
        return (_rebuild_child_error, (type(self), self.args[0] if self.args else "", kwargs))


def _rebuild_child_error(cls: type[ChildError], message: str, kwargs: dict[str, Any]) -> ChildError:
    return cls(message, **kwargs)


class CompatWarning(UserWarning):
    """Base class of compat's warnings."""

    __module__ = "compat"


class PortabilityWarning(CompatWarning):
    """Code that works here but fails on another OS or start method."""

    __module__ = "compat"


class ForkSafetyWarning(CompatWarning, RuntimeWarning):
    """Forking now risks a deadlock or crash in the child (threads alive, macOS
    frameworks loaded), and the start method was fixed before that became true."""

    __module__ = "compat"


def warn_user(message: str, category: type[Warning]) -> None:
    """Warn with the location of the first caller outside compat, so the warning
    points at the user's line however deep inside compat it was raised."""
    import os
    import sys
    import warnings

    package_dir = os.path.dirname(os.path.abspath(__file__))
    level = 1
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(
        os.path.abspath(frame.f_code.co_filename)
    ).startswith(package_dir):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level + 1)
