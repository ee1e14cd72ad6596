"""compat.Queue, JoinableQueue, SimpleQueue and spawn_consumer.

Platform paths run here on Linux: the Windows transport (``"packet"``) and the
macOS limits through plans made from ``PlatformFacts.simulated(...)``, and the
macOS ``qsize()`` path with semaphores whose value cannot be read, as on macOS.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compat._child.consumer import start_consumer
from compat._errors import ChildError, PortabilityWarning
from compat._platform import LINUX, MACOS, WINDOWS, PlatformFacts
from compat._queue.checks import check_maxsize
from compat._queue.joinable import JoinableQueue
from compat._queue.queue import Queue
from compat._queue.simple import SimpleQueue
from compat._queue.transport import current_plan, plan_for
from tests import targets_queues as t
from tests.helpers import clean_lines, run_example, run_python
from tests.procs import posix_only

LINUX_PLAN = plan_for(PlatformFacts.simulated("linux"))
MACOS_PLAN = plan_for(PlatformFacts.simulated("darwin"))
# The Windows transport, with pieces small enough that a 1 MiB item needs many.
WINDOWS_PLAN = plan_for(PlatformFacts.simulated("win32")).replace(max_packet=64 << 10)
_POSIX_ONLY = posix_only("the POSIX stream transport needs non-blocking pipes and readv")
PLANS = [
    pytest.param(None, id="native"),
    pytest.param(MACOS_PLAN, id="macos-like", marks=_POSIX_ONLY),
    pytest.param(WINDOWS_PLAN, id="windows-like"),
]


@contextlib.contextmanager
def running(ctx: Any, target: Any, *args: Any) -> Iterator[Any]:
    """Start a child; on the way out make sure it is gone (killed if it must be)."""
    p = ctx.Process(target=target, args=args)
    p.start()
    try:
        yield p
    finally:
        if p.is_alive():
            p.kill()
        p.join(10)


def join_ok(p: Any, timeout: float = 30) -> None:
    p.join(timeout)
    assert not p.is_alive(), f"{p.name} still running after {timeout} s"
    assert p.exitcode == 0, f"{p.name} exit code {p.exitcode}"


# -- platform plans -------------------------------------------------------------


def test_plans_per_platform() -> None:
    assert (LINUX_PLAN.transport, LINUX_PLAN.write_through) == ("stream", True)
    assert LINUX_PLAN.pipe_size == 1 << 20
    assert (MACOS_PLAN.transport, MACOS_PLAN.pipe_size, MACOS_PLAN.sem_value_max) == (
        "stream",
        0,
        32767,
    )
    win = plan_for(PlatformFacts.simulated("win32"))
    assert (win.transport, win.write_through) == ("packet", False)
    here = "win32" if WINDOWS else "darwin" if MACOS else "linux" if LINUX else "posix"
    assert current_plan() == plan_for(PlatformFacts.simulated(here))


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -100])
def test_negative_maxsize(bad: int) -> None:
    with pytest.raises(ValueError, match="maxsize must be 0"):
        Queue(bad)


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_maxsize_not_an_int(bad: Any) -> None:
    with pytest.raises(TypeError, match="maxsize must be an int"):
        Queue(bad)


def test_maxsize_above_macos_semaphore_limit() -> None:
    with pytest.raises(ValueError, match=r"semaphore limit 32767"):
        Queue(40000, _plan=MACOS_PLAN)
    with pytest.warns(PortabilityWarning, match="fails on macOS"):
        assert check_maxsize(40000, LINUX_PLAN) == 40000
    assert check_maxsize(32767, MACOS_PLAN) == 32767


@pytest.mark.skipif(MACOS, reason="macOS semaphores stop at 32767")
def test_maxsize_above_32767_works_and_warns_here() -> None:
    with pytest.warns(PortabilityWarning, match="fails on macOS"):
        q = Queue(40000)
    q.put(1)
    assert q.qsize() == 1 and not q.full()
    q.close()


def test_bad_timeouts() -> None:
    q = Queue()
    with pytest.raises(ValueError, match="non-negative"):
        q.get(timeout=-1)
    with pytest.raises(ValueError, match="non-negative"):
        q.put(1, timeout=-1)
    with pytest.raises(TypeError, match="number or None"):
        q.get(timeout="1")
    q.close()


def test_bad_context() -> None:
    with pytest.raises(TypeError, match="ctx must be"):
        Queue(ctx="spawn")


@pytest.mark.parametrize("plan", PLANS)
def test_use_after_close(plan: Any) -> None:
    q = Queue(_plan=plan)
    q.put(1)
    q.close()
    q.close()  # idempotent
    for call in (lambda: q.put(2), q.get, q.get_nowait, lambda: list(q)):
        with pytest.raises(ValueError, match="is closed"):
            call()
    assert (q.qsize(), q.full()) == (1, False)  # as the standard library's
    with pytest.raises(OSError, match="handle is closed"):
        q.empty()
    q.join_thread()
    s = SimpleQueue(_plan=plan)
    s.close()
    for call in (lambda: s.put(1), s.get, s.empty):
        with pytest.raises(OSError, match="handle is closed"):
            call()


#: Every operation on a closed queue, for the comparison with the standard library.
_CLOSED_OPS: dict[str, Any] = {
    "put": lambda q: q.put(1),
    "put_nowait": lambda q: q.put_nowait(1),
    "get": lambda q: q.get(),
    "get_nowait": lambda q: q.get_nowait(),
    "get(timeout)": lambda q: q.get(timeout=0.01),
    "empty": lambda q: q.empty(),
    "full": lambda q: q.full(),
    "qsize": lambda q: q.qsize(),
    "close": lambda q: q.close(),
    "join_thread": lambda q: q.join_thread(),
    "cancel_join_thread": lambda q: q.cancel_join_thread(),
    "task_done": lambda q: q.task_done(),
    "join": lambda q: q.join(),
}


def _after_close(make: Any, use: str, op: Any) -> str:
    """What ``op`` does on a queue closed after ``use``: its result, or its exception type."""
    q = make()
    if use != "never":
        q.put(5)
    if use == "put, get":
        assert q.get() == 5  # put() has returned: the item is there
        if hasattr(q, "task_done"):
            q.task_done()
    q.close()
    if hasattr(q, "join_thread"):
        q.join_thread()  # the standard library's feeder closes the pipe after close()
    try:
        return f"returned {op(q)!r}"
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("use", ["never", "put", "put, get"])
@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue", "SimpleQueue"])
def test_closed_queues_raise_what_the_standard_library_raises(kind: str, use: str) -> None:
    # Each operation after close(), on a queue never used, one this process put on, and
    # one it emptied: the exception type (or the answer) of this Python's multiprocessing.
    std_ctx = multiprocessing.get_context()
    ours = {"Queue": Queue, "JoinableQueue": JoinableQueue, "SimpleQueue": SimpleQueue}[kind]
    compared = 0
    for name, op in _CLOSED_OPS.items():
        if not hasattr(ours, name.split("(")[0]):
            continue
        if name == "join" and use == "put":
            continue  # an unfinished item: join() waits, in both
        std = _after_close(getattr(std_ctx, kind), use, op)
        got = _after_close(ours, use, op)
        assert got == std, f"{kind} {use}: {name}: compat {got}, multiprocessing {std}"
        compared += 1
    assert compared >= 3


def test_join_thread_before_close() -> None:
    q = Queue()
    with pytest.raises(AssertionError, match="not closed"):
        q.join_thread()
    q.close()


@pytest.mark.parametrize("plan", PLANS)
def test_unpicklable_item_raises_in_put(plan: Any) -> None:
    q = Queue(_plan=plan)
    with pytest.raises((TypeError, pickle.PicklingError)):
        q.put(threading.Lock())
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        q.put(lambda: 1)
    assert q.qsize() == 0
    q.put("fine")
    assert q.get(timeout=5) == "fine"
    s = SimpleQueue(_plan=plan)
    with pytest.raises((TypeError, pickle.PicklingError)):
        s.put(threading.Lock())
    s.close()
    q.close()


def test_pickling_outside_a_child_start() -> None:
    q = Queue()
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(q)
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(SimpleQueue())
    q.close()


# -- one process ------------------------------------------------------------------


@pytest.mark.parametrize("plan", PLANS)
def test_fifo_and_empty(plan: Any) -> None:
    q = Queue(_plan=plan)
    assert q.empty() and q.qsize() == 0 and not q.full()
    items = [1, "two", (3, "x", 4.5), None, {"k": [1, 2]}, b"bytes"]
    for item in items:
        q.put(item)
        assert not q.empty()  # counted from the moment put() returns (IPC-03)
    assert q.qsize() == len(items)
    assert [q.get(timeout=5) for _ in items] == items
    assert q.empty() and q.qsize() == 0
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(False)
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - start >= 0.19
    q.put_nowait(7)
    assert q.get_nowait() == 7
    # A burst goes through the feeder thread; get_nowait() still finds it.
    for i in range(500):
        q.put(i)
    assert [q.get_nowait() for _ in range(500)] == list(range(500))
    q.close()


@pytest.mark.parametrize("plan", PLANS)
def test_maxsize_backpressure(plan: Any) -> None:
    q = Queue(2, _plan=plan)
    q.put(1)
    q.put(2)
    assert q.full() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.1)
    assert q.get(timeout=5) == 1
    assert not q.full()
    q.put(3, timeout=1)
    assert [q.get(timeout=5), q.get(timeout=5)] == [2, 3]
    q.close()


@pytest.mark.parametrize("plan", PLANS)
def test_large_items(plan: Any) -> None:
    q = Queue(_plan=plan)
    sizes = [0, 1, 4095, 4096, 65536, 1 << 20, (3 << 20) + 7]
    for size in sizes:
        q.put(b"q" * size)
    for size in sizes:
        assert q.get(timeout=10) == b"q" * size
    # SimpleQueue.put() waits while the pipe is full, as the standard library's
    # does: a larger item needs a reader at the same time.
    s = SimpleQueue(_plan=plan)
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(s.get()))
    reader.start()
    s.put(bytearray(b"s" * (2 << 20)))
    reader.join(10)
    assert got == [bytearray(b"s" * (2 << 20))]
    s.close()
    q.close()


def test_mixed_sizes_through_the_read_ahead_buffer() -> None:
    import random

    from compat._queue.stream import RING_SIZE

    rng = random.Random(4)
    edges = [RING_SIZE // 4 - 40, RING_SIZE // 4 + 40, RING_SIZE - 30, RING_SIZE + 30]
    sizes = edges + [rng.choice([rng.randrange(60), rng.randrange(40000)]) for _ in range(600)]
    q = Queue()
    pending: list[int] = []
    for k, size in enumerate(sizes):
        q.put((k, b"%d" % (k % 10) * size))
        pending.append(k)
        if rng.random() < 0.3:  # read some while the writer keeps writing
            for _ in range(rng.randrange(len(pending) + 1)):
                j, data = q.get(timeout=10)
                assert j == pending.pop(0) and data == b"%d" % (j % 10) * sizes[j]
    for j in pending:
        assert q.get(timeout=10) == (j, b"%d" % (j % 10) * sizes[j])
    q.close()


class Tagged:
    def __init__(self, value: int) -> None:
        self.value = value


def _reduce_tagged(obj: Tagged) -> Any:
    return (Tagged, (obj.value * 10,))


def test_forking_pickler_reducers_apply_even_when_registered_later() -> None:
    from multiprocessing.reduction import ForkingPickler

    q = Queue()
    q.put(Tagged(1))
    ForkingPickler.register(Tagged, _reduce_tagged)  # as torch and others do
    q.put(Tagged(2))
    assert [q.get(timeout=5).value, q.get(timeout=5).value] == [1, 20]
    q.close()


@pytest.mark.parametrize(
    "item", [0, -(2**70), 2.5, "é" * 50, b"b" * 100, True, None, (1, "a", 2.5), (), ("x", "x")]
)
def test_fast_pickling_gives_the_standard_bytes(item: Any) -> None:
    from multiprocessing.reduction import ForkingPickler

    from compat._queue.sender import Pickling

    frame = Pickling(lambda data: data).stream_frame(item)
    assert frame[4:] == bytes(ForkingPickler.dumps(item))


def test_item_is_pickled_at_put() -> None:
    q = Queue()
    items = [1, 2]
    buf = bytearray(b"a" * (200 << 10))
    q.put(items)
    q.put(buf)
    items.append(3)
    buf[:1] = b"b"
    assert q.get(timeout=5) == [1, 2]
    assert q.get(timeout=5)[:1] == b"a"
    q.close()


def test_many_items_from_threads() -> None:
    q = Queue()

    def put(tag: int) -> None:
        for i in range(2000):
            q.put((tag, i))

    threads = [threading.Thread(target=put, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    got = [q.get(timeout=10) for _ in range(8000)]
    for th in threads:
        th.join()
    for k in range(4):
        assert [i for tag, i in got if tag == k] == list(range(2000))  # per-producer order
    q.close()


@pytest.mark.parametrize("plan", PLANS)
def test_iteration_in_one_process_ends_when_empty(plan: Any) -> None:
    q = Queue(_plan=plan)
    for i in range(5):
        q.put(i)
    assert list(q) == [0, 1, 2, 3, 4]  # nobody else holds it: the stream has ended
    q.close()


class _MacLikeSemaphore:
    """A semaphore whose value cannot be read, like every semaphore on macOS."""

    def __init__(self, sem: Any) -> None:
        self._sem = sem
        self._semlock = self

    def acquire(self, *args: Any) -> Any:
        return self._sem.acquire(*args)

    def release(self) -> None:
        self._sem.release()

    def _get_value(self) -> int:
        raise NotImplementedError("sem_getvalue() is not implemented on macOS")

    def _is_zero(self) -> bool:
        raise NotImplementedError


class _MacLikeContext:
    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def BoundedSemaphore(self, value: int) -> Any:
        return _MacLikeSemaphore(self._ctx.BoundedSemaphore(value))


def test_qsize_on_the_macos_path() -> None:
    ctx = _MacLikeContext()
    with pytest.raises(NotImplementedError):  # what the standard library relies on
        ctx.BoundedSemaphore(3)._semlock._get_value()
    q = Queue(3, ctx=ctx)
    for i in range(3):
        q.put(i)
    assert (q.qsize(), q.full(), q.empty()) == (3, True, False)
    with pytest.raises(queue.Full):
        q.put_nowait(9)
    assert q.get(timeout=5) == 0
    assert (q.qsize(), q.full()) == (2, False)
    q.close()


def test_joinable_queue_one_process() -> None:
    q = JoinableQueue()
    for i in range(3):
        q.put(i)
    for _ in range(3):
        q.get(timeout=5)
        q.task_done()
    q.join()  # returns at once: everything is done
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    q.close()


def test_simple_queue_one_process() -> None:
    s = SimpleQueue()
    assert s.empty()
    s.put((1, 2))
    assert not s.empty()
    assert s.get() == (1, 2)
    assert s.empty()
    s.close()


def test_generic_alias() -> None:
    assert Queue[int] is not None and SimpleQueue[str] is not None


# -- across processes -------------------------------------------------------------


def test_seed_writer_reader_end_cleanly(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.writer_abc, q, 0.1) as pw, running(ctx, t.reader_iterate, q, out) as pr:
        join_ok(pw)
        join_ok(pr)  # the reader ends on its own: no terminate()
    assert [out.get() for _ in range(4)] == ["A", "B", "C", "END"]


def test_reader_started_before_the_writer(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.reader_iterate, q, out) as pr:
        time.sleep(0.3)
        assert pr.is_alive()  # no writer has finished yet: it waits
        with running(ctx, t.writer_abc, q, 0.05) as pw:
            join_ok(pw)
        join_ok(pr)
    assert [out.get() for _ in range(4)] == ["A", "B", "C", "END"]


def test_many_writers_parent_iterates(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    writers = [ctx.Process(target=t.put_range, args=(q, k, 40, 0.005)) for k in range(3)]
    for w in writers:
        w.start()
    try:
        got = list(q)  # ends when all three are done
    finally:
        for w in writers:
            w.join(30)
            if w.is_alive():
                w.kill()
                w.join(5)
    assert all(w.exitcode == 0 for w in writers)
    assert len(got) == 120
    for k in range(3):
        assert [i for tag, i in got if tag == k] == list(range(40))


def test_parent_produces_child_iterates(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.reader_iterate, q, out) as pr:
        time.sleep(0.2)
        assert pr.is_alive()  # the creator has not put yet: no end of stream
        for i in range(50):
            q.put(i)
        time.sleep(0.2)
        assert pr.is_alive()  # the creator put and has not closed: still a writer
        q.close()
        join_ok(pr)
    assert [out.get() for _ in range(51)] == [*range(50), "END"]


def test_two_readers_share_the_stream(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with (
        running(ctx, t.reader_iterate, q, out) as r1,
        running(ctx, t.reader_iterate, q, out) as r2,
        running(ctx, t.put_range, q, "w", 200, 0.0) as w,
    ):
        join_ok(w)
        join_ok(r1)
        join_ok(r2)
    got = [out.get() for _ in range(202)]
    assert got.count("END") == 2
    items = [x for x in got if x != "END"]
    assert sorted(i for _, i in items) == list(range(200))  # each item exactly once


def test_two_readers_mixed_sizes(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with (
        running(ctx, t.reader_check_sized, q, out) as r1,
        running(ctx, t.reader_check_sized, q, out) as r2,
        running(ctx, t.put_sized, q, 300) as w,
    ):
        got = [out.get() for _ in range(302)]  # read while they run: no pipe stays full
        join_ok(w)
        join_ok(r1)
        join_ok(r2)
    assert got.count("END") == 2
    items = [x for x in got if x != "END"]
    assert sorted(i for i, _ in items) == list(range(300))
    assert all(ok for _, ok in items)


def test_child_dying_before_it_gets_the_queue(start_method: str) -> None:
    if start_method == "fork":
        pytest.skip("fork children do not unpickle their arguments")
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.writer_abc, q, 0.0) as w:
        # Its slot is reserved when q is pickled; it dies before claiming it.
        doomed = ctx.Process(target=t.put_items, args=(t.ExitOnUnpickle(), q))
        doomed.start()
        doomed.join(30)
        assert doomed.exitcode == 7
        assert list(q) == ["A", "B", "C"]  # ends: the dead child's reservation is dropped
        join_ok(w)


def test_writer_that_puts_nothing(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.put_items, q, []) as w:
        assert list(q) == []
        join_ok(w)


def test_killed_writer_makes_the_reader_raise(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.put_then_wait, q, 5, 60) as w:
        it = iter(q)
        assert [next(it) for _ in range(5)] == list(range(5))
        w.kill()
        w.join(10)
        with pytest.raises(ChildError, match=rf"pid {w.pid}\) ended without closing") as info:
            next(it)
    assert info.value.pid == w.pid


@posix_only("on Windows every put() goes through the feeder thread (named pipes block)")
def test_os_exit_right_after_put_loses_nothing(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.put_then_os_exit, q, 5, False) as w:
        w.join(10)
        it = iter(q)
        assert [next(it) for _ in range(5)] == list(range(5))
        # Everything arrived, but the writer did not say it was done.
        with pytest.raises(ChildError, match="ended without closing"):
            next(it)


def test_os_exit_after_close_is_a_clean_end(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.put_then_os_exit, q, 5, True) as w:
        assert list(q) == list(range(5))  # closed and flushed first: a clean end
        join_ok(w)


def test_burst_then_return_loses_nothing(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.put_burst_and_return, q, 20000) as w:
        assert list(q) == list(range(20000))  # ends when the writer has exited
        join_ok(w)


def test_exit_blocked_on_full_pipe_is_reported(start_method: str, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    total = 4 << 20  # four times the (enlarged) pipe
    errpath = tmp_path / "stderr.txt"
    with running(ctx, t.put_big_and_exit, q, total, 0.3, str(errpath)) as w:
        w.join(2.5)
        assert w.is_alive()  # the join-before-read deadlock of IPC-05...
        got = sum(len(item) for item in q)  # ...ends as soon as someone reads
        join_ok(w)
    assert got == total
    err = errpath.read_text()
    assert re.search(r"compat\.Queue: .* is waiting for a reader: \d+ items? ", err), err
    assert "read the queue first, then join" in err


def test_cancel_join_thread_loss_is_reported(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    got = []
    with running(ctx, t.put_big_and_cancel, q, 4 << 20) as w:
        join_ok(w, 10)  # exits at once: it does not wait for a reader
        with pytest.raises(ChildError) as info:
            got.extend(q)
    # Items that reached the pipe arrive; the loss is reported, never silent.
    assert all(item == b"c" * (256 << 10) for item in got) and len(got) < 16
    message = str(info.value)
    lost = re.search(r"up to (\d+) items? it put (?:was|were) not sent", message)
    assert lost or "died in the middle of an item" in message, message
    if lost:
        assert len(got) + int(lost.group(1)) >= 16


def test_unpicklable_put_raises_in_the_child(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.put_unpicklable, q, out) as w:
        join_ok(w)
    assert out.get() == ("raised", "TypeError")
    assert list(q) == ["after"]


def test_bounded_queue_across_processes(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(3, ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.consume_slowly, q, 30, out) as r:
        for i in range(30):
            q.put(i, timeout=20)
            assert q.qsize() <= 3
        join_ok(r)
    assert out.get() == list(range(30))


def test_qsize_counts_other_processes(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx, t.qsize_after_put, q, 7, out) as w:
        join_ok(w)
    assert out.get() == 7
    assert q.qsize() == 7
    q.get(timeout=5)
    q.get(timeout=5)
    assert q.qsize() == 5 and not q.empty()


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(MACOS_PLAN, id="macos-like", marks=_POSIX_ONLY),
        pytest.param(WINDOWS_PLAN, id="windows-like"),
    ],
)
def test_platform_paths_across_processes(start_method: str, plan: Any) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx, _plan=plan)
    sizes = [10, 70_000, (1 << 20) + 3]
    with running(ctx, t.big_items, q, sizes) as w:
        got = list(q)
        join_ok(w)
    assert [len(x) for x in got] == sizes
    assert got[2][:256] == bytes(range(256)) and got[2][-3:] == b"!!!"


def test_pool_workers_get_the_queue(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with ctx.Pool(2, initializer=t.pool_init, initargs=(q,)) as pool:
        assert sorted(pool.map(t.pool_square, range(10), chunksize=1)) == list(range(10))
        got = sorted(q.get(timeout=10) for _ in range(10))
        pool.close()
        pool.join()
    assert got == [x * x for x in range(10)]


def test_compat_context_is_accepted(start_method: str) -> None:
    import compat

    ctx = compat.get_context(start_method)
    q = Queue(ctx=ctx)
    out = SimpleQueue(ctx=ctx)
    with running(ctx.mp_context, t.reader_iterate, q, out) as r:
        q.put("x")
        q.close()
        join_ok(r)
    assert [out.get(), out.get()] == ["x", "END"]


def test_joinable_queue_across_processes(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = JoinableQueue(ctx=ctx)
    with running(ctx, t.joinable_worker_n, q, 20) as w:
        for i in range(20):
            q.put(i)
        q.join()  # every item was task_done() by the worker
        join_ok(w)
    assert q.qsize() == 0


def test_joinable_queue_with_an_iterating_worker(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = JoinableQueue(ctx=ctx)
    with running(ctx, t.joinable_worker, q) as w:
        for i in range(10):
            q.put(i)
        q.join()
        assert w.is_alive()  # the parent may put more: the worker keeps waiting
        q.close()  # now it cannot: the worker's iteration ends
        join_ok(w)


def test_simple_queue_across_processes(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    inq, outq = SimpleQueue(ctx=ctx), SimpleQueue(ctx=ctx)
    with running(ctx, t.simple_echo, inq, outq) as w:
        items = [1, "a", b"b" * (2 << 20), (None, 2.5)]
        for item in items:
            inq.put(item)
            assert outq.get() == item
        inq.put(None)
        join_ok(w)


def test_reader_killed_in_get_does_not_block_the_others(start_method: str) -> None:
    from compat._queue.registry import RLOCK_OWNER

    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    with running(ctx, t.blocked_get, q) as r:
        deadline = time.monotonic() + 20
        while q._registry.words[RLOCK_OWNER] != r.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        assert q._registry.words[RLOCK_OWNER] == r.pid  # it waits, holding the read lock
        r.kill()
        r.join(10)
    q.put("still works")
    assert q.get(timeout=10) == "still works"  # the lock of the dead reader is taken over


def test_simple_queue_reader_killed_in_get(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    s = SimpleQueue(ctx=ctx)
    with running(ctx, t.blocked_get, s) as r:
        deadline = time.monotonic() + 20
        while s._shared[2] != r.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s._shared[2] == r.pid
        r.kill()
        r.join(10)
    s.put(5)
    assert s.get() == 5


def test_process_killed_holding_the_table_lock(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    q = Queue(ctx=ctx)
    ready = ctx.Event()
    with running(ctx, t.hold_table_lock, q, ready) as p:
        assert ready.wait(20)
        p.kill()
        p.join(10)
    q.put(1)
    assert q.qsize() == 1  # needs the table lock: taken over from the dead process
    assert list(q) == [1]


FORK_CHILD_SCRIPT = """
import os, sys
from compat._queue.queue import Queue
from compat._queue.registry import F_USED

q = Queue()
q.put("x")  # written at once: no feeder thread
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a plain fork child that exits through the interpreter's exit
os.waitpid(pid, 0)
flags = q._registry.words[16 + q._slot * 7 + 1]
print("parent slot kept" if flags & F_USED else "parent slot released by the child")
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_forked_child_does_not_run_the_parents_finalizers() -> None:
    assert clean_lines(run_python("-c", FORK_CHILD_SCRIPT)) == ["parent slot kept"]


# -- liveness --------------------------------------------------------------------------


def test_pid_alive(start_method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from compat._native import liveness

    ctx = multiprocessing.get_context(start_method)
    assert liveness.pid_alive(os.getpid())
    assert not liveness.pid_alive(0)
    with running(ctx, t.put_then_wait, Queue(ctx=ctx), 0, 60) as p:
        token = liveness.process_token(p.pid)
        # The start time (Linux /proc, macOS libproc, Windows GetProcessTimes).
        assert (token > 0) == (LINUX or MACOS or WINDOWS)
        assert liveness.pid_alive(p.pid, token)
        if token:
            assert not liveness.pid_alive(p.pid, token + 1)  # a reused pid: another process
        p.kill()
        deadline = time.monotonic() + 10
        while liveness.pid_alive(p.pid, token) and time.monotonic() < deadline:
            time.sleep(0.01)  # a zombie (not yet reaped) already counts as dead
        assert not liveness.pid_alive(p.pid, token)
        p.join(10)
        # The kill(pid, 0) path of macOS and the BSDs, after the reap.
        for flag in ("LINUX", "MACOS", "WINDOWS"):
            monkeypatch.setattr(liveness, flag, False)
        assert not liveness.pid_alive(p.pid)
        assert liveness.pid_alive(os.getppid())
        assert liveness.process_token(os.getpid()) == 0


# -- spawn_consumer -------------------------------------------------------------------


def test_consumer_seed_protocol(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    with start_consumer(t.consumer, ctx=ctx) as c:
        assert c.send(None) == ""
        assert c.pid != os.getpid() and c.method == start_method
        for n in range(1, 4):
            assert c.send(n) == "200 OK"
    assert not c._process.is_alive() and c._process.exitcode == 0


def test_consumer_return_is_stop_iteration(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    c = start_consumer(t.consumer_returns, (10,), ctx=ctx)
    assert next(c) == 0
    assert c.send(4) == 4
    with pytest.raises(StopIteration) as stop:
        c.send(7)
    assert stop.value.value == 11
    with pytest.raises(StopIteration):
        c.send(1)  # like an exhausted generator
    c._process.join(10)
    assert c._process.exitcode == 0


def test_consumer_error_is_child_error(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    c = start_consumer(t.consumer_raises, ctx=ctx)
    assert c.send(None) == "ready"
    with pytest.raises(ChildError, match="raised ValueError: cannot consume 5") as info:
        c.send(5)
    err = info.value
    assert err.remote_type == "ValueError" and isinstance(err.exception, ValueError)
    assert "consumer_raises" in (err.remote_traceback or "")
    assert err.pid == c.pid and not c._process.is_alive()


def test_consumer_death_is_child_error(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    c = start_consumer(t.consumer_dies, ctx=ctx)
    assert c.send(None) == "ready"
    with pytest.raises(ChildError, match=r"died \(exit code 3\)") as info:
        c.send(1)
    assert info.value.exitcode == 3


def test_consumer_throw_and_close(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    c = start_consumer(t.consumer_catches, ctx=ctx)
    assert next(c) == "ready"
    assert c.throw(KeyError("k")) == "caught k"
    c.close()
    c.close()
    assert not c._process.is_alive()
    with pytest.raises(StopIteration):
        c.send(None)


def test_consumer_through_a_compat_context(start_method: str) -> None:
    import compat

    with compat.get_context(start_method).spawn_consumer(t.consumer_returns, 5) as c:
        assert next(c) == 0
        assert c.method == start_method and c.pid != os.getpid()
        with pytest.raises(StopIteration):
            c.send(9)


def _views_in_traceback(exc: BaseException | None) -> list[memoryview]:
    """The memoryviews the frames of ``exc``'s traceback (and its context's) keep."""
    views: list[memoryview] = []
    while exc is not None:
        tb = exc.__traceback__
        while tb is not None:
            views += [v for v in tb.tb_frame.f_locals.values() if isinstance(v, memoryview)]
            tb = tb.tb_next
        exc = exc.__context__
    return views


def test_failed_send_to_a_dead_consumer_keeps_no_view_of_a_bytesio(start_method: str) -> None:
    # Connection.send writes a memoryview of a BytesIO; a failed write's traceback
    # keeps it in a frame, and once that ends in a reference cycle (the consumer
    # keeps its error), CPython 3.12.0-3.12.1's collector segfaults the process
    # collecting the two (gh-111049; seen: the fault suite's worker died in
    # gc.collect()). compat sends bytes: only views of bytes may remain.
    c = start_consumer(t.consumer_pid, ctx=multiprocessing.get_context(start_method))
    try:
        next(c)
        c._process.kill()
        c._process.join(30)  # its end of the pipe is closed: the next write fails
        with pytest.raises(ChildError) as info:
            c.send(1)
        kept = [type(v.obj).__name__ for v in _views_in_traceback(info.value)]
        assert all(name == "bytes" for name in kept), kept
    finally:
        c._finalizer()


def test_consumer_needs_a_generator_function() -> None:
    with pytest.raises(TypeError, match="ctx must be"):
        start_consumer(t.consumer, ctx="spawn")
    with pytest.raises(TypeError, match="needs a generator function"):
        start_consumer(t.not_a_generator)  # refused before any process starts


def test_consumer_first_send_must_be_none(start_method: str) -> None:
    c = start_consumer(t.consumer_pid, ctx=multiprocessing.get_context(start_method))
    with pytest.raises(TypeError, match="just-started generator"):
        c.send(1)
    c.close()


# -- the seed examples ------------------------------------------------------------------


def test_example_queue_writer_reader(start_method: str) -> None:
    lines = clean_lines(run_example("queue_writer_reader.py", method=start_method))
    puts = [line for line in lines if line.startswith("Put ")]
    gets = [line for line in lines if line.startswith("Get ")]
    assert puts == [f"Put {v} to queue..." for v in "ABC"]
    assert gets == [f"Get {v} from queue." for v in "ABC"]
    assert lines[-1] == "Reader finished on its own."


def test_example_generator_consumer(start_method: str) -> None:
    lines = clean_lines(run_example("generator_consumer.py", method=start_method))
    expected = []
    for n in range(1, 6):
        expected += [
            f"[PRODUCER] Producing {n}...",
            f"[CONSUMER] Consuming {n}...",
            "[PRODUCER] Consumer return: 200 OK",
        ]
    assert lines[: len(expected)] == expected
    assert re.fullmatch(r"\[CONSUMER\] ran in process \d+, the producer in \d+\.", lines[-1])


def test_get_nowait_finds_an_item_the_feeder_finished_writing_during_the_read() -> None:
    # The race seen in CI: get_nowait() read nothing while this process's feeder was
    # still writing, then asked whether anything was pending once the write was done,
    # and raised Empty with the item in the pipe. Whether items were pending is now
    # asked before the read.
    q = Queue()
    try:
        q.put(5)
        deadline = time.monotonic() + 30
        while q._sender.unsent() and time.monotonic() < deadline:
            time.sleep(0.01)  # written: the item is in the pipe
        reads: list[Any] = []
        real_read = q._read

        def read(timeout: Any) -> Any:
            reads.append(timeout)
            return None if len(reads) == 1 else real_read(timeout)  # the first: too early

        q._sender.pending = lambda: not reads  # pending until the first read, then written
        q._read = read
        assert q.get_nowait() == 5
    finally:
        q.close()
        q.join_thread()
