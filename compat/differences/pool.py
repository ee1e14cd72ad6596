"""POOL: multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor."""

from __future__ import annotations

import os
import time
from typing import Any, Optional

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    differs,
    not_applicable,
    supported,
)

ALL = ("linux", "darwin", "win32")
HANG_WAIT = 1.5  # how long a probe waits before it calls a Pool call hung


def _die() -> None:
    os._exit(1)


def _cgroup_cpus() -> Optional[float]:
    """The CPU quota of this process's cgroup (v2, then v1), or None when unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            q = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            p = int(f.read())
        return None if q <= 0 or p <= 0 else q / p
    except (OSError, ValueError):
        return None


def _probe_cpus(ctx: ProbeContext) -> Observation:
    """Compare os.cpu_count() with the CPUs this process may use (affinity, quota)."""
    total = os.cpu_count() or 1
    affinity = getattr(os, "sched_getaffinity", None)
    process_cpu_count = getattr(os, "process_cpu_count", None)
    observed: dict[str, Any] = {
        "cpu_count": total,
        "affinity": len(affinity(0)) if affinity is not None else None,
        "process_cpu_count": process_cpu_count() if process_cpu_count is not None else None,
        "cgroup_quota": _cgroup_cpus(),
    }
    limits = [v for k, v in observed.items() if k != "cpu_count" and v is not None]
    usable = min(limits) if limits else total
    return affected(
        usable < total,
        observed,
        f"os.cpu_count() {total}, usable {usable:g}: Pool() would default to "
        f"{observed['process_cpu_count'] or total} workers",
    )


def _probe_windows_cap(ctx: ProbeContext) -> Observation:
    """Ask for a ProcessPoolExecutor of 62 workers (none is started)."""
    from concurrent.futures import ProcessPoolExecutor

    try:
        executor = ProcessPoolExecutor(max_workers=62, mp_context=ctx.mp)
    except ValueError as exc:
        return differs({"max_workers_62": "ValueError"}, str(exc))
    executor.shutdown(wait=True)
    return supported({"max_workers_62": "accepted"}, "62 workers accepted")


def _probe_wait_handles(ctx: ProbeContext) -> Observation:
    """Wait on 70 connections at once, as Pool's handler does with its workers."""
    from multiprocessing.connection import wait

    pairs = [ctx.mp.Pipe(duplex=False) for _ in range(70)]
    try:
        wait([r for r, _w in pairs], timeout=0)
    except ValueError as exc:
        return differs({"wait_70": "ValueError"}, str(exc))
    finally:
        for r, w in pairs:
            r.close()
            w.close()
    return supported({"wait_70": "ok"}, "connection.wait() took 70 objects")


def _probe_worker_death(ctx: ProbeContext) -> Observation:
    """A task kills its worker: does Pool's get() return, and what does the executor do?"""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ctx.mp.Pool(1)
    try:
        result = pool.apply_async(_die)
        try:
            result.get(timeout=HANG_WAIT)
            hangs = False
        except multiprocessing.TimeoutError:
            hangs = True
        except Exception:
            hangs = False
    finally:
        pool.terminate()
        pool.join()
    with ProcessPoolExecutor(1, mp_context=ctx.mp) as executor:
        try:
            executor.submit(_die).result(timeout=ctx.timeout)
            outcome = "returned"
        except BrokenProcessPool:
            outcome = "BrokenProcessPool"
    observed = {"pool_hangs": hangs, "executor": outcome}
    detail = (
        f"Pool: {f'no result after {HANG_WAIT:g} s' if hangs else 'failed'}; executor: {outcome}"
    )
    return affected(hangs, observed, detail)


def _probe_with_terminates(ctx: ProbeContext) -> Observation:
    """Submit a slow task inside `with Pool()` and check it after the block."""
    with ctx.mp.Pool(1) as pool:
        result = pool.apply_async(time.sleep, (2.0,))
    pool.join()
    done = result.ready()
    return affected(not done, {"ready_after_with": done}, f"task done after the block: {done}")


def _probe_max_tasks_fork(ctx: ProbeContext) -> Observation:
    """Ask ProcessPoolExecutor for max_tasks_per_child with the fork context."""
    import inspect
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "max_tasks_per_child" not in inspect.signature(ProcessPoolExecutor).parameters:
        return not_applicable("no max_tasks_per_child before 3.11")
    if "fork" not in multiprocessing.get_all_start_methods():
        return not_applicable("no fork start method here")
    fork = multiprocessing.get_context("fork")
    try:
        # Any: the keyword is 3.11+, and the stubs are checked for 3.9.
        executor_type: Any = ProcessPoolExecutor
        executor = executor_type(1, mp_context=fork, max_tasks_per_child=1)
    except ValueError as exc:
        return differs({"fork_refused": True}, str(exc)[:90])
    executor.shutdown(wait=True)
    return supported({"fork_refused": False}, "accepted with fork")


def _probe_executor_workers(ctx: ProbeContext) -> Observation:
    """Count the workers a 3-worker ProcessPoolExecutor has started after one task."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    before = {p.pid for p in multiprocessing.active_children()}
    with ProcessPoolExecutor(3, mp_context=ctx.mp) as executor:
        executor.submit(abs, -1).result(timeout=ctx.timeout)
        started = len({p.pid for p in multiprocessing.active_children()} - before)
    return affected(
        started < 3, {"workers_after_one_task": started}, f"{ctx.method}: {started} of 3 started"
    )


def _probe_kill_workers(ctx: ProbeContext) -> Observation:
    """Look for ProcessPoolExecutor.terminate_workers() and kill_workers()."""
    from concurrent.futures import ProcessPoolExecutor

    has = all(hasattr(ProcessPoolExecutor, n) for n in ("terminate_workers", "kill_workers"))
    return affected(not has, {"kill_workers": has}, "present" if has else "missing before 3.14")


ENTRIES = (
    Difference(
        id="POOL-01",
        area="POOL",
        title="Pool() sizes itself from os.cpu_count(), ignoring affinity and container quotas",
        oses=ALL,
        python="3.8-3.12 (3.13+: os.process_cpu_count, affinity only)",
        kind="limit",
        behaviour=(
            "Pool() and ProcessPoolExecutor() default to os.cpu_count() up to 3.12 and "
            "os.process_cpu_count() from 3.13, which honours affinity (taskset) but not "
            "cgroup CPU quotas (docker --cpus), so pools oversubscribe in containers "
            "(gh-80235). os.sched_getaffinity exists on Linux only."
        ),
        compat=(
            "compat.cpu_count() counts the CPUs this process may use (affinity, cgroup "
            "v1/v2 quota, os.process_cpu_count where it exists), never less than 1; "
            "compat.Pool() defaults to it."
        ),
        handling="handles",
        sources=("docs: os.cpu_count", "docs: os.process_cpu_count", "gh-80235"),
        cells=("affinity 3.13+; no quota", "all CPUs", "all CPUs (PPE: max 61)"),
        probe=_probe_cpus,
    ),
    Difference(
        id="POOL-02",
        area="POOL",
        title="ProcessPoolExecutor accepts at most 61 workers on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "WaitForMultipleObjects waits on at most 63 handles and the executor needs "
            "two: max_workers > 61 raises ValueError('max_workers must be <= 61'), and "
            "the default is min(61, CPUs)."
        ),
        compat=(
            "compat's default worker count never exceeds the Windows cap; the cap is a "
            "policy of injected platform facts, tested on every OS."
        ),
        handling="handles",
        sources=(
            "docs: concurrent.futures, ProcessPoolExecutor",
            "source: Lib/concurrent/futures/process.py",
        ),
        cells=("no cap", "no cap", "max 61"),
        probe=_probe_windows_cap,
    ),
    Difference(
        id="POOL-03",
        area="POOL",
        title="Pool with more than about 60 workers hangs on Windows before 3.13",
        oses=("win32",),
        python="3.8-3.12 (fixed in 3.13, gh-89240)",
        kind="hang",
        behaviour=(
            "Pool's worker handler waits on every worker's sentinel; before 3.13 the "
            "Windows wait takes at most 63 handles, so with 64+ CPUs or Pool(61+) the "
            "handler thread dies with 'ValueError: need at most 63 handles' and the "
            "pool hangs (gh-94243)."
        ),
        compat="compat's default worker count stays under the limit on Windows.",
        handling="handles",
        sources=("gh-89240", "gh-94243", "source: Lib/multiprocessing/connection.py"),
        cells=("no limit", "no limit", "<3.13: ~60, then hang"),
        probe=_probe_wait_handles,
    ),
    Difference(
        id="POOL-04",
        area="POOL",
        title="A worker that dies makes Pool wait forever; the executor breaks for good",
        oses=ALL,
        python="3.8-3.14",
        kind="hang",
        behaviour=(
            "If a Pool worker is killed (OOM killer, segfault, os._exit, SIGKILL), its "
            "task's result never arrives and map()/get() block forever while replacement "
            "workers start silently (bpo-22393 was never merged). ProcessPoolExecutor "
            "fails every pending future with BrokenProcessPool and accepts no more work."
        ),
        compat=(
            "compat.Pool fails exactly that task with ChildError (exit code, signal "
            "name) within seconds and replaces the worker; compat.ProcessPoolExecutor "
            "fails the affected futures with a BrokenProcessPool subclass carrying the "
            "exit code, replaces the worker and keeps serving."
        ),
        handling="handles",
        sources=("bpo-22393", "docs: concurrent.futures, BrokenProcessPool"),
        cells=("Pool hangs", "Pool hangs", "Pool hangs"),
        probe=_probe_worker_death,
    ),
    Difference(
        id="POOL-05",
        area="POOL",
        title="`with Pool() as p:` terminates the workers at the end of the block",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Pool.__exit__ calls terminate(), not close() and join(): apply_async and "
            "map_async work still running is killed and its results never complete. A "
            "ProcessPoolExecutor block waits (shutdown(wait=True))."
        ),
        compat=(
            "`with compat.Pool() as p:` waits for submitted work (close + join) on normal "
            "exit and terminates only when the block raises."
        ),
        handling="handles",
        sources=("docs: multiprocessing.pool.Pool",),
        cells=("work killed", "work killed", "work killed"),
        probe=_probe_with_terminates,
    ),
    Difference(
        id="POOL-06",
        area="POOL",
        title="max_tasks_per_child refuses fork and silently switches the executor to spawn",
        oses=("linux", "darwin"),
        python="3.11+",
        kind="exception",
        behaviour=(
            "ProcessPoolExecutor(max_tasks_per_child=n) with a fork context raises "
            "ValueError; without mp_context it quietly uses spawn, even on Linux, so "
            "the spawn rules (MAIN-*) suddenly apply. Pool(maxtasksperchild) under fork "
            "warns on 3.12+ when it replaces workers from its thread (START-04)."
        ),
        compat=(
            "Pass the start method explicitly (get_context); compat's policy avoids fork "
            "while threads run."
        ),
        handling="documents",
        sources=("docs: concurrent.futures, ProcessPoolExecutor",),
        cells=("fork refused; default spawn", "fork refused", "spawn only"),
        probe=_probe_max_tasks_fork,
    ),
    Difference(
        id="POOL-07",
        area="POOL",
        title="ProcessPoolExecutor starts all workers under fork, one at a time otherwise",
        oses=ALL,
        python="3.9-3.14",
        kind="semantics",
        behaviour=(
            "From 3.9 the executor starts workers on demand for spawn and forkserver "
            "but all max_workers at once for fork (gh-90622): one task creates one "
            "worker on macOS and Windows and all of them on Linux up to 3.13."
        ),
        compat="Do not rely on the worker count or initializer timing; warm up explicitly.",
        handling="documents",
        sources=("gh-90622", "source: Lib/concurrent/futures/process.py"),
        cells=("fork: all; 3.14: on demand", "on demand", "on demand"),
        probe=_probe_executor_workers,
    ),
    Difference(
        id="POOL-08",
        area="POOL",
        title="imap and executor map send one item per message by default",
        oses=ALL,
        python="3.8-3.14 (3.14: Executor.map buffersize, gh-74028)",
        kind="limit",
        behaviour=(
            "Pool.map picks a chunksize of about len/(4*workers), but imap, "
            "imap_unordered and ProcessPoolExecutor.map default to chunksize=1: one "
            "pickle round trip per item, which costs most under spawn and on Windows "
            "named pipes."
        ),
        compat="compat.Pool keeps the standard library's chunksize rules (drop-in).",
        handling="documents",
        sources=("docs: multiprocessing.pool.Pool.imap", "gh-74028"),
        cells=("chunksize 1", "chunksize 1", "chunksize 1, slower pipes"),
        no_probe_reason="the defaults are the same on every OS; their cost is measured in bench/",
    ),
    Difference(
        id="POOL-09",
        area="POOL",
        title="Ctrl+C with a pool: every worker gets it; Windows waits ignore it before 3.14",
        oses=ALL,
        python="3.8-3.14 (Windows lock waits interruptible from 3.14, gh-125541)",
        kind="hang",
        behaviour=(
            "POSIX: a terminal Ctrl+C sends SIGINT to the whole foreground group, so "
            "every worker raises KeyboardInterrupt. Windows: before 3.14 lock waits, "
            "Event.wait() and AsyncResult.get() without a timeout cannot be interrupted "
            "(bpo-29971, bpo-35935), so the program looks frozen."
        ),
        compat="Wait with timeouts in a loop; a Pool initializer can ignore SIGINT in workers.",
        handling="documents",
        sources=("bpo-29971", "bpo-35935", "gh-125541"),
        cells=(
            "all workers interrupted",
            "all workers interrupted",
            "<3.14: get() uninterruptible",
        ),
        no_probe_reason=(
            "needs a real terminal or console that delivers Ctrl+C to a process group; "
            "a probe sending it would interrupt the process running the doctor"
        ),
    ),
    Difference(
        id="POOL-10",
        area="POOL",
        title="ProcessPoolExecutor.terminate_workers() and kill_workers() exist only from 3.14",
        oses=ALL,
        python="<3.14",
        kind="exception",
        behaviour=(
            "Before 3.14 there is no public way to stop an executor's running workers: "
            "AttributeError, and code reaches into executor._processes. 3.14 adds both; "
            "on Windows terminate and kill are the same TerminateProcess."
        ),
        compat="compat.ProcessPoolExecutor replaces dead workers instead of breaking (POOL-04).",
        handling="documents",
        sources=("docs: What's New In Python 3.14, concurrent.futures",),
        cells=("3.14+", "3.14+", "3.14+"),
        probe=_probe_kill_workers,
    ),
)
