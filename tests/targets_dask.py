"""Task functions for tests/test_dask.py: importable by the Dask workers."""

from __future__ import annotations

import os
import time
from typing import Any


def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def slow_square(x: int) -> int:
    time.sleep(0.05 * (x % 3))
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise KeyError(x)
    return x


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pid_after(seconds: float, path: str) -> int:
    """Write this worker's pid to ``path``, then sleep (a test kills it meanwhile)."""
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(seconds)
    return os.getpid()


_STATE: dict[str, Any] = {}


def remember(key: str, value: Any) -> None:
    _STATE[key] = value


def recall(key: str) -> Any:
    return _STATE.get(key)
