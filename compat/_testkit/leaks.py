"""What a test left behind: child processes, compat's threads, file descriptors.

Used by :mod:`compat.pytest_plugin`'s leak guard; imports neither pytest nor anything
heavy. A snapshot is taken before a test's setup and compared with one taken after
its teardown; what is new then and still there after a grace period is a leak.
Known long-lived helpers are not leaks: multiprocessing's resource tracker and
forkserver, compat's guardian (``compat.Popen(die_with_parent=True)``), the
descriptors they share with this process, compat's lifeline pipe, and the arenas
``multiprocessing.heap`` keeps for ``Value``/``Array`` (``/dev/shm/pym-PID-*``).

- Processes: every descendant of this process. Linux: ``/proc``; macOS and Windows:
  psutil when installed, else only multiprocessing's children (said in the header).
- Threads: the ones compat started (:func:`compat._native.threads.background_threads`).
- Descriptors: Linux only (``/proc/self/fd``); elsewhere not checked (said in the header).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import time
from typing import Any, NamedTuple, Optional

from .._platform import LINUX, WINDOWS

__all__ = ["Leaks", "Snapshot", "capabilities", "describe", "find_leaks", "reap", "snapshot"]

#: Seconds a leftover may take to go away by itself before it is a leak.
GRACE = 2.0
#: Command lines of the standard library's long-lived helper processes.
HELPER_COMMANDS = (
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)


class Snapshot(NamedTuple):
    processes: frozenset[int]
    """Descendants of this process."""
    threads: frozenset[int]
    """``id()`` of compat's live threads."""
    fds: Optional[frozenset[tuple[int, str]]]
    """(descriptor, what it refers to); None where it cannot be read."""


class Leaks(NamedTuple):
    processes: dict[int, str]
    """pid -> command line."""
    threads: list[str]
    fds: dict[int, str]

    def __bool__(self) -> bool:
        return bool(self.processes or self.threads or self.fds)


def _psutil() -> Any:
    try:
        return importlib.import_module("psutil")
    except ImportError:
        return None


def _table() -> Optional[dict[int, tuple[int, int]]]:
    from .._native.descendants import process_table

    return process_table()


def _descendants() -> set[int]:
    table = _table()
    if table is None:  # only what multiprocessing started
        import multiprocessing

        return {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    from .._native.descendants import descendants_of

    return set(descendants_of(os.getpid(), table))


def _threads() -> dict[int, str]:
    from .._native.threads import background_threads

    return {id(t): t.name for t in background_threads()}


def _fd_dir(pid: object) -> str:
    return f"/proc/{pid}/fd"


def _fds(pid: object = "self") -> Optional[dict[int, str]]:
    if not LINUX:
        return None
    try:
        names = os.listdir(_fd_dir(pid))
    except OSError:
        return None
    found = {}
    for name in names:
        try:
            found[int(name)] = os.readlink(f"{_fd_dir(pid)}/{name}")
        except (OSError, ValueError):  # closed meanwhile (the listing's own)
            continue
    return found


def snapshot(*, fds: bool = True) -> Snapshot:
    """What exists now."""
    open_fds = _fds() if fds else None
    return Snapshot(
        frozenset(_descendants()),
        frozenset(_threads()),
        None if open_fds is None else frozenset(open_fds.items()),
    )


def command_line(pid: int) -> str:
    """The command line of ``pid``, or ``"?"``."""
    if LINUX:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
            return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or "?"
        except OSError:
            return "?"
    psutil = _psutil()
    if psutil is None:
        return "?"
    try:
        return " ".join(psutil.Process(pid).cmdline()) or "?"
    except Exception:  # psutil.Error: gone, access denied
        return "?"


def _helpers(pids: set[int]) -> set[int]:
    """The long-lived helpers among ``pids``."""
    found = {p for p in pids if any(c in command_line(p) for c in HELPER_COMMANDS)}
    guardian = sys.modules.get("compat._native.guardian")
    pid = getattr(getattr(guardian, "GUARDIAN", None), "pid", None)
    if pid in pids:
        found.add(pid)
    return found


def _shared_with(helpers: set[int]) -> set[str]:
    """What the helpers' descriptors refer to (pipes, sockets shared with us)."""
    targets: set[str] = set()
    for pid in helpers:
        targets.update((_fds(pid) or {}).values())
    return targets


def _diff(before: Snapshot, allowed: Snapshot, now: Snapshot) -> Leaks:
    new_pids = set(now.processes - before.processes - allowed.processes)
    helpers = _helpers(new_pids | set(now.processes))
    new_pids -= helpers
    threads = _threads()
    new_threads = [
        threads[t] for t in now.threads - before.threads - allowed.threads if t in threads
    ]
    fds: dict[int, str] = {}
    if now.fds is not None and before.fds is not None:
        from .._native.lifeline import pipe_fds

        new = now.fds - before.fds - (allowed.fds or frozenset())
        shared = _shared_with(helpers) if new else set()
        own = set(pipe_fds())
        # multiprocessing.heap keeps its arenas (Value, Array) for reuse: pym-PID-*
        kept = (_fd_dir(os.getpid()), f"/dev/shm/pym-{os.getpid()}-")  # noqa: S108 - matched, not used
        fds = {
            fd: target
            for fd, target in new
            if fd not in own and target not in shared and not target.startswith(kept)
        }
    return Leaks({p: command_line(p) for p in sorted(new_pids)}, sorted(new_threads), fds)


def find_leaks(
    before: Snapshot, allowed: Snapshot, *, fds: bool = True, grace: float = GRACE
) -> Leaks:
    """What is new since ``before`` (and not in ``allowed``), after waiting up to
    ``grace`` seconds for it to go away."""
    deadline = time.monotonic() + grace
    collected = False
    while True:
        found = _diff(before, allowed, snapshot(fds=fds))
        if not found or time.monotonic() >= deadline:
            return found
        if not collected:  # objects in reference cycles close their descriptors now
            gc.collect()
            collected = True
            continue
        time.sleep(0.05)


def describe(leaks: Leaks) -> str:
    lines = []
    if leaks.processes:
        lines.append(f"{len(leaks.processes)} process(es) still running (killed now):")
        lines += [f"  pid {pid}: {cmd}" for pid, cmd in leaks.processes.items()]
    if leaks.threads:
        lines.append(f"{len(leaks.threads)} compat thread(s) still running:")
        lines += [f"  {name}" for name in leaks.threads]
    if leaks.fds:
        lines.append(f"{len(leaks.fds)} file descriptor(s) still open:")
        lines += [f"  fd {fd} -> {target}" for fd, target in sorted(leaks.fds.items())]
    return "\n".join(lines)


def reap(pids: dict[int, str], timeout: float = 5.0) -> None:
    """Kill the processes ``pids`` and reap the ones that are this process's children."""
    import multiprocessing
    import signal

    from .._exitcodes import SIGKILL

    for proc in multiprocessing.active_children():
        if proc.pid in pids:
            proc.kill()
            proc.join(timeout)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM if WINDOWS else SIGKILL)
        except (OSError, ValueError):  # gone already
            continue
    if WINDOWS:
        return
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, getattr(os, "WNOHANG", 1)) != (0, 0):
                    break
            except ChildProcessError:  # not our child, or reaped by its owner
                break
            time.sleep(0.01)


def capabilities(*, fds: bool = True) -> str:
    """What the guard checks here, for the session header."""
    parts = []
    if _table() is not None:
        parts.append("processes (every descendant)")
    else:
        parts.append(
            "processes (multiprocessing's children only: install psutil for every descendant)"
        )
    parts.append("compat's threads")
    if not fds:
        parts.append("not file descriptors (--no-fd-leak-check)")
    elif _fds() is not None:
        parts.append("file descriptors (/proc/self/fd)")
    else:
        parts.append("not file descriptors (no /proc/self/fd on this OS)")
    return ", ".join(parts)
