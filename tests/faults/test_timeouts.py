"""Hard per-task time limits: ``Pool(task_timeout=)``, ``apply_async(timeout=)``,
``ProcessPoolExecutor(task_timeout=)``, ``submit_with_timeout``.

A task past its limit fails with compat.ChildTimeout (a TimeoutError; attributes
timeout, task, pid, name) within the limit plus a few seconds; the worker and its
process tree (here a plain ``subprocess`` grandchild) are killed; the other tasks are
unaffected; the pool replaces the worker and keeps working.

``state``: ``cold``: the limited task is submitted right after the pool is made;
``warm-alone``: it goes to a pool whose workers are all started, ready and idle, and
nothing else happens in the pool until its limit passes (the other tasks are
submitted afterwards); ``warm-busy``: other tasks run on the other worker meanwhile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest

import compat
from tests.faults import support
from tests.faults import targets_faults as tf
from tests.faults.support import BOUND, WAIT, outcome

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
]

LIMIT = 1.0
#: How long the limited task would run if nothing stopped it.
RUNS_FOR = 20.0

VARIANTS = [
    "Pool(task_timeout)",
    "Pool.apply_async(timeout)",
    "ProcessPoolExecutor(task_timeout)",
    "executor.submit_with_timeout",
]


@pytest.mark.parametrize("state", ["cold", "warm-alone", "warm-busy"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_task_past_its_limit(
    variant: str,
    state: str,
    make_pool: Callable[..., Any],
    make_executor: Callable[..., Any],
    tmp_path: Path,
    rec: Callable[..., None],
) -> None:
    pool_limit = LIMIT if "task_timeout" in variant else None
    if variant.startswith("Pool"):
        obj = make_pool(2, task_timeout=pool_limit)

        def submit(limited: bool, fn: Any, *args: Any) -> Any:
            if variant == "Pool.apply_async(timeout)" and limited:
                return obj.apply_async(fn, args, timeout=LIMIT)
            return obj.apply_async(fn, args)

        def get(handle: Any, timeout: float = WAIT) -> Any:
            return handle.get(timeout)

        def pids() -> list[int]:
            return sorted(p.pid for p in obj._pool)

        def squares() -> list[int]:
            return list(obj.map(tf.square, range(10)))

    else:
        obj = make_executor(2, task_timeout=pool_limit)

        def submit(limited: bool, fn: Any, *args: Any) -> Any:
            if variant == "executor.submit_with_timeout" and limited:
                return obj.submit_with_timeout(LIMIT, fn, *args)
            return obj.submit(fn, *args)

        def get(handle: Any, timeout: float = WAIT) -> Any:
            return handle.result(timeout)

        def pids() -> list[int]:
            return sorted(obj._processes)

        def squares() -> list[int]:
            return list(obj.map(tf.square, range(10), timeout=WAIT))

    if state != "cold":
        handles = [submit(False, tf.sleep_then, i, 0.05) for i in range(4)]
        assert [get(h) for h in handles] == [0, 1, 2, 3]
    path = tmp_path / "pids"
    grandchild = 0
    try:
        start = time.monotonic()
        limited = submit(True, tf.grandchild_and_sleep, str(path), RUNS_FOR)
        # Other tasks, each well within any limit, run meanwhile or after.
        others = []
        if state == "warm-busy":
            others = [submit(False, tf.sleep_then, f"other-{i}", 0.2) for i in range(3)]
        out = outcome(lambda: get(limited, LIMIT + BOUND), since=start)
        if state != "warm-busy":
            others = [submit(False, tf.sleep_then, f"other-{i}", 0.2) for i in range(3)]
        if path.exists():
            worker, grandchild = map(int, path.read_text().split())
        rec(f"{variant}: task past its limit ({state} pool)", out.seconds, out.error)
        assert isinstance(out.error, compat.ChildTimeout), out
        error = out.error
        assert isinstance(error, TimeoutError)
        assert LIMIT <= out.seconds < LIMIT + BOUND, out
        assert grandchild, "the task never reported its pids"
        assert error.timeout == LIMIT, error.timeout
        assert error.pid == worker, (error.pid, worker)
        assert "grandchild_and_sleep" in (error.task or ""), error.task
        assert error.name and "PoolWorker" in error.name, error.name
        # The worker and its plain subprocess grandchild are gone.
        left, waited = support.wait_gone([worker, grandchild], support.PARENT_DEATH_BOUND)
        assert not left, f"still running {waited:.1f} s after the timeout: {left}"
        assert [get(h) for h in others] == [f"other-{i}" for i in range(3)]
        # The pool keeps working, with a replacement worker.
        assert squares() == [x * x for x in range(10)]
        handle = submit(True, tf.sleep_then, "in time", 0.1)
        assert get(handle) == "in time"
        assert worker not in pids()
    finally:
        if grandchild:
            support.kill_quietly([grandchild])
