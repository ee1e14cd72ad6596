"""ENV: the interpreter a child runs, and the environment it sees."""

from __future__ import annotations

import os
import sys
from typing import Optional

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
)
from ._probekit import call_in_child

ALL = ("linux", "darwin", "win32")
_VARIABLE = "COMPAT_PROBE_SET_LATER"


def _getenv(name: str) -> Optional[str]:
    return os.environ.get(name)


def _probe_spawn_executable(ctx: ProbeContext) -> Observation:
    """Compare the executable spawn starts with sys.executable."""
    from multiprocessing import spawn

    exe = os.fsdecode(spawn.get_executable())
    same = os.path.normcase(exe) == os.path.normcase(sys.executable)
    observed = {"venv": sys.prefix != sys.base_prefix, "spawn_runs_sys_executable": same}
    return affected(not same, observed, f"spawn starts {'sys.executable' if same else exe}")


def _probe_executable(ctx: ProbeContext) -> Observation:
    """Check that sys.executable is set and looks like a Python interpreter."""
    exe = sys.executable or ""
    name = os.path.basename(exe).lower()
    looks = bool(exe) and name.startswith(("python", "pypy"))
    return affected(not looks, {"looks_like_python": looks}, f"sys.executable is {name or 'empty'}")


def _probe_env_after_start(ctx: ProbeContext) -> Observation:
    """Start a child, set an environment variable, start another; does it see it?"""
    call_in_child(ctx, _getenv, _VARIABLE)  # starts the forkserver, if that is the method
    os.environ[_VARIABLE] = "set-later"
    try:
        kind, value, _code = call_in_child(ctx, _getenv, _VARIABLE)
    finally:
        del os.environ[_VARIABLE]
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    seen = value == "set-later"
    detail = f"{ctx.method}: the second child {'saw' if seen else 'did not see'} the variable"
    return affected(not seen, {"child_sees_new_variable": seen}, detail)


ENTRIES = (
    Difference(
        id="ENV-01",
        area="ENV",
        title="In a Windows venv, spawn starts the base python.exe, not the venv's",
        oses=("win32",),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "A Windows venv's python.exe is a launcher; multiprocessing spawn starts "
            "sys._base_executable with __PYVENV_LAUNCHER__ set (bpo-35797), so the child "
            "still sees the venv's packages but its image name differs. A Windows "
            "service's pythonservice.exe is replaced by python.exe."
        ),
        compat="Documented; identify children by pid or handle, never by image name.",
        handling="documents",
        sources=("bpo-35797", "source: Lib/multiprocessing/popen_spawn_win32.py"),
        cells=("sys.executable", "sys.executable", "venv: base python.exe"),
        probe=_probe_spawn_executable,
    ),
    Difference(
        id="ENV-02",
        area="ENV",
        title="Embedded interpreters: sys.executable is the host application",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "In Blender, Maya, uWSGI or a C++ host, sys.executable is the host binary "
            "or empty, so spawn launches the host again, or fails. "
            "multiprocessing.set_executable() points spawn at a real interpreter "
            "(path-like accepted from 3.11)."
        ),
        compat="compat.set_executable is the standard library's; the doctor checks it here.",
        handling="documents",
        sources=("docs: multiprocessing.set_executable", "docs: sys.executable"),
        cells=("host binary", "host binary", "host binary"),
        probe=_probe_executable,
    ),
    Difference(
        id="ENV-03",
        area="ENV",
        title="forkserver children miss environment changes made after the server started",
        oses=("linux", "darwin"),
        python="3.8-3.14 (Linux default from 3.14)",
        kind="silent",
        behaviour=(
            "fork and spawn children see os.environ as of start(); forkserver children "
            "see the environment the server had when it started, so a variable set "
            "after the first child is missing. os.putenv() never updates os.environ "
            "(3.14 adds os.reload_environ())."
        ),
        compat="Documented; pass settings as arguments, or set them before the first child.",
        handling="documents",
        sources=("source: Lib/multiprocessing/forkserver.py", "docs: os.putenv"),
        cells=("forkserver: stale", "forkserver: stale", "as of start()"),
        probe=_probe_env_after_start,
        probe_method="forkserver",
    ),
    Difference(
        id="ENV-04",
        area="ENV",
        title="os.popen() and os.spawn*() are soft-deprecated in 3.14",
        oses=ALL,
        python="3.14",
        kind="semantics",
        behaviour=(
            "They still work and warn about nothing, but the docs direct new code to "
            "subprocess (gh-120743). os.startfile is Windows-only; os.posix_spawn is "
            "POSIX-only."
        ),
        compat="compat uses subprocess and multiprocessing only.",
        handling="documents",
        sources=("gh-120743", "docs: What's New In Python 3.14, os"),
        cells=("soft-deprecated", "soft-deprecated", "soft-deprecated"),
        no_probe_reason="a documentation status with no behaviour to observe; nothing warns",
    ),
)
