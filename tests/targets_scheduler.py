"""Module-level, picklable functions for the scheduler tests (tests/test_scheduler.py):
tasks that say which worker ran them, and initializers that make workers start
together, or one of them late."""

from __future__ import annotations

import os
import time

#: Bound on any wait in a worker: a broken scheduler fails a test, never hangs it.
WAIT = 20.0


def sleep_pid(seconds: float) -> int:
    """Sleep, then name the worker that ran this task."""
    time.sleep(seconds)
    return os.getpid()


def sleep_pid_star(seconds: float, _extra: object) -> int:
    """:func:`sleep_pid` for starmap (two arguments)."""
    return sleep_pid(seconds)


def _wait_for(predicate: object, limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)


def start_together(folder: str, workers: int) -> None:
    """Initializer: wait (at most :data:`WAIT`) until ``workers`` workers have started.

    All of them then report ready within milliseconds of each other, so a test's
    outcome does not depend on how far apart the OS started them (spawn under load),
    while the tasks were still submitted to a pool that had no ready worker."""
    with open(os.path.join(folder, f"started-{os.getpid()}"), "w"):
        pass
    _wait_for(lambda: sum(n.startswith("started-") for n in os.listdir(folder)) >= workers)


def first_starts_late(folder: str) -> None:
    """Initializer: the first worker to get here waits until the file ``go`` appears
    in ``folder`` (at most :data:`WAIT`), then writes ``late-ready`` with its pid; every
    other worker is ready at once."""
    try:
        fd = os.open(os.path.join(folder, "late"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    _wait_for(lambda: os.path.exists(os.path.join(folder, "go")))
    tmp = os.path.join(folder, "late-ready.tmp")
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, os.path.join(folder, "late-ready"))
