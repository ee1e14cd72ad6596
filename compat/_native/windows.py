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

If the job cannot be created or assigned (Windows 7 when the parent is already in
a job that forbids breakaway), the child is resumed anyway and the tree falls
back to ``taskkill /T /F``, which walks parent links and misses orphans.

The constants and structure layouts are defined on every OS so that the tests,
which run on Linux too, check them; the functions exist on Windows only.
"""

from __future__ import annotations

import ctypes
import ntpath
import sys
from typing import Any, Optional

from .._stdlib import windows_popen_handle

CREATE_SUSPENDED = 0x00000004
CREATE_NEW_PROCESS_GROUP = 0x00000200
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
    """The limit block given to SetInformationJobObject."""
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    return info


def taskkill_command(pid: int, system_root: str) -> list[str]:
    """The fallback tree kill: taskkill by absolute path (never searched on PATH)."""
    return [ntpath.join(system_root, "System32", "taskkill.exe"), "/T", "/F", "/PID", str(pid)]


if sys.platform == "win32":
    import _winapi
    import functools
    import os
    import signal
    import subprocess
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
        info = kill_on_close_limits()
        ok = kernel32.SetInformationJobObject(
            job,
            JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
            ctypes.byref(info),
            ctypes.sizeof(info),
        )
        if not ok:
            error = _last_error()
            _winapi.CloseHandle(job)
            raise error
        return int(job)

    def _resume(process_handle: int) -> None:
        _, ntdll = _dlls()
        status = ntdll.NtResumeProcess(process_handle)
        if status < 0:  # NT_SUCCESS(status) is status >= 0
            raise OSError(f"NtResumeProcess failed with NTSTATUS {status & 0xFFFFFFFF:#010x}")

    def tree_popen_kwargs(creationflags: int, process_group: Optional[int]) -> dict[str, Any]:
        del process_group  # POSIX-only; subprocess ignores it on Windows
        flags = creationflags | subprocess.CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED
        return {"creationflags": flags}

    def adopt_tree(popen: subprocess.Popen[Any]) -> WindowsTree:
        # subprocess keeps the process handle only in this private attribute.
        handle = windows_popen_handle(popen)
        job: Optional[int] = None
        job_error: Optional[OSError] = None
        try:
            job = _create_job()
            if not _dlls()[0].AssignProcessToJobObject(job, handle):
                raise _last_error()
        except OSError as exc:
            if job is not None:
                _winapi.CloseHandle(job)
            job, job_error = None, exc
        tree = WindowsTree(popen, job, job_error)
        try:
            _resume(handle)
        except BaseException:
            # A child that cannot run must not stay suspended forever.
            tree.kill()
            tree.close()
            raise
        return tree

    class WindowsTree:
        def __init__(
            self, popen: subprocess.Popen[Any], job: Optional[int], job_error: Optional[OSError]
        ) -> None:
            self.pid = popen.pid
            self._popen = popen
            self._job = job
            #: Why the tree is not in a job (None when it is); for diagnostics.
            self.job_error = job_error

        def interrupt(self) -> None:
            # The child was created with CREATE_NEW_PROCESS_GROUP, so its pid is
            # the group id, and Ctrl+C is disabled in it: only Ctrl+Break reaches
            # the group (SIG-04).
            try:
                os.kill(self.pid, signal.CTRL_BREAK_EVENT)
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
            if self._job is not None:
                if not _dlls()[0].TerminateJobObject(self._job, TERMINATE_EXIT_CODE):
                    raise _last_error()
                return
            system_root = os.environ.get("SYSTEMROOT") or r"C:\Windows"
            subprocess.run(
                taskkill_command(self.pid, system_root),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
            self._popen.kill()  # in case taskkill could not reach the child itself

        def close(self) -> None:
            job, self._job = self._job, None
            if job is not None:
                _winapi.CloseHandle(job)  # kill-on-close ends what is left of the tree

        def __del__(self) -> None:
            try:
                self.close()
            except Exception:  # interpreter shutdown: _winapi may already be gone
                pass
