"""The test suite's portable process enders (tests/procs.py) do what they promise here,
and their exit-code expectations match compat's policy for every OS."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
from tests import procs, targets
from tests.helpers import run_python
from tests.procs import (
    expected_crash_exitcode,
    expected_hard_kill_exitcode,
    expected_kill_exitcode,
    expected_signal_name,
    expected_terminate_exitcode,
    hard_kill,
    posix_only,
    wait_for_pid,
)

TIMEOUT = 30


@contextlib.contextmanager
def child_of(start_method: str, target: Any, *args: Any) -> Iterator[compat.Child]:
    """A compat child; on the way out, however the test went, it is gone and reaped."""
    child = compat.get_context(start_method).spawn_child(target, *args)
    try:
        yield child
    finally:
        child.kill()
        child.join(TIMEOUT)


@pytest.mark.parametrize(
    ("target", "expected", "raw"),
    [
        (procs.crash, expected_crash_exitcode(), expected_crash_exitcode(raw=True)),
        (procs.kill_self, expected_hard_kill_exitcode(), expected_hard_kill_exitcode(raw=True)),
    ],
    ids=["crash", "kill_self"],
)
def test_a_child_ending_itself(start_method: str, target: Any, expected: int, raw: int) -> None:
    with child_of(start_method, target) as child:
        err = child.exception(TIMEOUT)
        assert isinstance(err, compat.ChildError)
        assert (child.exitcode, child.raw_exitcode) == (expected, raw)
        assert (err.exitcode, err.signal_name) == (expected, expected_signal_name(expected))


def test_crash_is_a_real_and_quiet_crash() -> None:
    # A fresh interpreter with faulthandler on: crash() must switch it off (no dump on
    # stderr) and end in a real SIGSEGV / access violation, not an exception.
    proc = run_python("-X", "faulthandler", "-c", "from tests.procs import crash; crash()")
    assert proc.returncode == expected_crash_exitcode(raw=True), proc.stderr
    assert proc.stderr == ""


def test_hard_kill_a_sleeping_child(start_method: str) -> None:
    with child_of(start_method, targets.sleep_forever) as child:
        assert child.pid is not None and child.is_alive()
        hard_kill(child.pid)
        child.join(TIMEOUT)
        assert not child.is_alive()
        code = expected_hard_kill_exitcode()
        assert (child.exitcode, child.raw_exitcode) == (code, expected_hard_kill_exitcode(raw=True))
        err = child.exception()
        assert err is not None and (err.exitcode, err.signal_name) == (
            code,
            expected_signal_name(code),
        )


def test_hard_kill_a_standard_library_process(start_method: str) -> None:
    p = multiprocessing.get_context(start_method).Process(target=targets.sleep_forever)
    p.start()
    try:
        assert p.pid is not None
        hard_kill(p.pid)
        p.join(TIMEOUT)
        assert p.exitcode == expected_hard_kill_exitcode(raw=True)
    finally:
        p.kill()
        p.join(TIMEOUT)


def test_hard_kill_a_subprocess() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as proc:
        try:
            hard_kill(proc.pid)
            assert proc.wait(TIMEOUT) == expected_hard_kill_exitcode(raw=True)
        finally:
            proc.kill()
            proc.wait(TIMEOUT)


@posix_only("Windows cannot crash another process (os.kill is TerminateProcess there)")
def test_crash_process(start_method: str, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with child_of(start_method, targets.crashable_sleep, str(marker)) as child:
        pid = wait_for_pid(marker, TIMEOUT)
        assert pid == child.pid
        procs.crash_process(pid)
        child.join(TIMEOUT)
        assert (child.exitcode, child.raw_exitcode) == (
            expected_crash_exitcode(),
            expected_crash_exitcode(raw=True),
        )


def test_pid_exists(start_method: str) -> None:
    assert procs.pid_exists(os.getpid())
    with child_of(start_method, targets.sleep_forever) as child:
        assert child.pid is not None and procs.pid_exists(child.pid)
        hard_kill(child.pid)
        child.join(TIMEOUT)
        assert not procs.pid_exists(child.pid)  # reaped by join()


def test_crash_process_refuses_where_it_cannot_crash(
    start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procs, "CAN_CRASH_FROM_OUTSIDE", False)  # as on Windows
    # A child of ours as the victim, should the refusal ever fail.
    with child_of(start_method, targets.sleep_forever) as child:
        assert child.pid is not None
        with pytest.raises(NotImplementedError, match="TerminateProcess"):
            procs.crash_process(child.pid)
        assert child.is_alive()


# What each way of ending a process gives, per OS: (compat's exit code, the raw one).
POSIX_TABLE = {
    "hard_kill": (-9, -9),
    "crash": (-11, -11),
    "terminate": (-15, -15),
    "terminate, SIGTERM ignored": (-9, -9),
    "kill": (-9, -9),
}
WINDOWS_TABLE = {
    "hard_kill": (15, 15),  # TerminateProcess(15): a plain exit code, no signal to report
    "crash": (-11, 0xC0000005),
    "terminate": (-15, -15),
    "terminate, SIGTERM ignored": (-15, -15),  # TerminateProcess cannot be ignored
    "kill": (-9, -15),  # multiprocessing says -15; compat knows it killed
}


@pytest.mark.parametrize("windows", [False, True], ids=["posix", "windows"])
def test_expectations_follow_the_exit_code_policy(windows: bool) -> None:
    def both(f: Any, **kw: Any) -> tuple[int, int]:
        return f(windows=windows, **kw), f(windows=windows, raw=True, **kw)

    got = {
        "hard_kill": both(expected_hard_kill_exitcode),
        "crash": both(expected_crash_exitcode),
        "terminate": both(expected_terminate_exitcode),
        "terminate, SIGTERM ignored": both(expected_terminate_exitcode, ignored_sigterm=True),
        "kill": both(expected_kill_exitcode),
    }
    assert got == (WINDOWS_TABLE if windows else POSIX_TABLE)
    this_os = WINDOWS_TABLE if procs.WINDOWS else POSIX_TABLE
    assert expected_hard_kill_exitcode() == this_os["hard_kill"][0]
    assert expected_crash_exitcode(raw=True) == this_os["crash"][1]


def test_expected_signal_names() -> None:
    assert [expected_signal_name(c) for c in (-9, -11, -15, 0, 15)] == [
        "SIGKILL",
        "SIGSEGV",
        "SIGTERM",
        None,
        None,
    ]
    for code in (-9, -11, -15, 15):
        assert compat.ChildError("x", exitcode=code).signal_name == expected_signal_name(code)


def test_posix_only_marker() -> None:
    mark = posix_only("because").mark
    assert mark.name == "skipif"
    assert mark.args == (procs.WINDOWS,)
    assert mark.kwargs == {"reason": "POSIX only: because"}


def test_pid_files(tmp_path: Path) -> None:
    path = tmp_path / "pid"
    assert procs.report_pid(path) == os.getpid()
    assert wait_for_pid(path, 1) == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == ["pid"]  # no temporary file left
    with pytest.raises(AssertionError, match=r"within 0\.05 s"):
        wait_for_pid(tmp_path / "never", 0.05)
