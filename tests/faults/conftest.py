"""Fixtures of the fault tests.

- ``ctx``: ``compat.get_context(start_method)`` (the ``start_method`` fixture of
  tests/conftest.py parametrises it and skips the methods not selected).
- ``fds``: the descriptors this process has open before the test (after a warm-up
  that starts what lives for the whole process: the forkserver, the resource
  tracker, the lifeline pipe, the shared-memory arena) must be all it has after it,
  once everything the test made is closed. Checked only when the test passed.
- ``make_pool`` / ``make_executor`` / ``children`` / ``consumers``: make objects of
  the test's start method and end them after the test, even when it fails; they
  depend on ``fds``, so the descriptor check runs after they are closed.
- ``rec``: records a case's time-to-error (see :func:`tests.faults.support.record`).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import compat
from tests.faults import support
from tests.faults import targets_faults as tf

_warmed: set[str] = set()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def ctx(start_method: str) -> Any:
    return compat.get_context(start_method)


def warm_up(ctx: Any) -> None:
    """Start, once per process and method, what stays for the life of the process."""
    if ctx.method in _warmed:
        return
    assert ctx.spawn_child(tf.square, 3).result(support.WAIT) == 9
    with compat.Pool(1, context=ctx) as pool:
        assert pool.apply(tf.square, (2,)) == 4
    with compat.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        assert ex.submit(tf.square, 2).result(support.WAIT) == 4
    q = ctx.Queue()
    q.put(1)
    assert q.get(timeout=support.WAIT) == 1
    q.close()
    q.join_thread()
    with ctx.spawn_consumer(tf.command_consumer) as c:
        c.send(None)
    _warmed.add(ctx.method)


@pytest.fixture
def fds(request: pytest.FixtureRequest, ctx: Any) -> Iterator[None]:
    if not support.HAVE_PROC_FD:
        warnings.warn(
            f"fd check skipped: {support.NO_PROC_FD_REASON}", support.CheckSkipped, stacklevel=2
        )
        yield
        return
    warm_up(ctx)
    gc.collect()
    before = support.open_fds()
    yield
    call = getattr(request.node, "rep_call", None)
    if call is None or not call.passed:
        return
    ignore_arenas = getattr(request.function, "ignores_heap_arenas", False)
    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()  # process sentinels close when their Process objects are collected
        extra = support.fd_targets(support.open_fds() - before)
        if ignore_arenas:
            extra = {fd: t for fd, t in extra.items() if not support.is_heap_arena(t)}
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"descriptors left open: {extra}"


@pytest.fixture
def make_pool(ctx: Any, fds: None) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def factory(processes: int = 2, **kwargs: Any) -> Any:
        kwargs.setdefault("context", ctx)
        pool = compat.Pool(processes, **kwargs)
        made.append(pool)
        return pool

    yield factory
    for pool in made:
        pool.terminate()
        pool.join()
    made.clear()  # pytest holds the fixture's value until after the descriptor check


@pytest.fixture
def make_executor(ctx: Any, fds: None) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def factory(max_workers: int = 2, **kwargs: Any) -> Any:
        kwargs.setdefault("mp_context", ctx)
        ex = compat.ProcessPoolExecutor(max_workers, **kwargs)
        made.append(ex)
        return ex

    yield factory
    for ex in made:
        ex.kill_workers()
        ex.shutdown(wait=True)
    made.clear()


@pytest.fixture
def children(ctx: Any, fds: None) -> Iterator[list[Any]]:
    """Put every ``compat.Child`` here: killed and joined after the test."""
    made: list[Any] = []
    yield made
    for child in made:
        if child.is_alive():
            child.kill()
        child.join(support.WAIT)
        child.close()  # its process sentinel: an fd until closed or collected
    made.clear()


@pytest.fixture
def consumers(ctx: Any, fds: None) -> Iterator[list[Any]]:
    """Put every ``compat.Consumer`` here: ended after the test."""
    made: list[Any] = []
    yield made
    for consumer in made:
        process = consumer._process
        if process.is_alive():
            process.kill()
        consumer._finalizer()
        process.join(support.WAIT)
        process.close()
    made.clear()


@pytest.fixture
def rec(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``rec(case, seconds, error)``: record one measured case of this test."""
    callspec = getattr(request.node, "callspec", None)
    method = callspec.params.get("start_method", "-") if callspec is not None else "-"

    def record(case: str, seconds: float, error: Any) -> None:
        name = error if isinstance(error, str) else support.Outcome(None, error, 0).error_name
        support.record(request.node.nodeid, case, str(method), seconds, name)

    return record
