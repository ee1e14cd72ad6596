"""The pool's scheduler: tasks go to idle, ready workers, and no worker holds a queue
of tasks while another is starting or idle (issue 14, item 1).

The process tests count the tasks each worker ran (a task returns its worker's pid);
they never assert on time. The dispatch tests drive the scheduler with stand-in
workers, without processes.
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from compat._pool import dispatch
from compat._pool.dispatch import BATCH_SECONDS, DispatchMixin
from compat._pool.executor import ProcessPoolExecutor
from compat._pool.pool import Pool
from compat._pool.procs import WorkerProc
from compat._pool.tasks import Task
from tests import targets_scheduler as ts

WAIT = 30  # generous bound for any single wait; tests never assert on timing
SLEEP = 0.3  # one task: longer than a worker takes to answer and get the next one
APIS = ("map", "imap", "imap_unordered", "apply_async", "starmap", "executor")


class Maker:
    """Makes pools and executors under one start method; stops them all at the end."""

    def __init__(self, method: str) -> None:
        self.ctx = multiprocessing.get_context(method)
        self.made: list[Any] = []

    def pool(self, **kwargs: Any) -> Pool:
        p = Pool(2, context=self.ctx, **kwargs)
        self.made.append(p)
        return p

    def executor(self, **kwargs: Any) -> ProcessPoolExecutor:
        ex = ProcessPoolExecutor(2, mp_context=self.ctx, **kwargs)
        self.made.append(ex)
        return ex

    def make(self, api: str, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> Any:
        if api == "executor":
            return self.executor(initializer=initializer, initargs=initargs)
        return self.pool(initializer=initializer, initargs=initargs)

    def stop(self) -> None:
        for p in self.made:
            if isinstance(p, ProcessPoolExecutor):
                p.kill_workers()
            else:
                p.terminate()
                p.join()


@pytest.fixture
def maker(start_method: str) -> Iterator[Maker]:
    m = Maker(start_method)
    yield m
    m.stop()


def run_sleeps(api: str, pool: Any, n: int, seconds: float) -> list[int]:
    """Run ``n`` sleep tasks through ``api`` (chunksize 1); the pids that ran them."""
    items = [seconds] * n
    if api == "map":
        return list(pool.map(ts.sleep_pid, items, chunksize=1))
    if api == "imap":
        return list(pool.imap(ts.sleep_pid, items, chunksize=1))
    if api == "imap_unordered":
        return list(pool.imap_unordered(ts.sleep_pid, items, chunksize=1))
    if api == "apply_async":
        results = [pool.apply_async(ts.sleep_pid, (s,)) for s in items]
        return [r.get(WAIT) for r in results]
    if api == "starmap":
        return list(pool.starmap(ts.sleep_pid_star, [(s, None) for s in items], chunksize=1))
    assert api == "executor"
    futures = [pool.submit(ts.sleep_pid, s) for s in items]
    return [f.result(WAIT) for f in futures]


def shares(pids: list[int]) -> list[int]:
    return sorted(collections.Counter(pids).values())


def test_fresh_pool_map_gives_each_worker_half(maker: Maker) -> None:
    # The case: a fresh Pool(2), map of 4 sleeps with chunksize=1. It took
    # 3 sleeps' time with one worker running 3 tasks (the standard library: 2).
    p = maker.pool()
    assert shares(run_sleeps("map", p, 4, SLEEP)) == [2, 2]


@pytest.mark.parametrize("api", APIS)
def test_fresh_pool_shares_sleep_tasks(maker: Maker, api: str, tmp_path: Path) -> None:
    # The workers report ready together (so how far apart the OS started them does
    # not matter), but only after every task was submitted to the fresh pool.
    p = maker.make(api, ts.start_together, (str(tmp_path), 2))
    assert shares(run_sleeps(api, p, 4, SLEEP)) == [2, 2]
    # Once task durations are known, the same again.
    assert shares(run_sleeps(api, p, 4, SLEEP)) == [2, 2]


@pytest.mark.parametrize("api", APIS)
def test_slow_starting_worker_holds_no_task_and_gets_its_share(
    maker: Maker, api: str, tmp_path: Path
) -> None:
    p = maker.make(api, ts.first_starts_late, (str(tmp_path),))
    # One worker is still in its initializer: the other runs every task, none waits
    # for the late one (it used to get the first task before it was ready).
    pids = run_sleeps(api, p, 4, 0.05)
    late = int((tmp_path / "late").read_text())
    assert late not in pids and shares(pids) == [4]
    (tmp_path / "go").touch()
    deadline = time.monotonic() + WAIT
    while not (tmp_path / "late-ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # Ready late, it still gets its share.
    pids = run_sleeps(api, p, 4, SLEEP)
    assert shares(pids) == [2, 2] and late in pids


# -- the dispatcher, with stand-in workers -------------------------------------------


class FakeConn:
    def send_bytes(self, data: bytes) -> None:
        pass


class Dispatcher(DispatchMixin):
    """Just enough of ``WorkerPool`` for ``_dispatch_locked``."""

    def __init__(self, workers: int, task_seconds: Optional[float]) -> None:
        self.state = "RUN"
        self.broken = None
        self.size = workers
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._pending: collections.deque[Task] = collections.deque()
        self._workers = [WorkerProc(None, FakeConn(), None, None) for _ in range(workers)]
        self._feeders = 0
        self._task_seconds = task_seconds

    def add(self, n: int) -> None:
        for i in range(n):
            task = Task(None, i, 0, None, (), "test", b"x" * 10)  # type: ignore[arg-type]
            task.seq = i + 1
            self._pending.append(task)

    def dispatch(self) -> dict[int, int]:
        """Dispatch once; tasks sent to each worker (by its index), sends finished."""
        sends = self._dispatch_locked()
        for w, _ in sends:
            w.sending -= 1
        got: dict[int, int] = collections.Counter()
        for w, batch in sends:
            got[self._workers.index(w)] += len(batch)
        return dict(got)

    def answer(self, index: int, seconds: float) -> None:
        """Worker ``index`` answers its head task, as ``WorkerPool._on_frames_locked``."""
        w = self._workers[index]
        w.outstanding.popleft()
        self._task_seconds = dispatch.update_estimate(self._task_seconds, seconds)
        batch = w.batches[0]
        batch[2] += 1
        if batch[2] >= batch[1]:
            w.batches.popleft()
            w.last_done = time.monotonic()


def test_workers_that_are_not_ready_get_nothing() -> None:
    d = Dispatcher(2, None)
    d.add(4)
    assert d.dispatch() == {}
    d._workers[1].ready = True
    # Durations unknown: one task, the others wait for whoever is ready next.
    assert d.dispatch() == {1: 1}
    d._workers[0].ready = True
    assert d.dispatch() == {0: 1}
    assert len(d._pending) == 2


def test_long_tasks_are_never_prefetched() -> None:
    d = Dispatcher(2, None)
    for w in d._workers:
        w.ready = True
    d.add(4)
    assert d.dispatch() == {0: 1, 1: 1}
    d.answer(0, 1.0)
    # Worker 0 gets one more; none is queued behind it for worker 1 to wait on.
    assert d.dispatch() == {0: 1}
    assert d.dispatch() == {}
    d.answer(1, 1.0)
    assert d.dispatch() == {1: 1}


def test_tiny_tasks_go_in_batches_with_a_bounded_prefetch() -> None:
    d = Dispatcher(2, 1e-5)
    for w in d._workers:
        w.ready = True
    d.add(1000)
    got = d.dispatch()
    # Each worker gets a batch and at most one more behind it, each a guided share of
    # the backlog no longer than BATCH_SECONDS of work.
    limit = int(BATCH_SECONDS / 1e-5)
    assert set(got) == {0, 1}
    assert all(1 < n <= 2 * min(limit, dispatch.MAX_BATCH) for n in got.values())
    assert all(len(w.batches) <= 2 for w in d._workers)
    assert sum(got.values()) + len(d._pending) == 1000


def test_prefetch_keeps_a_worker_busy_within_a_batch_of_work() -> None:
    d = Dispatcher(1, 0.004)
    w = d._workers[0]
    w.ready = True
    d.add(100)
    while d._pending or w.outstanding:
        d.dispatch()
        # Never idle through a round trip while work waits (but the last task goes to
        # whoever is free), never more than BATCH_SECONDS of work queued behind the
        # running task.
        assert w.outstanding
        assert (len(w.outstanding) - 1) * 0.004 <= BATCH_SECONDS
        assert len(w.outstanding) > 1 or len(d._pending) <= 1
        d.answer(0, 0.004)


def test_the_last_tasks_wait_for_a_free_worker() -> None:
    d = Dispatcher(2, 0.001)
    for w in d._workers:
        w.ready = True
    d.add(2)
    assert d.dispatch() == {0: 1, 1: 1}
    d.add(2)
    # Both busy, two tasks left: queued behind a busy worker, one of them could end
    # the run late while the other worker idles.
    assert d.dispatch() == {}
    d.answer(1, 0.001)
    assert d.dispatch() == {1: 1}


def test_estimate_follows_longer_tasks_quickly() -> None:
    est: Optional[float] = None
    est = dispatch.update_estimate(est, 1e-6)
    assert est == 1e-6
    est = dispatch.update_estimate(est, 0.005)
    assert est >= 0.0025  # half way up at once: a longer task makes batches shrink now
    for _ in range(3):
        est = dispatch.update_estimate(est, 0.005)
    assert est > 0.004
    down = dispatch.update_estimate(est, 1e-6)
    assert down > est / 2  # but shorter ones lower it slowly
