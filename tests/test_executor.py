"""compat.ProcessPoolExecutor: the concurrent.futures interface, and a worker death
that fails one future while the executor keeps serving."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool as StdBrokenProcessPool
from pathlib import Path
from typing import Any, Callable

import pytest

from compat._errors import ChildError, SpawnError
from compat._pool.executor import BrokenProcessPool, ProcessPoolExecutor
from tests import targets_pool as t
from tests.procs import (
    expected_hard_kill_exitcode,
    expected_kill_exitcode,
    expected_signal_name,
    expected_terminate_exitcode,
    hard_kill,
    wait_for_pid,
)

WAIT = 30

ExecutorFactory = Callable[..., ProcessPoolExecutor]


@pytest.fixture
def make_executor(start_method: str) -> Iterator[ExecutorFactory]:
    made: list[ProcessPoolExecutor] = []

    def factory(max_workers: int = 2, **kwargs: Any) -> ProcessPoolExecutor:
        kwargs.setdefault("mp_context", multiprocessing.get_context(start_method))
        ex = ProcessPoolExecutor(max_workers, **kwargs)
        made.append(ex)
        return ex

    yield factory
    for ex in made:
        ex.kill_workers()


def executor_threads() -> list[threading.Thread]:
    return [th for th in threading.enumerate() if th.name.startswith("compat-ProcessPool")]


def test_submit_map_wait_as_completed(make_executor: ExecutorFactory) -> None:
    ex = make_executor()
    assert isinstance(ex, cf.ProcessPoolExecutor)
    f = ex.submit(t.add, 2, b=5)
    assert isinstance(f, cf.Future)
    assert f.result(WAIT) == 7
    assert list(ex.map(t.square, range(20))) == [x * x for x in range(20)]
    assert list(ex.map(t.add, range(10), range(10), chunksize=3)) == [2 * x for x in range(10)]
    assert list(ex.map(t.square, range(10), buffersize=2)) == [x * x for x in range(10)]
    fs = [ex.submit(t.square, i) for i in range(30)]
    done, not_done = cf.wait(fs, timeout=WAIT)
    assert len(done) == 30 and not not_done
    assert sorted(f.result() for f in cf.as_completed(fs, timeout=WAIT)) == sorted(
        i * i for i in range(30)
    )


def test_exceptions_as_the_standard_library(make_executor: ExecutorFactory) -> None:
    ex = make_executor()
    with pytest.raises(ValueError, match="bad") as info:
        ex.submit(t.fail, "bad").result(WAIT)
    assert isinstance(info.value.__cause__, cf.process._RemoteTraceback)
    assert "in fail" in str(info.value.__cause__)
    # SystemExit travels back as in ProcessPoolExecutor (BaseException is caught).
    with pytest.raises(SystemExit):
        ex.submit(t.raise_system_exit, 5).result(WAIT)
    lock = threading.Lock()
    with pytest.raises(TypeError):
        ex.submit(t.identity, lock).result(WAIT)
    with pytest.raises(TypeError):
        ex.submit(t.unpicklable_result).result(WAIT)
    with pytest.raises(cf.TimeoutError):
        list(ex.map(t.sleep_then, [1], [30], timeout=0.05))
    assert ex.submit(t.square, 3).result(WAIT) == 9


def test_worker_killed_fails_one_future_and_the_executor_keeps_serving(
    make_executor: ExecutorFactory, tmp_path: Path, start_method: str
) -> None:
    ex = make_executor(2)
    marker = tmp_path / "pid"
    victim = ex.submit(t.report_pid_and_sleep, str(marker), 60)
    others = [ex.submit(t.square, i) for i in range(20)]
    pid = wait_for_pid(marker)
    hard_kill(pid)
    err = victim.exception(WAIT)
    assert isinstance(err, BrokenProcessPool)
    assert isinstance(err, StdBrokenProcessPool)
    assert isinstance(err, ChildError)
    code = expected_hard_kill_exitcode()  # -9 on POSIX; 15 on Windows: see tests.procs
    name = expected_signal_name(code)
    assert err.exitcode == code and err.signal_name == name and err.pid == pid
    assert err.method == start_method
    assert err.task is not None and "report_pid_and_sleep" in err.task
    assert [f.result(WAIT) for f in others] == [i * i for i in range(20)]
    assert ex.submit(t.square, 12).result(WAIT) == 144
    assert list(ex.map(t.square, range(5))) == [0, 1, 4, 9, 16]
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is BrokenProcessPool
    assert (again.exitcode, again.signal_name, again.pid) == (code, name, pid)


def test_death_in_map_chunk(make_executor: ExecutorFactory) -> None:
    ex = make_executor(1)
    with pytest.raises(StdBrokenProcessPool) as info:
        list(ex.map(t.os_exit, [9]))
    assert isinstance(info.value, ChildError) and info.value.exitcode == 9
    assert ex.submit(t.square, 2).result(WAIT) == 4


def test_shutdown(make_executor: ExecutorFactory) -> None:
    ex = make_executor(1)
    running = ex.submit(t.sleep_then, "done", 0.5)
    queued = [ex.submit(t.square, i) for i in range(50)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert running.result(WAIT) == "done"
    assert all(f.done() for f in queued)
    assert any(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(t.square, 1)
    assert not executor_threads()
    assert not ex._processes
    ex.shutdown()  # again: no error


def test_context_manager_waits(make_executor: ExecutorFactory) -> None:
    with make_executor(2) as ex:
        fs = [ex.submit(t.sleep_then, i, 0.1) for i in range(6)]
    assert [f.result(0) for f in fs] == list(range(6))
    assert not executor_threads()


def test_initializer(make_executor: ExecutorFactory) -> None:
    ex = make_executor(2, initializer=t.set_state, initargs=("hello",))
    assert {f.result(WAIT) for f in [ex.submit(t.get_state) for _ in range(6)]} == {"hello"}


def test_initializer_failure_breaks_the_executor(make_executor: ExecutorFactory) -> None:
    ex = make_executor(1, initializer=t.initializer_fails, initargs=("nope",))
    f = ex.submit(t.square, 2)
    err = f.exception(WAIT)
    assert isinstance(err, StdBrokenProcessPool)
    assert "initializer raised RuntimeError: nope" in str(err)
    with pytest.raises(StdBrokenProcessPool):
        ex.submit(t.square, 3)


def test_max_tasks_per_child(make_executor: ExecutorFactory, start_method: str) -> None:
    if start_method == "fork":
        with pytest.raises(ValueError, match="incompatible with the 'fork'"):
            make_executor(1, max_tasks_per_child=2)
        return
    ex = make_executor(1, max_tasks_per_child=2)
    pids = [ex.submit(t.pid_of).result(WAIT) for _ in range(6)]
    assert max(pids.count(p) for p in pids) <= 2
    assert len(set(pids)) >= 3


def test_terminate_and_kill_workers(make_executor: ExecutorFactory, tmp_path: Path) -> None:
    ex = make_executor(1)
    marker = tmp_path / "pid"
    running = ex.submit(t.report_pid_and_sleep, str(marker), 60)
    queued = ex.submit(t.square, 2)
    wait_for_pid(marker)
    ex.terminate_workers()
    err = running.exception(WAIT)
    assert isinstance(err, StdBrokenProcessPool)
    assert err.exitcode == expected_terminate_exitcode()  # type: ignore[attr-defined]
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(t.square, 1)
    ex2 = make_executor(1)
    f = ex2.submit(t.sleep_then, 1, 60)
    while not f.running():
        time.sleep(0.01)
    ex2.kill_workers()
    assert f.exception(WAIT).exitcode == expected_kill_exitcode()  # type: ignore[union-attr]
    assert not executor_threads()


def test_message_transport(make_executor: ExecutorFactory) -> None:
    ex = make_executor(2, _transport="message")
    assert list(ex.map(t.square, range(50), chunksize=4)) == [x * x for x in range(50)]
    err = ex.submit(t.kill_self).exception(WAIT)
    assert isinstance(err, BrokenProcessPool) and err.exitcode == expected_hard_kill_exitcode()
    assert ex.submit(t.square, 7).result(WAIT) == 49


def test_accepts_compat_context(start_method: str) -> None:
    class FakeCompatContext:
        mp_context = multiprocessing.get_context(start_method)

    with ProcessPoolExecutor(1, mp_context=FakeCompatContext()) as ex:
        assert ex.submit(t.square, 5).result(WAIT) == 25


# -- argument checks (no process starts) ------------------------------------------------------


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match=r"^max_workers must be greater than 0$"):
        ProcessPoolExecutor(0)
    with pytest.raises(TypeError, match="initializer must be a callable"):
        ProcessPoolExecutor(1, initializer=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_tasks_per_child must be an integer"):
        ProcessPoolExecutor(1, max_tasks_per_child="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tasks_per_child must be >= 1"):
        ProcessPoolExecutor(1, max_tasks_per_child=0)
    ex = ProcessPoolExecutor(1)
    try:
        with pytest.raises(ValueError, match=r"^chunksize must be >= 1\.$"):
            ex.map(t.square, [1], chunksize=0)
        with pytest.raises(ValueError, match="buffersize must be None or > 0"):
            ex.map(t.square, [1], buffersize=0)
        with pytest.raises(TypeError, match="buffersize must be an integer or None"):
            ex.map(t.square, [1], buffersize=1.5)  # type: ignore[arg-type]
    finally:
        ex.shutdown()


def test_max_tasks_per_child_without_context_avoids_fork() -> None:
    ex = ProcessPoolExecutor(1, max_tasks_per_child=1)
    try:
        assert ex._mp_context is not None
        assert ex._mp_context.get_start_method() != "fork"
    finally:
        ex.shutdown()


def test_broken_process_pool_pickles_without_a_process() -> None:
    err = BrokenProcessPool("boom", exitcode=-11, pid=42, task="t #1")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is BrokenProcessPool
    assert (again.exitcode, again.signal_name, again.pid, again.task) == (
        -11,
        "SIGSEGV",
        42,
        "t #1",
    )
    assert str(again) == "boom"


def test_default_context_is_compats() -> None:
    import compat

    ex = ProcessPoolExecutor(1)
    try:
        assert ex._mp_context is compat.get_context().mp_context
    finally:
        ex.shutdown()


# -- drop-in: the private attributes, cloudpickle, pre-flight checks, messages -----------


def test_private_attributes_stay_in_step(make_executor: ExecutorFactory, tmp_path: Path) -> None:
    ex = make_executor(2)
    assert (ex._max_workers, ex._broken, dict(ex._processes)) == (2, False, {})
    marker = tmp_path / "pid"
    victim = ex.submit(t.report_pid_and_sleep, str(marker), 60)
    pid = wait_for_pid(marker)
    assert pid in ex._processes and all(p.pid == k for k, p in ex._processes.items())
    hard_kill(pid)
    assert isinstance(victim.exception(WAIT), BrokenProcessPool)
    assert ex.submit(t.square, 3).result(WAIT) == 9
    assert ex._processes and pid not in ex._processes  # replaced, and listed
    assert ex._broken is False  # one worker's death does not break compat's executor
    with pytest.raises(AttributeError, match="as_completed"):
        ex._pending_work_items  # noqa: B018
    with pytest.raises(AttributeError, match="manages its own workers"):
        ex._processes = {}
    ex.shutdown()
    assert dict(ex._processes) == {}


def test_broken_executor_says_why(make_executor: ExecutorFactory) -> None:
    ex = make_executor(1, initializer=t.initializer_fails, initargs=("no",))
    with pytest.raises(BrokenProcessPool):
        ex.submit(t.square, 1).result(WAIT)
    assert isinstance(ex._broken, str) and "initializer raised RuntimeError: no" in ex._broken


def test_lambdas_and_closures_travel_with_cloudpickle(make_executor: ExecutorFactory) -> None:
    pytest.importorskip("cloudpickle")
    base = 5
    ex = make_executor(2, initializer=lambda: t.set_state("set by a lambda"))
    assert ex.submit(lambda x: x + base, 1).result(WAIT) == 6
    assert list(ex.map(lambda a, b: a * b + base, [1, 2], [3, 4], chunksize=2)) == [8, 13]
    assert ex.submit(t.apply_to, lambda: base).result(WAIT) == 5
    assert ex.submit(t.get_state).result(WAIT) == "set by a lambda"


def test_a_lambda_without_cloudpickle_is_refused_in_the_caller(
    make_executor: ExecutorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compat._child.preflight as preflight

    monkeypatch.setattr(preflight, "_cloudpickle", lambda: None)
    ex = make_executor(1)
    square = lambda x: x * x  # noqa: E731
    for what, call in {
        "ProcessPoolExecutor.submit": lambda: ex.submit(square, 2),
        "ProcessPoolExecutor.map": lambda: ex.map(square, [2]),
    }.items():
        with pytest.raises(SpawnError) as info:
            call()
        assert str(info.value).startswith(
            f"cannot send the function given to {what} to the pool's workers: it is a lambda, "
            "which cannot be sent by reference: define it with def at module level, or "
            "install cloudpickle"
        )
    with pytest.raises(TypeError, match=r"iterables\[1\]\[1\] is a threading.Lock"):
        list(ex.map(max, [1, 2], [3, threading.Lock()]))
    assert ex.submit(t.square, 4).result(WAIT) == 16


def test_a_map_chunk_is_numbered_one_way(make_executor: ExecutorFactory) -> None:
    ex = make_executor(1)
    with pytest.raises(BrokenProcessPool) as info:
        list(ex.map(t.exit_on, range(10), [7] * 10, chunksize=2))
    assert info.value.task == "map chunk 3 (2 items): exit_on"
    assert "task #" not in str(info.value)
