"""A worker, child or consumer killed (tests.procs.hard_kill: SIGKILL on POSIX) before,
during and after a task, and while it sends a large result.

Pool: the running task fails with compat.ChildError; executor: compat.BrokenProcessPool;
spawn_child and spawn_consumer: compat.ChildError. Within BOUND seconds; the other tasks
complete; the pool replaces the worker and keeps working.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures.process import BrokenProcessPool as StdBrokenProcessPool
from pathlib import Path
from typing import Any, Callable

import pytest

import compat
from tests.faults import support
from tests.faults import targets_faults as tf
from tests.faults.support import BIG, BOUND, WAIT, outcome
from tests.procs import (
    expected_hard_kill_exitcode,
    expected_signal_name,
    hard_kill,
    wait_for_pid,
)

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
]

PHASES = ("before", "during", "after", "sending")
WHEN = {
    "before": "before a task",
    "during": "during a task",
    "after": "after a task",
    "sending": "while it sends a large result",
}


class PoolApi:
    """The Pool and the executor behind one interface, for the kill cases."""

    def __init__(self, kind: str, factory: Callable[..., Any]) -> None:
        self.kind = kind
        self.obj = factory(2)
        self.error_type: type[BaseException] = (
            compat.ChildError if kind == "pool" else compat.BrokenProcessPool
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.kind == "pool":
            return self.obj.apply_async(fn, args)
        return self.obj.submit(fn, *args)

    def get(self, handle: Any, timeout: float = WAIT) -> Any:
        if self.kind == "pool":
            return handle.get(timeout)
        return handle.result(timeout)

    def pids(self) -> list[int]:
        if self.kind == "pool":
            return sorted(p.pid for p in self.obj._pool)
        return sorted(self.obj._processes)

    def map_squares(self, n: int) -> list[int]:
        if self.kind == "pool":
            return list(self.obj.map(tf.square, range(n)))
        return list(self.obj.map(tf.square, range(n), timeout=WAIT))

    def warm(self) -> list[int]:
        """Both workers started and ready; their pids."""
        handles = [self.submit(tf.sleep_then, i, 0.05) for i in range(4)]
        assert [self.get(h) for h in handles] == [0, 1, 2, 3]
        deadline = time.monotonic() + WAIT
        while len(self.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        pids = self.pids()
        assert len(pids) == 2, pids
        return pids

    def recovers(self, killed: int) -> None:
        """The pool works afterwards, with a replacement for the killed worker."""
        assert self.map_squares(20) == [x * x for x in range(20)]
        handles = [self.submit(tf.sleep_then, i, 0.05) for i in range(4)]
        assert [self.get(h) for h in handles] == [0, 1, 2, 3]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            pids = self.pids()
            if len(pids) == 2 and killed not in pids:
                break
            time.sleep(0.01)
        pids = self.pids()
        assert len(pids) == 2 and killed not in pids, pids


def _check_killed_error(error: BaseException, api_error: type[BaseException], pid: int) -> None:
    assert isinstance(error, api_error), repr(error)
    assert isinstance(error, compat.ChildError)
    assert error.pid == pid, (error.pid, pid)
    assert error.exitcode == expected_hard_kill_exitcode(), error.exitcode
    assert error.signal_name == expected_signal_name(expected_hard_kill_exitcode())


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_pool_worker_killed(
    kind: str,
    phase: str,
    make_pool: Callable[..., Any],
    make_executor: Callable[..., Any],
    tmp_path: Path,
    rec: Callable[..., None],
) -> None:
    api = PoolApi(kind, make_pool if kind == "pool" else make_executor)
    pids = api.warm()
    case = f"{kind}: worker killed {WHEN[phase]}"
    if phase == "before":
        # An idle worker dies (the OOM killer, kill -9); tasks arrive right after,
        # before the pool may have noticed: none of them ever reached that worker.
        # (Dead, not only signalled: a task written while the killed process still
        # reads its socket may have reached it, and is then failed as its own.)
        killed = pids[0]
        start = time.monotonic()
        hard_kill(killed)
        support.wait_zombie_or_gone(killed)
        handles = [api.submit(tf.square, i) for i in range(8)]
        out = outcome(lambda: [api.get(h) for h in handles], since=start)
        rec(case, out.seconds, out.error)
        assert out.ok and out.value == [i * i for i in range(8)], out
    elif phase == "during":
        path = tmp_path / "pid"
        victim = api.submit(tf.report_and_sleep, str(path), 60)
        killed = wait_for_pid(path, WAIT)
        other = api.submit(tf.sleep_then, "other", 0.3)
        start = time.monotonic()
        hard_kill(killed)
        out = outcome(lambda: api.get(victim), since=start)
        rec(case, out.seconds, out.error)
        assert out.error is not None, out
        _check_killed_error(out.error, api.error_type, killed)
        assert api.get(other) == "other"
    elif phase == "after":
        done = api.submit(tf.pid_of)
        killed = api.get(done)
        hard_kill(killed)
        support.wait_zombie_or_gone(killed)  # dead before anything else is submitted
        start = time.monotonic()
        handles = [api.submit(tf.square, i) for i in range(8)]
        out = outcome(lambda: [api.get(h) for h in handles], since=start)
        rec(case, out.seconds, out.error)
        assert out.ok and out.value == [i * i for i in range(8)], out
        assert api.get(done) == killed  # the finished task keeps its result
    else:
        other = api.submit(tf.sleep_then, "other", 0.5)
        start = time.monotonic()
        victim = api.submit(tf.big_result_killed_while_sending, BIG)
        out = outcome(lambda: api.get(victim), since=start)
        rec(case, out.seconds, out.error)
        assert out.error is not None, f"the result arrived whole: {out}"
        assert isinstance(out.error, api.error_type), out
        killed = out.error.pid  # type: ignore[attr-defined]
        _check_killed_error(out.error, api.error_type, killed)
        assert killed in pids
        assert api.get(other) == "other"
    assert out.seconds < BOUND, out
    if kind == "executor" and out.error is not None:
        assert isinstance(out.error, StdBrokenProcessPool)
    api.recovers(killed)


@pytest.mark.parametrize("phase", PHASES)
def test_spawn_child_killed(
    phase: str, ctx: Any, children: list[Any], tmp_path: Path, rec: Callable[..., None]
) -> None:
    case = f"spawn_child: child killed {WHEN[phase]}"
    if phase == "before":
        child = ctx.spawn_child(tf.sleep_forever)
        children.append(child)
        start = time.monotonic()
        hard_kill(child.pid)
    elif phase == "during":
        path = tmp_path / "pid"
        child = ctx.spawn_child(tf.report_and_sleep, str(path), 60)
        children.append(child)
        assert wait_for_pid(path, WAIT) == child.pid
        start = time.monotonic()
        hard_kill(child.pid)
    elif phase == "after":
        path = tmp_path / "pid"
        child = ctx.spawn_child(tf.return_then_linger, str(path), "the result")
        children.append(child)
        assert wait_for_pid(path, WAIT) == child.pid  # written after the result was sent
        start = time.monotonic()
        hard_kill(child.pid)
    else:
        start = time.monotonic()
        child = ctx.spawn_child(tf.big_result_killed_while_sending, BIG)
        children.append(child)
    out = outcome(lambda: child.result(WAIT), since=start)
    rec(case, out.seconds, out.error)
    assert out.seconds < BOUND, out
    assert child.exitcode == expected_hard_kill_exitcode()
    if phase == "after":
        # The result was sent before the kill: it is the outcome.
        assert out.ok and out.value == "the result", out
        return
    assert isinstance(out.error, compat.ChildError), out
    assert out.error.pid == child.pid
    assert out.error.exitcode == expected_hard_kill_exitcode()
    assert out.error.signal_name == expected_signal_name(expected_hard_kill_exitcode())


@pytest.mark.parametrize("phase", PHASES)
def test_consumer_killed(
    phase: str, ctx: Any, consumers: list[Any], tmp_path: Path, rec: Callable[..., None]
) -> None:
    case = f"spawn_consumer: consumer killed {WHEN[phase]}"
    c = ctx.spawn_consumer(tf.command_consumer)
    consumers.append(c)
    if phase == "before":
        start = time.monotonic()
        hard_kill(c.pid)
        out = outcome(lambda: c.send(None), since=start)
    else:
        assert c.send(None) == "ready"
        if phase == "during":
            path = tmp_path / "pid"
            killed_at: list[float] = []

            def kill_when_busy() -> None:
                wait_for_pid(path, WAIT)
                killed_at.append(time.monotonic())
                hard_kill(c.pid)

            killer = threading.Thread(target=kill_when_busy, daemon=True)
            killer.start()
            start = time.monotonic()
            out = outcome(lambda: c.send(("sleep", str(path))), since=start)
            killer.join(WAIT)
            assert killed_at, "the consumer never reported its pid"
            out.seconds = start + out.seconds - killed_at[0]  # from the kill
        elif phase == "after":
            assert c.send(("echo", 5)) == 5
            hard_kill(c.pid)
            support.wait_zombie_or_gone(c.pid)
            out = outcome(lambda: c.send(("echo", 6)))
        else:
            out = outcome(lambda: c.send(("big_killed", BIG)))
    rec(case, out.seconds, out.error)
    assert out.seconds < BOUND, out
    assert isinstance(out.error, compat.ChildError), out
    assert out.error.pid == c.pid
    assert out.error.exitcode == expected_hard_kill_exitcode(), out.error.exitcode
    assert not c._process.is_alive()
    with pytest.raises(StopIteration):
        c.send(("echo", 7))  # it is done, like a finished generator
