"""IPC-01 to IPC-05: multiprocessing.Queue."""

from __future__ import annotations

from typing import Any

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    ProbeTimeout,
    affected,
    differs,
    supported,
)
from ._probekit import GRACE, Reaper

ALL = ("linux", "darwin", "win32")
BIG_MESSAGE = 40 * 1024 * 1024  # over the "approximately 32 MiB" the docs warn about


def _put_payload(q: Any, done: Any, size: int) -> None:
    q.put(b"x" * size)
    done.set()


def _probe_qsize(ctx: ProbeContext) -> Observation:
    """Call Queue.qsize() and Semaphore.get_value()."""
    observed: dict[str, str] = {}
    q = ctx.mp.Queue()
    try:
        q.qsize()
        observed["Queue.qsize"] = "ok"
    except NotImplementedError:
        observed["Queue.qsize"] = "NotImplementedError"
    finally:
        q.close()
        q.join_thread()
    try:
        ctx.mp.Semaphore(2).get_value()
        observed["Semaphore.get_value"] = "ok"
    except NotImplementedError:
        observed["Semaphore.get_value"] = "NotImplementedError"
    broken = "NotImplementedError" in observed.values()
    return affected(broken, observed, "NotImplementedError" if broken else "both work")


def _probe_sem_max(ctx: ProbeContext) -> Observation:
    """Read SEM_VALUE_MAX and create Queue(maxsize=32768)."""
    from multiprocessing import synchronize

    # Typeshed does not declare these module constants; they exist on every OS.
    limit = getattr(synchronize, "SEM_VALUE_MAX", None)
    observed: dict[str, Any] = {"SEM_VALUE_MAX": limit}
    try:
        q = ctx.mp.Queue(32768)
    except (OSError, ValueError, OverflowError) as exc:
        observed["Queue(32768)"] = type(exc).__name__
        return differs(observed, f"Queue(32768) raised {type(exc).__name__}")
    q.close()
    q.join_thread()
    observed["Queue(32768)"] = "ok"
    return supported(observed, f"SEM_VALUE_MAX is {limit}")


def _probe_empty_after_put(ctx: ProbeContext) -> Observation:
    """put() an item and call empty() at once, on ten fresh queues."""
    hits = 0
    for _ in range(10):
        q = ctx.mp.Queue()
        try:
            q.put(1)
            hits += q.empty()
            q.get(timeout=GRACE)
        finally:
            q.close()
            q.join_thread()
    return affected(hits > 0, {"empty_right_after_put": hits > 0}, f"empty() was True {hits}/10")


def _probe_unpicklable_put(ctx: ProbeContext) -> Observation:
    """put() a lambda on a Queue and a SimpleQueue; does the caller see an error?"""
    import queue

    feeder_errors: list[str] = []
    q = ctx.mp.Queue()
    # The feeder thread reports pickling errors through this hook (it prints them by
    # default); recording them keeps the doctor's output clean and shows what happened.
    q._on_queue_feeder_error = lambda exc, obj: feeder_errors.append(type(exc).__name__)
    try:
        q.put(lambda: None)
        try:
            q.get(timeout=0.5)
            lost = False
        except queue.Empty:
            lost = True
    finally:
        q.close()
        q.join_thread()
    sq = ctx.mp.SimpleQueue()
    try:
        sq.put(lambda: None)
        simple = "accepted"
    except Exception as exc:
        simple = type(exc).__name__
    observed = {"Queue.put": "no error", "item_lost": lost, "SimpleQueue.put": simple}
    detail = f"Queue.put raised nothing; the feeder thread dropped it ({', '.join(feeder_errors)})"
    return affected(lost, observed, detail)


def _probe_join_before_drain(ctx: ProbeContext) -> Observation:
    """A child puts 100 kB on a Queue; join it before reading."""
    q = ctx.mp.Queue()
    done = ctx.mp.Event()
    with Reaper() as reaper:
        p = reaper.start(ctx.mp.Process(target=_put_payload, args=(q, done, 100_000), daemon=True))
        if not done.wait(ctx.timeout):
            raise ProbeTimeout(f"the {ctx.method} child did not put its item")
        p.join(1.0)
        stuck = p.is_alive()
        q.get(timeout=ctx.timeout)
        p.join(ctx.timeout)
    q.close()
    q.join_thread()
    detail = "join() blocked until the queue was read" if stuck else "the child exited"
    return affected(stuck, {"join_blocks": stuck}, detail)


ENTRIES = (
    Difference(
        id="IPC-01",
        area="IPC",
        title="Queue.qsize() and Semaphore.get_value() raise NotImplementedError on macOS",
        oses=("darwin",),
        python="3.8-3.14 (gh-125828)",
        kind="exception",
        behaviour=(
            "macOS has no sem_getvalue(), so Queue.qsize() and Semaphore.get_value() "
            "raise NotImplementedError and a BoundedSemaphore released past its bound "
            "does not raise. empty() works (it polls the pipe)."
        ),
        compat="compat.Queue.qsize() gives the same answer on every OS, macOS included.",
        handling="handles",
        sources=(
            "docs: multiprocessing.Queue.qsize",
            "gh-125828",
            "source: Lib/multiprocessing/queues.py",
        ),
        cells=("works", "NotImplementedError", "works"),
        probe=_probe_qsize,
    ),
    Difference(
        id="IPC-02",
        area="IPC",
        title="Queue(maxsize) and Semaphore values are capped at 32767 on macOS",
        oses=("darwin",),
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "The semaphore behind Queue(maxsize) is limited by SEM_VALUE_MAX: 32767 on "
            "macOS, 2147483647 on Linux and Windows, so Queue(32768) fails at creation "
            "on macOS only."
        ),
        compat="Documented; keep maxsize at or below 32767 for code that runs on macOS.",
        handling="documents",
        sources=(
            "source: Lib/multiprocessing/synchronize.py",
            "report: uqfoundation/multiprocess#66",
        ),
        cells=("2147483647", "32767", "2147483647"),
        probe=_probe_sem_max,
    ),
    Difference(
        id="IPC-03",
        area="IPC",
        title="Queue.empty() is unreliable right after put()",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "put() hands the item to a feeder thread that writes it later, so empty() "
            "right after put() is often True and qsize() disagrees with it. The docs "
            "call both unreliable."
        ),
        compat=(
            "Same hints in compat.Queue (drop-in); its readers can instead consume until "
            "every writer is done, without polling."
        ),
        handling="documents",
        sources=("docs: multiprocessing.Queue.empty",),
        cells=("unreliable", "unreliable", "unreliable"),
        probe=_probe_empty_after_put,
    ),
    Difference(
        id="IPC-04",
        area="IPC",
        title="Queue.put() of an unpicklable object raises nothing; the item is lost",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Pickling happens in the feeder thread, which prints the traceback and drops "
            "the item: the consumer waits forever or gets queue.Empty. SimpleQueue.put() "
            "pickles in the caller and raises there."
        ),
        compat="compat.Queue.put() pickles in the caller and raises the error there.",
        handling="handles",
        sources=(
            "docs: multiprocessing, Pipes and Queues",
            "source: Lib/multiprocessing/queues.py",
        ),
        cells=("item dropped", "item dropped", "item dropped"),
        probe=_probe_unpicklable_put,
    ),
    Difference(
        id="IPC-05",
        area="IPC",
        title="Joining a child before reading its queued items deadlocks; the size varies by OS",
        oses=ALL,
        python="3.8-3.14",
        kind="hang",
        behaviour=(
            "A process that put items on a Queue does not exit until its feeder thread "
            "has written them into the pipe. join() before get() blocks forever once "
            "the data exceeds the pipe: 64 KiB on Linux, 8 KiB buffers on Windows named "
            "pipes, so medium payloads that work on Linux hang on Windows."
        ),
        compat="compat.Queue makes this deadlock impossible or reports it clearly.",
        handling="handles",
        sources=(
            "docs: multiprocessing, Programming guidelines, Joining processes that use queues",
        ),
        cells=("hangs over 64 KiB", "hangs over 16-64 KiB", "hangs over ~8 KiB"),
        probe=_probe_join_before_drain,
    ),
)
