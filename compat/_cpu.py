"""How many CPUs this process may use, and how many workers a pool may have.

:func:`cpu_count` is what :class:`compat.Pool` and :class:`compat.ProcessPoolExecutor`
use by default. The rest are pure functions of injected facts (:class:`CpuFacts`,
:class:`~compat._platform.PlatformFacts`), so every branch (a container quota, a
Windows machine with 128 CPUs, CPython 3.12 against 3.13) is tested on one Linux box.
"""

from __future__ import annotations

import math
import os
import sys

from ._platform import LINUX, PLATFORM, PYTHON, PlatformFacts
from ._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    _Reader = Callable[[str], Optional[float]]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "WINDOWS_EXECUTOR_MAX_WORKERS",
    "CpuFacts",
    "cgroup_cpu_quota",
    "count_from_facts",
    "cpu_count",
    "read_cpu_facts",
    "resolve_worker_count",
    "windows_worker_cap",
]

#: ``WaitForMultipleObjects`` waits on at most 63 objects (MAXIMUM_WAIT_OBJECTS is 64,
#: one slot is used by the call itself); the standard library's executor keeps two
#: for its own wakeup and result pipes (``_MAX_WINDOWS_WORKERS = 63 - 2`` in
#: concurrent/futures/process.py). Research id POOL-02.
WINDOWS_EXECUTOR_MAX_WORKERS = 61


class CpuFacts(Record):
    """What :func:`count_from_facts` needs; every field may be unknown (None).

    ``os_cpu_count``: ``os.cpu_count()`` (CPUs in the machine).
    ``process_cpu_count``: ``os.process_cpu_count()`` (CPython 3.13+: affinity and the
    ``-X cpu_count`` / ``PYTHON_CPU_COUNT`` override).
    ``affinity``: CPUs in the scheduler affinity mask (``os.sched_getaffinity``, Linux).
    ``quota``: the cgroup CPU bandwidth limit in CPUs (``docker --cpus=1.5`` -> 1.5).
    ``override``: the CPU count the user forced with ``COMPAT_CPU_COUNT=N``,
    ``-X cpu_count=N`` or ``PYTHON_CPU_COUNT=N`` (compat honours all three on every
    CPython version; CPython itself the last two from 3.13); it wins over everything.
    """

    _fields = ("os_cpu_count", "process_cpu_count", "affinity", "quota", "override")
    __slots__ = _fields
    os_cpu_count: Optional[int]
    process_cpu_count: Optional[int]
    affinity: Optional[int]
    quota: Optional[float]
    override: Optional[int]

    def __init__(
        self,
        os_cpu_count: Optional[int] = None,
        process_cpu_count: Optional[int] = None,
        affinity: Optional[int] = None,
        quota: Optional[float] = None,
        override: Optional[int] = None,
    ) -> None:
        self._init(os_cpu_count, process_cpu_count, affinity, quota, override)


def count_from_facts(facts: CpuFacts) -> int:
    """The CPUs a process described by ``facts`` may use; never less than 1.

    An explicit override wins. Otherwise the smallest of the machine's count, the
    affinity mask and the container quota (rounded up: 1.5 CPUs of quota keep two
    workers busy), because each one alone overstates what the process gets
    (gh-80235: neither ``os.cpu_count`` nor ``os.process_cpu_count`` reads the quota).
    """
    if facts.override is not None and facts.override >= 1:
        return facts.override
    candidates = [n for n in (facts.os_cpu_count, facts.process_cpu_count, facts.affinity) if n]
    if facts.quota is not None and facts.quota > 0:
        candidates.append(max(1, math.ceil(facts.quota)))
    return max(1, min(candidates)) if candidates else 1


def cpu_count() -> int:
    """The number of CPUs this process may really use, never less than 1.

    Unlike ``os.cpu_count()`` (every CPU in the machine) this honours:

    - the scheduler affinity mask (``taskset``, ``os.sched_setaffinity``; Linux), and
      ``os.process_cpu_count()`` where it exists (CPython 3.13+);
    - the cgroup v1 and v2 CPU quota of a container (``docker --cpus``, Kubernetes CPU
      limits), which no standard-library function reads (gh-80235);
    - an override, which wins over everything: ``COMPAT_CPU_COUNT=N`` (compat's own,
      for containers whose CPU count is wrong), else CPython 3.13's
      ``-X cpu_count=N`` / ``PYTHON_CPU_COUNT=N``, honoured on every CPython version
      (3.9-3.12 ignore them otherwise). ``PYTHON_CPU_COUNT`` is ignored under ``-E``
      and ``-I``, as in 3.13; ``COMPAT_CPU_COUNT`` is read as ``COMPAT_START_METHOD``
      is, always. The value ``default`` (or an empty one) means no override.

    An invalid ``COMPAT_CPU_COUNT`` (not a whole number of at least 1) raises
    ``ValueError`` naming it, and so do ``Pool()`` and ``ProcessPoolExecutor()``
    without a worker count: a typo in compat's own setting must not quietly give
    a different pool. An invalid ``PYTHON_CPU_COUNT`` / ``-X cpu_count`` stops
    CPython 3.13+ at start-up, so compat only sees one on 3.9-3.12: it is ignored
    with a :class:`compat.CompatWarning`.

    Linux: all of the above. macOS: the machine's count (no affinity API, no
    cgroups) or the override. Windows: the machine's count, or
    ``os.process_cpu_count()`` on 3.13+, or the override.
    """
    return count_from_facts(read_cpu_facts())


def read_cpu_facts(cgroup_root: str = "/", *, read_cgroups: bool = LINUX) -> CpuFacts:
    """Read :class:`CpuFacts` from this process; ``cgroup_root`` lets tests point the
    cgroup reader at a fake ``/proc`` + ``/sys/fs/cgroup`` tree."""
    process_count = None
    override = _override_from(sys.flags, getattr(sys, "_xoptions", {}), os.environ)
    pcc = getattr(os, "process_cpu_count", None)
    if pcc is not None:
        process_count = pcc()
    affinity = None
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            affinity = len(getaffinity(0))
        except OSError:
            affinity = None
    quota = cgroup_cpu_quota(cgroup_root) if read_cgroups else None
    return CpuFacts(
        os_cpu_count=os.cpu_count(),
        process_cpu_count=process_count,
        affinity=affinity,
        quota=quota,
        override=override,
    )


#: compat's own CPU count override (see :func:`cpu_count`).
CPU_COUNT_ENV = "COMPAT_CPU_COUNT"


def _override_from(
    flags: object, xoptions: Mapping[str, object], environ: Mapping[str, str]
) -> Optional[int]:
    """The forced CPU count: COMPAT_CPU_COUNT, else CPython 3.13's -X cpu_count=N,
    else PYTHON_CPU_COUNT=N (ignored under -E / -I); "default" means none."""
    ours = environ.get(CPU_COUNT_ENV)
    if ours is not None and ours.strip() not in ("", "default"):
        number = _positive(ours)
        if number is None:
            raise ValueError(
                f"{CPU_COUNT_ENV}={ours!r} is not a CPU count: set it to a whole number "
                f"of at least 1, or to 'default' (or unset it) to count the CPUs"
            )
        return number
    value = xoptions.get("cpu_count")
    source = "-X cpu_count"
    if value is None and not getattr(flags, "ignore_environment", False):
        value, source = environ.get("PYTHON_CPU_COUNT"), "PYTHON_CPU_COUNT"
    if value is None or value == "default":
        return None
    number = _positive(value) if isinstance(value, str) else None
    if number is None:
        from ._errors import CompatWarning, warn_user

        warn_user(
            f"{source}={value!r} is not a CPU count (a whole number of at least 1, or "
            f"'default'); compat ignores it (CPython 3.13+ would refuse to start)",
            CompatWarning,
        )
    return number


def _positive(text: str) -> Optional[int]:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        return None
    number = int(text)
    return number if number >= 1 else None


def cgroup_cpu_quota(root: str = "/") -> Optional[float]:
    """The CPU quota of this process's cgroup in CPUs, or None when unlimited/unknown.

    cgroup v2: ``cpu.max`` ("max 100000" or "150000 100000"). cgroup v1:
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1 means unlimited). Every ancestor
    cgroup up to the mount point is read, and the smallest limit wins, because a
    parent's limit caps its children.
    """
    try:
        with open(os.path.join(root, "proc/self/cgroup"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    try:
        with open(os.path.join(root, "proc/self/mountinfo"), encoding="utf-8") as f:
            mountinfo = f.read().splitlines()
    except OSError:
        mountinfo = []
    limits: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            mount = _find_mount(mountinfo, "cgroup2", None)
            if mount is not None:
                limits += _walk(root, mount, path, _read_v2)
        elif "cpu" in controllers.split(","):
            mount = _find_mount(mountinfo, "cgroup", "cpu")
            if mount is not None:
                limits += _walk(root, mount, path, _read_v1)
    return min(limits) if limits else None


def _find_mount(
    mountinfo: list[str], fstype: str, option: Optional[str]
) -> Optional[tuple[str, str]]:
    """(mount root inside the hierarchy, mount point) of the first matching cgroup fs."""
    for line in mountinfo:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 1 or rfields[0] != fstype:
            continue
        if option is not None:
            opts = rfields[2].split(",") if len(rfields) > 2 else []
            if option not in opts:
                continue
        return fields[3], fields[4]
    return None


def _walk(root: str, mount: tuple[str, str], path: str, reader: _Reader) -> list[float]:
    mount_root, mount_point = mount
    # In a container with a cgroup namespace the path is "/" and the mount root is "/";
    # without one the path may be "/docker/<id>" and the mount root the same or "/".
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root) :]
    parts = [p for p in path.split("/") if p and p != ".."]
    found: list[float] = []
    while True:
        directory = os.path.join(root, mount_point.lstrip("/"), *parts)
        value = reader(directory)
        if value is not None:
            found.append(value)
        if not parts:
            return found
        parts.pop()


def _read_v2(directory: str) -> Optional[float]:
    text = _read(os.path.join(directory, "cpu.max"))
    if text is None:
        return None
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_v1(directory: str) -> Optional[float]:
    quota_text = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period_text = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if quota_text is None or period_text is None:
        return None
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def windows_worker_cap(facts: PlatformFacts, *, executor: bool) -> Optional[int]:
    """The most workers a pool may have on the platform ``facts`` describe, or None.

    Only Windows caps (POOL-02, POOL-03), because waiting on processes and pipes goes
    through ``WaitForMultipleObjects``, which takes at most 63 handles:

    - the executor: 61 on every CPython version, as the standard library's
      ``ProcessPoolExecutor`` (``max_workers must be <= 61``), so code moving between
      the two sees the same limit;
    - the Pool: 61 before CPython 3.13, where ``multiprocessing.connection.wait``
      cannot wait on more (the standard library's Pool hangs there: gh-89240);
      3.13+ batches the waits (gh-107873), so there is no cap.
    """
    if not facts.windows:
        return None
    if executor or facts.python < (3, 13):
        return WINDOWS_EXECUTOR_MAX_WORKERS
    return None


def resolve_worker_count(
    requested: Optional[int],
    *,
    executor: bool,
    facts: Optional[PlatformFacts] = None,
    cpus: Optional[int] = None,
) -> int:
    """The worker count a pool gets for ``requested`` (None: the default).

    The default is :func:`cpu_count` capped by :func:`windows_worker_cap`. An explicit
    count must be an int of at least 1 (ValueError with the standard library's
    message otherwise) and, on Windows, at most the cap: the standard library's
    executor raises the same ValueError, and its Pool would hang instead (POOL-03).
    ``facts`` and ``cpus`` are injected by tests.
    """
    if facts is None:
        facts = _current_platform()
    cap = windows_worker_cap(facts, executor=executor)
    if requested is None:
        count = cpus if cpus is not None else cpu_count()
        return max(1, min(count, cap) if cap is not None else count)
    if isinstance(requested, bool) or not isinstance(requested, int):
        what = "max_workers" if executor else "processes"
        raise TypeError(f"{what} must be an int or None, not {type(requested).__name__}")
    if requested < 1:
        if executor:
            raise ValueError("max_workers must be greater than 0")
        raise ValueError("Number of processes must be at least 1")
    if cap is not None and requested > cap:
        if executor:
            raise ValueError(f"max_workers must be <= {cap}")
        raise ValueError(
            f"Number of processes must be at most {cap} on Windows before CPython 3.13 "
            f"(WaitForMultipleObjects waits on at most 63 handles; gh-89240); "
            f"use processes={cap} or several pools"
        )
    return requested


def _current_platform() -> PlatformFacts:
    # Cheaper than PlatformFacts.current(): the cap needs only the OS and version.
    return PlatformFacts.simulated(PLATFORM, PYTHON)
