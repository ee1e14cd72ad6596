"""Module-level, picklable functions that pool and executor tests run in workers
(spawn and forkserver workers import them by module and name)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from tests import procs

_STATE: dict[str, Any] = {}


def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def identity(x: Any) -> Any:
    return x


def pid_of(_: object = None) -> int:
    return os.getpid()


def sleep_then(value: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise KeyError(x)
    return x


def report_pid_and_sleep(path: str, seconds: float = 60.0) -> int:
    """Write this worker's pid to ``path`` (atomically), then sleep: a task a test
    can find (``tests.procs.wait_for_pid``) and end mid-run."""
    return procs.report_pid_and_sleep(path, seconds)


def ignore_sigterm_and_sleep(path: str, seconds: float = 60.0) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    report_pid_and_sleep(path, seconds)


def kill_self(_: object = None) -> None:
    """End this worker from inside with ``tests.procs.hard_kill`` (SIGKILL on POSIX)."""
    procs.kill_self()


def segfault_self(_: object = None) -> None:
    """Crash this worker for real (a NULL read: SIGSEGV, or an access violation)."""
    procs.crash()


def os_exit(code: int) -> None:
    os._exit(code)


def sys_exit(code: int) -> None:
    sys.exit(code)


def unpicklable_result(_: object = None) -> Any:
    return threading.Lock()


class NeedsTwoArgs(Exception):
    """Pickles, but cannot be rebuilt: unpickling calls NeedsTwoArgs(message)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def raise_needs_two_args(_: object = None) -> None:
    raise NeedsTwoArgs("odd", 3)


def _refuse_to_load() -> None:
    raise ImportError("this object cannot be unpickled in a worker")


class FailsToUnpickle:
    """Pickles in the parent, fails to unpickle in the worker."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_to_load, ())


def set_state(value: Any) -> None:
    _STATE["value"] = value


def get_state(_: object = None) -> Any:
    return _STATE.get("value")


def initializer_fails(message: str) -> None:
    raise RuntimeError(message)


def initializer_exits(code: int) -> None:
    os._exit(code)


def numbers_then_error(n: int) -> Any:
    yield from range(n)
    raise OSError("the input ran dry")


def burn_cpu(seconds: float) -> int:
    """Spin for ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    count = 0
    while time.thread_time() < end:
        count += 1
    return count


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


def start_endless_thread(_: object = None) -> int:
    """Leave a non-daemon thread running: the worker process cannot exit on its own."""
    threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
    return os.getpid()


def get_state_repr(_: object = None) -> str:
    return repr(_STATE.get("value"))


def exit_on(x: int, bad: int) -> int:
    """``x``, except that the worker exits (code 3) on ``bad``."""
    if x == bad:
        os._exit(3)
    return x


def apply_to(func: Any, *args: Any) -> Any:
    return func(*args)
