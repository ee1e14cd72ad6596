"""Print what a test log needs to be read later: OS, CPython, start methods, CPUs.

Run at the top of every CI log (``ci/run_tests.sh``) and before every tox test env,
so a failure on one runner can be compared with another. It must never fail the run:
everything that may be missing (``compat`` itself while it is being written, an
OS-only call) is reported as an error line instead.

    python ci/sysinfo.py
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent


def line(label: str, value: object) -> None:
    print(f"  {label:<28} {value}")


def guarded(label: str, fn: Callable[[], Any]) -> None:
    try:
        value = fn()
    except Exception as exc:  # report, never crash: this runs before the tests
        value = f"<{type(exc).__name__}: {exc}>"
    line(label, value)


def os_release() -> str:
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}"
    if sys.platform == "win32":
        release, version, _csd, _ptype = platform.win32_ver()
        return f"Windows {release} {version} {platform.win32_edition()}"
    try:
        info = platform.freedesktop_os_release()  # 3.10+
    except (AttributeError, OSError):
        return "unknown"
    return str(info.get("PRETTY_NAME", "unknown"))


def affinity_cpus() -> object:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return "n/a on this OS"


def process_cpus() -> object:
    # 3.13+: the CPUs this process may use (affinity; -X cpu_count / PYTHON_CPU_COUNT)
    fn = getattr(os, "process_cpu_count", None)
    return fn() if fn is not None else "n/a before 3.13"


def cgroup_quota() -> object:
    # cgroup v2 CPU quota ("max 100000" = none), what containers on CI limit
    path = Path("/sys/fs/cgroup/cpu.max")
    if not path.is_file():
        return "n/a"
    return path.read_text(encoding="ascii").strip()


def default_start_method() -> object:
    # Fixes the default for this process, which ends right after.
    return multiprocessing.get_start_method()


def compat_section() -> None:
    # An installed compat (tox envs) wins; else the checkout's (python ci/sysinfo.py).
    sys.path.append(str(ROOT))
    print("compat")
    try:
        import compat
    except Exception as exc:
        line("import compat", f"<{type(exc).__name__}: {exc}>")
        return
    line("version", getattr(compat, "__version__", "?"))
    line("imported from", getattr(compat, "__file__", "?"))

    def decision() -> str:
        d = compat.choose_start_method()
        return f"{d.method} ({d.reason})"

    guarded("choose_start_method()", decision)
    guarded("available_start_methods()", lambda: compat.available_start_methods())
    guarded("cpu_count()", lambda: compat.cpu_count())


def main() -> int:
    print("platform")
    line("sys.platform / os.name", f"{sys.platform} / {os.name}")
    guarded("platform.platform()", platform.platform)
    guarded("OS release", os_release)
    line("machine", platform.machine())
    print("python")
    line("implementation", f"{platform.python_implementation()} {platform.python_version()}")
    line("version", sys.version.replace("\n", " "))
    line("executable", sys.executable)
    gil = getattr(sys, "_is_gil_enabled", None)
    if gil is not None:
        line("GIL enabled", gil())
    print("multiprocessing")
    guarded("get_all_start_methods()", multiprocessing.get_all_start_methods)
    guarded("default start method", default_start_method)
    line("COMPAT_START_METHOD", os.environ.get("COMPAT_START_METHOD", "<unset>"))
    print("cpus")
    line("os.cpu_count()", os.cpu_count())
    guarded("sched_getaffinity(0)", affinity_cpus)
    guarded("os.process_cpu_count()", process_cpus)
    guarded("cgroup cpu.max", cgroup_quota)
    compat_section()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
