"""SYNC: semaphores and shared memory."""

from __future__ import annotations

import errno
import os
import shutil
from typing import Any

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    differs,
    not_applicable,
    supported,
)
from ._probekit import run_python

ALL = ("linux", "darwin", "win32")
POSIX_OSES = ("linux", "darwin")
DEV_SHM = "/dev/shm"  # noqa: S108 (where Linux keeps POSIX shared memory; only read)


def _unregister(shm: Any) -> None:
    # The segment vanished behind our back (SYNC-05): tell our resource tracker, or it
    # warns about a "leaked" segment at exit.
    from .._stdlib import forget_shared_memory

    try:
        forget_shared_memory(shm)
    except Exception:
        pass


def _probe_named_semaphores(ctx: ProbeContext) -> Observation:
    """Create a Lock and look for its named semaphore in /dev/shm (Linux)."""
    if not os.path.isdir(DEV_SHM):
        return not_applicable("no /dev/shm here: semaphores are not files on this OS")
    lock = ctx.mp.Lock()
    from .._stdlib import semlock_of

    name = semlock_of(lock).name
    named = bool(name) and os.path.exists(os.path.join(DEV_SHM, "sem." + str(name).lstrip("/")))
    del lock
    sysconf = getattr(os, "sysconf", None)
    try:
        limit = sysconf("SC_SEM_NSEMS_MAX") if sysconf is not None else None
    except (ValueError, OSError):
        limit = None
    observed = {"named_while_alive": named, "SC_SEM_NSEMS_MAX": limit}
    detail = (
        f"{ctx.method}: a Lock is {'a named file in /dev/shm' if named else 'unlinked at once'}"
    )
    return affected(named, observed, detail)


def _probe_no_dev_shm(ctx: ProbeContext) -> Observation:
    """Create a multiprocessing Lock (fails with ENOSYS without /dev/shm)."""
    try:
        ctx.mp.Lock()
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return differs({"Lock": "ENOSYS"}, "no POSIX semaphores: Lock, Queue and Pool fail")
        raise
    return supported({"Lock": "ok"}, "semaphores work")


def _probe_shm_lifetime(ctx: ProbeContext) -> Observation:
    """Close the only handle of a SharedMemory block, then attach to it by name."""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.close()
    try:
        again = shared_memory.SharedMemory(name=shm.name)
        again.close()
        survives = True
    except FileNotFoundError:
        survives = False
    finally:
        try:
            shm.unlink()
        except FileNotFoundError:
            _unregister(shm)
    detail = "persists until unlink()" if survives else "destroyed with its last handle"
    return affected(not survives, {"survives_close": survives}, detail)


def _probe_shm_tracker(ctx: ProbeContext) -> Observation:
    """An independent Python process attaches to a block and exits; is it still there?"""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=16)
    gone = False
    try:
        code = (
            "from multiprocessing import shared_memory as s\n"
            f"m = s.SharedMemory(name={shm.name!r})\n"
            "m.close()\n"
        )
        run_python(code, timeout=ctx.timeout)
        try:
            shared_memory.SharedMemory(name=shm.name).close()
        except FileNotFoundError:
            gone = True
    finally:
        shm.close()
        try:
            shm.unlink()
        except FileNotFoundError:
            _unregister(shm)
    detail = "the attacher's exit destroyed it" if gone else "still there"
    return affected(gone, {"destroyed_by_attacher": gone}, detail)


def _probe_shm_size(ctx: ProbeContext) -> Observation:
    """Create a 10-byte SharedMemory block and read .size from a second handle."""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=10)
    try:
        other = shared_memory.SharedMemory(name=shm.name)
        sizes = {"creator": shm.size, "attached": other.size}
        other.close()
    finally:
        shm.close()
        shm.unlink()
    return affected(sizes["attached"] != 10, sizes, f"asked for 10 bytes, got {sizes}")


def _probe_dev_shm_size(ctx: ProbeContext) -> Observation:
    """Measure /dev/shm (Linux), where POSIX shared memory lives."""
    if not os.path.isdir(DEV_SHM):
        return not_applicable("no /dev/shm here")
    usage = shutil.disk_usage(DEV_SHM)
    total = usage.total // 2**20
    small = total < 256
    detail = f"{DEV_SHM} holds {total} MiB ({usage.free // 2**20} MiB free)"
    return affected(small, {"dev_shm_under_256MiB": small}, detail)


ENTRIES = (
    Difference(
        id="SYNC-01",
        area="SYNC",
        title="macOS has no timed semaphore wait: acquire(timeout) polls",
        oses=("darwin",),
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "sem_timedwait does not exist on macOS, so Lock/Semaphore.acquire(timeout=...) "
            "is emulated with a sleeping loop: more latency and CPU under contention. "
            "A sandboxed macOS process may also be denied SC_SEM_NSEMS_MAX (PermissionError)."
        ),
        compat="Documented; avoid fine-grained timed acquires on macOS.",
        handling="documents",
        sources=("docs: multiprocessing.Semaphore",),
        cells=("sem_timedwait", "sleeping loop", "WaitForSingleObject"),
        no_probe_reason=(
            "the emulated wait gives the same answers, only later; a timing probe on a "
            "shared runner cannot tell polling from load"
        ),
    ),
    Difference(
        id="SYNC-02",
        area="SYNC",
        title="POSIX semaphores are named objects that can leak and are limited in number",
        oses=POSIX_OSES,
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "Under spawn and forkserver each Lock is a named semaphore (/dev/shm/sem.mp-* "
            "on Linux) registered with the resource tracker; processes killed without "
            "cleanup leave them behind ('resource_tracker: There appear to be N leaked "
            "semaphore objects'). Under fork they are unlinked at once. "
            "ProcessPoolExecutor needs SC_SEM_NSEMS_MAX >= 256. Windows uses unnamed "
            "kernel objects."
        ),
        compat="Documented; compat shuts down its pools and queues so nothing is left behind.",
        handling="documents",
        sources=(
            "source: Lib/multiprocessing/synchronize.py",
            "source: Lib/multiprocessing/resource_tracker.py",
        ),
        cells=("spawn: named files", "named", "kernel objects"),
        probe=_probe_named_semaphores,
    ),
    Difference(
        id="SYNC-03",
        area="SYNC",
        title="Without /dev/shm (AWS Lambda, sandboxes) Lock, Queue and Pool fail",
        oses=("linux",),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "Creating any semaphore raises OSError: [Errno 38] Function not implemented, "
            "so Lock(), Queue(), SimpleQueue() and Pool() fail; Pipe() and Process work."
        ),
        compat="Documented; the doctor shows it. Use Pipe-based IPC there.",
        handling="documents",
        sources=("report: nalepae/pandarallel#128", "report: DataDog/dd-trace-py#7251"),
        cells=("sandboxes: ENOSYS", "works", "works"),
        probe=_probe_no_dev_shm,
    ),
    Difference(
        id="SYNC-04",
        area="SYNC",
        title="SharedMemory outlives its handles on POSIX, and dies with them on Windows",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "POSIX: a block persists until unlink() (or reboot), even after every process "
            "closed it, so a missing unlink() leaks memory. Windows: unlink() does "
            "nothing and the block disappears when its last handle closes, so a late "
            "attacher gets FileNotFoundError."
        ),
        compat="Documented; keep the creator's handle open and unlink once, in the owner.",
        handling="documents",
        sources=("docs: multiprocessing.shared_memory.SharedMemory.unlink",),
        cells=("until unlink()", "until unlink()", "until last close"),
        probe=_probe_shm_lifetime,
    ),
    Difference(
        id="SYNC-05",
        area="SYNC",
        title="An independent process attaching to SharedMemory destroys it when it exits",
        oses=POSIX_OSES,
        python="3.8-3.12; 3.13+ unless track=False",
        kind="silent",
        behaviour=(
            "Attaching by name registers the block with the attacher's resource tracker, "
            "which unlinks it when that process exits, while the creator still uses it; "
            "the creator's unlink() then raises FileNotFoundError (gh-82300). 3.13 adds "
            "SharedMemory(track=False)."
        ),
        compat="Documented; attach with track=False on 3.13+, or only from children.",
        handling="documents",
        sources=("gh-82300", "docs: multiprocessing.shared_memory.SharedMemory"),
        cells=("destroyed", "destroyed", "no tracker"),
        probe=_probe_shm_tracker,
    ),
    Difference(
        id="SYNC-06",
        area="SYNC",
        title="SharedMemory.size is rounded up to the page size on macOS and Windows",
        oses=("darwin", "win32"),
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Linux reports the size asked for; a Windows attacher sees it rounded up to "
            "the page (80000 reads 81920, gh-101623) and macOS rounds to its page size "
            "(16 KiB on Apple Silicon). The docs only promise 'larger or equal'."
        ),
        compat="Documented; store the logical length inside the block.",
        handling="documents",
        sources=("gh-101623", "docs: multiprocessing.shared_memory.SharedMemory"),
        cells=("exact", "page-rounded", "attacher: page-rounded"),
        probe=_probe_shm_size,
    ),
    Difference(
        id="SYNC-07",
        area="SYNC",
        title="A small /dev/shm (Docker: 64 MiB) kills writers with SIGBUS",
        oses=("linux",),
        python="3.8-3.14",
        kind="crash",
        behaviour=(
            "Creating a large SharedMemory block succeeds (the file is sparse); writing "
            "past what tmpfs can hold kills the process with SIGBUS (exit code -7), no "
            "Python exception."
        ),
        compat="Documented; the doctor reports the size of /dev/shm here.",
        handling="documents",
        sources=("report: pytorch/pytorch#58386",),
        cells=("containers: SIGBUS", "n/a", "n/a"),
        probe=_probe_dev_shm_size,
    ),
)
