"""``import compat as multiprocessing`` runs what people already wrote.

- The corpus (``tests/dropin/``): programs in the style of the standard library's
  documentation, each run as written and with its import lines changed to compat,
  under every start method; both print the same (modulo pids, addresses and, for
  lines marked ``# dropin: any order``, order) and compat is not slower by more than
  start-up noise.
- Every public ``multiprocessing`` submodule is reachable through compat, lazily, the
  way programs import them; a manager subclass started from compat uses compat's start
  method and ends with its parent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compat
from tests.helpers import ROOT, python_env, run_python
from tests.procs import hard_kill, pid_exists

CORPUS = ROOT / "tests" / "dropin"
PROGRAMS = sorted(p.name for p in CORPUS.glob("*.py"))
TIMEOUT = 60.0

#: Import lines and what the compat variant says instead ("changing only the import line").
_SWAPS = [
    (re.compile(r"^(\s*)import multiprocessing$", re.M), r"\1import compat as multiprocessing"),
    (re.compile(r"^(\s*)import multiprocessing as (\w+)$", re.M), r"\1import compat as \2"),
    (re.compile(r"^(\s*)import multiprocessing\.(\w+)$", re.M), r"\1import compat.\2"),
    (
        re.compile(r"^(\s*)from multiprocessing(\.[\w.]+)? import ", re.M),
        r"\1from compat\2 import ",
    ),
    (re.compile(r"^(\s*)import concurrent\.futures$", re.M), r"\1import compat.futures"),
    (re.compile(r"^(\s*)from concurrent\.futures import ", re.M), r"\1from compat.futures import "),
]
# The standard library's variant pins the start method the way its documentation says.
_STDLIB_PROLOGUE = (
    "import multiprocessing as _m, os as _o; "
    "_m.set_start_method(_o.environ['COMPAT_START_METHOD'], force=True)  # dropin harness\n"
)
_COMPAT_PROLOGUE = "# dropin harness: COMPAT_START_METHOD chooses compat's start method\n"


def compat_variant(source: str) -> str:
    """``source`` with its multiprocessing and concurrent.futures imports made compat's."""
    changed = source
    for pattern, replacement in _SWAPS:
        changed = pattern.sub(replacement, changed)
    # `concurrent.futures.X` after `import compat.futures`: the same module, renamed.
    return changed.replace("concurrent.futures.", "compat.futures.")


def test_the_import_swap() -> None:
    source = (
        "import multiprocessing\nimport multiprocessing as mp\nimport multiprocessing.pool\n"
        "from multiprocessing import Pool\n    from multiprocessing.managers import BaseManager\n"
        "import concurrent.futures\nfrom concurrent.futures import as_completed\n"
        "x = concurrent.futures.wait\n"
    )
    assert compat_variant(source) == (
        "import compat as multiprocessing\nimport compat as mp\nimport compat.pool\n"
        "from compat import Pool\n    from compat.managers import BaseManager\n"
        "import compat.futures\nfrom compat.futures import as_completed\n"
        "x = compat.futures.wait\n"
    )


_PID = re.compile(r"\bpid[= ]\d+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def normalized(stdout: str, source: str) -> list[str]:
    lines = [_ADDRESS.sub("0x?", _PID.sub("pid=?", line)) for line in stdout.splitlines()]
    return sorted(lines) if "# dropin: any order" in source else lines


def _run(path: Path, method: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = run_python(path, method=method, timeout=TIMEOUT)
    return proc, time.monotonic() - start


def test_the_corpus_is_large_enough() -> None:
    assert len(PROGRAMS) >= 15, PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS)
def test_corpus_program_runs_the_same_on_compat(
    program: str, start_method: str, tmp_path: Path
) -> None:
    source = (CORPUS / program).read_text(encoding="utf-8")
    changed = compat_variant(source)
    assert changed != source, f"{program} imports neither multiprocessing nor concurrent.futures"
    std_path = tmp_path / "std" / program
    compat_path = tmp_path / "compat" / program
    for path, text in (
        (std_path, _STDLIB_PROLOGUE + source),
        (compat_path, _COMPAT_PROLOGUE + changed),
    ):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    std, std_seconds = _run(std_path, start_method)
    ours, our_seconds = _run(compat_path, start_method)
    assert std.returncode == 0, f"the standard library's run failed:\n{std.stderr}"
    assert ours.returncode == 0, f"compat's run failed:\n{ours.stderr}"
    assert "Traceback" not in ours.stderr, ours.stderr
    assert normalized(ours.stdout, source) == normalized(std.stdout, source), (
        f"compat printed:\n{ours.stdout}\nthe standard library printed:\n{std.stdout}"
        f"\ncompat's stderr:\n{ours.stderr}\nthe standard library's stderr:\n{std.stderr}"
    )
    # Start-up noise: a loaded two-core machine runs these programs in under a second.
    assert our_seconds <= 2 * std_seconds + 2.0, (our_seconds, std_seconds)


SUBMODULES = [
    "connection",
    "context",
    "dummy",
    "forkserver",
    "heap",
    "managers",
    "pool",
    "process",
    "queues",
    "reduction",
    "resource_sharer",
    "resource_tracker",
    "shared_memory",
    "sharedctypes",
    "spawn",
    "synchronize",
    "util",
]

IMPORTS = """
import sys
import compat
loaded = sorted(m for m in sys.modules if m.startswith("compat."))
assert loaded == ["compat._version"], loaded

import compat as multiprocessing
import multiprocessing as std
assert multiprocessing.pool.ThreadPool is std.pool.ThreadPool
assert multiprocessing.pool.Pool is compat.Pool
from compat.managers import BaseManager, BaseProxy, SharedMemoryManager, SyncManager, Token
from compat.connection import Client, Connection, Listener, Pipe, wait
from compat import shared_memory
from compat.shared_memory import ShareableList, SharedMemory
from compat.dummy import Pool as ThreadPool
import compat.dummy.connection
from compat.queues import JoinableQueue, Queue, SimpleQueue
from compat.sharedctypes import Array, RawArray, RawValue, Value, copy, synchronized
from compat.util import Finalize, get_logger, log_to_stderr
from compat.reduction import ForkingPickler
from compat.process import BaseProcess, active_children, current_process, parent_process
from compat.context import BaseContext, Process
from compat.synchronize import Barrier, Condition, Event, Lock, RLock, Semaphore
from compat.heap import BufferWrapper
from compat.spawn import freeze_support, get_executable
from compat.resource_tracker import ensure_running
from compat.futures import (
    ALL_COMPLETED, BrokenProcessPool, Future, ProcessPoolExecutor, ThreadPoolExecutor,
    as_completed, wait as futures_wait,
)
import compat.futures as futures
import concurrent.futures as cf

assert issubclass(SyncManager, BaseManager) and issubclass(SyncManager, std.managers.SyncManager)
assert issubclass(SharedMemoryManager, BaseManager)
assert Queue is compat.Queue and JoinableQueue is compat.JoinableQueue
assert SimpleQueue is compat.SimpleQueue and Process is compat.Process
assert Listener is std.connection.Listener and ThreadPool is std.dummy.Pool
assert compat.dummy.connection.Listener is std.dummy.connection.Listener
assert ForkingPickler is std.reduction.ForkingPickler and Finalize is std.util.Finalize
assert Lock is std.synchronize.Lock and BufferWrapper is std.heap.BufferWrapper
assert ProcessPoolExecutor is compat.ProcessPoolExecutor
assert BrokenProcessPool is compat.BrokenProcessPool
assert issubclass(BrokenProcessPool, cf.process.BrokenProcessPool)
assert futures.ThreadPoolExecutor is cf.ThreadPoolExecutor and futures.process is cf.process
assert isinstance(compat.Lock(), compat.synchronize.Lock)
assert compat.util.SUBDEBUG == std.util.SUBDEBUG  # forwarded
for name in {names}:
    module = getattr(compat, name)
    assert module.__name__ == "compat." + name, module
    assert set(module.__all__) <= set(dir(module)), name
try:
    compat.pool.no_such_name
except AttributeError as exc:
    assert str(exc) == "module 'compat.pool' has no attribute 'no_such_name'", exc
else:
    raise AssertionError("no AttributeError")
print("ok")
"""


def test_every_submodule_is_reachable_the_way_programs_import_it() -> None:
    proc = run_python("-c", IMPORTS.format(names=SUBMODULES))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_every_top_level_name_of_multiprocessing_is_there() -> None:
    import multiprocessing

    assert [n for n in multiprocessing.__all__ if not hasattr(compat, n)] == []
    assert compat.reducer is multiprocessing.reducer
    for name in ("SUBDEBUG", "SUBWARNING"):
        assert getattr(compat, name) == getattr(multiprocessing, name)


def test_submodules_are_listed_but_not_exported() -> None:
    for name in [*SUBMODULES, "futures"]:
        assert name in dir(compat)
        assert name not in compat.__all__  # as the standard library's __all__


def test_sharedctypes_use_compats_context(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    value = compat.sharedctypes.Value("i", 3, ctx=ctx)
    array = compat.sharedctypes.Array("d", 4, ctx=ctx)
    kind = "fork" if start_method == "fork" else "non-fork"
    for shared in (value, array):
        semlock = shared.get_lock()._semlock
        assert ("fork" if semlock.name is None else "non-fork") == kind
    default = compat.sharedctypes.Value("i", 1).get_lock()._semlock
    expected = compat.get_context().method
    assert ("fork" if default.name is None else "non-fork") == (
        "fork" if expected == "fork" else "non-fork"
    )


def test_managers_start_with_compats_method(start_method: str) -> None:
    manager = compat.managers.SyncManager(ctx=compat.get_context(start_method))
    manager.start()
    try:
        assert manager._process._start_method == start_method
        assert manager.dict(a=1).copy() == {"a": 1}  # the standard library's registry
    finally:
        manager.shutdown()
    with compat.managers.SharedMemoryManager(ctx=compat.get_context(start_method)) as smm:
        assert list(smm.ShareableList([1, 2])) == [1, 2]


MANAGER_PROGRAM = """
import sys, time
from compat.managers import BaseManager

class Maths:
    def add(self, x, y):
        return x + y

class MyManager(BaseManager):
    pass

MyManager.register("Maths", Maths)

if __name__ == "__main__":
    manager = MyManager()
    manager.start()
    print(manager.Maths().add(4, 3), manager._process._start_method, manager._process.pid)
    sys.stdout.flush()
    time.sleep(60)
"""


def test_custom_manager_uses_compat_start_method_and_dies_with_its_parent(
    start_method: str, tmp_path: Path
) -> None:
    script = tmp_path / "manager_program.py"
    script.write_text(MANAGER_PROGRAM, encoding="utf-8")
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=python_env(start_method),
    ) as proc:
        server = 0
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            assert line[:2] == ["7", start_method], (line, proc.stderr and proc.stderr.read())
            server = int(line[2])
            hard_kill(proc.pid)
            proc.wait(TIMEOUT)
            deadline = time.monotonic() + 10
            while pid_exists(server) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not pid_exists(server), "the manager's server outlived its parent"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(TIMEOUT)
            if server and pid_exists(server):  # not our child: the reaper cannot see it
                hard_kill(server)


def test_manager_start_outside_the_main_guard(start_method: str, tmp_path: Path) -> None:
    script = tmp_path / "unguarded_manager.py"
    script.write_text(
        "from compat.managers import SyncManager\n"
        "m = SyncManager()\nm.start()\nprint(m.list([1]))\nm.shutdown()\n",
        encoding="utf-8",
    )
    proc = run_python(script, method=start_method)
    if start_method == "fork":
        assert proc.returncode == 0, proc.stderr
        assert "PortabilityWarning" in proc.stderr and "[1]" in proc.stdout
    else:
        assert proc.returncode == 1
        assert "unguarded_manager.py starts a SyncManager server at line 3 outside" in proc.stderr
        assert "bootstrapping" not in proc.stderr
