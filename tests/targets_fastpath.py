"""Child targets for tests/test_fastpath.py: what a fork child sees of its duties."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from typing import Any

#: Set in the parent by an after-fork hook test; the hooks set the child's copy.
SEEN: dict[str, Any] = {}


def identity() -> dict[str, Any]:
    me = multiprocessing.current_process()
    parent = multiprocessing.parent_process()
    assert parent is not None
    return {
        "pid": os.getpid(),
        "me_pid": me.pid,
        "name": me.name,
        "identity": me._identity,
        "parent_pid_attr": me._parent_pid,
        "daemon": me.daemon,
        "authkey": bytes(me.authkey),
        "parent_pid": parent.pid,
        "parent_name": parent.name,
        "parent_alive": parent.is_alive(),
        "children": multiprocessing.active_children(),
        "native_id_ok": threading.main_thread().native_id == threading.get_native_id(),
        "main_is_current": threading.main_thread() is threading.current_thread(),
        "start_method": multiprocessing.get_start_method(allow_none=True),
    }


def seen() -> dict[str, Any]:
    return dict(SEEN)


def random_value() -> float:
    return random.random()


def put_many(queue: Any, n: int) -> None:
    for i in range(n):
        queue.put(i)


def read_stdin() -> tuple[str, bool]:
    return sys.stdin.read(), sys.stdin.closed


def print_partial(text: str) -> None:
    sys.stdout.write(text)  # no newline, no flush: the exit must flush it


def register_atexit(path: str) -> None:
    atexit.register(_append, path, f"child-atexit {os.getpid()}\n")


def _append(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def thread_then_return(path: str, delay: float) -> str:
    def late() -> None:
        time.sleep(delay)
        _append(path, "thread done\n")

    threading.Thread(target=late).start()  # not a daemon: the child waits for it
    return "returned"


def signal_mask() -> list[int]:
    return sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, ()))


def nested_identity() -> dict[str, Any]:
    import compat

    grandchild = compat.get_context("fork").spawn_child(identity)
    return {"me": multiprocessing.current_process()._identity, "grandchild": grandchild.result(30)}


def tracker_pid() -> Any:
    from multiprocessing import resource_tracker

    return resource_tracker._resource_tracker._pid


def tracker_state() -> Any:
    """The resource tracker as this process sees it: its pid and whether its pipe is
    open (CPython 3.14+ forgets the pid in a fork child and keeps only the pipe)."""
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    return tracker._pid, tracker._fd is not None


def exit_string() -> None:
    sys.exit("goodbye from the child")


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def sleep_then_write(path: str, delay: float) -> None:
    time.sleep(delay)
    _append(path, "child finished\n")


def _private_dirty_kib() -> int:
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    raise AssertionError("no Private_Dirty line")


def dirtied_by_a_full_collection() -> int:
    """KiB of the parent's memory a full collection in this fork child copies."""
    import gc

    before = _private_dirty_kib()
    gc.collect()
    return _private_dirty_kib() - before
