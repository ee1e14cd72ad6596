"""A Ctrl+C that lands anywhere in one of compat's main-thread waits leaves no lock held.

Python raises KeyboardInterrupt in the main thread at the next bytecode boundary
where it checks for signals, which may be in the middle of the standard library's
lock juggling: ``concurrent.futures.wait`` acquires each future's lock in a Python
loop, ``threading.Condition.__enter__`` is Python code around its acquire (a
future's ``done()`` uses it), and ``Condition.wait`` releases and re-acquires its
lock in Python code. Interrupted there, the main thread keeps a future's lock (the
pool's manager thread then blocks for ever setting that future's result, and the
program hangs in ``with executor:`` instead of exiting; seen in CI once in about
four runs of ``test_ctrl_c_raises_once_and_leaves_nothing[spawn-executor.map-parent]``),
or releases a lock it does not hold (RuntimeError instead of KeyboardInterrupt).

Each wait here is interrupted by a real signal (SIGALRM from ``setitimer``, whose
handler raises KeyboardInterrupt exactly as Python's SIGINT handler does; a timer
thread's ``pthread_kill`` would need the GIL, so it would only ever interrupt the
blocking calls) at a random moment, many times, with the main thread's wake-up
slice made tiny so that it spends its time in the Python code around the blocking
calls. After each interruption: the exception must be the KeyboardInterrupt,
another thread must be able to deliver the result without blocking, and the object
must still work. No process is started.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from compat._native import threads
from compat._pool.futures import SignalAwareFuture
from compat._pool.results import ApplyResult, IMapIterator
from tests.procs import posix_only
from tests.targets import sleep_for

DELIVER_BOUND = 5.0  # seconds a delivering thread may take before we call it blocked
ROUNDS = 1500
CHILD_ROUNDS = 20  # each starts a child, and ends it (about 0.5 s)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@pytest.fixture
def interrupts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The main thread's indefinite waits wake every SIGNAL_CHECK seconds; a tiny
    # slice keeps it in the Python code between the blocking calls most of the time.
    monkeypatch.setattr(threads, "SIGNAL_CHECK", 0.0002)
    # pytest-timeout's alarm (its signal method) is put back afterwards, less the
    # time spent here; meanwhile every round ends by its own alarm.
    started = time.monotonic()
    pending, _ = signal.getitimer(signal.ITIMER_REAL)
    old = signal.signal(signal.SIGALRM, _interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if pending:
            left = pending - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _dummy_pool() -> Any:
    return SimpleNamespace(_cache={}, _core=None)


def _future() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    fut: SignalAwareFuture[int] = SignalAwareFuture()
    return fut.result, lambda: fut.set_result(7), lambda: fut.result(timeout=1)


def _apply_result() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    res: ApplyResult[int] = ApplyResult(_dummy_pool(), None, None)
    return res.get, lambda: res._deliver(0, True, 7), lambda: res.get(timeout=1)


def _imap() -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    it: IMapIterator[int] = IMapIterator(_dummy_pool())

    def deliver() -> None:
        it._deliver(0, True, 7)
        it._set_length(1)

    return it.next, deliver, lambda: it.next(timeout=1)


WAITS = {
    "executor-future.result": _future,
    "pool-AsyncResult.get": _apply_result,
    "pool-imap-next": _imap,
}


# pytest-timeout's thread method: these tests take SIGALRM over (its signal method's).
@pytest.mark.timeout(120, method="thread")
@posix_only("interrupts with setitimer")
@pytest.mark.usefixtures("interrupts")
@pytest.mark.parametrize("kind", sorted(WAITS))
def test_an_interrupt_anywhere_in_a_main_thread_wait_leaves_no_lock_held(kind: str) -> None:
    assert threading.current_thread() is threading.main_thread()
    rng = random.Random(1234)
    failures = []
    for n in range(ROUNDS):
        wait, deliver, check = WAITS[kind]()
        try:
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0001, 0.002))
            wait()
        except KeyboardInterrupt:
            pass
        except BaseException as exc:  # RuntimeError from a lock released twice, ...
            failures.append(f"round {n}: {type(exc).__name__}: {exc} (not KeyboardInterrupt)")
        else:
            failures.append(f"round {n}: the wait returned, though nothing was delivered")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        deliverer = threading.Thread(target=deliver, daemon=True)
        deliverer.start()
        deliverer.join(DELIVER_BOUND)
        if deliverer.is_alive():
            failures.append(f"round {n}: delivering the result blocked (a lock kept)")
            break  # that thread stays blocked: later rounds would be noise
        try:
            assert check() == 7
        except BaseException as problem:
            failures.append(f"round {n}: afterwards {type(problem).__name__}: {problem}")
    assert failures == []


@pytest.mark.timeout(120, method="thread")
@posix_only("interrupts with setitimer")
@pytest.mark.usefixtures("interrupts")
def test_an_interrupt_anywhere_in_spawn_child_result_ends_the_child_cleanly(
    start_method: str,
) -> None:
    """The same for ``spawn_child(...).result()``, which ends its child when
    interrupted (the Ctrl+C promise): each time the KeyboardInterrupt comes out, the
    child is gone, and another thread's ``join`` does not block."""
    if start_method == "fork":
        pytest.skip(
            "open: under fork one run in about 100 (CPython 3.9, 4 xdist workers) got "
            "ChildError 'exited with code 1' instead of KeyboardInterrupt; not reproduced "
            "in 640 rounds outside pytest; the same symptom as the fork-child descriptor "
            "race fixed in compat._child.logs (tests/test_logs.py), not yet shown to be it"
        )
    import compat

    ctx = compat.get_context(start_method)
    rng = random.Random(1234)
    failures = []
    before = 0  # rounds whose interrupt came before result() could act
    for n in range(CHILD_ROUNDS):
        handle = ctx.spawn_child(sleep_for, 30.0)
        where = "nowhere"  # where the KeyboardInterrupt came out, for the failure message
        try:
            # Not before the child runs: an interrupted start is another test's matter.
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0001, 0.002))
            handle.result()
        except KeyboardInterrupt as exc:
            where = " <- ".join(
                f"{frame.f_code.co_name}:{line}"
                for frame, line in reversed(list(traceback.walk_tb(exc.__traceback__)))
            )
            if _landed_before(exc, type(handle).result):
                before += 1
                handle.kill()
                handle.join(DELIVER_BOUND)
        except BaseException as exc:
            failures.append(f"round {n}: {type(exc).__name__}: {exc} (not KeyboardInterrupt)")
        else:
            failures.append(f"round {n}: result() returned before the child ended")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        joiner = threading.Thread(target=handle.join, args=(DELIVER_BOUND,), daemon=True)
        joiner.start()
        joiner.join(DELIVER_BOUND + 1)
        if joiner.is_alive():
            failures.append(
                f"round {n}: another thread's join blocked (a lock kept); interrupted at {where}"
            )
            handle.kill()
            break
        if handle.exitcode is None:
            popen = getattr(handle._process, "_popen", None)
            failures.append(
                f"round {n}: the child still runs; interrupted at {where}; killed "
                f"{handle._killed}, returncode {getattr(popen, 'returncode', '?')}"
            )
            handle.kill()
            handle.join(DELIVER_BOUND)
    assert failures == []
    # Most interrupts must land inside result(), or this test tested nothing.
    assert before <= CHILD_ROUNDS // 2, f"{before} of {CHILD_ROUNDS} rounds landed before"


def _landed_before(exc: BaseException, method: Callable[..., Any]) -> bool:
    """Whether the KeyboardInterrupt came out before ``method`` could act on it: in
    the test's own code (the alarm went off before the call, even as ``setitimer``
    returned) or at the method's first instruction (CPython 3.11+ handles signals as
    a function starts, before the ``try`` of its first statement). A Ctrl+C there is
    one in the caller's code: the terminal's SIGINT, or the child's lifeline, ends the
    child then."""
    frames = list(traceback.walk_tb(exc.__traceback__))  # this test's frame first
    if frames and frames[-1][0].f_code is _interrupt.__code__:
        frames.pop()  # the signal handler that raised it, on top of where it landed
    if len(frames) <= 1:
        return True
    frame, line = frames[1]
    return (
        len(frames) == 2 and frame.f_code is method.__code__ and line == frame.f_code.co_firstlineno
    )
