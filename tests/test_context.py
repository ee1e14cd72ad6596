"""Contexts, the default context, Process, and the standard library's context API."""

from __future__ import annotations

import os
from typing import Any

import pytest

import compat
import compat._context as context_module
from tests import targets
from tests.helpers import SCRIPTS, run_python
from tests.procs import expected_terminate_exitcode

TIMEOUT = 60


def test_get_context_binds_one_method(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    assert ctx is compat.get_context(start_method)
    assert ctx.method == start_method == ctx.get_start_method()
    assert ctx.decision.source == "requested"
    assert ctx.mp_context.get_start_method() == start_method
    assert start_method in repr(ctx)
    assert ctx.Process.__name__ in {"ForkProcess", "SpawnProcess", "ForkServerProcess"}
    with pytest.raises(ValueError, match="concrete context"):
        ctx.set_start_method("spawn")
    assert ctx.get_context() is compat.get_context()
    assert ctx.get_all_start_methods() == compat.get_all_start_methods()
    assert ctx.cpu_count() >= 1


def test_unavailable_method_raises_value_error() -> None:
    with pytest.raises(compat.StartMethodUnavailable, match="unknown start method 'threads'"):
        compat.get_context("threads")
    with pytest.raises(ValueError):
        compat.get_context("threads")


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_module, "_default", None)


def test_set_start_method_like_the_standard_library(fresh_default: None) -> None:
    assert compat.get_start_method(allow_none=True) is None
    compat.set_start_method("spawn")
    assert compat.get_start_method() == "spawn"
    assert compat.get_context().decision.source == "requested"
    with pytest.raises(RuntimeError, match="context has already been set"):
        compat.set_start_method("fork")
    compat.set_start_method(None, force=True)
    assert compat.get_start_method(allow_none=True) is None
    with pytest.raises(ValueError, match="force=True"):
        compat.set_start_method(None)
    with pytest.raises(compat.StartMethodUnavailable):
        compat.set_start_method("nope")


def test_default_follows_the_environment(
    fresh_default: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPAT_START_METHOD", "spawn")
    assert compat.get_context().method == "spawn"
    assert compat.get_context().decision.source == "environment"


def test_process_drop_in(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    p = ctx.Process(target=targets.double, args=(3,), name="drop-in")
    assert isinstance(p, compat.Process)
    assert p.name == "drop-in" and p.exitcode is None
    p.start()
    p.join(TIMEOUT)
    assert p.exitcode == 0 and not p.is_alive()
    p.close()

    p = ctx.Process(target=targets.sleep_forever, daemon=True)
    p.start()
    assert p.is_alive() and p.daemon
    p.terminate()
    p.join(TIMEOUT)
    assert p.exitcode == expected_terminate_exitcode(raw=True)  # the standard library's: -15


def test_process_failure_exit_code(start_method: str) -> None:
    p = compat.get_context(start_method).Process(target=targets.hard_exit, args=(5,))
    p.start()
    p.join(TIMEOUT)
    assert p.exitcode == 5


def test_default_process_class_follows_default_context(start_method: str) -> None:
    p = compat.Process(target=targets.double, args=(1,))
    p.start()
    p.join(TIMEOUT)
    assert p.exitcode == 0


def test_context_ipc_factories(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    for make in (
        ctx.Lock,
        ctx.RLock,
        ctx.Event,
        ctx.Condition,
        ctx.Semaphore,
        ctx.BoundedSemaphore,
    ):
        assert make() is not None
    assert ctx.Barrier(1).parties == 1
    assert ctx.Value("d", 1.5).value == 1.5
    assert list(ctx.Array("i", [1, 2])) == [1, 2]
    assert ctx.RawValue("i", 3).value == 3
    assert list(ctx.RawArray("b", 2)) == [0, 0]
    jq = ctx.JoinableQueue()
    jq.put(1)
    assert jq.get(timeout=5) == 1
    jq.task_done()
    jq.close()
    jq.join_thread()
    sq = ctx.SimpleQueue()
    sq.put(2)
    assert sq.get() == 2
    sq.close()
    a, b = ctx.Pipe()
    a.send("x")
    assert b.recv() == "x"
    a.close()
    b.close()
    assert ctx.current_process().name == "MainProcess"
    assert ctx.parent_process() is None
    assert ctx.active_children() == []
    assert ctx.get_logger() is not None
    assert ctx.reducer is not None
    ctx.freeze_support()
    ctx.allow_connection_pickling()
    assert ctx.getppid() == os.getppid()


def test_module_level_api_matches_a_context() -> None:
    names = [
        "Lock", "RLock", "Event", "Condition", "Semaphore", "BoundedSemaphore", "Barrier",
        "Value", "Array", "RawValue", "RawArray", "Queue", "JoinableQueue", "SimpleQueue",
        "Pipe", "Manager", "Pool", "cpu_count", "current_process", "parent_process",
        "active_children", "freeze_support", "get_logger", "log_to_stderr",
        "allow_connection_pickling", "set_executable", "set_forkserver_preload",
        "spawn_child", "getppid",
    ]  # fmt: skip
    for name in names:
        assert callable(getattr(compat, name)), name
        assert hasattr(compat.Context, name), name
    assert compat.TimeoutError is __import__("multiprocessing").TimeoutError
    assert issubclass(compat.ProcessError, Exception)


def test_import_compat_as_multiprocessing(start_method: str) -> None:
    proc = run_python(SCRIPTS / "as_multiprocessing.py", method=start_method)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "('done', True)"
    assert out[1] == "exitcode 0 counter 1 arr 7 shared {'child': 'w1'}"
    assert out[2] == "pool [0, 1, 4, 9, 16]"
    assert out[3] == "cpus>=1 True"
    assert out[4] == f"method {start_method}"
    assert out[5] == "main MainProcess None"


def test_fork_after_threads_warns(start_method: str) -> None:
    if start_method != "fork":
        pytest.skip("about the policy's fork choice")
    # COMPAT_START_METHOD empty: the policy chooses.
    proc = run_python(SCRIPTS / "fork_then_threads.py", env={"COMPAT_START_METHOD": ""})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "first 2 fork" in out and "second 4" in out and "explicit 6" in out
    assert "warning ForkSafetyWarning True" in out
    assert "1 other thread is running (late-thread)" in out
    assert "compat.get_context('forkserver')" in out


def test_import_compat_is_lazy() -> None:
    # Measured as what `import compat` adds to sys.modules, so an interpreter
    # whose site already imported things (coverage's .pth files do) still counts.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import compat\n"
        "heavy = ('multiprocessing', 'pickle', 'ast', 'socket', 'dataclasses', 'inspect')\n"
        "print(sorted(m for m in heavy if m in set(sys.modules) - before))\n"
        "compat.ChildError, compat.choose_start_method\n"
        "print(sorted(m for m in heavy if m in set(sys.modules) - before))\n"
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[]", "[]"]


def test_public_names() -> None:
    assert set(compat.__all__) <= set(dir(compat))
    for name in compat.__all__:
        obj = getattr(compat, name)
        if isinstance(obj, type) and name not in (
            "TimeoutError",
            "ProcessError",
            "BufferTooShort",
            "AuthenticationError",
        ):
            assert obj.__module__ == "compat", name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        compat.nope  # noqa: B018


def test_child_error_pickles() -> None:
    import pickle

    err = compat.ChildError("boom", exitcode=-9, pid=1, name="n", method="spawn", task="t")
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.exitcode, back.signal_name, back.task) == ("boom", -9, "SIGKILL", "t")


def test_exit_code_normalisation_for_windows() -> None:
    from compat._exitcodes import normalize_exitcode as norm

    assert norm(None, windows=True) is None
    assert norm(-15, windows=True) == -15
    assert norm(-15, windows=True, killed=True) == -9
    assert norm(0x10000, windows=True) == -15
    assert norm(0xC0000005, windows=True) == -11
    assert norm(-1073741819, windows=True) == -11  # the same code, signed
    assert norm(0xC000013A, windows=True) == -2
    assert norm(0xC0000409, windows=True) == -6
    assert norm(3, windows=True) == 3
    assert norm(-15, windows=False, killed=True) == -15
    assert compat.ChildError("x", exitcode=-11).signal_name == "SIGSEGV"


def test_signal_names_without_the_signal_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from compat._errors import signal_name

    monkeypatch.setattr(signal, "Signals", None)  # as on a platform without these names
    assert signal_name(-9) == "SIGKILL"
    assert signal_name(-64) == "signal 64"
    assert signal_name(0) is None and signal_name(None) is None


def test_process_subclass_with_state(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    q = ctx.Queue()
    targets.CountingProcess._compat_method = start_method
    try:
        p = targets.CountingProcess(q, 10)
        p.start()
        assert q.get(timeout=TIMEOUT) == 45
        p.join(TIMEOUT)
        assert p.exitcode == 0
    finally:
        targets.CountingProcess._compat_method = None
        q.close()
        q.join_thread()


def _consumer_gen() -> Any:
    n = yield
    while True:
        n = yield f"got {n}"


def test_context_pools_queues_and_consumers(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    with ctx.Pool(2) as pool:
        assert pool.map(targets.double, range(4)) == [0, 2, 4, 6]
    with ctx.ProcessPoolExecutor(2) as ex:
        assert list(ex.map(targets.double, range(3))) == [0, 2, 4]
    consumer = ctx.spawn_consumer(_consumer_gen)
    try:
        consumer.send(None)
        assert consumer.send(7) == "got 7"
    finally:
        consumer.close()
    q = ctx.Queue()
    try:
        q.put("x")
        assert q.get(timeout=TIMEOUT) == "x"
        assert q.qsize() == 0
    finally:
        q.close()
