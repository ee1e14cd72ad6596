"""What the OS says about a process, read through ctypes where no stdlib call exists.

- macOS: libproc's ``proc_pidinfo()``: ``PROC_PIDTASKINFO`` gives the number of
  threads in a task (``pti_threadnum``, native threads included) and its resident
  memory (``pti_resident_size``), and
  ``PROC_PIDTBSDINFO`` gives a process's start time (``pbi_start_tvsec`` and
  ``pbi_start_tvusec``).
- Windows: kernel32's ``GetProcessTimes()`` gives a process's creation time.
- Linux reads the same facts from ``/proc`` (``compat._platform``,
  ``compat._native.liveness``); elsewhere there is nothing to read.

ctypes is imported inside the functions, never at module level: this module is
imported by the thread census and by queue liveness checks on every OS, and only
the macOS and Windows paths pay for ctypes. The structure layouts are decoded
from bytes by pure functions, so that tests on Linux check them against the C
headers (``tests/test_liveness.py`` lays the same structures out with ctypes).
"""

from __future__ import annotations

import os
import struct
import sys
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Optional

__all__ = [
    "BsdInfo",
    "PROC_PIDTASKINFO",
    "PROC_PIDTBSDINFO",
    "bsd_info",
    "decode_bsdinfo",
    "decode_resident_size",
    "decode_taskinfo",
    "handle_creation_time",
    "macos_resident_size",
    "macos_thread_count",
]

# Flavors of proc_pidinfo() (<sys/proc_info.h>).
PROC_PIDTBSDINFO = 3
PROC_PIDTASKINFO = 4

#: struct proc_taskinfo (<sys/proc_info.h>): six uint64_t (pti_virtual_size,
#: pti_resident_size, pti_total_user, pti_total_system, pti_threads_user,
#: pti_threads_system), then twelve int32_t (pti_policy, pti_faults, pti_pageins,
#: pti_cow_faults, pti_messages_sent, pti_messages_received, pti_syscalls_mach,
#: pti_syscalls_unix, pti_csw, pti_threadnum, pti_numrunning, pti_priority).
#: 96 bytes with no padding; "=" is native byte order with C sizes and no
#: alignment, which matches because every field already sits on its own size.
TASKINFO = struct.Struct("=6Q12i")
_PTI_THREADNUM = 6 + 9  # index of pti_threadnum among the unpacked fields
_PTI_RESIDENT_SIZE = 1  # index of pti_resident_size (bytes)

#: struct proc_bsdinfo (<sys/proc_info.h>): uint32_t pbi_flags, pbi_status,
#: pbi_xstatus, pbi_pid, pbi_ppid; uid_t pbi_uid; gid_t pbi_gid; uid_t pbi_ruid;
#: gid_t pbi_rgid; uid_t pbi_svuid; gid_t pbi_svgid; uint32_t rfu_1 (uid_t and
#: gid_t are uint32_t); char pbi_comm[MAXCOMLEN = 16]; char pbi_name[2 * MAXCOMLEN];
#: uint32_t pbi_nfiles, pbi_pgid, pbi_pjobc, e_tdev, e_tpgid; int32_t pbi_nice;
#: uint64_t pbi_start_tvsec, pbi_start_tvusec. 136 bytes: pbi_start_tvsec falls
#: at offset 120, already 8-aligned, so C inserts no padding either.
BSDINFO = struct.Struct("=12I16s32s5Ii2Q")


# The fields, for the type checker; collections.namedtuple makes them at run time
# (typing.NamedTuple would import typing into every child; see compat._platform).
if TYPE_CHECKING:

    class _BsdInfoFields(NamedTuple):
        pid: int
        status: int
        """``p_stat``: 1 SIDL, 2 SRUN, 3 SSLEEP, 4 SSTOP, 5 SZOMB."""
        start_tvsec: int
        start_tvusec: int
else:
    _BsdInfoFields = namedtuple("_BsdInfoFields", ["pid", "status", "start_tvsec", "start_tvusec"])


class BsdInfo(_BsdInfoFields):
    """The fields of ``struct proc_bsdinfo`` that compat uses."""

    __slots__ = ()

    @property
    def start_token(self) -> int:
        """The start time in microseconds since the epoch, stored by the kernel at fork.

        With the pid it names one process: a process that gets a reused pid
        started later, so its token differs.
        """
        return self.start_tvsec * 1_000_000 + self.start_tvusec


def decode_taskinfo(buf: bytes) -> int:
    """``pti_threadnum`` of a ``struct proc_taskinfo``: the threads in the task.

    Raises ``ValueError`` if ``buf`` is shorter than the structure.
    """
    if len(buf) < TASKINFO.size:
        raise ValueError(f"proc_taskinfo needs {TASKINFO.size} bytes, got {len(buf)}")
    return int(TASKINFO.unpack_from(buf)[_PTI_THREADNUM])


def decode_resident_size(buf: bytes) -> int:
    """``pti_resident_size`` of a ``struct proc_taskinfo``: resident memory in bytes.

    Raises ``ValueError`` if ``buf`` is shorter than the structure.
    """
    if len(buf) < TASKINFO.size:
        raise ValueError(f"proc_taskinfo needs {TASKINFO.size} bytes, got {len(buf)}")
    return int(TASKINFO.unpack_from(buf)[_PTI_RESIDENT_SIZE])


def decode_bsdinfo(buf: bytes) -> BsdInfo:
    """The pid, status and start time of a ``struct proc_bsdinfo``.

    Raises ``ValueError`` if ``buf`` is shorter than the structure.
    """
    if len(buf) < BSDINFO.size:
        raise ValueError(f"proc_bsdinfo needs {BSDINFO.size} bytes, got {len(buf)}")
    fields = BSDINFO.unpack_from(buf)
    return BsdInfo(pid=fields[3], status=fields[1], start_tvsec=fields[-2], start_tvusec=fields[-1])


def macos_thread_count(lib: Any = None) -> Optional[int]:
    """Threads in this process as macOS counts them, or None if libproc cannot tell.

    The count includes threads that Python did not start (Accelerate, BLAS pools,
    libdispatch workers), which ``threading`` cannot see. ``lib`` replaces libproc
    in tests.
    """
    try:
        buf = _pidinfo(os.getpid(), PROC_PIDTASKINFO, TASKINFO.size, lib)
        count = decode_taskinfo(buf)
    except (OSError, ValueError, AttributeError, ImportError):
        # AttributeError: no proc_pidinfo symbol; ImportError: Python built
        # without ctypes. Either way the count is unknown, which the policy treats
        # as "fork is not known to be safe".
        return None
    return count if count > 0 else None


def macos_resident_size(lib: Any = None) -> Optional[int]:
    """This process's resident memory in bytes as macOS counts it, or None if libproc
    cannot tell. ``lib`` replaces libproc in tests."""
    try:
        buf = _pidinfo(os.getpid(), PROC_PIDTASKINFO, TASKINFO.size, lib)
        size = decode_resident_size(buf)
    except (OSError, ValueError, AttributeError, ImportError):
        return None
    return size if size > 0 else None


def bsd_info(pid: int, lib: Any = None) -> BsdInfo:
    """``proc_pidinfo(pid, PROC_PIDTBSDINFO)``, decoded (macOS).

    Raises ``ProcessLookupError`` (ESRCH) when there is no such process, which
    with ``arg`` 0 also covers a zombie: the kernel looks zombies up for this
    flavor only when ``arg`` is non-zero. Raises ``PermissionError`` (EPERM) for a
    process of another user (this flavor checks the caller's uid unless it is
    root), other ``OSError`` when libproc cannot be used. ``lib`` replaces
    libproc in tests.
    """
    try:
        buf = _pidinfo(pid, PROC_PIDTBSDINFO, BSDINFO.size, lib)
        return decode_bsdinfo(buf)
    except (ValueError, AttributeError, ImportError) as exc:
        raise OSError(f"proc_pidinfo(PROC_PIDTBSDINFO) unusable: {exc}") from exc


def handle_creation_time(handle: int, kernel32: Any = None) -> int:
    """The creation time of the process behind ``handle`` (Windows), or 0 if unknown.

    The value is a FILETIME as one integer: 100 ns intervals since 1601. With the
    pid it names one process (a reused pid belongs to a process created later).
    The handle needs PROCESS_QUERY_LIMITED_INFORMATION.
    ``kernel32`` replaces the DLL in tests.
    """
    try:
        import ctypes

        if kernel32 is None:
            kernel32 = _kernel32()
        # Four FILETIMEs (creation, exit, kernel, user). A FILETIME is two DWORDs,
        # low then high, which on little-endian Windows is exactly one uint64.
        times = (ctypes.c_uint64 * 4)()
        base = ctypes.addressof(times)
        ok = kernel32.GetProcessTimes(
            ctypes.c_void_p(handle), *(ctypes.c_void_p(base + 8 * i) for i in range(4))
        )
    except (OSError, AttributeError, ImportError):
        return 0
    return int(times[0]) if ok else 0


def _pidinfo(pid: int, flavor: int, size: int, lib: Any) -> bytes:
    import ctypes

    if lib is None:
        lib = _libproc()
    buf = ctypes.create_string_buffer(size)
    got = lib.proc_pidinfo(pid, flavor, 0, buf, size)
    if got <= 0:
        err = ctypes.get_errno()
        # OSError(errno, ...) becomes ProcessLookupError for ESRCH and
        # PermissionError for EPERM, which the callers tell apart.
        raise OSError(err, os.strerror(err) if err else "proc_pidinfo failed")
    if got < size:  # an older kernel's shorter structure: its layout is not ours
        raise ValueError(f"proc_pidinfo({flavor}) wrote {got} of {size} bytes")
    return buf.raw[:size]


# The loaded library, once (a list: no `global` statement needed).
_libproc_cache: list[Any] = []
_kernel32_cache: list[Any] = []


def _libproc() -> Any:
    if not _libproc_cache:
        import ctypes

        # proc_pidinfo lives in libsystem_kernel, re-exported by libSystem, which
        # every macOS process has loaded; dlopen finds it in the shared cache
        # even though the file is not on disk since macOS 11. The process's own
        # namespace (dlopen(NULL)) is the fallback. use_errno: the errno tells a
        # missing process (ESRCH) from a forbidden one (EPERM).
        try:
            lib = ctypes.CDLL("/usr/lib/libSystem.B.dylib", use_errno=True)
        except OSError:
            lib = ctypes.CDLL(None, use_errno=True)
        func = lib.proc_pidinfo
        func.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int)
        func.restype = ctypes.c_int
        _libproc_cache.append(lib)
    return _libproc_cache[0]


def _kernel32() -> Any:
    if sys.platform == "win32":  # also the type checker's guard: WinDLL is Windows-only
        import ctypes

        if not _kernel32_cache:
            # A private WinDLL, so that argtypes set here cannot clash with other
            # users of ctypes.windll.kernel32.
            dll = ctypes.WinDLL("kernel32", use_last_error=True)
            dll.GetProcessTimes.argtypes = (ctypes.c_void_p,) * 5
            dll.GetProcessTimes.restype = ctypes.c_int  # BOOL
            _kernel32_cache.append(dll)
        return _kernel32_cache[0]
    raise OSError("kernel32 exists on Windows only")
