"""An exception or a BaseException (SystemExit, KeyboardInterrupt, GeneratorExit) raised
while pickling or unpickling arguments and results, in both directions, for Pool,
ProcessPoolExecutor, spawn_child, spawn_consumer and Queue.

Directions (the same four words for every API):

- ``args-pickle``: the caller pickles the arguments (Queue: the parent's ``put()``);
- ``args-unpickle``: the worker/child unpickles them (Queue: a child's ``get()``);
- ``result-pickle``: the worker/child pickles its result (Queue: a child's ``put()``);
- ``result-unpickle``: the parent unpickles the result (Queue: the parent's ``get()``).

Each case: the exact outcome (below, per API), within BOUND seconds, only that task
fails (a sibling task completes), and the pool, consumer or queue keeps working.
"""

from __future__ import annotations

import time
from multiprocessing.pool import MaybeEncodingError
from typing import Any, Callable

import pytest

import compat
from tests.faults import targets_faults as tf
from tests.faults.support import BOUND, WAIT, Outcome, ignores_heap_arenas, outcome

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
]

DIRECTIONS = ("args-pickle", "args-unpickle", "result-pickle", "result-unpickle")


def _is(error: BaseException | None, kind: str) -> bool:
    """Whether ``error`` is the exception the hook raised (type, and message or code)."""
    if type(error) is not tf.EXC_TYPES[kind]:
        return False
    if kind == "systemexit":
        return getattr(error, "code", None) == 7
    return str(error) == f"pickle fault: {kind}"


def _call(direction: str, kind: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """The task for a Pool/executor/spawn_child case: function and arguments."""
    if direction == "args-pickle":
        return tf.describe_arg, (tf.FailsToPickle(kind),)
    if direction == "args-unpickle":
        return tf.describe_arg, (tf.FailsToUnpickle(kind),)
    if direction == "result-pickle":
        return tf.return_fails_to_pickle, (kind,)
    return tf.return_fails_to_unpickle, (kind,)


def _pids(api: str, obj: Any) -> list[int]:
    return sorted(p.pid for p in obj._pool) if api == "pool" else sorted(obj._processes)


@pytest.mark.parametrize("kind", tf.KINDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("api", ["pool", "executor"])
def test_pool_and_executor(
    api: str,
    direction: str,
    kind: str,
    make_pool: Callable[..., Any],
    make_executor: Callable[..., Any],
    rec: Callable[..., None],
) -> None:
    if api == "pool":
        obj = make_pool(2)

        def submit(fn: Any, *args: Any) -> Any:
            return obj.apply_async(fn, args)

        def get(handle: Any) -> Any:
            return handle.get(WAIT)

    else:
        obj = make_executor(2)

        def submit(fn: Any, *args: Any) -> Any:
            return obj.submit(fn, *args)

        def get(handle: Any) -> Any:
            return handle.result(WAIT)

    # Both workers up and busy-able; the sibling runs while the case fails.
    assert [get(submit(tf.sleep_then, i, 0.05)) for i in range(2)] == [0, 1]
    sibling = submit(tf.sleep_then, "sibling", 0.3)
    fn, args = _call(direction, kind)
    start = time.monotonic()
    submitted = outcome(lambda: submit(fn, *args), since=start)
    if submitted.ok:
        out = outcome(lambda: get(submitted.value), since=start)
        where = "from the result"
    else:
        out, where = submitted, "at submit"
    rec(f"{api}: {direction} raises {kind} ({where})", out.seconds, out.error)
    assert out.seconds < BOUND, out
    error = out.error
    if direction == "args-pickle":
        # Pickled in the caller. An Exception is delivered through the result, as
        # the standard library does; a BaseException propagates from the call.
        if kind == "exception":
            assert submitted.ok and _is(error, kind), (submitted, out)
        else:
            assert not submitted.ok and _is(error, kind), submitted
    elif api == "pool" and direction in ("result-pickle", "result-unpickle"):
        assert isinstance(error, MaybeEncodingError), out
        assert type(tf.make_exc(kind)).__name__ in str(error), str(error)
    else:  # executor: the exception itself; Pool args-unpickle: the exception itself
        assert _is(error, kind), out
    assert get(sibling) == "sibling"
    pids = _pids(api, obj)
    if api == "pool":
        assert obj.map(tf.square, range(10)) == [x * x for x in range(10)]
    else:
        assert list(obj.map(tf.square, range(10), timeout=WAIT)) == [x * x for x in range(10)]
    assert set(pids) <= set(_pids(api, obj))  # no worker died for it


@pytest.mark.parametrize("kind", tf.KINDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_spawn_child(
    direction: str,
    kind: str,
    ctx: Any,
    children: list[Any],
    rec: Callable[..., None],
) -> None:
    fn, args = _call(direction, kind)
    start = time.monotonic()
    started = outcome(lambda: ctx.spawn_child(fn, *args), since=start)
    if started.ok:
        children.append(started.value)
        out = outcome(lambda: started.value.result(WAIT), since=start)
        where = "from result()"
    else:
        out, where = started, "at spawn_child()"
    rec(f"spawn_child: {direction} raises {kind} ({where})", out.seconds, out.error)
    assert out.seconds < BOUND, out
    error = out.error
    fork = ctx.method == "fork"
    if direction in ("args-pickle", "args-unpickle") and fork:
        # A fork child inherits its arguments: nothing is pickled.
        name = "FailsToPickle" if direction == "args-pickle" else "FailsToUnpickle"
        assert out.ok and out.value == f"got {name}", out
    elif direction == "args-pickle":
        # Checked in the parent before any process starts: SpawnError for an
        # Exception; a BaseException propagates as it is.
        assert not started.ok, started
        if kind == "exception":
            assert isinstance(error, compat.SpawnError), out
            assert "args[0]" in str(error) and "pickle fault: exception" in str(error)
        else:
            assert _is(error, kind), out
    elif direction == "args-unpickle":
        # The child cannot rebuild its arguments: it ends before running the target.
        assert isinstance(error, compat.ChildError), out
        assert error.exitcode not in (None, 0), error.exitcode
    elif direction == "result-pickle":
        assert isinstance(error, compat.ChildError), out
        assert error.remote_type == "pickle.PicklingError", error.remote_type
        assert type(tf.make_exc(kind)).__name__ in str(error), str(error)
    else:
        assert isinstance(error, compat.ChildError), out
        assert error.remote_type == "pickle.UnpicklingError", error.remote_type
        assert type(tf.make_exc(kind)).__name__ in str(error), str(error)


def _consumer_outcome(c: Any, direction: str, kind: str) -> Outcome:
    if direction == "args-pickle":
        return outcome(lambda: c.send(("echo", tf.FailsToPickle(kind))))
    if direction == "args-unpickle":
        return outcome(lambda: c.send(("echo", tf.FailsToUnpickle(kind))))
    if direction == "result-pickle":
        return outcome(lambda: c.send(("fails_to_pickle", kind)))
    return outcome(lambda: c.send(("fails_to_unpickle", kind)))


@pytest.mark.parametrize("kind", tf.KINDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_consumer(
    direction: str,
    kind: str,
    ctx: Any,
    consumers: list[Any],
    rec: Callable[..., None],
) -> None:
    c = ctx.spawn_consumer(tf.command_consumer)
    consumers.append(c)
    assert c.send(None) == "ready"
    out = _consumer_outcome(c, direction, kind)
    rec(f"spawn_consumer: {direction} raises {kind}", out.seconds, out.error)
    assert out.seconds < BOUND, out
    error = out.error
    if direction in ("args-pickle", "result-unpickle"):
        # In this process: Connection.send()/recv() raise the exception itself, and
        # nothing was lost on the pipe, so the consumer keeps working.
        assert _is(error, kind), out
        assert c.send(("echo", "still here")) == "still here"
        return
    assert isinstance(error, compat.ChildError), out
    if direction == "result-pickle" and kind == "exception":
        # The consumer reports an Exception from pickling what it yielded, and ends.
        assert error.remote_type == "ValueError", error.remote_type
    else:
        # A BaseException there, or any failure to unpickle what was sent, ends the
        # consumer's process: reported as its death, with the exit code.
        assert "died" in str(error), str(error)
        assert error.exitcode not in (None, 0), error.exitcode
    c._process.join(WAIT)
    assert not c._process.is_alive()
    with pytest.raises(StopIteration):
        c.send(("echo", 1))


@ignores_heap_arenas
@pytest.mark.parametrize("kind", tf.KINDS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_queue(
    direction: str,
    kind: str,
    ctx: Any,
    children: list[Any],
    fds: None,
    rec: Callable[..., None],
) -> None:
    q = ctx.Queue()
    try:
        if direction == "args-pickle":
            out = outcome(lambda: q.put(tf.FailsToPickle(kind)))
            rec(f"Queue: {direction} raises {kind} (put in the parent)", out.seconds, out.error)
            assert _is(out.error, kind), out  # put() pickles in the caller
            q.put("after")
            assert q.get(timeout=WAIT) == "after"
        elif direction == "args-unpickle":
            for item in ("first", tf.FailsToUnpickle(kind), "last"):
                q.put(item)
            start = time.monotonic()
            child = ctx.spawn_child(tf.get_three, q)
            children.append(child)
            got = child.result(WAIT)
            seconds = time.monotonic() - start
            error = type(tf.make_exc(kind)).__name__
            rec(f"Queue: {direction} raises {kind} (get in a child)", seconds, error)
            assert got == [("ok", "first"), ("raised", error), ("ok", "last")], got
        elif direction == "result-pickle":
            start = time.monotonic()
            child = ctx.spawn_child(tf.put_around, q, kind, "pickle")
            children.append(child)
            got = list(q)  # ends when the child has closed the queue
            what = child.result(WAIT)
            seconds = time.monotonic() - start
            rec(f"Queue: {direction} raises {kind} (put in a child)", seconds, what)
            assert what == f"raised {type(tf.make_exc(kind)).__name__}", what
            assert got == ["first", "last"], got
        else:
            child = ctx.spawn_child(tf.put_around, q, kind, "unpickle")
            children.append(child)
            assert child.result(WAIT) == "put"
            assert q.get(timeout=WAIT) == "first"
            out = outcome(lambda: q.get(timeout=WAIT))
            rec(f"Queue: {direction} raises {kind} (get in the parent)", out.seconds, out.error)
            assert out.seconds < BOUND, out
            assert _is(out.error, kind), out  # get() unpickles in the caller
            assert q.get(timeout=WAIT) == "last"  # the stream goes on
    finally:
        q.close()
        q.join_thread()
