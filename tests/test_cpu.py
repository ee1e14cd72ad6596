"""compat.cpu_count and the worker-count policy, including the Windows wait-handle cap,
as pure functions of injected facts."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Optional

import pytest

import compat
from compat._cpu import (
    WINDOWS_EXECUTOR_MAX_WORKERS,
    CpuFacts,
    _override_from,
    cgroup_cpu_quota,
    count_from_facts,
    cpu_count,
    read_cpu_facts,
    resolve_worker_count,
    windows_worker_cap,
)
from compat._platform import PlatformFacts

ROOT = str(Path(__file__).resolve().parent.parent)
WIN312 = PlatformFacts.simulated("win32", (3, 12))
WIN313 = PlatformFacts.simulated("win32", (3, 13))
LINUX = PlatformFacts.simulated("linux", (3, 12))
MACOS = PlatformFacts.simulated("darwin", (3, 13))


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (CpuFacts(), 1),
        (CpuFacts(os_cpu_count=8), 8),
        (CpuFacts(os_cpu_count=8, affinity=2), 2),
        (CpuFacts(os_cpu_count=8, process_cpu_count=3, affinity=3), 3),
        (CpuFacts(os_cpu_count=64, affinity=64, quota=1.5), 2),
        (CpuFacts(os_cpu_count=64, affinity=4, quota=16.0), 4),
        (CpuFacts(os_cpu_count=4, quota=0.2), 1),
        (CpuFacts(os_cpu_count=4, affinity=4, quota=2.0, override=7), 7),
        (CpuFacts(os_cpu_count=None, affinity=None, quota=None), 1),
    ],
)
def test_count_from_facts(facts: CpuFacts, expected: int) -> None:
    assert count_from_facts(facts) == expected


def test_cpu_count_here() -> None:
    n = cpu_count()
    assert 1 <= n <= (os.cpu_count() or 1)
    facts = read_cpu_facts()
    if hasattr(os, "sched_getaffinity"):
        assert facts.affinity == len(os.sched_getaffinity(0))
        if facts.quota is None and facts.override is None:
            assert n == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux-only affinity API")
def test_cpu_count_follows_affinity() -> None:
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert cpu_count() == 1
    finally:
        os.sched_setaffinity(0, before)


def _fake_root(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str]) -> str:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text(mountinfo)
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNT = (
    "31 23 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n"
    "40 31 0:35 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n"
)


def test_cgroup_v2_quota_and_parent_limit(tmp_path: Path) -> None:
    root = _fake_root(
        tmp_path,
        "0::/kubepods/pod1/ctr\n",
        V2_MOUNT,
        {
            "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
            "sys/fs/cgroup/kubepods/pod1/cpu.max": "250000 100000\n",
            "sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
        },
    )
    assert cgroup_cpu_quota(root) == 2.5
    facts = read_cpu_facts(root, read_cgroups=True)
    assert facts.quota == 2.5


def test_cgroup_v2_namespace_root_unlimited(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, "0::/\n", V2_MOUNT, {"sys/fs/cgroup/cpu.max": "max 100000\n"})
    assert cgroup_cpu_quota(root) is None


def test_cgroup_v1_docker(tmp_path: Path) -> None:
    root = _fake_root(
        tmp_path,
        "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n",
        V1_MOUNT,
        {
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "150000\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root) == 1.5


def test_cgroup_v1_unlimited_and_garbage(tmp_path: Path) -> None:
    root = _fake_root(
        tmp_path,
        "4:cpu:/\n",
        "40 31 0:35 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        {
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root) is None
    assert cgroup_cpu_quota(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    ("xoptions", "env", "ignore_env", "expected"),
    [
        ({}, {}, False, None),
        ({"cpu_count": "3"}, {}, False, 3),
        ({}, {"PYTHON_CPU_COUNT": "5"}, False, 5),
        ({}, {"PYTHON_CPU_COUNT": "5"}, True, None),
        ({"cpu_count": "default"}, {"PYTHON_CPU_COUNT": "5"}, False, None),
        ({}, {"COMPAT_CPU_COUNT": "2", "PYTHON_CPU_COUNT": "5"}, False, 2),
        ({"cpu_count": "3"}, {"COMPAT_CPU_COUNT": " 4 "}, False, 4),
        ({}, {"COMPAT_CPU_COUNT": "7"}, True, 7),  # compat's own: read under -E too
        ({}, {"COMPAT_CPU_COUNT": "default", "PYTHON_CPU_COUNT": "5"}, False, 5),
        ({}, {"COMPAT_CPU_COUNT": "", "PYTHON_CPU_COUNT": "5"}, False, 5),
    ],
)
def test_override(
    xoptions: dict[str, object], env: dict[str, str], ignore_env: bool, expected: Optional[int]
) -> None:
    flags = types.SimpleNamespace(ignore_environment=ignore_env)
    assert _override_from(flags, xoptions, env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "\u0664"])
def test_invalid_compat_cpu_count_raises(value: str) -> None:
    flags = types.SimpleNamespace(ignore_environment=False)
    with pytest.raises(ValueError, match=r"COMPAT_CPU_COUNT=.* is not a CPU count"):
        _override_from(flags, {}, {"COMPAT_CPU_COUNT": value, "PYTHON_CPU_COUNT": "2"})


@pytest.mark.parametrize(
    ("xoptions", "env", "source"),
    [
        ({}, {"PYTHON_CPU_COUNT": "0"}, "PYTHON_CPU_COUNT"),
        ({}, {"PYTHON_CPU_COUNT": "many"}, "PYTHON_CPU_COUNT"),
        ({"cpu_count": "x"}, {"PYTHON_CPU_COUNT": "2"}, "-X cpu_count"),
    ],
)
def test_invalid_python_cpu_count_warns(
    xoptions: dict[str, object], env: dict[str, str], source: str
) -> None:
    flags = types.SimpleNamespace(ignore_environment=False)
    with pytest.warns(compat.CompatWarning, match=f"{source}=.* is not a CPU count"):
        assert _override_from(flags, xoptions, env) is None


def _count_in_child(env: dict[str, str], *args: str) -> list[str]:
    """``cpu_count()`` and the default worker counts in a fresh interpreter."""
    code = (
        "import compat, warnings; warnings.simplefilter('error')\n"
        "from compat._cpu import resolve_worker_count as r\n"
        "print(compat.cpu_count(), r(None, executor=False), r(None, executor=True))"
    )
    full = {**os.environ, **env, "PYTHONPATH": ROOT}
    for name in ("COMPAT_CPU_COUNT", "PYTHON_CPU_COUNT"):
        if name not in env:
            full.pop(name, None)
    done = subprocess.run(
        [sys.executable, *args, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )
    return [done.stdout.strip(), done.stderr.strip().splitlines()[-1:][0] if done.stderr else ""]


def test_overrides_in_a_real_interpreter() -> None:
    """PYTHON_CPU_COUNT=1 is honoured on every CPython version (3.11 used to print
    the machine's count), COMPAT_CPU_COUNT wins over it, -E drops only Python's."""
    assert _count_in_child({"PYTHON_CPU_COUNT": "1"}) == ["1 1 1", ""]
    assert _count_in_child({"PYTHON_CPU_COUNT": "1", "COMPAT_CPU_COUNT": "3"}) == ["3 3 3", ""]
    assert _count_in_child({"COMPAT_CPU_COUNT": "5"}, "-E") == ["5 5 5", ""]
    out, err = _count_in_child({"COMPAT_CPU_COUNT": "lots"})
    assert out == ""
    assert err == (
        "ValueError: COMPAT_CPU_COUNT='lots' is not a CPU count: set it to a whole number "
        "of at least 1, or to 'default' (or unset it) to count the CPUs"
    )


@pytest.mark.parametrize(
    ("facts", "executor", "expected"),
    [
        (WIN312, True, WINDOWS_EXECUTOR_MAX_WORKERS),
        (WIN312, False, WINDOWS_EXECUTOR_MAX_WORKERS),
        (WIN313, True, WINDOWS_EXECUTOR_MAX_WORKERS),
        (WIN313, False, None),
        (LINUX, True, None),
        (LINUX, False, None),
        (MACOS, True, None),
    ],
)
def test_windows_worker_cap(facts: PlatformFacts, executor: bool, expected: Optional[int]) -> None:
    assert windows_worker_cap(facts, executor=executor) == expected
    assert WINDOWS_EXECUTOR_MAX_WORKERS == 61


def test_resolve_worker_count_defaults() -> None:
    assert resolve_worker_count(None, executor=True, facts=WIN312, cpus=128) == 61
    assert resolve_worker_count(None, executor=False, facts=WIN312, cpus=128) == 61
    assert resolve_worker_count(None, executor=False, facts=WIN313, cpus=128) == 128
    assert resolve_worker_count(None, executor=True, facts=LINUX, cpus=128) == 128
    assert resolve_worker_count(None, executor=False, facts=LINUX, cpus=3) == 3
    assert resolve_worker_count(None, executor=False) == cpu_count()


def test_resolve_worker_count_explicit() -> None:
    assert resolve_worker_count(61, executor=True, facts=WIN312) == 61
    with pytest.raises(ValueError, match=r"^max_workers must be <= 61$"):
        resolve_worker_count(62, executor=True, facts=WIN313)
    with pytest.raises(ValueError, match=r"at most 61 on Windows before CPython 3\.13"):
        resolve_worker_count(64, executor=False, facts=WIN312)
    assert resolve_worker_count(64, executor=False, facts=WIN313) == 64
    assert resolve_worker_count(500, executor=True, facts=LINUX) == 500
    with pytest.raises(ValueError, match=r"^Number of processes must be at least 1$"):
        resolve_worker_count(0, executor=False, facts=LINUX)
    with pytest.raises(ValueError, match=r"^max_workers must be greater than 0$"):
        resolve_worker_count(-2, executor=True, facts=LINUX)
    for bad in (1.0, "2", True):
        with pytest.raises(TypeError):
            resolve_worker_count(bad, executor=False, facts=LINUX)  # type: ignore[arg-type]
