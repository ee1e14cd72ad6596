"""Nothing left behind: N cycles of each scenario, per start method, and what they left.

Run: python bench/leak_check.py [-n N] [--methods fork,spawn,forkserver]
                                [--scenarios spawn_child,pool,queue]

Scenarios (one cycle each):
- ``spawn_child``: ``ctx.spawn_child(os.getpid)``, ``result()``, ``join()``;
- ``pool``: ``compat.Pool(2, context=ctx)``, a ``map``, ``close()``, ``join()``;
- ``queue``: ``ctx.Queue()``, ``put``/``get``, ``close()``, ``join_thread()``.

After one warm-up cycle (the forkserver, the resource tracker and the lifeline pipe
start once per process), it counts, before and after the N cycles (after
``gc.collect()``): open descriptors (``/proc/self/fd``), threads
(``threading.active_count()``), zombie children of this process (``/proc``, state Z),
entries of ``/dev/shm`` (all, and ``sem.*``: POSIX semaphores; other processes on
the machine change these too), the semaphores this process named that still exist,
and the bytes allocated in multiprocessing's shared-memory heap (``RawArray``,
``Value``...). It prints one row of deltas per (method, scenario), and the time the
N cycles took. Every delta should be 0. Linux: the counts that need ``/proc`` or
``/dev/shm`` print "n/a" elsewhere. tests/faults/test_leaks.py runs the same code
with a small N.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compat

METHODS = ("fork", "spawn", "forkserver")
SCENARIOS = ("spawn_child", "pool", "queue")
#: Seconds to wait for threads and descriptors that are on their way out.
SETTLE = 2.0


def cycle_spawn_child(ctx: Any) -> None:
    child = ctx.spawn_child(os.getpid)
    assert child.result(60) == child.pid
    child.join()


def cycle_pool(ctx: Any) -> None:
    pool = compat.Pool(2, context=ctx)
    assert pool.map(abs, range(-4, 4)) == [4, 3, 2, 1, 0, 1, 2, 3]
    pool.close()
    pool.join()


def cycle_queue(ctx: Any) -> None:
    q = ctx.Queue()
    q.put(b"item")
    assert q.get(timeout=60) == b"item"
    q.close()
    q.join_thread()


CYCLES: dict[str, Callable[[Any], None]] = {
    "spawn_child": cycle_spawn_child,
    "pool": cycle_pool,
    "queue": cycle_queue,
}


# -- what a process holds ----------------------------------------------------------


def _fds() -> Optional[int]:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _zombies() -> Optional[int]:
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    count = 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z" and int(fields[1]) == me:
            count += 1
    return count


def _shm() -> Optional[set[str]]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return None


def _heap_bytes() -> int:
    """Bytes allocated in this process's multiprocessing shared-memory heap."""
    from multiprocessing.heap import BufferWrapper

    heap = BufferWrapper._heap
    if heap._lastpid != os.getpid():
        return 0
    return sum(stop - start for blocks in heap._allocated_blocks.values() for start, stop in blocks)


class Snapshot:
    def __init__(self) -> None:
        gc.collect()
        self.fds = _fds()
        self.threads = threading.active_count()
        self.zombies = _zombies()
        self.shm = _shm()
        self.heap = _heap_bytes()


@contextmanager
def semaphore_names() -> Iterator[list[str]]:
    """The names of the POSIX semaphores multiprocessing makes in this process
    meanwhile (``/mp-...``; the file is ``/dev/shm/sem.mp-...`` on Linux)."""
    from multiprocessing import synchronize

    names: list[str] = []
    original = synchronize.SemLock.__dict__["_make_name"]

    def make_name() -> str:
        name: str = original.__func__()
        names.append(name)
        return name

    synchronize.SemLock._make_name = staticmethod(make_name)  # type: ignore[method-assign]
    try:
        yield names
    finally:
        synchronize.SemLock._make_name = original  # type: ignore[method-assign]


def semaphores_left(names: list[str]) -> Optional[list[str]]:
    if not os.path.isdir("/dev/shm"):
        return None
    return [n for n in names if os.path.exists(f"/dev/shm/sem.{n.lstrip('/')}")]


def _delta(before: Optional[int], after: Optional[int]) -> Optional[int]:
    return None if before is None or after is None else after - before


def _steady() -> Snapshot:
    """A snapshot taken once the threads and descriptors stopped changing for 50 ms, or
    after :data:`SETTLE` seconds: what ran before (a thread of an earlier test that is
    ending) must not count, as a negative delta, against the cycles measured next."""
    before = Snapshot()
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = Snapshot()
        if (again.threads, again.fds) == (before.threads, before.fds):
            return again
        before = again
    return before


def measure(method: str, scenario: str, n: int) -> dict[str, Any]:
    """Warm up, then run ``n`` cycles of ``scenario`` under ``method``; the deltas."""
    ctx = compat.get_context(method)
    cycle = CYCLES[scenario]
    for name in SCENARIOS:  # what every scenario starts once per process
        CYCLES[name](ctx)
    before = _steady()
    start = time.perf_counter()
    with semaphore_names() as names:
        for _ in range(n):
            cycle(ctx)
    seconds = time.perf_counter() - start
    deadline = time.monotonic() + SETTLE
    while True:
        after = Snapshot()
        settled = (
            after.threads == before.threads
            and after.fds == before.fds
            and not after.zombies
            and after.heap == before.heap
        )
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    shm_new = None
    sem_new = None
    if before.shm is not None and after.shm is not None:
        shm_new = len(after.shm) - len(before.shm)
        sem_new = len({e for e in after.shm if e.startswith("sem.")}) - len(
            {e for e in before.shm if e.startswith("sem.")}
        )
    left = semaphores_left(names)
    return {
        "method": method,
        "scenario": scenario,
        "n": n,
        "seconds": seconds,
        "fds": _delta(before.fds, after.fds),
        "threads": after.threads - before.threads,
        "zombies": _delta(before.zombies, after.zombies),
        "shm": shm_new,
        "sem": sem_new,
        "own_sem_left": None if left is None else len(left),
        "heap_bytes": after.heap - before.heap,
    }


COLUMNS = (
    ("method", "method"),
    ("scenario", "scenario"),
    ("n", "N"),
    ("fds", "fds"),
    ("threads", "threads"),
    ("zombies", "zombies"),
    ("shm", "/dev/shm"),
    ("sem", "sem.*"),
    ("own_sem_left", "own sems left"),
    ("heap_bytes", "shm heap bytes"),
    ("seconds", "seconds"),
    ("per_cycle", "ms/cycle"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "per_cycle":
        return f"{1000 * row['seconds'] / max(row['n'], 1):.1f}"
    value = row[key]
    if value is None:
        return "n/a"
    if key == "seconds":
        return f"{value:.1f}"
    if isinstance(value, int) and key not in ("n",):
        return f"{value:+d}" if value else "0"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[title for _, title in COLUMNS]] + [[_cell(r, k) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="cycles per row (default 1000)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    available = multiprocessing.get_all_start_methods()
    rows = []
    total = time.perf_counter()
    for method in args.methods.split(","):
        if method not in available:
            print(f"{method}: not available here, skipped", flush=True)
            continue
        for scenario in args.scenarios.split(","):
            row = measure(method, scenario, args.n)
            rows.append(row)
            print(f"{method:10} {scenario:12} done in {row['seconds']:.1f} s", flush=True)
    print()
    print(f"Python {sys.version.split()[0]}, {sys.platform}, compat {compat.__version__}")
    print(table(rows))
    print(f"\ntotal {time.perf_counter() - total:.1f} s")
    leaks = [
        r
        for r in rows
        if any(r[k] for k in ("fds", "threads", "zombies", "own_sem_left", "heap_bytes"))
    ]
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
