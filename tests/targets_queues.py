"""Module-level child targets for tests/test_queues.py (spawn children import them)."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from typing import Any

_POOL_QUEUE: Any = None


def writer_abc(q: Any, max_sleep: float) -> None:
    """The seed's writer: 'A', 'B', 'C' with random sleeps."""
    for value in ["A", "B", "C"]:
        print(f"Put {value} to queue...", flush=True)
        q.put(value)
        time.sleep(random.random() * max_sleep)


def reader_iterate(q: Any, out: Any) -> None:
    """The compat reader: iterate until the writers are done, report what came."""
    for value in q:
        out.put(value)
    out.put("END")


def put_range(q: Any, tag: Any, n: int, max_sleep: float = 0.0) -> None:
    for i in range(n):
        q.put((tag, i))
        if max_sleep:
            time.sleep(random.random() * max_sleep)


SIZES = [1, 100, 20000, 70000, 5]


def put_sized(q: Any, n: int) -> None:
    for i in range(n):
        q.put((i, bytes([i % 251]) * SIZES[i % len(SIZES)]))


def reader_check_sized(q: Any, out: Any) -> None:
    """Iterate; report (index, whether the payload is intact) per item."""
    for i, data in q:
        out.put((i, data == bytes([i % 251]) * SIZES[i % len(SIZES)]))
    out.put("END")


def put_items(q: Any, items: list[Any]) -> None:
    for item in items:
        q.put(item)


def put_then_wait(q: Any, n: int, seconds: float) -> None:
    """Put ``n`` items, then stay alive without closing (to be killed)."""
    for i in range(n):
        q.put(i)
    time.sleep(seconds)


def put_then_os_exit(q: Any, n: int, close_first: bool) -> None:
    """Put ``n`` items and leave with os._exit (no clean-up) right away."""
    for i in range(n):
        q.put(i)
        time.sleep(0.002)  # far apart: each goes straight into the pipe
    if close_first:
        q.close()
        q.join_thread()
    os._exit(0)


def put_burst_and_return(q: Any, n: int) -> None:
    for i in range(n):
        q.put(i)


def put_big_and_exit(q: Any, total: int, report_after: float, errpath: str) -> None:
    """More than the pipe holds, then return: the exit waits for a reader."""
    import compat._queue.sender as sender

    sender.EXIT_STALL_REPORT = report_after
    # Our own stderr file: a forkserver child's stderr is the server's, not the test's.
    err = open(errpath, "w")  # noqa: SIM115
    os.dup2(err.fileno(), 2)
    sys.stderr = err
    chunk = b"z" * (256 << 10)
    for _ in range(total // len(chunk)):
        q.put(chunk)


def put_big_and_cancel(q: Any, total: int) -> None:
    """More than the pipe holds, then leave without waiting (cancel_join_thread)."""
    chunk = b"c" * (256 << 10)
    for _ in range(total // len(chunk)):
        q.put(chunk)
    q.cancel_join_thread()


def put_unpicklable(q: Any, out: Any) -> None:
    try:
        q.put(threading.Lock())
    except Exception as exc:
        out.put(("raised", type(exc).__name__))
    else:
        out.put(("no error", None))
    q.put("after")


def consume_slowly(q: Any, n: int, out: Any) -> None:
    got = []
    for _ in range(n):
        got.append(q.get(timeout=30))
        time.sleep(0.01)
    out.put(got)


def joinable_worker(q: Any) -> None:
    for _item in q:
        q.task_done()


def joinable_worker_n(q: Any, n: int) -> None:
    for _ in range(n):
        q.get(timeout=30)
        q.task_done()


def qsize_after_put(q: Any, n: int, out: Any) -> None:
    for i in range(n):
        q.put(i)
    out.put(q.qsize())


def pool_init(q: Any) -> None:
    global _POOL_QUEUE
    _POOL_QUEUE = q


def pool_square(x: int) -> int:
    _POOL_QUEUE.put(x * x)
    return x


def simple_echo(inq: Any, outq: Any) -> None:
    while True:
        item = inq.get()
        if item is None:
            return
        outq.put(item)


def big_items(q: Any, sizes: list[int]) -> None:
    for size in sizes:
        q.put(bytes(range(256)) * (size // 256) + b"!" * (size % 256))


# -- generators for spawn_consumer --------------------------------------------


def consumer() -> Any:
    """The seed's consumer."""
    r = ""
    while True:
        n = yield r
        if not n:
            return
        print(f"[CONSUMER] Consuming {n}...", flush=True)
        r = "200 OK"


def consumer_returns(limit: int) -> Any:
    total = 0
    while total < limit:
        total += yield total
    return total


def consumer_raises() -> Any:
    n = yield "ready"
    raise ValueError(f"cannot consume {n}")


def consumer_dies() -> Any:
    yield "ready"
    os._exit(3)


def consumer_pid() -> Any:
    while True:
        yield os.getpid()


def consumer_catches() -> Any:
    try:
        yield "ready"
    except KeyError as exc:
        yield f"caught {exc.args[0]}"
    yield "after"


def not_a_generator() -> int:
    return 1


def hold_table_lock(q: Any, ready: Any) -> None:
    q._registry.lock.acquire()
    ready.set()
    time.sleep(60)


def blocked_get(q: Any) -> None:
    q.get()


class ExitOnUnpickle:
    """An argument that ends a spawn/forkserver child while it unpickles its arguments."""

    def __reduce__(self) -> Any:
        # by name, not os._exit itself: coverage replaces os._exit with a local
        # function (patch = _exit) that cannot be pickled
        return (exit_now, (7,))


def exit_now(code: int) -> None:
    os._exit(code)
