"""Process liveness and pid-reuse tokens on every OS, and the libproc/kernel32 layouts.

No macOS or Windows machine runs these: their paths run here on Linux with the
OS calls replaced by fakes (a fake libproc that fills the buffer it is given, a
fake kernel32 that writes FILETIMEs where it is told, a fake ``_winapi``), and the
structure layouts are checked against the C headers by laying the same structs
out with ctypes, whose alignment rules are C's.
"""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import subprocess
import sys
from typing import Any

import pytest

from compat._native import liveness, procinfo
from compat._platform import LINUX
from compat._queue import robustlock
from compat._queue.registry import Registry
from tests.helpers import run_python

# -- the C structures, as <sys/proc_info.h> declares them ---------------------------

MAXCOMLEN = 16


class ProcTaskInfo(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_uint64) for name in (
            "pti_virtual_size", "pti_resident_size", "pti_total_user", "pti_total_system",
            "pti_threads_user", "pti_threads_system",
        )),
        *((name, ctypes.c_int32) for name in (
            "pti_policy", "pti_faults", "pti_pageins", "pti_cow_faults", "pti_messages_sent",
            "pti_messages_received", "pti_syscalls_mach", "pti_syscalls_unix", "pti_csw",
            "pti_threadnum", "pti_numrunning", "pti_priority",
        )),
    ]  # fmt: skip


class ProcBsdInfo(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_uint32) for name in (
            "pbi_flags", "pbi_status", "pbi_xstatus", "pbi_pid", "pbi_ppid",
            "pbi_uid", "pbi_gid", "pbi_ruid", "pbi_rgid", "pbi_svuid", "pbi_svgid", "rfu_1",
        )),
        ("pbi_comm", ctypes.c_char * MAXCOMLEN),
        ("pbi_name", ctypes.c_char * (2 * MAXCOMLEN)),
        *((name, ctypes.c_uint32) for name in (
            "pbi_nfiles", "pbi_pgid", "pbi_pjobc", "e_tdev", "e_tpgid",
        )),
        ("pbi_nice", ctypes.c_int32),
        ("pbi_start_tvsec", ctypes.c_uint64),
        ("pbi_start_tvusec", ctypes.c_uint64),
    ]  # fmt: skip


def _taskinfo(threads: int) -> bytes:
    # Every other field holds a distinct value, so a decoder reading the wrong
    # offset returns something else.
    info = ProcTaskInfo(*range(1000, 1006), *range(-1, -10, -1))
    info.pti_threadnum = threads
    info.pti_numrunning = 77
    info.pti_priority = 31
    return bytes(info)


def _bsdinfo(pid: int, sec: int, usec: int, status: int = 2) -> bytes:
    info = ProcBsdInfo(*range(1, 13), b"python3.12", b"python3.12 name")
    info.pbi_status, info.pbi_pid, info.pbi_ppid = status, pid, 1
    info.pbi_nfiles, info.pbi_pgid, info.pbi_nice = 9, pid, -5
    info.pbi_start_tvsec, info.pbi_start_tvusec = sec, usec
    return bytes(info)


def test_layouts_match_the_c_headers() -> None:
    assert ctypes.sizeof(ProcTaskInfo) == procinfo.TASKINFO.size == 96
    assert ProcTaskInfo.pti_threadnum.offset == 84
    assert ctypes.sizeof(ProcBsdInfo) == procinfo.BSDINFO.size == 136
    assert ProcBsdInfo.pbi_start_tvsec.offset == 120
    assert ProcBsdInfo.pbi_start_tvusec.offset == 128
    assert (procinfo.PROC_PIDTBSDINFO, procinfo.PROC_PIDTASKINFO) == (3, 4)


def test_decode_taskinfo() -> None:
    assert procinfo.decode_taskinfo(_taskinfo(1)) == 1
    assert procinfo.decode_taskinfo(_taskinfo(23)) == 23
    with pytest.raises(ValueError, match="96 bytes"):
        procinfo.decode_taskinfo(_taskinfo(3)[:90])


def test_decode_bsdinfo() -> None:
    info = procinfo.decode_bsdinfo(_bsdinfo(4321, 1_700_000_000, 123_456, status=5))
    assert info == procinfo.BsdInfo(4321, 5, 1_700_000_000, 123_456)
    assert info.start_token == 1_700_000_000_123_456
    with pytest.raises(ValueError, match="136 bytes"):
        procinfo.decode_bsdinfo(_bsdinfo(1, 2, 3)[:128])


class FakeLibproc:
    """proc_pidinfo() as libproc behaves: fills the caller's buffer or sets errno."""

    def __init__(self, answers: dict[tuple[int, int], bytes | int]) -> None:
        self.answers = answers  # (pid, flavor) -> struct bytes, or an errno
        self.calls: list[tuple[int, int, int, int]] = []

    def proc_pidinfo(self, pid: int, flavor: int, arg: int, buf: Any, size: int) -> int:
        self.calls.append((pid, flavor, arg, size))
        answer = self.answers.get((pid, flavor), errno.ESRCH)
        if isinstance(answer, int):
            ctypes.set_errno(answer)
            return 0
        data = answer[:size]
        ctypes.memmove(buf, data, len(data))
        return len(data)


def test_macos_thread_count_through_libproc() -> None:
    me = os.getpid()
    lib = FakeLibproc({(me, procinfo.PROC_PIDTASKINFO): _taskinfo(7)})
    assert procinfo.macos_thread_count(lib) == 7
    assert lib.calls == [(me, procinfo.PROC_PIDTASKINFO, 0, 96)]
    # Unknown, never a guess: a failing call, a short structure, no symbol, a zero.
    assert procinfo.macos_thread_count(FakeLibproc({})) is None
    short = FakeLibproc({(me, procinfo.PROC_PIDTASKINFO): _taskinfo(7)[:64]})
    assert procinfo.macos_thread_count(short) is None
    assert procinfo.macos_thread_count(object()) is None
    zero = FakeLibproc({(me, procinfo.PROC_PIDTASKINFO): _taskinfo(0)})
    assert procinfo.macos_thread_count(zero) is None


def test_bsd_info_errors_say_gone_or_forbidden() -> None:
    lib = FakeLibproc({(10, 3): _bsdinfo(10, 5, 6), (11, 3): errno.ESRCH, (12, 3): errno.EPERM})
    assert procinfo.bsd_info(10, lib).start_token == 5_000_006
    assert lib.calls[0] == (10, procinfo.PROC_PIDTBSDINFO, 0, 136)  # arg 0: no zombies
    with pytest.raises(ProcessLookupError):
        procinfo.bsd_info(11, lib)
    with pytest.raises(PermissionError):
        procinfo.bsd_info(12, lib)
    with pytest.raises(OSError, match="unusable"):
        procinfo.bsd_info(10, object())


class FakeKernel32:
    """GetProcessTimes() as kernel32 behaves: writes four FILETIMEs where it is told."""

    def __init__(self, times: dict[int, int]) -> None:
        self.times = times  # handle -> creation FILETIME

    def GetProcessTimes(self, handle: Any, *out: Any) -> int:
        assert len(out) == 4
        if handle.value not in self.times:
            return 0
        values = (self.times[handle.value], 0, 111, 222)
        for pointer, value in zip(out, values):
            ctypes.c_uint64.from_address(pointer.value).value = value
        return 1


def test_handle_creation_time() -> None:
    k32 = FakeKernel32({0x44: 133_500_000_000_000_000})
    assert procinfo.handle_creation_time(0x44, k32) == 133_500_000_000_000_000
    assert procinfo.handle_creation_time(0x48, k32) == 0  # the call failed
    assert procinfo.handle_creation_time(0x44) == 0  # no kernel32 here


# -- liveness: the token comparison -------------------------------------------------


def test_same_process() -> None:
    assert liveness.same_process(5, 5)
    assert not liveness.same_process(5, 6)  # the pid was reused
    assert liveness.same_process(0, 6)  # no token recorded: the pid decides
    assert liveness.same_process(5, 0)  # current token unreadable: the pid decides


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def macos(monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    """liveness on its macOS path; returns the table the fake libproc answers from."""
    tokens: dict[int, Any] = {}

    def fake_token(pid: int) -> int:
        answer = tokens.get(pid, ProcessLookupError(errno.ESRCH, "no such process"))
        if isinstance(answer, BaseException):
            raise answer
        return int(answer)

    monkeypatch.setattr(liveness, "LINUX", False)
    monkeypatch.setattr(liveness, "MACOS", True)
    monkeypatch.setattr(liveness, "_macos_token", fake_token)
    return tokens


def test_macos_reused_pid_is_not_the_writer(macos: dict[int, Any]) -> None:
    other = os.getppid()  # alive for the whole test, and not us
    macos[other] = 1_700_000_000_000_001
    token = liveness.process_token(other)
    assert token == 1_700_000_000_000_001
    assert liveness.pid_alive(other, token)
    macos[other] = 1_700_000_000_999_999  # the writer died; its pid went to a new process
    assert not liveness.pid_alive(other, token)
    assert liveness.pid_alive(other)  # without a token only the pid is checked


def test_macos_zombie_gone_and_forbidden(macos: dict[int, Any]) -> None:
    other = os.getppid()
    # ESRCH from libproc while kill(0) answers: a zombie (or just exited): dead.
    assert not liveness.pid_alive(other, 42)
    # EPERM (another user's process) or libproc unusable: the pid alone decides.
    macos[other] = PermissionError(errno.EPERM, "not permitted")
    assert liveness.pid_alive(other, 42)
    assert liveness.process_token(other) == 0
    macos[other] = OSError("proc_pidinfo unusable")
    assert liveness.pid_alive(other, 42)
    dead = _dead_pid()
    macos[dead] = 42
    assert not liveness.pid_alive(dead, 42)  # kill(0) says no such process


class FakeWinapi:
    """The few _winapi calls liveness makes, for processes given as pid -> state."""

    def __init__(self) -> None:
        self.processes: dict[int, str] = {}  # pid -> "running" | "exited" | "denied"
        self.open: set[int] = set()

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        state = self.processes.get(pid)
        if state is None or state == "denied":
            exc = OSError(f"OpenProcess({pid}) failed")
            exc.winerror = 5 if state == "denied" else 87  # type: ignore[attr-defined]
            raise exc
        self.open.add(pid)
        return pid  # the handle is the pid, so the fake kernel32 can find it

    def WaitForSingleObject(self, handle: int, timeout: int) -> int:
        return 0x102 if self.processes[handle] == "running" else 0

    def CloseHandle(self, handle: int) -> None:
        self.open.remove(handle)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeWinapi, dict[int, int]]:
    winapi, created = FakeWinapi(), {}
    kernel32 = FakeKernel32(created)
    real = procinfo.handle_creation_time
    monkeypatch.setattr(liveness, "LINUX", False)
    monkeypatch.setattr(liveness, "WINDOWS", True)
    monkeypatch.setattr(liveness, "_winapi", lambda: winapi)
    monkeypatch.setattr(procinfo, "handle_creation_time", lambda h: real(h, kernel32))
    return winapi, created


def test_windows_reused_pid_is_not_the_writer(windows: tuple[FakeWinapi, dict[int, int]]) -> None:
    winapi, created = windows
    pid = 4040
    winapi.processes[pid], created[pid] = "running", 133_000_000_000_000_001
    token = liveness.process_token(pid)
    assert token == 133_000_000_000_000_001
    assert liveness.pid_alive(pid, token)
    created[pid] = 133_000_000_000_777_777  # same pid, a process created later
    assert not liveness.pid_alive(pid, token)
    assert liveness.pid_alive(pid)
    winapi.processes[pid] = "exited"
    assert not liveness.pid_alive(pid, token)
    assert not liveness.pid_alive(pid)
    assert winapi.open == set()  # every handle closed


def test_windows_unreadable_or_missing(windows: tuple[FakeWinapi, dict[int, int]]) -> None:
    winapi, _created = windows
    winapi.processes.update({5050: "running", 6060: "denied"})
    assert liveness.process_token(5050) == 0  # GetProcessTimes failed: unknown
    assert liveness.pid_alive(5050, 99)  # so the pid decides
    assert liveness.process_token(6060) == 0
    assert liveness.pid_alive(6060, 99)  # exists, someone else's
    assert liveness.process_token(7070) == 0
    assert not liveness.pid_alive(7070, 99)  # no such process
    assert winapi.open == set()


# -- the callers' contract: a queue's writer table under pid reuse ------------------


def test_queue_reader_stops_waiting_for_a_reused_pid(macos: dict[int, Any]) -> None:
    # What `for item in q` asks while it waits: can any other slot still put?
    # Before tokens, a writer's reused pid read as alive here and the reader waited
    # forever. The table lock's holder identity is cached once per process; take
    # it with the real token before the fake libproc answers.
    robustlock._identity()
    other = os.getppid()
    macos[other] = 1_700_000_000_000_001
    reg = Registry.create(multiprocessing.get_context("spawn"))
    me = reg.claim(-1, os.getpid())
    reg.claim(-1, other)  # the writer, with its token
    assert reg.scan(me).writers
    macos[other] = 1_700_000_000_999_999  # the writer died and its pid was reused
    scan = reg.scan(me)
    assert not scan.writers and scan.ended


# -- import cost --------------------------------------------------------------------


def test_ctypes_is_not_imported_on_linux() -> None:
    if not LINUX:
        pytest.skip("macOS and Windows load ctypes for these facts on purpose")
    code = (
        "import sys, compat\n"
        "from compat._native import liveness\n"
        "compat.choose_start_method()\n"
        "liveness.pid_alive(1, liveness.process_token(1))\n"
        "print('ctypes' in sys.modules)\n"
    )
    out = run_python("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]
