"""Shared machinery of the fault tests: bounds, outcomes, timings, process trees, fds.

- ``outcome(fn)``: run ``fn``, return what it returned or raised (BaseException
  included, so that a KeyboardInterrupt or SystemExit that compat lets through fails
  the test instead of ending the run) and how long it took.
- ``record(...)``: when ``COMPAT_FAULTS_TIMINGS`` names a file, each case appends one
  JSON line (test, case, start method, seconds to the error, error type) to it;
  ``python -m tests.faults.timings FILE`` prints them as a table.
- Process trees from ``/proc`` (Linux): ``descendants``, ``running`` (a zombie counts
  as gone: PID 1 of a container may never reap orphans), ``wait_gone``.
- ``open_fds`` and ``fd_targets``: this process's descriptors (``/proc/self/fd``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Optional

#: Generous bound on any wait for an outcome (seconds): a hang fails, slowness does not.
WAIT = 30.0
#: Bound on the time from a fault to its error (the spec: "within a few seconds").
BOUND = 10.0
#: Children of a killed parent must be gone within 2 s; plus a margin for the check.
PARENT_DEATH_BOUND = 2.0 + 0.5
#: A large result: long enough to write that a kill lands in the middle of it.
BIG = 64 << 20

HAVE_PROC = os.path.isdir("/proc/self/task")
HAVE_PROC_FD = os.path.isdir("/proc/self/fd")
NO_PROC_REASON = "needs /proc to walk process trees (Linux); not available here"
NO_PROC_FD_REASON = "needs /proc/self/fd to list open descriptors (Linux)"


class CheckSkipped(UserWarning):
    """A check a test could not make on this platform (shown in the warnings summary)."""


# -- outcomes and timings ---------------------------------------------------------------


class Outcome:
    """What a call returned or raised, and how long it took."""

    __slots__ = ("error", "seconds", "value")

    def __init__(self, value: Any, error: Optional[BaseException], seconds: float) -> None:
        self.value = value
        self.error = error
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_name(self) -> str:
        if self.error is None:
            return "ok"
        cls = type(self.error)
        return (
            cls.__qualname__
            if cls.__module__ == "builtins"
            else f"{cls.__module__}.{cls.__qualname__}"
        )

    def __repr__(self) -> str:
        if self.error is None:
            return f"<returned {self.value!r:.200} after {self.seconds:.3f} s>"
        return f"<raised {self.error_name}: {self.error!s:.300} after {self.seconds:.3f} s>"


def outcome(fn: Callable[[], Any], *, since: Optional[float] = None) -> Outcome:
    """Call ``fn``; its outcome, timed from ``since`` (a ``time.monotonic()``) or now."""
    start = time.monotonic() if since is None else since
    try:
        value = fn()
    except BaseException as exc:  # KeyboardInterrupt, SystemExit... are outcomes here
        return Outcome(None, exc, time.monotonic() - start)
    return Outcome(value, None, time.monotonic() - start)


def record(nodeid: str, case: str, method: str, seconds: float, error: str) -> None:
    """Append one timing line to ``$COMPAT_FAULTS_TIMINGS`` (if set)."""
    path = os.environ.get("COMPAT_FAULTS_TIMINGS")
    if not path:
        return
    line = json.dumps(
        {
            "test": nodeid,
            "case": case,
            "method": method,
            "seconds": round(seconds, 4),
            "error": error,
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())  # one write: lines of parallel workers never mix
    finally:
        os.close(fd)


# -- process trees (Linux /proc) ----------------------------------------------------------


def _stat(pid: int) -> Optional[tuple[str, int]]:
    """(state letter, ppid) of process ``pid``, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1])


def process_table() -> dict[int, tuple[str, int]]:
    """pid -> (state, ppid) of every process in /proc."""
    table: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                table[int(entry)] = info
    return table


def descendants(pid: int) -> list[int]:
    """Every running (not zombie) descendant of ``pid``, nearest first."""
    children: dict[int, list[int]] = {}
    for child, (state, ppid) in process_table().items():
        if state not in "ZX":
            children.setdefault(ppid, []).append(child)
    found: list[int] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop(0)
        if child in found:
            continue
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (ended, not reaped yet) counts as gone."""
    info = _stat(pid)
    return info is not None and info[0] not in "ZX"


def wait_gone(pids: list[int], timeout: float) -> tuple[list[int], float]:
    """Wait up to ``timeout`` s for ``pids`` to end; (those still running, seconds waited)."""
    start = time.monotonic()
    left = [p for p in pids if running(p)]
    while left and time.monotonic() - start < timeout:
        time.sleep(0.005)
        left = [p for p in left if running(p)]
    return left, time.monotonic() - start


def kill_quietly(pids: list[int]) -> None:
    """SIGKILL whatever of ``pids`` still runs (cleanup; a zombie is left alone)."""
    from tests.procs import hard_kill

    for pid in pids:
        if running(pid):
            try:
                hard_kill(pid)
            except OSError:
                pass


def zombie_children() -> list[int]:
    """This process's children that ended and were not reaped."""
    me = os.getpid()
    return [p for p, (state, ppid) in process_table().items() if ppid == me and state == "Z"]


def wait_zombie_or_gone(pid: int, timeout: float = WAIT) -> None:
    """Wait until ``pid`` has ended (its descriptors are closed then)."""
    left, waited = wait_gone([pid], timeout)
    assert not left, f"process {pid} still running {waited:.1f} s after it was killed"


# -- file descriptors ---------------------------------------------------------------------


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def is_heap_arena(target: str) -> bool:
    """Whether an fd target is an arena of multiprocessing's shared-memory heap (the
    memory of RawArray, Value...: ``/dev/shm/pym-<pid>-*``, unlinked at once)."""
    return target.startswith(f"/dev/shm/pym-{os.getpid()}-")


def fd_targets(fds: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for fd in sorted(fds):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            found[fd] = "?"
    return found


def ignores_heap_arenas(test: Callable[..., None]) -> Callable[..., None]:
    """The ``fds`` check of this test leaves out multiprocessing's shared-memory
    arenas (``/dev/shm/pym-*``): compat.Queue objects are never collected (see
    test_leaks.py::test_closed_queue_is_collected), so every test that makes queues
    may grow the heap by new arenas; that one test reports it."""
    test.ignores_heap_arenas = True  # type: ignore[attr-defined]
    return test
