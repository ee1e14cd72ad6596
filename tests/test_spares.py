"""Warm spare interpreters (compat.set_spares, COMPAT_SPARES; compat._child.spares):
the call goes to a running interpreter, a replacement starts in the background, and
the spare runs nothing of the program before the hand-off."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import compat
from compat._child import leanspawn, spares
from tests import targets, targets_lean
from tests.helpers import run_python
from tests.procs import pid_exists

TIMEOUT = 60


def _idle_pids(count: int = 1) -> list[int]:
    """The pids of ``count`` idle spares, started now if need be. (Now: a spare started
    on other descriptors 1 and 2 than a child would get is not used, and pytest's
    capture swaps them between the phases of a test.)"""
    if spares.spare_count() < count:
        compat.set_spares(count)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with spares._lock:
            pids = [s.popen.pid for s in spares._idle]
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"no {count} spare(s) within {TIMEOUT} s")


@pytest.fixture
def ctx(start_method: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[compat.Context]:
    if start_method != "spawn":
        pytest.skip("spares serve spawn children")
    # compat steps aside from lean spawn once multiprocessing.shared_memory is loaded,
    # which an earlier test in this xdist worker may or may not have done: these tests
    # run as in a process that never loaded it, whatever ran before.
    monkeypatch.delitem(sys.modules, "multiprocessing.shared_memory", raising=False)
    assert leanspawn.lean_possible()
    try:
        yield compat.get_context("spawn")
    finally:
        compat.set_spares(0)  # stops and reaps the idle ones


def test_set_spares_checks_its_argument() -> None:
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="count >= 0"):
            compat.set_spares(bad)  # type: ignore[arg-type]
    assert compat.set_spares.__module__ == "compat"


def test_the_call_goes_to_a_spare_and_a_replacement_starts(ctx: compat.Context) -> None:
    (pid,) = _idle_pids()
    child = ctx.spawn_child(targets.double, 21)
    assert child.pid == pid
    assert child.result(TIMEOUT) == 42 and child.exitcode == 0
    assert child.name.startswith("SpawnProcess-")
    (new,) = _idle_pids()
    assert new != pid


_IDLE_CTRL_C = """
import os, signal, sys, time
import compat
from compat._child import spares
from tests import targets

if __name__ == "__main__":
    compat.set_spares(1)
    deadline = time.monotonic() + 60
    while not spares._idle and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = spares._idle[0].popen.pid
    os.kill(pid, signal.SIGINT)  # a terminal's Ctrl+C reaches idle spares too
    time.sleep(0.5)
    child = compat.get_context("spawn").spawn_child(targets.double, 21)
    print(child.result(60), child.pid == pid)
"""


def test_a_ctrl_c_while_idle_neither_prints_nor_ends_the_spare(start_method: str) -> None:
    if start_method != "spawn":
        pytest.skip("spares serve spawn children")
    proc = run_python("-c", _IDLE_CTRL_C)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "True"]
    assert proc.stderr == ""


def test_no_spare_ready_means_a_cold_start(ctx: compat.Context) -> None:
    _idle_pids()
    first = ctx.spawn_child(targets.double, 1)
    second = ctx.spawn_child(targets.double, 2)  # before the replacement is ready
    assert [first.result(TIMEOUT), second.result(TIMEOUT)] == [2, 4]
    assert first.pid != second.pid


def test_a_spare_runs_no_module_of_the_program_before_the_hand_off(
    ctx: compat.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "imports"
    monkeypatch.setenv("COMPAT_TEST_IMPORTS", str(log))
    sys.modules.pop("tests.targets_imported", None)
    from tests import targets_imported

    (pid,) = _idle_pids()
    time.sleep(0.5)  # let it warm up
    assert log.read_text().split() == [str(os.getpid())]  # the parent only
    assert ctx.spawn_child(targets_imported.whoami).result(TIMEOUT) == pid
    assert log.read_text().split() == [str(os.getpid()), str(pid)]  # after the hand-off


def test_working_directory_and_path_are_the_hand_offs(
    ctx: compat.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pid,) = _idle_pids()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = ctx.spawn_child(targets_lean.environment).result(TIMEOUT)
    assert seen["pid"] == pid
    assert seen["cwd"] == str(tmp_path) and seen["sys_path"][0] == str(tmp_path)


def test_the_environment_is_the_hand_offs(
    ctx: compat.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pid,) = _idle_pids()
    monkeypatch.setenv("COMPAT_TEST_MARK", "set after the spare started")
    seen = ctx.spawn_child(targets_lean.environment).result(TIMEOUT)
    assert seen["pid"] == pid and seen["env"] == "set after the spare started"


def test_variables_removed_changed_or_added_after_the_spare_started_are_the_hand_offs(
    ctx: compat.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spare starts with these two (it inherits this environment)...
    monkeypatch.setenv("COMPAT_TEST_GONE", "removed before the hand-off")
    monkeypatch.setenv("COMPAT_TEST_CHANGED", "before")
    (pid,) = _idle_pids()
    # ...and the hand-off brings the environment of its own moment.
    monkeypatch.delenv("COMPAT_TEST_GONE")
    monkeypatch.setenv("COMPAT_TEST_CHANGED", "after")
    # Not UTF-8 (POSIX keeps the bytes, os.environ shows them surrogate-escaped).
    undecodable = "caf\udce9" if sys.platform != "win32" else "caf\u00e9"
    monkeypatch.setenv("COMPAT_TEST_ADDED", undecodable)
    seen = ctx.spawn_child(targets_lean.marked_environment).result(TIMEOUT)
    assert seen["pid"] == pid
    expected = {"COMPAT_TEST_CHANGED": "after", "COMPAT_TEST_ADDED": undecodable}
    assert seen["str"] == expected
    if sys.platform != "win32":
        assert seen["bytes"] == {b"COMPAT_TEST_CHANGED": b"after", b"COMPAT_TEST_ADDED": b"caf\xe9"}


def test_a_changed_python_variable_discards_the_spares(
    ctx: compat.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old,) = _idle_pids()
    monkeypatch.setenv("PYTHONCOMPATTESTMARK", "read by Python at start-up")
    seen = ctx.spawn_child(targets_lean.environment).result(TIMEOUT)
    assert seen["pid"] != old  # a cold start
    deadline = time.monotonic() + TIMEOUT
    while pid_exists(old) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_exists(old)  # stopped and reaped
    (new,) = _idle_pids()
    assert ctx.spawn_child(targets_lean.environment).result(TIMEOUT)["pid"] == new


def test_calls_spares_cannot_take_start_cold(ctx: compat.Context) -> None:
    (pid,) = _idle_pids()
    queue = ctx.Queue()  # carries descriptors: they are passed when a process starts
    child = ctx.spawn_child(targets.put_back, queue, "x")
    assert child.result(TIMEOUT) is None and queue.get(timeout=TIMEOUT) == "x"
    assert child.pid != pid
    queue.close()
    queue.join_thread()
    outlive = compat.get_context("spawn", die_with_parent=False).spawn_child(targets.double, 3)
    assert outlive.result(TIMEOUT) == 6 and outlive.pid != pid


def test_a_spares_child_runs_atexit_and_joins_threads(ctx: compat.Context, tmp_path: Path) -> None:
    from tests import targets_fastpath

    _idle_pids()
    path = tmp_path / "log"
    assert ctx.spawn_child(targets_fastpath.register_atexit, str(path)).result(TIMEOUT) is None
    assert path.read_text().startswith("child-atexit")
    path.unlink()
    child = ctx.spawn_child(targets_fastpath.thread_then_return, str(path), 0.3)
    assert child.result(TIMEOUT) == "returned" and path.read_text() == "thread done\n"


def test_a_fork_child_does_not_inherit_the_spares(ctx: compat.Context) -> None:
    if "fork" not in compat.available_start_methods():
        pytest.skip("needs fork")
    _idle_pids()
    assert compat.get_context("fork").spawn_child(_idle_count).result(TIMEOUT) == 0


def _idle_count() -> int:
    return len(spares._idle)


_ORPHANS = """
import os, signal, sys, time
import compat
from compat._child import spares

if __name__ == "__main__":
    deadline = time.monotonic() + 30
    while len(spares._idle) < 2 and time.monotonic() < deadline:
        compat.get_context("spawn").spawn_child(int).result(30) if not spares._idle else None
        time.sleep(0.05)
    print(" ".join(str(s.popen.pid) for s in spares._idle), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_spares_die_with_their_killed_parent(start_method: str) -> None:
    if start_method != "spawn":
        pytest.skip("spares serve spawn children")
    proc = run_python("-c", _ORPHANS, env={"COMPAT_SPARES": "2"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(map(pid_exists, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(map(pid_exists, pids))


def test_spares_end_with_their_parent_at_exit(start_method: str) -> None:
    if start_method != "spawn":
        pytest.skip("spares serve spawn children")
    code = _ORPHANS.replace("os.kill(os.getpid(), signal.SIGKILL)", "")
    proc = run_python("-c", code, env={"COMPAT_SPARES": "2"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2 and not any(map(pid_exists, pids))


@pytest.mark.timeout(TIMEOUT)
def test_a_spares_child_forwards_its_logs(ctx: compat.Context) -> None:
    from tests import targets_logs
    from tests.test_logs import Collect, check_child_records, parent_logging

    with contextlib.contextmanager(parent_logging.__wrapped__)() as (handler, own):  # type: ignore[attr-defined]
        (pid,) = _idle_pids(1)
        child = ctx.spawn_child(targets_logs.log_some, "spare")
        assert child.result(TIMEOUT) == child.pid == pid  # the spare ran it
        check_child_records(handler, own, pid, child.name, "spare")
        assert isinstance(handler, Collect)
