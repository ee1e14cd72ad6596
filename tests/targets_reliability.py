"""Module-level targets for tests/test_reliability.py (spawn children import them)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


class Big:
    """Stands for a large argument: the tests watch it with a weak reference."""


def count(x: Any) -> int:
    return 1


def identity(x: Any) -> Any:
    return x


def sleep_then(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def _exit_now(code: int) -> None:
    sys.exit(code)


class ExitWhenUnpickled:
    """Unpickling it calls sys.exit(): a result the parent cannot take in."""

    def __reduce__(self) -> Any:
        return (_exit_now, (3,))


class ExitWhenPickled:
    """Pickling it calls sys.exit(): a result the worker cannot send."""

    def __reduce__(self) -> Any:
        sys.exit(4)


def make_exit_when_unpickled(x: Any) -> ExitWhenUnpickled:
    return ExitWhenUnpickled()


def make_exit_when_pickled(x: Any) -> ExitWhenPickled:
    return ExitWhenPickled()


def exit_in_initializer() -> None:
    # Stands for a spawned worker that cannot import the main module: it dies
    # before it reports ready.
    os._exit(1)


def start_sleeper_then_sleep(pid_file: str) -> None:
    """A task that starts a grandchild (a plain subprocess) and outlives any limit."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(pid_file + ".tmp", "w") as f:
        f.write(str(child.pid))
    os.replace(pid_file + ".tmp", pid_file)
    time.sleep(120)


def consumer_that_exits() -> Any:
    os._exit(7)
    yield  # pragma: no cover - a generator function
