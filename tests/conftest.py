"""Shared test machinery.

- ``start_method``: every test that starts a process takes this fixture. It is
  parametrised over every start method compat knows; methods this interpreter
  lacks, and methods other than the one ``COMPAT_START_METHOD`` selects (the tox
  factor), are *visible* skips with a reason, never silent.
- ``_reap_children`` (autouse): after each test, kills and reaps any child process
  the test left behind (multiprocessing children and plain subprocesses), and
  fails the test if there were any, so that a failing or timed-out test never
  hangs the run or leaves processes behind. A fixture that keeps processes alive
  across tests on purpose (tests/test_dask.py's module-scoped LocalCluster) registers
  a function naming them with ``keep_processes``, and unregisters it when it ends.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from typing import Callable

import pytest

from tests.procs import hard_kill

ALL_METHODS = ("fork", "forkserver", "spawn")
AVAILABLE = tuple(multiprocessing.get_all_start_methods())
SELECTED = os.environ.get("COMPAT_START_METHOD", "").strip() or None


def pytest_configure(config: pytest.Config) -> None:
    # compat's pytest plugin (compat.pytest_plugin), when installed: this conftest's
    # start_method fixture overrides the plugin's (the plugin leaves those tests
    # alone), and its leak guard checks processes and compat's threads here, not
    # descriptors: a finished process's multiprocessing Popen keeps two pipe ends
    # until it is collected, which many tests here outlive (see the plugin's tests).
    if hasattr(config.option, "no_fd_leak_check"):
        config.option.no_fd_leak_check = True


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"start methods available: {', '.join(AVAILABLE)}; "
        f"COMPAT_START_METHOD={SELECTED or '(unset: all methods run)'}"
    )


def _method_param(method: str) -> object:
    marks = []
    if method not in AVAILABLE:
        marks.append(pytest.mark.skip(reason=f"start method {method!r} is unavailable here"))
    elif SELECTED is not None and method != SELECTED:
        marks.append(
            pytest.mark.skip(reason=f"COMPAT_START_METHOD={SELECTED} selects {SELECTED} only")
        )
    return pytest.param(method, marks=marks, id=method)


@pytest.fixture(params=[_method_param(m) for m in ALL_METHODS])
def start_method(request: pytest.FixtureRequest) -> str:
    """The start method a process-starting test runs under."""
    return str(request.param)


#: Functions naming processes a fixture keeps alive across tests (see keep_processes).
_KEPT: list[Callable[[], set[int]]] = []


@pytest.fixture(scope="session")
def keep_processes() -> list[Callable[[], set[int]]]:
    """Append a function returning pids the reaper must leave alone; remove it when
    the processes are gone."""
    return _KEPT


def _helper_pids() -> set[int]:
    """Long-lived helper processes multiprocessing keeps on purpose, and those a
    fixture keeps (keep_processes)."""
    pids: set[int] = set()
    for kept in _KEPT:
        pids |= kept()
    rt = sys.modules.get("multiprocessing.resource_tracker")
    if rt is not None:
        pid = getattr(getattr(rt, "_resource_tracker", None), "_pid", None)
        if pid:
            pids.add(pid)
    fs = sys.modules.get("multiprocessing.forkserver")
    if fs is not None:
        pid = getattr(getattr(fs, "_forkserver", None), "_forkserver_pid", None)
        if pid:
            pids.add(pid)
    return pids


def _direct_children() -> dict[int, str]:
    """Live (non-zombie) direct children of this process, from /proc (Linux)."""
    me = os.getpid()
    found: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(b")") + 2 :].split()
        state, ppid = rest[0], int(rest[1])
        if ppid == me and state != b"Z":
            found[int(entry)] = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode()
    return found


def reap_leftovers() -> list[str]:
    """Kill and reap what this process left running; return descriptions."""
    left: list[str] = []
    helpers = _helper_pids()
    for p in multiprocessing.active_children():
        if p.pid in helpers:
            continue
        left.append(f"multiprocessing child {p.name} pid={p.pid}")
        p.kill()
        p.join(5)
    deadline = time.monotonic() + 5
    for pid, comm in _direct_children().items():
        if pid in helpers:
            continue
        left.append(f"process {comm} pid={pid}")
        try:
            hard_kill(pid)
        except ProcessLookupError:
            continue
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    break
            except ChildProcessError:  # its owner reaped it
                break
            time.sleep(0.01)
    return left


@pytest.fixture(autouse=True)
def _reap_children(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    # Give children that are exiting right now a moment, then insist.
    deadline = time.monotonic() + 2
    while (
        time.monotonic() < deadline
        and ({p.pid for p in multiprocessing.active_children()} | set(_direct_children()))
        - _helper_pids()
    ):
        time.sleep(0.02)
    left = reap_leftovers()
    if left:
        pytest.fail(f"test left {len(left)} process(es) running: {'; '.join(left)}")
