"""Kill a process and every process it started, found by parent links.

Used when a pool task runs past its time limit: the worker is killed, and so is
anything the task started (a ``subprocess`` that would otherwise keep running, or
keep a pipe open). Children that compat started die with the worker anyway (their
lifeline, :mod:`compat._native.lifeline`); this catches the rest.

- Linux: ``/proc``; other POSIX: psutil when installed. Descendants are stopped
  (``SIGSTOP``) before the worker dies, so none can fork away or be re-parented
  out of sight, then killed (``SIGKILL``).
- Windows: psutil when installed (``Process.children(recursive=True)``), else only
  the worker is killed: a worker is not in a Job Object of its own.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

__all__ = ["descendants_of", "kill_with_descendants", "process_table"]

_ROUNDS = 3  # snapshots: each stops what it finds, and a stopped process cannot fork


def descendants_of(pid: int, table: dict[int, tuple[int, int]]) -> list[int]:
    """The descendants of ``pid`` in ``table`` (pid -> (ppid, pgid)), nearest first."""
    children: dict[int, list[int]] = {}
    for child, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(child)
    found: list[int] = []
    todo = list(children.get(pid, ()))
    seen = {pid}
    while todo:
        child = todo.pop(0)
        if child in seen:
            continue
        seen.add(child)
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def kill_with_descendants(pid: int, kill_root: Callable[[], None]) -> list[int]:
    """Kill process ``pid`` (through ``kill_root``, so the caller's process object
    knows) and its descendants. Returns the descendants it signalled."""
    if sys.platform == "win32":
        found = _psutil_descendants(pid)
        kill_root()
        for child in found:
            _psutil_kill(child)
        return found
    else:  # noqa: RET505 - mypy --platform win32 must see the POSIX part as a branch
        import signal

        from .posix import _process_table

        stopped: list[int] = []
        for _ in range(_ROUNDS):
            table = _process_table()
            if table is None:
                break
            fresh = [p for p in descendants_of(pid, table) if p not in stopped and p != os.getpid()]
            if not fresh:
                break
            for child in fresh:
                _signal(child, signal.SIGSTOP)
            stopped.extend(fresh)
        kill_root()
        for child in stopped:
            _signal(child, signal.SIGKILL)
        return stopped


def process_table() -> Optional[dict[int, tuple[int, int]]]:
    """pid -> (ppid, pgid) of the live processes, or None where it cannot be read
    (Windows, and POSIX without /proc, when psutil is not installed; pgid is 0 on
    Windows)."""
    if sys.platform == "win32":
        try:
            import psutil  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            return None
        table = {}
        for proc in psutil.process_iter(["ppid"]):
            table[int(proc.pid)] = (int(proc.info.get("ppid") or 0), 0)
        return table
    else:  # noqa: RET505 - mypy --platform win32 must see the POSIX part as a branch
        from .posix import _process_table

        return _process_table()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _psutil_descendants(pid: int) -> list[int]:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return []
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:  # psutil.Error: gone, access denied
        return []


def _psutil_kill(pid: int) -> None:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        psutil.Process(pid).kill()
    except Exception:  # ImportError, psutil.Error
        pass
