"""Portable ways for a test to end a process hard or crash it, and the exit code each gives.

Windows has no signals, so the POSIX spellings a test reaches for do not port:

- ``signal.SIGKILL`` does not exist there;
- ``os.kill(pid, sig)`` is ``TerminateProcess(process, exit code=sig)`` for every ``sig``
  but the two console events: ``os.kill(pid, signal.SIGSEGV)`` is a plain exit with code
  11, not a crash;
- ``TerminateProcess`` cannot be caught or ignored: a child's ``SIG_IGN`` for SIGTERM
  changes nothing, so ``terminate()`` never has to fall back to ``kill()``;
- ``os.kill(pid, 0)`` does not probe a pid: 0 is ``CTRL_C_EVENT``, a Ctrl+C sent to a
  console process group (see :func:`pid_exists`);
- ``ctypes.string_at(0)`` does not crash: ctypes runs foreign calls under a structured
  exception handler and raises ``OSError: exception: access violation``.

Use these instead, and expect the exit codes below. They are in compat's convention
(``compat.Child.exitcode``, ``compat.ChildError.exitcode``, Pool and executor errors),
computed by ``compat._exitcodes.normalize_exitcode`` from the code the OS reports. Pass
``raw=True`` for that code itself, as ``multiprocessing.Process.exitcode``,
``compat.Process.exitcode`` and ``compat.Child.raw_exitcode`` report it.

=================================  ===================  ====================================
how the process ended              POSIX                Windows: raw -> compat
=================================  ===================  ====================================
:func:`hard_kill`                  SIGKILL: -9          TerminateProcess(15): 15 -> 15 [1]
:func:`crash` (in the process)     SIGSEGV: -11         0xC0000005 access violation -> -11
:func:`crash_process`              SIGSEGV: -11         impossible: raises NotImplementedError
``terminate()``                    SIGTERM: -15         TerminateProcess: -15 -> -15 [2]
``kill()``                         SIGKILL: -9          TerminateProcess: -15 -> -9 [3]
compat's terminate-then-kill of a  SIGKILL: -9          TerminateProcess: -15 -> -15 [4]
child that ignores SIGTERM
=================================  ===================  ====================================

[1] ``os.kill`` hands the signal number to ``TerminateProcess`` as the exit code. compat
    cannot tell that from ``sys.exit(15)``, so it reports a plain exit code 15 (no signal
    name): on Windows a process killed from outside has no signal to report.
[2] multiprocessing terminates with exit code 0x10000 and reports -15.
[3] multiprocessing's ``kill()`` is its ``terminate()`` on Windows (-15); compat knows it
    asked for a kill (``Child.kill()``, ``kill_workers()``) and reports -9, as on POSIX.
[4] The ``Child`` context manager, ``Pool.terminate()``... send SIGTERM, then SIGKILL
    to a child still running a moment later. On Windows the first step already ends it.
    A test of that fallback itself is POSIX-only: mark it with :func:`posix_only`.

A child that is to be crashed runs :func:`crash` (a NULL-pointer read through ctypes: a
real SIGSEGV or access violation, with faulthandler, core dumps and the Windows error
dialog switched off first). ``crash``, ``kill_self`` and ``report_pid_and_sleep`` are
module-level functions, usable as targets under every start method.

This module imports neither pytest nor anything heavy: children import it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional, Union

from compat._exitcodes import SIGKILL, SIGSEGV, SIGTERM, normalize_exitcode
from compat._platform import POSIX, WINDOWS

if TYPE_CHECKING:
    import pytest

__all__ = [
    "CAN_CRASH_FROM_OUTSIDE",
    "POSIX",
    "WINDOWS",
    "crash",
    "crash_process",
    "expected_crash_exitcode",
    "expected_hard_kill_exitcode",
    "expected_kill_exitcode",
    "expected_signal_name",
    "expected_terminate_exitcode",
    "hard_kill",
    "kill_self",
    "pid_exists",
    "posix_only",
    "report_pid",
    "report_pid_and_sleep",
    "suppress_crash_report",
    "wait_for_pid",
]

#: Whether :func:`crash_process` can crash another process here (POSIX: SIGSEGV).
CAN_CRASH_FROM_OUTSIDE = not WINDOWS

#: STATUS_ACCESS_VIOLATION, as GetExitCodeProcess reports it (unsigned).
_ACCESS_VIOLATION = 0xC0000005
# What hard_kill needs on Windows: the error of OpenProcess for a pid no process has,
# and the access right to read a process's exit code.
_ERROR_INVALID_PARAMETER = 87
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
# SetErrorMode flags: no "python.exe has stopped working" dialog waiting for a click.
_SEM_FAILCRITICALERRORS = 0x0001
_SEM_NOGPFAULTERRORBOX = 0x0002

# -- ending a process ------------------------------------------------------------------


def hard_kill(pid: int) -> None:
    """End process ``pid`` at once; it cannot catch, ignore or delay this.

    POSIX: SIGKILL (exit code -9). Windows: ``os.kill(pid, signal.SIGTERM)``, which is
    ``TerminateProcess`` with exit code 15 (compat reports 15: see
    :func:`expected_hard_kill_exitcode`). Raises ``ProcessLookupError`` if there is no
    such process. A process that has ended but is not reaped yet is left as it is, on
    both OSes (POSIX ``kill()`` of a zombie does nothing; Windows ``TerminateProcess``
    refuses a finished process, which this treats the same way).
    """
    if not WINDOWS:
        os.kill(pid, signal.SIGKILL)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except PermissionError:
        if _windows_still_running(pid):
            raise
    except OSError as exc:
        if getattr(exc, "winerror", None) == _ERROR_INVALID_PARAMETER:
            raise ProcessLookupError(f"no process with pid {pid}") from exc
        raise


def _windows_still_running(pid: int) -> bool:
    """Whether ``pid`` has not finished yet (the check subprocess.Popen.terminate makes)."""
    import _winapi

    try:
        handle = _winapi.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    except OSError:  # gone altogether since
        return False
    try:
        return bool(_winapi.GetExitCodeProcess(handle) == _winapi.STILL_ACTIVE)
    finally:
        _winapi.CloseHandle(handle)


def pid_exists(pid: int) -> bool:
    """Whether a process with this pid exists, a POSIX zombie (ended, not yet reaped)
    included: ``False`` means it has ended and been reaped (or its pid was never used).

    POSIX: ``os.kill(pid, 0)``. Windows: compat's liveness check (``OpenProcess``), never
    ``os.kill(pid, 0)``, which would send a Ctrl+C there. Like any pid test it cannot
    tell a reused pid from the original process.
    """
    if WINDOWS:
        from compat._native.liveness import pid_alive

        return pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def kill_self(_: object = None) -> NoReturn:
    """A target: :func:`hard_kill` the calling process (takes and ignores one argument,
    so that it also serves ``Pool.map``)."""
    hard_kill(os.getpid())
    time.sleep(10)  # the kill is on its way; never return a result
    raise AssertionError("hard_kill(os.getpid()) did not end this process")


def suppress_crash_report() -> None:
    """Let this process crash quietly and quickly.

    Disables faulthandler (pytest enables it and fork children inherit it: it would
    print a traceback dump), core dumps (POSIX: RLIMIT_CORE 0, as CPython's test
    suite's ``SuppressCrashReport`` does), and the Windows error-reporting dialog,
    which would otherwise keep a crashed process alive until someone clicks it.
    A child that :func:`crash_process` will crash calls this first.
    """
    import faulthandler

    faulthandler.disable()
    if WINDOWS:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32")
        kernel32.SetErrorMode(_SEM_FAILCRITICALERRORS | _SEM_NOGPFAULTERRORBOX)
    else:
        import resource

        try:
            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        except (ValueError, OSError):
            pass


def crash(_: object = None) -> NoReturn:
    """A target: crash the calling process with a NULL-pointer read.

    A real segmentation fault on POSIX (exit code -11) and a real access violation
    (0xC0000005, which compat reports as -11) on Windows: see
    :func:`expected_crash_exitcode`. The read goes through ``c_int.from_address(0)``,
    whose getter reads the memory in CPython's own code, not ``ctypes.string_at(0)``,
    a foreign call that Windows ctypes turns into an ``OSError``. Takes and ignores one
    argument, so that it also serves ``Pool.map``.
    """
    import ctypes

    suppress_crash_report()
    ctypes.c_int.from_address(0).value  # noqa: B018  (the read is the point)
    raise AssertionError("reading address 0 did not crash this process")


def crash_process(pid: int) -> None:
    """Crash another process from outside: SIGSEGV on POSIX (exit code -11, after
    whatever the process's SIGSEGV handler does: faulthandler, if still enabled in it,
    prints its dump first; a process that called :func:`suppress_crash_report` dies
    quietly).

    Windows has no way to crash another process that is worth a test: every
    ``os.kill`` there is ``TerminateProcess`` (an exit with the given code, not a
    crash), so this raises ``NotImplementedError``. Check ``CAN_CRASH_FROM_OUTSIDE``,
    or make the process crash itself with :func:`crash`.
    """
    if not CAN_CRASH_FROM_OUTSIDE:
        raise NotImplementedError(
            "Windows cannot crash another process: os.kill is TerminateProcess there "
            "(a plain exit with the given code); run tests.procs.crash in it instead"
        )
    os.kill(pid, signal.SIGSEGV)


# -- pid files: find a child that is busy in a known place ------------------------------


def report_pid(path: Union[str, Path]) -> int:
    """Write this process's pid to ``path`` (atomically: a reader never sees half of
    it) and return it."""
    pid = os.getpid()
    tmp = f"{path}.{pid}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)
    return pid


def report_pid_and_sleep(path: Union[str, Path], seconds: float = 60.0) -> int:
    """A target: :func:`report_pid`, then sleep (a task a test can find and end mid-run);
    returns the pid if nothing ended it."""
    pid = report_pid(path)
    time.sleep(seconds)
    return pid


def wait_for_pid(path: Union[str, Path], timeout: float = 30.0) -> int:
    """The pid a process wrote with :func:`report_pid`, once it has; AssertionError
    after ``timeout`` seconds."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return int(path.read_text())
        time.sleep(0.01)
    raise AssertionError(f"no process wrote its pid to {path} within {timeout} s")


# -- expected exit codes -----------------------------------------------------------------


def _expect(
    raw_windows: int, raw_posix: int, *, windows: Optional[bool], raw: bool, killed: bool = False
) -> int:
    on_windows = WINDOWS if windows is None else windows
    code = raw_windows if on_windows else raw_posix
    if raw:
        return code
    normalized = normalize_exitcode(code, windows=on_windows, killed=killed)
    assert normalized is not None
    return normalized


def expected_hard_kill_exitcode(*, raw: bool = False, windows: Optional[bool] = None) -> int:
    """The exit code of a process ended by :func:`hard_kill`: -9 on POSIX; 15 on Windows
    (``TerminateProcess`` with the code ``os.kill`` was given, which compat cannot tell
    from an exit with code 15, so it reports that too).

    ``windows`` asks about that OS instead of this one (to test the table anywhere).
    """
    return _expect(SIGTERM, -SIGKILL, windows=windows, raw=raw)


def expected_crash_exitcode(*, raw: bool = False, windows: Optional[bool] = None) -> int:
    """The exit code of a process that :func:`crash` (or :func:`crash_process`) ended:
    -11 (SIGSEGV) on every OS; raw, 0xC0000005 on Windows."""
    return _expect(_ACCESS_VIOLATION, -SIGSEGV, windows=windows, raw=raw)


def expected_terminate_exitcode(
    *, ignored_sigterm: bool = False, raw: bool = False, windows: Optional[bool] = None
) -> int:
    """The exit code after ``terminate()``: -15 on every OS.

    ``ignored_sigterm=True`` is for compat's stops that escalate (the ``Child`` context
    manager, ``Pool.terminate()``) of a child that ignores SIGTERM: on POSIX the
    escalation kills it (-9); on Windows ``TerminateProcess`` ends it at the first
    step (-15). A plain ``multiprocessing.Process.terminate()`` does not escalate:
    on POSIX such a child keeps running.
    """
    if ignored_sigterm:
        return _expect(-SIGTERM, -SIGKILL, windows=windows, raw=raw)
    return _expect(-SIGTERM, -SIGTERM, windows=windows, raw=raw)


def expected_kill_exitcode(*, raw: bool = False, windows: Optional[bool] = None) -> int:
    """The exit code after compat's ``kill()`` (``Child.kill()``, ``kill_workers()``):
    -9 on every OS. ``raw=True`` gives what ``multiprocessing.Process.kill()`` (and
    ``compat.Process.kill()``) leave: -9, but -15 on Windows, where multiprocessing's
    ``kill()`` is its ``terminate()``; compat, knowing it asked for a kill, reports -9."""
    return _expect(-SIGTERM, -SIGKILL, windows=windows, raw=raw, killed=True)


#: The names compat gives the exit codes above (``ChildError.signal_name``).
_SIGNAL_NAMES = {-SIGKILL: "SIGKILL", -SIGSEGV: "SIGSEGV", -SIGTERM: "SIGTERM"}


def expected_signal_name(exitcode: int) -> Optional[str]:
    """The ``signal_name`` compat gives an exit code from the functions above: ``None``
    for an exit (``>= 0``), else ``"SIGKILL"``, ``"SIGSEGV"`` or ``"SIGTERM"``."""
    if exitcode >= 0:
        return None
    return _SIGNAL_NAMES[exitcode]


# -- skipping ------------------------------------------------------------------------------


def open_descriptors() -> set[tuple[str, str]]:
    """This process's open descriptors as (number, what it is) pairs (Linux /proc).

    Leak checks compare these sets, not counts: a background thread of an earlier
    test may close one of its own meanwhile (CI: 25 == 26, 27 == 28 failed), and a
    number reused for another file counts as new."""
    found: set[tuple[str, str]] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:  # closed meanwhile (the listing's own descriptor, too)
            pass
    return found


def posix_only(reason: str) -> pytest.MarkDecorator:
    """Skip a test on Windows, where its premise does not hold; ``reason`` says why
    (what Windows does instead), for the skip report."""
    import pytest

    return pytest.mark.skipif(WINDOWS, reason=f"POSIX only: {reason}")


# -- process trees (Linux: /proc) ---------------------------------------------------

#: Whether :func:`descendants` can see a process tree here.
CAN_LIST_DESCENDANTS = os.path.isdir("/proc/self/task")


def _proc_state(pid: int) -> Optional[tuple[str, int]]:
    """(state letter, ppid) of a live or zombie process, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, found by parent links in ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            state = _proc_state(int(entry))
            if state is not None and state[0] not in "ZX":
                children.setdefault(state[1], []).append(int(entry))
    found: list[int] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as gone) - Linux ``/proc``."""
    state = _proc_state(pid)
    return state is not None and state[0] not in "ZX"


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end; return those still running."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [p for p in left if running(p)]
    return left


def kill_all(pids: list[int]) -> None:
    """SIGKILL (TerminateProcess) whatever of ``pids`` still runs: a test's cleanup."""
    for pid in pids:
        try:
            hard_kill(pid)
        except (ProcessLookupError, PermissionError, OSError):
            pass
