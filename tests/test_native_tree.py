"""The process-tree backends' decisions, checked on Linux with injected facts and fakes.

- POSIX: macOS answers ``killpg`` with EPERM when every member of the group is a
  zombie (Linux succeeds); a fake killpg stands in for XNU.
- Windows: the job limits, the interrupt check, the guarded start of a suspended
  child and :class:`WindowsTree` are defined on every OS with the Windows calls as
  parameters, so fakes record what would be called.

What only a real macOS or Windows run can prove (that XNU answers EPERM exactly
then, that a CREATE_BREAKAWAY_FROM_JOB grandchild starts, that TerminateProcess
ends a suspended child) is listed in each test's docstring.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from typing import Any, Optional

import pytest

from compat._native import windows as native_windows

if os.name == "posix":  # it refuses to import on Windows
    from compat._native import posix as native_posix

posix_only = pytest.mark.skipif(os.name != "posix", reason="the POSIX backend")

#: A process-group id no process has (above every pid_max): the fakes answer for it.
NO_SUCH_GROUP = 2**30 + 7


def eperm(pgid: int, sig: int) -> None:
    """``os.killpg`` as macOS answers it for a group made only of zombies."""
    raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))


# -- POSIX: a group of zombies on macOS ------------------------------------------------


def _tree(leader_exited: bool, killpg: Callable[[int, int], None]) -> Any:
    return native_posix.PosixTree(NO_SUCH_GROUP, leader_exited=lambda: leader_exited, killpg=killpg)


@posix_only
@pytest.mark.parametrize("method", ["interrupt", "terminate", "kill", "close"])
def test_eperm_after_the_leader_exited_means_the_group_is_gone(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real macOS only can show that XNU answers EPERM in exactly this case."""
    monkeypatch.setattr(native_posix, "tree_members", lambda pgid: {})
    sent: list[int] = []

    def macos_killpg(pgid: int, sig: int) -> None:
        sent.append(sig)
        eperm(pgid, sig)

    getattr(_tree(True, macos_killpg), method)()  # no PermissionError
    assert sent, "the group was not signalled at all"


@posix_only
@pytest.mark.parametrize("method", ["interrupt", "terminate", "kill", "close"])
def test_eperm_while_the_leader_runs_is_raised(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A leader that runs but may not be signalled (it changed user id): the caller
    # must learn that the tree was not stopped.
    monkeypatch.setattr(native_posix, "tree_members", lambda pgid: {})
    with pytest.raises(PermissionError):
        getattr(_tree(False, eperm), method)()


@posix_only
def test_an_empty_group_is_not_an_error() -> None:
    def esrch(pgid: int, sig: int) -> None:
        raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))

    tree = _tree(False, esrch)
    tree.interrupt()
    tree.kill()
    tree.close()


@posix_only
def test_posix_tree_does_nothing_after_close(monkeypatch: pytest.MonkeyPatch) -> None:
    # After close() the child has been reaped: its pid may be a stranger's group.
    walked: list[int] = []
    monkeypatch.setattr(native_posix, "tree_members", lambda pgid: walked.append(pgid) or {})
    sent: list[int] = []
    tree = _tree(True, lambda pgid, sig: sent.append(sig))
    tree.close()
    assert sent == [signal.SIGKILL]
    tree.interrupt()
    tree.terminate()
    tree.kill()
    tree.close()
    assert sent == [signal.SIGKILL] and walked == []


# -- Windows: the job's limits ---------------------------------------------------------------


def test_the_job_kills_on_close_and_lets_a_process_that_asks_break_away() -> None:
    """That a CREATE_BREAKAWAY_FROM_JOB grandchild then starts (instead of failing with
    access denied) and survives kill_tree() needs a real Windows run."""
    flags = native_windows.kill_on_close_limits().BasicLimitInformation.LimitFlags
    assert flags == 0x2000 | 0x800  # KILL_ON_JOB_CLOSE | BREAKAWAY_OK (winnt.h)
    assert native_windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK == 0x800
    assert not flags & 0x1000  # not SILENT_BREAKAWAY_OK: only those that ask leave


# -- Windows: interrupt() and a child off the caller's console ------------------------------


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("CREATE_NO_WINDOW", 0x08000000),
        ("DETACHED_PROCESS", 0x00000008),
        ("CREATE_NEW_CONSOLE", 0x00000010),
    ],
)
def test_interrupt_refuses_a_child_off_the_callers_console(name: str, flag: int) -> None:
    assert getattr(native_windows, name) == flag
    for flags in (flag, flag | 0x200 | 0x4):  # with CREATE_NEW_PROCESS_GROUP, SUSPENDED
        with pytest.raises(ValueError, match=name) as info:
            native_windows.check_interruptible(flags)
        assert "terminate_tree()" in str(info.value) and "kill_tree()" in str(info.value)


def test_interrupt_accepts_a_child_on_the_callers_console() -> None:
    native_windows.check_interruptible(0)
    native_windows.check_interruptible(0x200 | 0x4 | 0x01000000)


# -- Windows: the start of a suspended child ------------------------------------------------


class FakeWindows:
    """Records the Windows calls of :func:`adopt_suspended`; ``fail`` maps a call's
    name to the exception it raises."""

    HANDLE = 11
    JOB = 22

    def __init__(self, **fail: BaseException) -> None:
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    def _call(self, name: str, arg: int) -> None:
        self.calls.append((name, arg))
        if name in self.fail:
            raise self.fail[name]

    def create_job(self) -> int:
        self._call("create_job", 0)
        return self.JOB

    def assign(self, job: int, handle: int) -> None:
        assert (job, handle) == (self.JOB, self.HANDLE)
        self._call("assign", job)

    def resume(self, handle: int) -> None:
        self._call("resume", handle)

    def terminate(self, handle: int) -> None:
        self._call("terminate", handle)

    def close_handle(self, handle: int) -> None:
        self._call("close_handle", handle)

    def adopt(self) -> tuple[Optional[int], Optional[OSError]]:
        return native_windows.adopt_suspended(
            self.HANDLE,
            create_job=self.create_job,
            assign=self.assign,
            resume=self.resume,
            terminate=self.terminate,
            close_handle=self.close_handle,
        )


H, J = FakeWindows.HANDLE, FakeWindows.JOB


def test_a_suspended_child_is_put_in_its_job_then_resumed() -> None:
    fake = FakeWindows()
    assert fake.adopt() == (J, None)
    assert fake.calls == [("create_job", 0), ("assign", J), ("resume", H)]


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        # Ctrl+C while the job is made: the child was never resumed; end it.
        ("create_job", [("create_job", 0), ("terminate", H)]),
        # Ctrl+C while it is assigned: end the child, close the job.
        ("assign", [("create_job", 0), ("assign", J), ("terminate", H), ("close_handle", J)]),
        # Ctrl+C (or a failure) while resuming.
        (
            "resume",
            [
                ("create_job", 0),
                ("assign", J),
                ("resume", H),
                ("terminate", H),
                ("close_handle", J),
            ],
        ),
    ],
)
def test_any_exception_during_the_start_ends_the_suspended_child(
    failing: str, expected: list[tuple[str, int]]
) -> None:
    """That TerminateProcess ends a suspended child, and that no orphan is left,
    needs a real Windows run; here: that it is called, and the job handle closed."""
    fake = FakeWindows(**{failing: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        fake.adopt()
    assert fake.calls == expected


def test_a_job_that_cannot_be_used_falls_back_and_still_resumes() -> None:
    denied = PermissionError(errno.EACCES, "Access is denied")
    fake = FakeWindows(assign=denied)
    assert fake.adopt() == (None, denied)
    assert fake.calls == [("create_job", 0), ("assign", J), ("close_handle", J), ("resume", H)]


def test_a_failed_resume_after_the_fallback_ends_the_child_and_closes_nothing_twice() -> None:
    fake = FakeWindows(assign=OSError("no job"), resume=OSError("NTSTATUS"))
    with pytest.raises(OSError, match="NTSTATUS"):
        fake.adopt()
    assert fake.calls.count(("close_handle", J)) == 1
    assert fake.calls[-1] == ("terminate", H)


def test_a_cleanup_failure_does_not_hide_the_original_exception() -> None:
    fake = FakeWindows(assign=KeyboardInterrupt(), terminate=OSError("gone"))
    with pytest.raises(KeyboardInterrupt):
        fake.adopt()
    assert fake.calls[-1] == ("close_handle", J)


# -- Windows: WindowsTree with fake calls ------------------------------------------------


class FakePopen:
    pid = 4242

    def __init__(self) -> None:
        self.killed = 0

    def kill(self) -> None:
        self.killed += 1


def windows_tree(
    job: Optional[int], creationflags: int = 0
) -> tuple[Any, FakePopen, list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    fake_calls = native_windows.JobCalls(
        terminate_job=lambda job, code: calls.append(("terminate_job", job)),
        close_handle=lambda handle: calls.append(("close_handle", handle)),
        send_ctrl_break=lambda pgid: calls.append(("ctrl_break", pgid)),
        run_taskkill=lambda pid: calls.append(("taskkill", pid)),
    )
    popen = FakePopen()
    error = None if job is not None else OSError("no job")
    tree = native_windows.WindowsTree(popen, job, error, creationflags, fake_calls)  # type: ignore[arg-type]
    return tree, popen, calls


def test_windows_tree_kills_through_its_job() -> None:
    tree, popen, calls = windows_tree(J)
    tree.interrupt()
    tree.kill()
    tree.terminate()
    tree.close()
    tree.close()
    assert calls == [
        ("ctrl_break", 4242),
        ("terminate_job", J),
        ("terminate_job", J),
        ("close_handle", J),
    ]
    assert popen.killed == 0


def test_windows_tree_without_a_job_falls_back_to_taskkill() -> None:
    tree, popen, calls = windows_tree(None)
    tree.kill()
    assert calls == [("taskkill", 4242)] and popen.killed == 1


@pytest.mark.parametrize("job", [J, None])
def test_windows_tree_does_nothing_after_close(job: Optional[int]) -> None:
    # Without a job, kill() used to run taskkill on a pid that may have been reused.
    tree, popen, calls = windows_tree(job)
    tree.close()
    before = list(calls)
    tree.kill()
    tree.terminate()
    tree.interrupt()
    assert calls == before and popen.killed == 0


def test_windows_tree_interrupt_refuses_a_child_off_the_console() -> None:
    """That CTRL_BREAK_EVENT to such a child is silently lost needs a real Windows run."""
    tree, _, calls = windows_tree(J, creationflags=native_windows.CREATE_NO_WINDOW)
    with pytest.raises(ValueError, match="CREATE_NO_WINDOW"):
        tree.interrupt()
    assert calls == []
    tree.close()
