"""Module-level child targets: spawn and forkserver children import them by name."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from tests.procs import crash, report_pid_and_sleep, suppress_crash_report


def double(x: int) -> int:
    return x * 2


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def raise_value_error(message: str) -> None:
    raise ValueError(message)


class CustomError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class UnpicklableError(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("this exception refuses to be pickled")


def raise_custom(code: int) -> None:
    raise CustomError(code, "custom failure")


def raise_unpicklable() -> None:
    raise UnpicklableError("cannot travel")


def exit_with(code: Any) -> None:
    sys.exit(code)


def hard_exit(code: int) -> None:
    os._exit(code)


def sleep_forever() -> None:
    while True:
        time.sleep(1)


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def ignore_sigterm_then_sleep(seconds: float, ready: str = "") -> None:
    """Ignore SIGTERM, create the file ``ready`` (if given) to say so, then sleep."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if ready:
        open(ready, "x").close()
    time.sleep(seconds)


def segfault() -> None:
    """Crash with a real segfault (Windows: access violation): see tests.procs.crash."""
    crash()


def crashable_sleep(path: str, seconds: float = 60.0) -> int:
    """Switch crash reports off, write this pid to ``path``, then sleep: a process for
    ``tests.procs.crash_process`` to crash quietly."""
    suppress_crash_report()
    return report_pid_and_sleep(path, seconds)


def return_unpicklable() -> Any:
    return lambda: None


def big_result(n: int) -> bytes:
    return b"x" * n


def ids() -> dict[str, Any]:
    import compat

    return {"pid": os.getpid(), "getppid": compat.getppid(), "os_getppid": os.getppid()}


def put_back(queue: Any, value: Any) -> None:
    queue.put(value)


def lock_and_report(lock: Any) -> bool:
    with lock:
        return True


def current_name() -> str:
    import compat

    return str(compat.current_process().name)


def call(fn: Any, *args: Any) -> Any:
    return fn(*args)


def _subclass_base() -> Any:
    import compat

    return compat.Process


class CountingProcess(_subclass_base()):  # type: ignore[misc]
    """A Process subclass with its own state, as the tutorial style writes them."""

    def __init__(self, queue: Any, n: int) -> None:
        super().__init__()
        self.queue = queue
        self.n = n

    def run(self) -> None:
        self.queue.put(sum(range(self.n)))


#: Set at run time in the test process: a child sees it only if it was forked from it.
PARENT_MARK: Any = None


def start_method_seen(parent_pid: int) -> str:
    """How this child was started, judged from what it inherited: a fork child has the
    parent's memory (PARENT_MARK); a forkserver child's parent is the server."""
    if PARENT_MARK is not None:
        return "fork"
    return "spawn" if os.getppid() == parent_pid else "forkserver"


def start_method_seen_gen(parent_pid: int) -> Any:
    """:func:`start_method_seen` as a generator, for spawn_consumer."""
    while True:
        yield start_method_seen(parent_pid)
