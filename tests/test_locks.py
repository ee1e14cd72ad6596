"""compat._native.locks: a Ctrl+C right after the main thread takes a lock that
compat's threads share must not leave it held for ever (CPython 3.14+, gh-148874)."""

from __future__ import annotations

import _thread
import multiprocessing.synchronize
import sys
import threading
from typing import Any

import pytest

import compat
from compat._native import locks
from compat._native.locks import ReclaimingLock, shared_lock
from compat._pool import manager
from tests.procs import hard_kill

TIMEOUT = 30


def test_shared_locks_reclaim_from_314_and_are_plain_locks_before() -> None:
    lock = shared_lock()
    assert locks.RECLAIMS is (sys.version_info >= (3, 14))
    if locks.RECLAIMS:
        assert type(lock) is ReclaimingLock
    else:  # `with` on a C lock has no window there: nothing to reclaim
        assert type(lock) is type(threading.Lock())


@pytest.mark.timeout(60)
def test_a_hold_leaked_by_its_thread_is_reclaimed_at_its_next_entry() -> None:
    lock = ReclaimingLock()
    room = threading.Condition(lock)
    lock.acquire()  # what a `with lock:` interrupted right after __enter__ leaves
    taken = threading.Event()

    def other() -> None:
        with lock:
            taken.set()

    waiter = threading.Thread(target=other, daemon=True)
    waiter.start()
    assert not taken.wait(0.2)  # held: the other thread waits, as a pool's would
    with lock:  # the leaking thread comes back: the leaked hold goes first
        assert lock._is_owned()
        room.notify_all()  # a Condition over it sees one owner
    assert taken.wait(TIMEOUT)
    waiter.join(TIMEOUT)
    assert not waiter.is_alive()
    assert lock.acquire(False)  # free again
    lock.release()


def _poke() -> None:
    """A Python call: the interpreter runs pending signal handlers as it enters it."""


class _InterruptedOnce(ReclaimingLock):
    """A pool lock whose next take by the main thread is followed by a Ctrl+C before
    its ``with`` block starts: the leak of gh-148874, on every CPython version."""

    armed = False

    def __enter__(self) -> bool:
        got = super().__enter__()
        if _InterruptedOnce.armed and threading.current_thread() is threading.main_thread():
            _InterruptedOnce.armed = False
            _thread.interrupt_main()  # SIGINT's handler runs at the next check:
            _poke()  # here (3.9-3.13), or as this returns (3.14+)
        return got


@pytest.mark.timeout(120)
def test_a_ctrl_c_as_the_main_thread_takes_the_pool_lock_leaves_no_hang(
    start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager, "shared_lock", _InterruptedOnce)
    pool = compat.get_context(start_method).Pool(2)
    pids = [p.pid for p in pool._core.processes]
    try:
        assert pool.apply(abs, (-1,)) == 1
        _InterruptedOnce.armed = True
        with pytest.raises(KeyboardInterrupt):
            pool.apply_async(abs, (-2,))
        core_lock: Any = pool._core._lock
        assert core_lock._is_owned()  # leaked: the manager thread would wait for ever
        # The main thread's next use of the pool gives it back; results flow again.
        assert pool.apply_async(abs, (-3,)).get(TIMEOUT) == 3
        assert not core_lock._is_owned()
    finally:
        _InterruptedOnce.armed = False
        stopper = threading.Thread(target=lambda: (pool.terminate(), pool.join()), daemon=True)
        stopper.start()
        stopper.join(TIMEOUT)
        if stopper.is_alive():  # the hang this test is about: reap the workers anyway
            for pid in pids:
                hard_kill(pid)
            pytest.fail("terminate() and join() did not end: the pool's lock stayed held")


class _InterruptedCondition(multiprocessing.synchronize.Condition):
    """A JoinableQueue's Condition whose next take by the main thread is followed by a
    Ctrl+C as ``__enter__`` (Python code in multiprocessing) returns."""

    armed = False

    def __enter__(self) -> bool:
        got = super().__enter__()
        if _InterruptedCondition.armed and threading.current_thread() is threading.main_thread():
            _InterruptedCondition.armed = False
            _thread.interrupt_main()
            _poke()
        return got  # type: ignore[no-any-return]


@pytest.mark.timeout(120)
def test_a_ctrl_c_as_a_joinable_queue_takes_its_condition_leaves_no_hang(
    start_method: str,
) -> None:
    q = compat.get_context(start_method).JoinableQueue()
    q._cond.__class__ = _InterruptedCondition
    semlock = q._cond._lock._semlock
    done: list[int] = []

    def consume() -> None:
        done.append(q.get(timeout=TIMEOUT))
        q.task_done()  # takes the Condition from another thread

    consumer = threading.Thread(target=consume, daemon=True)
    try:
        _InterruptedCondition.armed = True
        with pytest.raises(KeyboardInterrupt):
            q.put(1)  # interrupted before it counted or sent the item
        assert semlock._is_mine()  # leaked: task_done() elsewhere would wait for ever
        q.put(2)  # the main thread's next use gives it back
        assert not semlock._is_mine()
        consumer.start()
        consumer.join(TIMEOUT)
        assert not consumer.is_alive(), "task_done() waited on the leaked lock"
        q.join()
        assert done == [2]
    finally:
        _InterruptedCondition.armed = False
        while semlock._is_mine():  # a failed run: let the consumer end
            q._cond._lock.release()
        if consumer.ident is not None:
            consumer.join(TIMEOUT)
        q.close()
        q.join_thread()
