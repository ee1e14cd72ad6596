"""Windows process trees: each child in its own kill-on-close Job Object, joined before it runs.

Why a Job Object: Windows has no process group that can be signalled to end, and
TerminateProcess ends one process (SIG-08). Every process a job member creates
joins the job (nested jobs since Windows 8), TerminateJobObject ends them all,
and with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`` closing the last handle ends
them too, including when the parent dies. ``_winapi`` has no job functions, so
they are called through ctypes (kernel32).

Why suspended: subprocess offers no hook between CreateProcess and the child's
first instruction, and a child assigned to the job after it started could
create a grandchild outside it. The child is created with CREATE_SUSPENDED,
assigned, then resumed. subprocess closes the primary thread's handle, so the
resume is ntdll's NtResumeProcess (undocumented but stable since Windows XP; it
is what psutil's ``Process.resume()`` calls).

Why breakaway is allowed (``JOB_OBJECT_LIMIT_BREAKAWAY_OK``): a program that
starts a process with ``CREATE_BREAKAWAY_FROM_JOB`` (installers, service
launchers, some IDEs and browsers) fails with "access denied" in a job that
forbids it. compat mirrors POSIX, where a daemon may leave the process group
with ``setsid``: a process that *explicitly* asks to break away may, and is then
outside the tree (TerminateJobObject and kill-on-close no longer reach it).
Processes that do not ask stay in the job (``SILENT_BREAKAWAY_OK`` is not set).
Unlike POSIX on Linux, kill_tree() does not hunt such a process by parent links.
Whether it may also leave a job that encloses compat's own (a CI runner's, a
service manager's) is up to that job: compat can only loosen the job it creates.

If the job cannot be created or assigned (Windows 7 when the parent is already in
a job that forbids breakaway), the child is resumed anyway and the tree falls
back to ``taskkill /T /F``, which walks parent links and misses orphans.

Why the start is guarded as a whole: a suspended child that nobody resumes or
ends stays forever, holding its pipes. Any exception (KeyboardInterrupt
included) from its creation until it runs in its job ends it
(:func:`adopt_suspended` here, ``compat.Popen.__init__`` around it).

The constants, structure layouts and decisions (:func:`kill_on_close_limits`,
:func:`check_interruptible`, :func:`adopt_suspended`, :class:`WindowsTree` with its
Windows calls as parameters) are defined on every OS so that the tests, which run
on Linux too, check them; the functions that call Windows exist on Windows only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ntpath
import subprocess
import sys
from collections import namedtuple
from collections.abc import Callable

from .._stdlib import windows_popen_handle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Optional

CREATE_SUSPENDED = 0x00000004
DETACHED_PROCESS = 0x00000008
CREATE_NEW_CONSOLE = 0x00000010
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_BREAKAWAY_FROM_JOB = 0x01000000
CREATE_NO_WINDOW = 0x08000000
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x00000800
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
#: JOBOBJECTINFOCLASS value of JobObjectExtendedLimitInformation.
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
#: The exit code TerminateJobObject gives; subprocess's terminate()/kill() give 1 (SIG-05).
TERMINATE_EXIT_CODE = 1


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),  # LARGE_INTEGER
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),  # DWORD
        ("MinimumWorkingSetSize", ctypes.c_size_t),  # SIZE_T
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),  # ULONG_PTR
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [
        ("ReadOperationCount", ctypes.c_uint64),
        ("WriteOperationCount", ctypes.c_uint64),
        ("OtherOperationCount", ctypes.c_uint64),
        ("ReadTransferCount", ctypes.c_uint64),
        ("WriteTransferCount", ctypes.c_uint64),
        ("OtherTransferCount", ctypes.c_uint64),
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def kill_on_close_limits() -> JOBOBJECT_EXTENDED_LIMIT_INFORMATION:
    """The limit block given to SetInformationJobObject: closing the last job handle
    ends every member, and a member may start a process with
    ``CREATE_BREAKAWAY_FROM_JOB``, which is then outside the job (see the module
    docstring); other processes a member starts stay in it."""
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = (
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK
    )
    return info


def taskkill_command(pid: int, system_root: str) -> list[str]:
    """The fallback tree kill: taskkill by absolute path (never searched on PATH)."""
    return [ntpath.join(system_root, "System32", "taskkill.exe"), "/T", "/F", "/PID", str(pid)]


#: creationflags that leave the child off the caller's console, so that no console
#: control event the caller sends can reach it.
_OFF_CONSOLE_FLAGS = {
    "CREATE_NO_WINDOW": (CREATE_NO_WINDOW, "it runs on a hidden console of its own"),
    "DETACHED_PROCESS": (DETACHED_PROCESS, "it has no console at all"),
    "CREATE_NEW_CONSOLE": (CREATE_NEW_CONSOLE, "it runs on a new console of its own"),
}


def check_interruptible(creationflags: int) -> None:
    """Raise ValueError when a child started with ``creationflags`` cannot be
    interrupted: CTRL_BREAK_EVENT (GenerateConsoleCtrlEvent) reaches only processes
    attached to the caller's console, and sending it to a group on another console
    succeeds without effect, so interrupt() would silently do nothing."""
    for name, (flag, why) in _OFF_CONSOLE_FLAGS.items():
        if creationflags & flag:
            raise ValueError(
                f"interrupt() cannot reach this child: it was started with {name} in "
                f"creationflags, so {why} and console control events (CTRL_BREAK_EVENT) "
                "from this process never reach it. Use terminate_tree() or kill_tree() to "
                f"end it, or start it without {name} to be able to interrupt it."
            )


def adopt_suspended(
    handle: int,
    *,
    create_job: Callable[[], int],
    assign: Callable[[int, int], None],
    resume: Callable[[int], None],
    terminate: Callable[[int], None],
    close_handle: Callable[[int], None],
) -> tuple[Optional[int], Optional[OSError]]:
    """Put the suspended process ``handle`` in a new job, then resume it.

    Returns ``(job, None)``, or ``(None, error)`` when the job could not be created
    or assigned (the process is resumed anyway; the caller falls back to taskkill).
    On any other exception, KeyboardInterrupt included, the process is terminated
    and the job handle closed before the exception propagates: a suspended process
    nobody resumes would stay forever. The Windows calls are parameters, so this
    logic is tested on every OS.
    """
    job: Optional[int] = None
    job_error: Optional[OSError] = None
    try:
        try:
            job = create_job()
            assign(job, handle)
        except OSError as exc:
            stale, job = job, None
            if stale is not None:
                close_handle(stale)
            job_error = exc
        resume(handle)
    except BaseException:
        # Keep the original exception: a failure to clean up is secondary (and
        # compat.Popen tries Popen.kill() again after this).
        with contextlib.suppress(OSError):
            terminate(handle)
        if job is not None:
            with contextlib.suppress(OSError):
                close_handle(job)  # kill-on-close: ends anything already in the job
        raise
    return job, job_error


# The fields, for the type checker; collections.namedtuple makes them at run time
# (typing.NamedTuple would import typing into every child; see compat._platform).
if TYPE_CHECKING:

    class _JobCallsFields(NamedTuple):
        #: TerminateJobObject(job, exit code); raises OSError on failure.
        terminate_job: Callable[[int, int], None]
        #: CloseHandle.
        close_handle: Callable[[int], None]
        #: CTRL_BREAK_EVENT to the process group of this id (GenerateConsoleCtrlEvent).
        send_ctrl_break: Callable[[int], None]
        #: The fallback tree kill of this pid (taskkill /T /F).
        run_taskkill: Callable[[int], None]
else:
    _JobCallsFields = namedtuple(
        "_JobCallsFields", ["terminate_job", "close_handle", "send_ctrl_break", "run_taskkill"]
    )


class JobCalls(_JobCallsFields):
    """The Windows calls a :class:`WindowsTree` makes. Parameters, so that the
    tree's decisions are tested on every OS with fakes."""

    __slots__ = ()


class WindowsTree:
    """A child in a kill-on-close Job Object (``job``), or, when the job could not
    be used (``job`` None, ``job_error`` why), a child that taskkill walks."""

    def __init__(
        self,
        popen: subprocess.Popen[Any],
        job: Optional[int],
        job_error: Optional[OSError],
        creationflags: int,
        calls: JobCalls,
    ) -> None:
        self.pid = popen.pid
        self._popen = popen
        self._job = job
        self._creationflags = creationflags
        self._calls = calls
        self._closed = False
        #: Why the tree is not in a job (None when it is); for diagnostics.
        self.job_error = job_error

    def interrupt(self) -> None:
        # After close() the pid, and so the group id, may be another's.
        if self._closed:
            return
        # Sending to a group on another console "succeeds" and does nothing: say
        # so instead (check_interruptible).
        check_interruptible(self._creationflags)
        # The child was created with CREATE_NEW_PROCESS_GROUP, so its pid is the
        # group id, and Ctrl+C is disabled in it: only Ctrl+Break reaches the
        # group (SIG-04).
        try:
            self._calls.send_ctrl_break(self.pid)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"could not send CTRL_BREAK_EVENT to process group {self.pid}: "
                f"{exc.strerror}; console control events reach only processes "
                "attached to the caller's console",
            ) from exc

    def terminate(self) -> None:
        # Windows has no catchable termination request (SIG-06).
        self.kill()

    def kill(self) -> None:
        # A no-op after close(): closing the kill-on-close job already ended every
        # member, and the taskkill fallback below must never run then, because
        # the child's pid may have been reused by an unrelated process.
        if self._closed:
            return
        if self._job is not None:
            self._calls.terminate_job(self._job, TERMINATE_EXIT_CODE)
            return
        self._calls.run_taskkill(self.pid)
        self._popen.kill()  # in case taskkill could not reach the child itself

    def close(self) -> None:
        self._closed = True
        job, self._job = self._job, None
        if job is not None:
            self._calls.close_handle(job)  # kill-on-close ends what is left of the tree

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: _winapi may already be gone
            pass


if sys.platform == "win32":
    import _winapi
    import functools
    import os
    import signal
    from ctypes import wintypes

    @functools.cache
    def _dlls() -> tuple[Any, Any]:
        # Private WinDLL instances, so that setting argtypes here cannot clash
        # with other users of ctypes.windll.kernel32.
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        kernel32.SetInformationJobObject.argtypes = (
            wintypes.HANDLE,
            ctypes.c_int,
            ctypes.c_void_p,
            wintypes.DWORD,
        )
        kernel32.SetInformationJobObject.restype = wintypes.BOOL
        kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
        kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
        kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
        kernel32.TerminateJobObject.restype = wintypes.BOOL
        ntdll = ctypes.WinDLL("ntdll")
        ntdll.NtResumeProcess.argtypes = (wintypes.HANDLE,)
        ntdll.NtResumeProcess.restype = ctypes.c_long  # NTSTATUS
        return kernel32, ntdll

    def _last_error() -> OSError:
        return ctypes.WinError(ctypes.get_last_error())

    def _create_job() -> int:
        kernel32, _ = _dlls()
        job = kernel32.CreateJobObjectW(None, None)
        if not job:
            raise _last_error()
        try:
            info = kill_on_close_limits()
            ok = kernel32.SetInformationJobObject(
                job,
                JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
                ctypes.byref(info),
                ctypes.sizeof(info),
            )
            if not ok:
                raise _last_error()
        except BaseException:  # a KeyboardInterrupt too: nobody else holds the handle
            _winapi.CloseHandle(job)
            raise
        return int(job)

    def _assign(job: int, process_handle: int) -> None:
        if not _dlls()[0].AssignProcessToJobObject(job, process_handle):
            raise _last_error()

    def _terminate_process(process_handle: int) -> None:
        try:
            _winapi.TerminateProcess(process_handle, TERMINATE_EXIT_CODE)
        except PermissionError:  # ERROR_ACCESS_DENIED: it has already ended
            pass

    def _terminate_job(job: int, exit_code: int) -> None:
        if not _dlls()[0].TerminateJobObject(job, exit_code):
            raise _last_error()

    def _send_ctrl_break(pgid: int) -> None:
        os.kill(pgid, signal.CTRL_BREAK_EVENT)

    def _run_taskkill(pid: int) -> None:
        system_root = os.environ.get("SYSTEMROOT") or r"C:\Windows"
        subprocess.run(
            taskkill_command(pid, system_root),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )

    _CALLS = JobCalls(_terminate_job, _winapi.CloseHandle, _send_ctrl_break, _run_taskkill)

    def _resume(process_handle: int) -> None:
        _, ntdll = _dlls()
        status = ntdll.NtResumeProcess(process_handle)
        if status < 0:  # NT_SUCCESS(status) is status >= 0
            raise OSError(f"NtResumeProcess failed with NTSTATUS {status & 0xFFFFFFFF:#010x}")

    def tree_popen_kwargs(creationflags: int, process_group: Optional[int]) -> dict[str, Any]:
        del process_group  # POSIX-only; subprocess ignores it on Windows
        flags = creationflags | subprocess.CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED
        return {"creationflags": flags}

    def adopt_tree(popen: subprocess.Popen[Any], creationflags: int = 0) -> WindowsTree:
        # subprocess keeps the process handle only in this private attribute.
        handle = windows_popen_handle(popen)
        job, job_error = adopt_suspended(
            handle,
            create_job=_create_job,
            assign=_assign,
            resume=_resume,
            terminate=_terminate_process,
            close_handle=_winapi.CloseHandle,
        )
        return WindowsTree(popen, job, job_error, creationflags, _CALLS)
