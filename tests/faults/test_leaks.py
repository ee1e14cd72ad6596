"""Nothing left behind: N start/join cycles of spawn_child, N create/close/join cycles
of Pool (and N create/close cycles of Queue) leave the descriptors, threads, zombie
children, /dev/shm entries, semaphores and shared-memory heap of this process as
they were. The code is bench/leak_check.py's (which runs it with N=1000).
"""

from __future__ import annotations

import gc
import importlib.util
import sys
import weakref
from types import ModuleType
from typing import Any, Callable

import pytest

from tests.faults import support
from tests.helpers import ROOT

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
]

N = 20


def _leak_check() -> ModuleType:
    name = "compat_bench_leak_check"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "leak_check.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scenario", ["spawn_child", "pool", "queue"])
def test_cycles_leave_nothing_behind(
    scenario: str, start_method: str, rec: Callable[..., None]
) -> None:
    if not support.HAVE_PROC_FD:
        pytest.skip(support.NO_PROC_FD_REASON)
    lc = _leak_check()
    row = lc.measure(start_method, scenario, N)
    rec(f"leaks: {N} {scenario} cycles", row["seconds"], "ok")
    deltas = {
        key: row[key]
        for key in ("fds", "threads", "zombies", "shm", "sem", "own_sem_left", "heap_bytes")
    }
    # /dev/shm is the machine's: other processes add and remove entries meanwhile.
    # This process's own semaphores (own_sem_left) are the ones that must be gone.
    own = {k: v for k, v in deltas.items() if k not in ("shm", "sem")}
    assert all(not v for v in own.values()), f"{N} {scenario} cycles left: {deltas}"


def test_closed_queue_is_collected(ctx: Any) -> None:
    """A Queue that was closed and dropped is garbage (with its shared memory and,
    under spawn/forkserver, its named semaphores)."""
    q = ctx.Queue()
    q.put(1)
    assert q.get(timeout=support.WAIT) == 1
    q.close()
    q.join_thread()
    ref = weakref.ref(q)
    del q
    gc.collect()
    alive = ref()
    if alive is not None:
        chains = []
        for holder in gc.get_referrers(alive):
            above = sorted({type(r).__name__ for r in gc.get_referrers(holder)} - {"list"})
            chains.append(f"{type(holder).__name__} {getattr(holder, '__name__', '')} <- {above}")
        del alive
        pytest.fail(f"a closed, dropped compat.Queue is still alive; held by: {chains}")
