"""Is a process (not necessarily our child) still running, and is it still the same one?

Used by :class:`compat.Queue` to notice a writer that died without closing the
queue, from any process that holds the queue (a reader is often the writer's
sibling, so it has no ``Popen`` and no sentinel to wait on). A pid alone is not
enough: once the writer is gone its pid can be given to a new process, and a
reader that took that process for the writer would wait forever. So a holder
records a *process token* (:func:`process_token`) next to its pid, and
:func:`pid_alive` compares it.

- Linux: ``/proc/<pid>/stat``; a zombie (exited, not yet reaped by its parent)
  counts as dead; the token is the start time (field 22, clock ticks since boot).
- macOS: ``kill(pid, 0)``, then the token is the start time from libproc
  (``proc_pidinfo(PROC_PIDTBSDINFO)``, in microseconds). When a token is given,
  a zombie counts as dead too (that call reports no such process for it).
  Without one, a zombie still answers ``kill(pid, 0)``, so a dead writer counts
  as dead only once its parent has reaped it; callers reap their own
  multiprocessing children first (:func:`reap_own_children`).
- Windows: ``OpenProcess`` + ``WaitForSingleObject(handle, 0)``; the token is the
  creation time from ``GetProcessTimes`` on the same handle (a FILETIME). Never
  ``os.kill(pid, 0)``: on Windows that calls ``TerminateProcess`` and kills it.
- Other POSIX (the BSDs): ``kill(pid, 0)`` and no token (0).

A token of 0 means unknown, from :func:`process_token` and in the callers'
tables (``compat._queue.registry``, ``compat._queue.robustlock``): then only the
pid is checked. When the current token of a live pid cannot be read (macOS: a
process of another user, which libproc will not describe), the pid alone
decides too: a live process is never declared dead for lack of a token.

``_winapi`` is loaded with ``importlib`` so that this module type-checks on every
platform (mypy --platform linux has no ``_winapi.OpenProcess``). ctypes is used
only through :mod:`compat._native.procinfo`, which imports it on first use.
"""

from __future__ import annotations

import importlib
import os

from .._platform import LINUX, MACOS, WINDOWS
from . import procinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["pid_alive", "process_token", "reap_own_children", "same_process"]

# Windows access rights and wait results (winnt.h / winbase.h).
_SYNCHRONIZE = 0x00100000
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_WAIT_TIMEOUT = 0x102
_ERROR_ACCESS_DENIED = 5


def process_token(pid: int) -> int:
    """A number that changes when ``pid`` is reused, or 0 when it cannot be read.

    Linux: the start time in clock ticks since boot (``/proc/<pid>/stat``).
    macOS: the start time in microseconds since the epoch (libproc).
    Windows: the creation time as a FILETIME (``GetProcessTimes``).
    Other platforms: always 0.
    """
    if LINUX:
        stat = _proc_stat(pid)
        if stat is None:
            return 0
        try:
            return int(stat[19])  # field 22, starttime, counted after the command name
        except (IndexError, ValueError):
            return 0
    if MACOS:
        try:
            return _macos_token(pid)
        except OSError:
            return 0
    if WINDOWS:
        return _windows_token(pid)
    return 0


def same_process(token: int, current: int) -> bool:
    """Whether a live pid whose token now reads ``current`` is the process that had ``token``.

    Either token 0 means unknown: then the pid's liveness alone decides, as it did
    before tokens (a possible wait, never a live process declared dead).
    """
    return not token or not current or current == token


def pid_alive(pid: int, token: int = 0) -> bool:
    """Whether process ``pid`` is running and, if ``token`` (from :func:`process_token`)
    is not 0, is still the process that had that token (its pid was not reused)."""
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
        return _windows_alive(pid, token)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    except OSError:
        return False
    if not (MACOS and token):
        return True
    try:
        current = _macos_token(pid)
    except ProcessLookupError:
        # Gone since kill(), or a zombie: kill() still reaches a zombie, but
        # proc_pidinfo with arg 0 does not look zombies up.
        return False
    except OSError:  # EPERM (another user's process) or libproc unusable
        current = 0
    return same_process(token, current)


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


def _macos_token(pid: int) -> int:
    # Raises ProcessLookupError, PermissionError or OSError (see procinfo.bsd_info).
    # A separate function so that tests replace the libproc call on any OS.
    return procinfo.bsd_info(pid).start_token


def _winapi() -> Any:
    # A function so that tests can hand in a fake _winapi on any OS.
    return importlib.import_module("_winapi")


def _windows_token(pid: int) -> int:
    winapi = _winapi()
    try:
        handle = winapi.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except OSError:
        return 0
    try:
        return procinfo.handle_creation_time(handle)
    finally:
        winapi.CloseHandle(handle)


def _windows_alive(pid: int, token: int = 0) -> bool:
    winapi = _winapi()
    try:
        handle = winapi.OpenProcess(_SYNCHRONIZE | _PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except OSError as exc:
        # Access denied: it exists but belongs to someone else. Anything else
        # (ERROR_INVALID_PARAMETER) means there is no such process.
        return getattr(exc, "winerror", None) == _ERROR_ACCESS_DENIED
    try:
        if winapi.WaitForSingleObject(handle, 0) != _WAIT_TIMEOUT:
            return False  # signalled: it has exited
        # The creation time is read through the same handle, which pins the
        # process object: the answer is about the process that was just waited on.
        return not token or same_process(token, procinfo.handle_creation_time(handle))
    finally:
        winapi.CloseHandle(handle)
