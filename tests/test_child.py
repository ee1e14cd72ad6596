"""spawn_child and Child under every start method."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import compat
from tests import targets
from tests.procs import (
    expected_crash_exitcode,
    expected_kill_exitcode,
    expected_terminate_exitcode,
    posix_only,
    report_pid_and_sleep,
    wait_for_pid,
)

TIMEOUT = 30


@pytest.fixture
def ctx(start_method: str) -> compat.Context:
    return compat.get_context(start_method)


def test_result_and_metadata(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.double, 21)
    assert child.method == ctx.method
    assert child.decision.reason
    assert isinstance(child.pid, int) and child.pid != os.getpid()
    assert child.result(TIMEOUT) == 42
    assert child.exitcode == 0
    assert child.done() and not child.is_alive()
    assert child.exception(TIMEOUT) is None
    assert "exitcode=0" in repr(child)


def test_args_and_kwargs_reach_the_target(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.echo, 1, "two", three=[3], target="not special")
    assert child.result(TIMEOUT) == ((1, "two"), {"three": [3], "target": "not special"})


def test_remote_exception(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.raise_value_error, "bad input")
    with pytest.raises(compat.ChildError) as info:
        child.result(TIMEOUT)
    err = info.value
    assert err.remote_type == "ValueError"
    assert err.remote_message == "bad input"
    assert "raise_value_error" in (err.remote_traceback or "")
    assert "raise ValueError(message)" in (err.remote_traceback or "")
    assert isinstance(err.exception, ValueError)
    assert err.__cause__ is err.exception
    assert isinstance(err.exception.__cause__, compat.RemoteTraceback)
    assert err.exitcode == 1 and err.signal_name is None
    assert err.pid == child.pid and err.method == ctx.method
    assert "raised ValueError: bad input" in str(err)
    # exception() returns the same error without raising
    assert isinstance(child.exception(), compat.ChildError)


def test_custom_and_unpicklable_exceptions(ctx: compat.Context) -> None:
    err = ctx.spawn_child(targets.raise_custom, 7).exception(TIMEOUT)
    assert err is not None
    assert err.remote_type == "tests.targets.CustomError"
    assert isinstance(err.exception, targets.CustomError) and err.exception.code == 7
    err = ctx.spawn_child(targets.raise_unpicklable).exception(TIMEOUT)
    assert err is not None
    assert err.remote_type == "tests.targets.UnpicklableError"
    assert err.remote_message == "cannot travel"
    assert err.exception is None and "raise_unpicklable" in (err.remote_traceback or "")


@pytest.mark.parametrize(
    ("target", "arg", "code"),
    [(targets.hard_exit, 3, 3), (targets.exit_with, 4, 4), (targets.exit_with, "msg", 1)],
)
def test_child_that_exits_without_result(ctx: compat.Context, target, arg, code) -> None:  # type: ignore[no-untyped-def]
    err = ctx.spawn_child(target, arg).exception(TIMEOUT)
    assert isinstance(err, compat.ChildError)
    assert err.exitcode == code and err.signal_name is None
    assert f"exited with code {code} before returning a result" in str(err)


def test_sys_exit_zero_is_a_normal_end(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.exit_with, 0)
    assert child.result(TIMEOUT) is None
    assert child.exitcode == 0


def test_os_exit_zero_without_result_is_reported(ctx: compat.Context) -> None:
    err = ctx.spawn_child(targets.hard_exit, 0).exception(TIMEOUT)
    assert isinstance(err, compat.ChildError) and err.exitcode == 0
    assert "exited with code 0 before returning a result" in str(err)


def test_kill(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_forever)
    assert child.is_alive()
    child.kill()
    err = child.exception(TIMEOUT)
    assert isinstance(err, compat.ChildError)
    code = expected_kill_exitcode()  # -9 on every OS
    assert (err.exitcode, err.signal_name) == (code, "SIGKILL")
    assert f"killed by SIGKILL (exit code {code})" in str(err)
    assert child.exitcode == code
    assert child.raw_exitcode == expected_kill_exitcode(raw=True)


def test_terminate(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_forever)
    child.terminate()
    child.join(TIMEOUT)
    assert child.exitcode == expected_terminate_exitcode()
    err = child.exception()
    assert err is not None and err.signal_name == "SIGTERM"


def test_segfault(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.segfault)
    err = child.exception(TIMEOUT)
    assert err is not None
    assert (err.exitcode, err.signal_name) == (expected_crash_exitcode(), "SIGSEGV")
    assert child.raw_exitcode == expected_crash_exitcode(raw=True)


def test_unpicklable_result(ctx: compat.Context) -> None:
    err = ctx.spawn_child(targets.return_unpicklable).exception(TIMEOUT)
    assert err is not None
    assert err.remote_type == "pickle.PicklingError"
    assert "return value of return_unpicklable could not be pickled" in str(err)


def test_large_result_does_not_deadlock_join(ctx: compat.Context) -> None:
    # 8 MiB is far beyond a pipe buffer: the child cannot exit until the parent
    # reads, so join() must drain while it waits.
    child = ctx.spawn_child(targets.big_result, 8 * 1024 * 1024)
    child.join(TIMEOUT)
    assert not child.is_alive()
    assert len(child.result()) == 8 * 1024 * 1024


def test_timeouts(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_for, 60)
    try:
        with pytest.raises(compat.ChildTimeout) as info:
            child.result(timeout=0.2)
        assert isinstance(info.value, TimeoutError)
        assert "still running" in str(info.value)
        child.join(timeout=0.1)
        assert child.is_alive() and child.exitcode is None
        child.join(timeout=-1)  # negative means "do not wait", as in multiprocessing
        assert not child.done()
    finally:
        child.kill()
        child.join(TIMEOUT)


def test_context_manager_waits_on_normal_exit(ctx: compat.Context) -> None:
    with ctx.spawn_child(targets.sleep_for, 0.2) as child:
        pass
    assert child.exitcode == 0 and child.result() == "slept"


def test_context_manager_stops_child_on_error(ctx: compat.Context, tmp_path: Path) -> None:
    path = tmp_path / "pid"
    child = ctx.spawn_child(report_pid_and_sleep, str(path))
    # Running its target: a child still starting holds SIGTERM until its main
    # function runs, and one that takes over the 1 s grace (a loaded machine) is
    # killed instead (-9), which test_context_manager_kills_... is about.
    wait_for_pid(path, TIMEOUT)
    with pytest.raises(RuntimeError), child:
        raise RuntimeError("block failed")
    assert not child.is_alive()
    assert child.exitcode == expected_terminate_exitcode()


@posix_only("TerminateProcess cannot be ignored: the child ends at terminate(), no kill follows")
def test_context_manager_kills_child_that_ignores_sigterm(
    ctx: compat.Context, tmp_path: Path
) -> None:
    ready = tmp_path / "ignoring"
    child = ctx.spawn_child(targets.ignore_sigterm_then_sleep, 60, str(ready))
    # Until it ignores SIGTERM (a fixed sleep was too short for a spawn child on a
    # loaded machine: SIGTERM ended it, -15).
    deadline = time.monotonic() + TIMEOUT
    while not ready.exists() and child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.exists(), child.exception(0)
    with pytest.raises(KeyboardInterrupt), child:
        raise KeyboardInterrupt
    assert child.exitcode == expected_kill_exitcode()


def test_close(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_for, 60)
    try:
        with pytest.raises(ValueError, match="still running"):
            child.close()
    finally:
        child.kill()
        child.join(TIMEOUT)
    child.close()


def test_module_level_spawn_child_uses_the_default_context(start_method: str) -> None:
    child = compat.spawn_child(targets.double, 2)
    assert child.method == compat.get_start_method()
    assert child.result(TIMEOUT) == 4


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="callable target"):
        compat.spawn_child(42)  # type: ignore[arg-type]


def test_getppid_is_the_real_parent(ctx: compat.Context) -> None:
    info = ctx.spawn_child(targets.ids).result(TIMEOUT)
    assert info["getppid"] == os.getpid()
    if ctx.method == "forkserver":
        # the reason compat.getppid exists (research START-06)
        assert info["os_getppid"] != os.getpid()
    else:
        assert info["os_getppid"] == os.getpid()
    assert compat.getppid() == os.getppid()  # outside a child: the OS answer


def test_queue_and_lock_of_the_same_context(ctx: compat.Context) -> None:
    q = ctx.Queue()
    lock = ctx.Lock()
    assert ctx.spawn_child(targets.put_back, q, "hello").result(TIMEOUT) is None
    assert q.get(timeout=TIMEOUT) == "hello"
    assert ctx.spawn_child(targets.lock_and_report, lock).result(TIMEOUT) is True
    q.close()
    q.join_thread()


def test_fork_context_lock_refused_for_spawn_children(start_method: str) -> None:
    if start_method == "fork" or "fork" not in compat.available_start_methods():
        pytest.skip("needs a fork context and a non-fork child")
    fork_lock = compat.get_context("fork").Lock()
    with pytest.raises(
        compat.SpawnError, match=r"args\[0\] holds a Lock created by a fork context"
    ):
        compat.get_context(start_method).spawn_child(targets.lock_and_report, fork_lock)


def test_many_children_in_parallel(ctx: compat.Context) -> None:
    children = [ctx.spawn_child(targets.double, i) for i in range(8)]
    assert [c.result(TIMEOUT) for c in children] == [2 * i for i in range(8)]


# -- a forkserver default chosen for size falls back to fork for what it cannot start ----

SIZE_REASON = "fork is safe here on Linux, but this process holds 1024 MiB of resident memory"


@pytest.mark.skipif(
    not {"fork", "forkserver"} <= set(compat.available_start_methods()),
    reason="needs fork and forkserver (Linux, macOS)",
)
def test_forkserver_chosen_for_size_forks_a_child_it_cannot_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from compat._context import Context
    from compat._policy import Decision

    # The policy's choice for a large parent (tests/test_policy.py checks the choice).
    ctx = Context(Decision("forkserver", SIZE_REASON, "policy"))
    monkeypatch.setattr("compat._policy.fork_hazards", lambda facts: [])
    lock = threading.Lock()  # no start method but fork can send one
    with ctx.spawn_child(targets.lock_and_report, lock) as child:
        assert child.result(30) is True
    assert child.method == "fork" and child.decision.source == "policy"
    assert child.decision.reason.startswith(SIZE_REASON + "; but cannot start")
    assert "this child forks" in child.decision.reason
    # What forkserver can start still goes there.
    with ctx.spawn_child(targets.double, 4) as child:
        assert child.result(30) == 8
    assert child.method == "forkserver"
    # Asked for by the program (or forced by the environment): no fallback, the error.
    asked = Context(Decision("forkserver", "requested", "requested"))
    with pytest.raises(compat.SpawnError, match="cannot start"):
        asked.spawn_child(targets.lock_and_report, lock)
    # A hazard makes fork unsafe: no fallback either.
    monkeypatch.setattr("compat._policy.fork_hazards", lambda facts: ["2 threads run"])
    with pytest.raises(compat.SpawnError, match="cannot start"):
        ctx.spawn_child(targets.lock_and_report, lock)


@pytest.mark.parametrize("wait", ["result", "exception", "join"])
def test_a_ctrl_c_as_a_wait_starts_its_inner_calls_ends_the_child(
    ctx: compat.Context, wait: str
) -> None:
    """CPython handles a signal as a function starts (3.11+: at its RESUME), so a Ctrl+C
    can come out of the first inner call of ``result()``/``exception()``/``join()``,
    before the wait that ends the child on KeyboardInterrupt begins. The public wait
    must end the child then too (it stayed running for 30 s: CI, 3.13, forkserver)."""
    child = ctx.spawn_child(targets.sleep_forever)
    inner = "_wait" if wait == "join" else "_outcome"

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    try:
        setattr(child, inner, interrupted)
        with pytest.raises(KeyboardInterrupt):
            getattr(child, wait)()
        delattr(child, inner)
        # Ended by the wait (killed after the grace period), not by this test.
        assert child._process.exitcode is not None
        assert child.exitcode == expected_kill_exitcode()
    finally:
        child.kill()
        child.join(TIMEOUT)


def test_a_ctrl_c_as_the_wait_takes_its_lock_leaves_the_lock_free(ctx: compat.Context) -> None:
    """CPython 3.14 can raise a pending KeyboardInterrupt as ``lock.acquire()`` (or a
    ``with lock:``'s enter) returns, before the code that releases it is in force
    (gh-148874): the main thread kept the handle's lock and every other thread's
    ``join()`` blocked for ever (CI, 3.14, forkserver). Simulated on every version:
    the lock raises right after it is taken."""
    child = ctx.spawn_child(targets.sleep_forever)
    real = child._lock

    class Interrupting:
        armed = True

        def acquire(self, *args: Any) -> bool:
            got = bool(real.acquire(*args))
            if self.armed:
                self.armed = False
                raise KeyboardInterrupt
            return got

        __enter__ = acquire

        def release(self) -> None:
            real.release()

        def __exit__(self, *exc: object) -> None:
            real.release()

        def _is_owned(self) -> bool:
            return bool(real._is_owned())

    try:
        child._lock = Interrupting()
        with pytest.raises(KeyboardInterrupt):
            child.result()
        child._lock = real
        joiner = threading.Thread(target=child.join, args=(TIMEOUT,), daemon=True)
        joiner.start()
        joiner.join(10)
        assert not joiner.is_alive(), "another thread's join() blocked: the lock was kept"
        assert child.exitcode == expected_kill_exitcode()
    finally:
        child.kill()
        child.join(TIMEOUT)
