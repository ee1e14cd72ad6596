"""Is a process (not necessarily our child) still running?

Used by :class:`compat.Queue` to notice a writer that died without closing the
queue, from any process that holds the queue (a reader is often the writer's
sibling, so it has no ``Popen`` and no sentinel to wait on).

- Linux: ``/proc/<pid>/stat``; a zombie (exited, not yet reaped by its parent)
  counts as dead, and the process start time guards against pid reuse.
- Other POSIX (macOS): ``kill(pid, 0)``. A zombie still answers, so a dead
  writer counts as dead only once its parent has reaped it; callers reap their
  own multiprocessing children first (:func:`reap_own_children`).
- Windows: ``OpenProcess`` + ``WaitForSingleObject(handle, 0)``. Never
  ``os.kill(pid, 0)``: on Windows that calls ``TerminateProcess`` and kills it.

``_winapi`` is loaded with ``importlib`` so that this module type-checks on every
platform (mypy --platform linux has no ``_winapi.OpenProcess``).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .._platform import LINUX, WINDOWS

__all__ = ["pid_alive", "process_token", "reap_own_children"]

# Windows access rights and wait results (winnt.h / winbase.h).
_SYNCHRONIZE = 0x00100000
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_WAIT_TIMEOUT = 0x102
_ERROR_ACCESS_DENIED = 5


def process_token(pid: int) -> int:
    """A number that changes when ``pid`` is reused: the start time on Linux, else 0."""
    if not LINUX:
        return 0
    stat = _proc_stat(pid)
    if stat is None:
        return 0
    try:
        return int(stat[19])  # field 22, starttime, counted after the command name
    except (IndexError, ValueError):
        return 0


def pid_alive(pid: int, token: int = 0) -> bool:
    """Whether process ``pid`` is running (``token`` from :func:`process_token`, or 0)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if LINUX:
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return not token or process_token(pid) == token
    if WINDOWS:
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def reap_own_children() -> None:
    """Let multiprocessing reap this process's finished children (they stop being zombies)."""
    import multiprocessing

    multiprocessing.active_children()


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return data[data.rindex(b")") + 2 :].decode("ascii", "replace").split()


def _windows_alive(pid: int) -> bool:
    winapi: Any = importlib.import_module("_winapi")
    try:
        handle = winapi.OpenProcess(_SYNCHRONIZE | _PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except OSError as exc:
        # Access denied: it exists but belongs to someone else. Anything else
        # (ERROR_INVALID_PARAMETER) means there is no such process.
        return getattr(exc, "winerror", None) == _ERROR_ACCESS_DENIED
    try:
        return bool(winapi.WaitForSingleObject(handle, 0) == _WAIT_TIMEOUT)
    finally:
        winapi.CloseHandle(handle)
