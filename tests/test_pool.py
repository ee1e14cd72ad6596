"""compat.Pool: the multiprocessing.Pool interface, and no hang when workers die.

Every test that starts workers runs under each start method (``start_method``), and
the ``pool`` fixture terminates and joins whatever a test leaves, even when it fails.
"""

from __future__ import annotations

import importlib.util
import itertools
import multiprocessing
import os
import pickle
import re
import threading
import time
from collections.abc import Iterator
from multiprocessing import pool as mp_pool
from pathlib import Path
from typing import Any, Callable

import pytest

from compat._errors import ChildError, SpawnError
from compat._pool.pool import Pool
from tests import targets_pool as t
from tests.helpers import clean_lines, run_example
from tests.procs import (
    expected_crash_exitcode,
    expected_hard_kill_exitcode,
    expected_kill_exitcode,
    expected_signal_name,
    expected_terminate_exitcode,
    hard_kill,
    open_descriptors,
    pid_exists,
    posix_only,
    wait_for_pid,
)

WAIT = 30  # generous bound for any single wait; tests never assert on timing

PoolFactory = Callable[..., Pool]


@pytest.fixture
def make_pool(start_method: str) -> Iterator[PoolFactory]:
    made: list[Pool] = []

    def factory(processes: int = 2, **kwargs: Any) -> Pool:
        kwargs.setdefault("context", multiprocessing.get_context(start_method))
        p = Pool(processes, **kwargs)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.terminate()
        p.join()


def pool_threads() -> list[threading.Thread]:
    return [th for th in threading.enumerate() if th.name.startswith("compat-Pool")]


# -- the multiprocessing.Pool interface ---------------------------------------------------


def test_apply_map_starmap(make_pool: PoolFactory) -> None:
    p = make_pool()
    assert p.apply(t.square, (7,)) == 49
    assert p.apply(t.add, (), {"a": 2, "b": 3}) == 5
    assert p.map(t.square, range(50)) == [x * x for x in range(50)]
    assert p.map(t.square, range(50), chunksize=7) == [x * x for x in range(50)]
    assert p.map(t.square, iter(range(5))) == [0, 1, 4, 9, 16]
    assert p.map(t.square, []) == []
    assert p.starmap(t.add, [(1, 2), (3, 4)]) == [3, 7]
    assert p.starmap_async(t.add, [(1, 1)] * 9, chunksize=2).get(WAIT) == [2] * 9


def test_apply_async_callbacks(make_pool: PoolFactory) -> None:
    p = make_pool()
    got: list[Any] = []
    errors: list[BaseException] = []
    ok = p.apply_async(t.square, (3,), callback=got.append, error_callback=errors.append)
    bad = p.apply_async(t.fail, ("no",), callback=got.append, error_callback=errors.append)
    assert ok.get(WAIT) == 9
    bad.wait(WAIT)
    assert bad.ready() and not bad.successful()
    assert ok.successful()
    assert got == [9]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    mapped: list[Any] = []
    r = p.map_async(t.square, range(4), callback=mapped.append)
    assert r.get(WAIT) == [0, 1, 4, 9]
    assert mapped == [[0, 1, 4, 9]]
    empty: list[Any] = []
    assert p.map_async(t.square, [], callback=empty.append).get(WAIT) == []


def test_results_are_the_standard_librarys_types(make_pool: PoolFactory) -> None:
    p = make_pool()
    assert isinstance(p, mp_pool.Pool)
    r = p.apply_async(t.square, (2,))
    assert isinstance(r, mp_pool.AsyncResult)
    assert isinstance(p.map_async(t.square, [1]), mp_pool.MapResult)
    assert isinstance(p.imap(t.square, [1]), mp_pool.IMapIterator)
    assert r.get(WAIT) == 4
    assert repr(p).startswith("<compat.Pool state=RUN pool_size=2")
    with pytest.raises(NotImplementedError):
        pickle.dumps(p)


def test_imap_and_imap_unordered(make_pool: PoolFactory) -> None:
    p = make_pool()
    assert list(p.imap(t.square, range(20))) == [x * x for x in range(20)]
    assert list(p.imap(t.square, iter(range(20)), chunksize=3)) == [x * x for x in range(20)]
    assert sorted(p.imap_unordered(t.square, range(20))) == sorted(x * x for x in range(20))
    assert sorted(p.imap_unordered(t.square, range(20), 4)) == sorted(x * x for x in range(20))
    it = p.imap(t.sleep_then, [])
    assert list(it) == []
    slow = p.imap(t.square, (x for x in [5]))
    assert slow.next(timeout=WAIT) == 25
    with pytest.raises(StopIteration):
        slow.next(timeout=WAIT)


def test_imap_next_timeout(make_pool: PoolFactory) -> None:
    p = make_pool()
    it = p.imap(t.sleep_then, [None])  # sleep_then(None) raises TypeError later
    it2 = p.imap(t.identity, iter([1, 2]))
    assert list(it2) == [1, 2]
    with pytest.raises(TypeError):
        it.next(timeout=WAIT)
    r = p.apply_async(t.sleep_then, ("late", 30))
    with pytest.raises(multiprocessing.TimeoutError):
        r.get(timeout=0.05)
    assert not r.ready()
    with pytest.raises(ValueError, match="not ready"):
        r.successful()


def test_imap_input_error_takes_next_position(make_pool: PoolFactory) -> None:
    p = make_pool()
    it = p.imap(t.square, t.numbers_then_error(3))
    assert [it.next(WAIT) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(OSError, match="ran dry"):
        it.next(WAIT)
    with pytest.raises(StopIteration):
        it.next(WAIT)


def test_imap_endless_input_is_consumed_lazily(make_pool: PoolFactory) -> None:
    p = make_pool()
    it = p.imap(t.square, itertools.count())
    assert [next(it) for _ in range(100)] == [x * x for x in range(100)]
    p.terminate()
    p.join()
    assert not pool_threads()


# -- exceptions, as the standard library raises them ---------------------------------------


def test_task_exception_has_remote_traceback(make_pool: PoolFactory) -> None:
    p = make_pool()
    with pytest.raises(ValueError, match="boom") as info:
        p.apply(t.fail, ("boom",))
    cause = info.value.__cause__
    assert isinstance(cause, mp_pool.RemoteTraceback)
    assert "in fail" in str(cause)
    with pytest.raises(KeyError) as info2:
        p.starmap(t.fail_on, [(i, 4) for i in range(10)], chunksize=3)
    assert isinstance(info2.value.__cause__, mp_pool.RemoteTraceback)


def test_unpicklable_result_is_maybe_encoding_error(make_pool: PoolFactory) -> None:
    p = make_pool()
    with pytest.raises(mp_pool.MaybeEncodingError, match="Error sending result"):
        p.apply(t.unpicklable_result)
    assert p.apply(t.square, (3,)) == 9  # the worker survived


def test_exception_that_cannot_be_rebuilt(make_pool: PoolFactory) -> None:
    p = make_pool()
    with pytest.raises(mp_pool.MaybeEncodingError, match="NeedsTwoArgs"):
        p.apply(t.raise_needs_two_args)
    assert p.apply(t.square, (4,)) == 16


def test_unpicklable_arguments_fail_that_task(make_pool: PoolFactory) -> None:
    p = make_pool()
    lock = threading.Lock()
    with pytest.raises(Exception) as expected:
        pickle.dumps(lock)
    r = p.apply_async(t.identity, (lock,))
    with pytest.raises(type(expected.value)):
        r.get(WAIT)
    with pytest.raises(type(expected.value)):
        p.map(t.identity, [1, lock, 3], chunksize=1)
    assert p.apply(t.square, (5,)) == 25


def test_task_that_cannot_be_unpickled_in_the_worker(make_pool: PoolFactory) -> None:
    p = make_pool()
    with pytest.raises(ImportError, match="cannot be unpickled") as info:
        p.apply(t.identity, (t.FailsToUnpickle(),))
    assert "could not unpickle this task" in str(info.value.__cause__)
    assert p.apply(t.square, (6,)) == 36


def test_not_running_raises_value_error(make_pool: PoolFactory) -> None:
    p = make_pool()
    with pytest.raises(ValueError, match="Pool is still running"):
        p.join()
    p.close()
    for call in (
        lambda: p.apply_async(t.square, (1,)),
        lambda: p.map(t.square, [1]),
        lambda: p.imap(t.square, [1]),
        lambda: p.imap_unordered(t.square, [1]),
        lambda: p.starmap_async(t.add, [(1, 2)]),
        lambda: p.__enter__(),
    ):
        with pytest.raises(ValueError, match=r"^Pool not running$"):
            call()
    p.join()
    p.terminate()
    with pytest.raises(ValueError, match=r"^Pool not running$"):
        p.apply(t.square, (1,))


def test_chunksize_checks(make_pool: PoolFactory) -> None:
    p = make_pool()
    for bad in (0, -1):
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            p.map(t.square, [1, 2], chunksize=bad)
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            p.imap(t.square, [1, 2], chunksize=bad)
        with pytest.raises(ValueError, match="Chunksize must be 1\\+"):
            p.imap_unordered(t.square, [1, 2], chunksize=bad)


@pytest.mark.parametrize("processes", [0, -1])
def test_processes_must_be_at_least_one(processes: int) -> None:
    with pytest.raises(ValueError, match=r"^Number of processes must be at least 1$"):
        Pool(processes)


@pytest.mark.parametrize("value", [0, -3, 1.5, "2"])
def test_maxtasksperchild_must_be_positive_int(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^maxtasksperchild must be a positive int or None$"):
        Pool(1, maxtasksperchild=value)


def test_other_argument_checks() -> None:
    with pytest.raises(TypeError, match="initializer must be a callable"):
        Pool(1, initializer=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="processes must be an int"):
        Pool(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="compat Context"):
        Pool(1, context="spawn")


# -- never hang: dead workers --------------------------------------------------------------


def test_worker_killed_mid_task_fails_that_task(
    make_pool: PoolFactory, tmp_path: Path, start_method: str
) -> None:
    p = make_pool(2)
    marker = tmp_path / "pid"
    victim = p.apply_async(t.report_pid_and_sleep, (str(marker), 60))
    before = [p.apply_async(t.square, (i,)) for i in range(20)]
    pid = wait_for_pid(marker)
    hard_kill(pid)
    with pytest.raises(ChildError) as info:
        victim.get(timeout=WAIT)
    err = info.value
    code = expected_hard_kill_exitcode()  # -9 on POSIX; 15 on Windows: see tests.procs
    name = expected_signal_name(code)
    assert err.exitcode == code
    assert err.signal_name == name
    assert err.pid == pid
    assert err.method == start_method
    assert err.task is not None and "report_pid_and_sleep" in err.task
    how = f"was killed by {name}" if name else f"exited with code {code}"
    assert how in str(err) and "report_pid_and_sleep" in str(err)
    assert [r.get(WAIT) for r in before] == [i * i for i in range(20)]
    after = p.map(t.square, range(30))
    assert after == [i * i for i in range(30)]
    live = p._pool
    assert len(live) == 2 and pid not in [w.pid for w in live]
    # ChildError travels between processes with its details.
    again = pickle.loads(pickle.dumps(err))
    assert (again.exitcode, again.signal_name, again.task) == (code, name, err.task)


def test_queued_tasks_behind_a_dead_worker_still_run(make_pool: PoolFactory) -> None:
    p = make_pool(1)
    results = [p.apply_async(t.square, (i,)) for i in range(5)]
    killer = p.apply_async(t.kill_self)
    later = [p.apply_async(t.square, (i,)) for i in range(5, 40)]
    with pytest.raises(ChildError) as info:
        killer.get(WAIT)
    assert info.value.exitcode == expected_hard_kill_exitcode()
    assert [r.get(WAIT) for r in results + later] == [i * i for i in range(40)]


@pytest.mark.parametrize(
    ("target", "arg", "exitcode"),
    [(t.os_exit, 3, 3), (t.sys_exit, 4, 4), (t.segfault_self, None, expected_crash_exitcode())],
    ids=["os._exit", "sys.exit", "segfault"],
)
def test_other_deaths(make_pool: PoolFactory, target: Any, arg: Any, exitcode: int) -> None:
    p = make_pool(1)
    with pytest.raises(ChildError) as info:
        p.apply(target, (arg,))
    assert info.value.exitcode == exitcode
    with pytest.raises(ChildError):
        p.map(target, [arg])
    assert p.apply(t.square, (9,)) == 81


def test_message_transport_detects_death_by_pipe(make_pool: PoolFactory) -> None:
    # The Windows path (no process sentinels, Connection.recv_bytes), run here.
    p = make_pool(2, _transport="message")
    assert p.map(t.square, range(100)) == [x * x for x in range(100)]
    with pytest.raises(ChildError) as info:
        p.apply(t.kill_self)
    assert info.value.exitcode == expected_hard_kill_exitcode()
    assert sorted(p.imap_unordered(t.square, range(10))) == sorted(x * x for x in range(10))


# -- initializer -----------------------------------------------------------------------------


def test_initializer_runs_in_each_worker(make_pool: PoolFactory) -> None:
    p = make_pool(2, initializer=t.set_state, initargs=("ready",))
    assert set(p.map(t.get_state, range(8), chunksize=1)) == {"ready"}


def test_initializer_exception_is_reported_not_retried(make_pool: PoolFactory) -> None:
    p = make_pool(2, initializer=t.initializer_fails, initargs=("no database",))
    r = p.apply_async(t.square, (2,))
    with pytest.raises(ChildError, match="initializer raised RuntimeError: no database") as info:
        r.get(WAIT)
    assert info.value.remote_type == "RuntimeError"
    assert "initializer_fails" in (info.value.remote_traceback or "")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ChildError, match="initializer"):
        p.apply(t.square, (3,))
    deadline = time.monotonic() + WAIT
    while p._pool and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p._pool == []  # no worker was restarted
    p.close()
    p.join()


def test_workers_dying_at_startup_break_the_pool(make_pool: PoolFactory) -> None:
    p = make_pool(1, initializer=t.initializer_exits, initargs=(7,))
    with pytest.raises(ChildError, match="died before they finished starting") as info:
        p.apply(t.square, (2,))
    assert info.value.exitcode == 7
    p.close()
    p.join()


# -- maxtasksperchild, context ----------------------------------------------------------------


def test_maxtasksperchild_recycles_workers(make_pool: PoolFactory) -> None:
    p = make_pool(2, maxtasksperchild=2)
    pids = p.map(t.pid_of, range(12), chunksize=1)
    assert len(pids) == 12
    assert max(pids.count(pid) for pid in set(pids)) <= 2
    assert len(set(pids)) >= 6


def test_compat_context_is_accepted(start_method: str) -> None:
    class FakeCompatContext:
        mp_context = multiprocessing.get_context(start_method)

    p = Pool(1, context=FakeCompatContext())
    try:
        assert p.apply(t.square, (3,)) == 9
        assert p._ctx is FakeCompatContext.mp_context
    finally:
        p.terminate()
        p.join()


# -- shutting down ---------------------------------------------------------------------------


def test_with_block_waits_for_submitted_work(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    with Pool(2, context=ctx) as p:
        pending = p.map_async(t.sleep_then, [1, 2, 3])  # TypeError: missing seconds
        slow = [p.apply_async(t.sleep_then, (i, 0.2)) for i in range(4)]
    assert all(r.ready() for r in slow)
    assert [r.get(0) for r in slow] == [0, 1, 2, 3]
    assert pending.ready()
    assert not p._pool
    assert not pool_threads()


def test_with_block_that_raises_terminates(start_method: str, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context(start_method)
    marker = tmp_path / "pid"
    made: list[Any] = []

    def block() -> None:
        with Pool(2, context=ctx) as p:
            made.append(p)
            made.append(p.apply_async(t.report_pid_and_sleep, (str(marker), 60)))
            wait_for_pid(marker)
            raise RuntimeError("leave")

    with pytest.raises(RuntimeError, match="leave"):
        block()
    p, r = made
    with pytest.raises(ChildError, match="terminated") as info:
        r.get(WAIT)
    assert info.value.exitcode == expected_terminate_exitcode()
    p.join()
    assert not p._pool
    assert not pool_threads()


@posix_only(
    "TerminateProcess cannot be ignored: the worker ends at the first step, no kill follows"
)
def test_terminate_join_returns_when_a_worker_ignores_sigterm(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    p = make_pool(1)
    marker = tmp_path / "pid"
    r = p.apply_async(t.ignore_sigterm_and_sleep, (str(marker), 60))
    queued = p.apply_async(t.square, (2,))
    pid = wait_for_pid(marker)
    p.terminate()
    p.join()
    with pytest.raises(ChildError) as info:
        r.get(WAIT)
    assert info.value.exitcode == expected_kill_exitcode()
    assert info.value.pid == pid
    with pytest.raises(ChildError, match="before"):
        queued.get(WAIT)


def test_threads_end_after_join(make_pool: PoolFactory) -> None:
    p = make_pool(2)
    list(p.imap(t.square, range(10)))
    list(p.imap_unordered(t.square, iter(range(10)), 3))
    assert pool_threads()
    p.close()
    p.join()
    assert not pool_threads()
    assert not p._pool
    assert not [c for c in multiprocessing.active_children() if "PoolWorker" in c.name]


# -- callbacks ---------------------------------------------------------------------------------


def test_raising_callback_does_not_break_the_pool(
    make_pool: PoolFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    p = make_pool(1)

    def bad_callback(_: object) -> None:
        raise RuntimeError("callback failed")

    r = p.apply_async(t.square, (2,), callback=bad_callback)
    assert r.get(WAIT) == 4
    assert p.apply(t.square, (3,)) == 9
    assert "callback failed" in capfd.readouterr().err


def test_get_inside_a_callback_raises_instead_of_deadlocking(make_pool: PoolFactory) -> None:
    p = make_pool(1)
    seen: list[BaseException] = []

    def callback(_: object) -> None:
        try:
            p.apply(t.square, (1,))
        except RuntimeError as exc:
            seen.append(exc)

    p.apply_async(t.square, (2,), callback=callback).get(WAIT)
    assert len(seen) == 1 and "deadlock" in str(seen[0])


# -- the seed's program --------------------------------------------------------------------------


def test_seed_example_runs(start_method: str) -> None:
    proc = run_example("pool_apply_async.py", "0.2", method=start_method)
    clean_lines(proc)
    out = proc.stdout
    # Workers print concurrently to one pipe, so their lines may interleave.
    first = re.match(r"Parent process (\d+)\.\n", out)
    assert first, out
    parent = int(first.group(1))
    assert "Waiting for all subprocesses done..." in out
    assert out.rstrip().endswith("All subprocesses done."), out
    runs = re.findall(r"Run task (\d+) \((\d+)\)\.\.\.", out)
    assert sorted(int(name) for name, _ in runs) == [0, 1, 2, 3, 4], out
    assert all(int(pid) != parent for _, pid in runs)
    assert sorted(int(n) for n in re.findall(r"Task (\d+) runs \d+\.\d\d seconds\.", out)) == [
        0,
        1,
        2,
        3,
        4,
    ], out
    assert f"start method: {start_method}" in out


def test_unclosed_pool_warns_and_is_terminated_when_collected(start_method: str) -> None:
    import gc

    p = Pool(1, context=multiprocessing.get_context(start_method))
    assert p.apply(t.square, (2,)) == 4
    core = p._core
    assert core is not None
    holder = [p]
    del p
    with pytest.warns(ResourceWarning, match="unclosed running multiprocessing pool"):
        holder.clear()  # the last reference: no cycle keeps a Pool alive
    gc.collect()
    assert core.state == "TERMINATE"
    assert core.join(WAIT)
    assert not pool_threads()


def test_join_does_not_wait_forever_for_a_worker_that_will_not_exit(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compat._pool.shutdown

    monkeypatch.setattr(compat._pool.shutdown, "EXIT_GRACE", 0.5)
    p = make_pool(1)
    pid = p.apply(t.start_endless_thread)
    p.close()
    p.join()  # the worker is terminated after the grace period
    assert not p._pool
    assert not pid_exists(pid)  # ended and reaped


def test_unpicklable_initargs(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    if start_method == "fork":
        # fork children inherit initargs instead of unpickling them: it works.
        p = Pool(1, initializer=t.set_state, initargs=(threading.Lock(),), context=ctx)
        try:
            assert "lock" in p.apply(t.get_state_repr)
        finally:
            p.terminate()
            p.join()
    else:  # as the standard library: the constructor raises, nothing is left running
        with pytest.raises((TypeError, pickle.PicklingError)):
            Pool(1, initializer=t.set_state, initargs=(threading.Lock(),), context=ctx)
    assert not [c for c in multiprocessing.active_children() if "PoolWorker" in c.name]


def test_default_processes_is_compat_cpu_count(start_method: str) -> None:
    from compat._cpu import cpu_count

    p = Pool(context=multiprocessing.get_context(start_method))
    try:
        assert p._processes == cpu_count()
        assert len(p._pool) == cpu_count()
    finally:
        p.terminate()
        p.join()


@pytest.mark.parametrize("transport", ["stream", "message"])
def test_large_payloads_both_ways(make_pool: PoolFactory, transport: str) -> None:
    p = make_pool(2, _transport=transport)
    big = b"x" * (12 << 20)
    results = [p.apply_async(t.identity, (big,)) for _ in range(3)]
    small = p.map(t.square, range(100))
    assert all(r.get(WAIT) == big for r in results)
    assert small == [x * x for x in range(100)]
    assert p.map(len, [big, b"", big[:100]]) == [len(big), 0, 100]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd (Linux)")
def test_no_file_descriptors_leak(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)

    def cycle(stop: str) -> None:
        p = Pool(2, context=ctx)
        assert p.map(t.square, range(10)) == [x * x for x in range(10)]
        with pytest.raises(ChildError):
            p.apply(t.kill_self)
        list(p.imap(t.square, range(5)))
        if stop == "close":
            p.close()
        else:
            p.terminate()
        p.join()

    import gc

    cycle("close")  # warm: the forkserver and resource tracker keep their own fds
    gc.collect()  # process sentinels close when their Process objects are collected
    before = open_descriptors()
    for stop in ("close", "terminate", "close"):
        cycle(stop)
    gc.collect()
    assert open_descriptors() - before == set()


# -- drop-in: the private attributes, cloudpickle, pre-flight checks, messages -----------


def test_private_attributes_stay_in_step(make_pool: PoolFactory, tmp_path: Path) -> None:
    p = make_pool(2)
    assert (p._state, p._processes, len(p._pool)) == ("RUN", 2, 2)
    marker = tmp_path / "pid"
    victim = p.apply_async(t.report_pid_and_sleep, (str(marker), 60))
    pending = p.map_async(t.square, range(3))
    it = p.imap(t.square, range(3))
    assert victim._job in p._cache and p._cache[victim._job] is victim
    pid = wait_for_pid(marker)
    assert pid in [w.pid for w in p._pool]
    hard_kill(pid)
    with pytest.raises(ChildError):
        victim.get(WAIT)
    assert victim._job not in p._cache  # gone before get() returned
    assert pending.get(WAIT) == [0, 1, 4]
    assert list(it) == [0, 1, 4]
    assert p._cache == {}
    deadline = time.monotonic() + WAIT
    while (len(p._pool) != 2 or pid in [w.pid for w in p._pool]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(p._pool) == 2 and pid not in [w.pid for w in p._pool]  # the replacement
    with pytest.raises(AttributeError, match=r"len\(pool\._cache\)"):
        p._taskqueue  # noqa: B018
    with pytest.raises(AttributeError, match="close\\(\\), join\\(\\) and terminate\\(\\)"):
        p._result_handler  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        p._pool = []
    with pytest.raises(AttributeError, match="object has no attribute 'no_such'"):
        p.no_such  # noqa: B018
    p.close()
    assert p._state == "CLOSE"
    p.join()
    assert p._pool == []
    p.terminate()
    assert p._state == "TERMINATE"


def test_lambdas_closures_and_local_classes_travel_with_cloudpickle(
    make_pool: PoolFactory,
) -> None:
    pytest.importorskip("cloudpickle")
    base = 10

    class Local:
        def __init__(self, value: int) -> None:
            self.value = value

        def __reduce__(self) -> Any:  # the result goes back by reference: an int
            return (int, (self.value,))

    p = make_pool(2, initializer=lambda: t.set_state("lambda initializer"))
    assert p.map(lambda x: x + base, range(5)) == [10, 11, 12, 13, 14]
    assert p.starmap(lambda a, b: a * b, [(2, 3), (4, 5)]) == [6, 20]
    assert list(p.imap(lambda x: -x, range(3))) == [0, -1, -2]
    assert sorted(p.imap_unordered(lambda x: x * base, range(3), chunksize=2)) == [0, 10, 20]
    assert p.apply(t.apply_to, (lambda y: y * base, 4)) == 40  # a lambda argument
    assert p.map(Local, range(3)) == [0, 1, 2]  # a local class
    assert p.apply(t.identity, (Local(7),)) == 7  # an instance of one, as an argument
    assert p.apply(t.get_state) == "lambda initializer"
    assert p.apply(t.square, (3,)) == 9


def test_functions_go_by_reference_when_they_can(start_method: str) -> None:
    from compat._child.preflight import ByValue
    from compat._pool import worker as wire
    from compat._pool.payload import encode, prepare_function

    assert prepare_function(t.square, start_method, "Pool.map", eager=True) is t.square
    blob = encode(wire.APPLY, t.square, (3,), {}, what="Pool.apply_async", layout="apply")
    assert b"cloudpickle" not in blob and b"tests.targets_pool" in blob
    if importlib.util.find_spec("cloudpickle") is not None:
        sent = prepare_function(lambda x: x, start_method, "Pool.map", eager=True)
        assert isinstance(sent, ByValue)
        nested = encode(
            wire.APPLY, t.identity, ([t.square, lambda: 1],), {}, what="x", layout="apply"
        )
        # Only the lambda goes by value: the module's function is still a reference.
        assert b"cloudpickle" in nested and b"tests.targets_pool" in nested


def test_the_function_is_checked_once_per_call(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compat._pool.pool as pool_module

    calls: list[str] = []
    real = pool_module.prepare_function

    def counting(func: Any, method: Any, what: str, *, eager: bool) -> Any:
        calls.append(what)
        return real(func, method, what, eager=eager)

    monkeypatch.setattr(pool_module, "prepare_function", counting)
    p = make_pool(2)
    assert p.map(t.square, range(50), chunksize=1) == [i * i for i in range(50)]
    assert list(p.imap(t.square, range(20))) == [i * i for i in range(20)]
    assert calls == ["Pool.map", "Pool.imap"]


def test_a_lambda_without_cloudpickle_is_refused_in_the_caller(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compat._child.preflight as preflight

    monkeypatch.setattr(preflight, "_cloudpickle", lambda: None)
    p = make_pool(1)
    double = lambda x: x * 2  # noqa: E731
    calls = {"Pool.map": lambda: p.map(double, [1]), "Pool.apply_async": lambda: p.apply(double)}
    for what, call in calls.items():
        with pytest.raises(SpawnError) as info:
            call()
        assert str(info.value) == (
            f"cannot send the function given to {what} to the pool's workers: it is a "
            "lambda, which cannot be sent by reference: define it with def at module level, "
            "or install cloudpickle to send it by value"
        )
    assert p._cache == {}
    assert p.map(t.square, [3]) == [9]


def test_a_threading_lock_argument_says_what_to_pass_instead(make_pool: PoolFactory) -> None:
    p = make_pool(1)
    with pytest.raises(TypeError) as info:
        p.apply(t.identity, (threading.Lock(),))
    assert str(info.value).endswith(
        ": args[0] is a threading.Lock, which works only inside one process, and a pool "
        "task cannot carry one: give the workers a compat.Lock() through the pool's "
        "initializer and initargs, use a compat.Manager().Lock(), or create the lock in "
        "the worker"
    )
    with pytest.raises(TypeError, match=r": iterable\[2\]\['e'\] is a threading.Event, "):
        p.map(t.identity, [1, 2, {"e": threading.Event()}], chunksize=2)
    assert p._cache == {}


def test_a_task_is_numbered_one_way(make_pool: PoolFactory) -> None:
    p = make_pool(1)
    with pytest.raises(ChildError) as info:
        p.starmap(t.exit_on, [(i, 7) for i in range(10)], chunksize=2)
    assert info.value.task == "starmap chunk 3 (2 items): exit_on"
    assert "task #" not in str(info.value)
    with pytest.raises(ChildError) as info:
        list(p.imap(t.os_exit, [5]))
    assert info.value.task == "imap item 0: os_exit(5)"
    with pytest.raises(ChildError) as info:
        p.apply(t.os_exit, (4,))
    assert re.fullmatch(r"apply_async task #\d+: os_exit\(4\)", info.value.task or "")
    assert "chunk" not in str(info.value)
