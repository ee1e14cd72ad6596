"""spawn_child's lean spawn path (compat._child.leanspawn, compat._child.boot): the child
finds what a multiprocessing spawn child finds, imports multiprocessing only when the
call needs it, and steps aside where multiprocessing's own spawn is needed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from importlib.machinery import PathFinder
from typing import Any

import pytest

import compat
from compat._child import leanspawn
from compat._native.handoff import SpawnPopen
from compat._native.threads import ASYNC_SIGNALS, background_thread
from tests import targets, targets_fastpath, targets_lean
from tests.helpers import run_python
from tests.procs import open_descriptors, pid_exists

TIMEOUT = 60


@pytest.fixture
def ctx(start_method: str, monkeypatch: pytest.MonkeyPatch) -> compat.Context:
    if start_method != "spawn":
        pytest.skip("lean spawn serves spawn children only")
    # compat steps aside from lean spawn once multiprocessing.shared_memory is loaded,
    # which an earlier test in this xdist worker may or may not have done: these tests
    # run as in a process that never loaded it, whatever ran before.
    monkeypatch.delitem(sys.modules, "multiprocessing.shared_memory", raising=False)
    assert leanspawn.lean_possible()
    return compat.get_context("spawn")


def _mp_spawn(target: Any, *args: Any) -> Any:
    """What the same target returns in a multiprocessing spawn child (through a pipe)."""
    reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(
        target=targets_lean_send, args=(writer, target, args)
    )
    process.start()
    writer.close()
    try:
        return reader.recv() if reader.poll(TIMEOUT) else None
    finally:
        process.join(TIMEOUT)
        reader.close()


def targets_lean_send(conn: Any, target: Any, args: tuple[Any, ...]) -> None:
    conn.send(target(*args))


def test_the_lean_path_starts_the_child(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.double, 21)
    assert type(child._process._popen) is SpawnPopen
    assert child.result(TIMEOUT) == 42 and child.exitcode == 0
    assert child.name.startswith("SpawnProcess-")


_SCRIPT = """
import os, sys
import compat
from tests import targets_lean

def local():
    return "defined in the script"

if __name__ == "__main__":
    ctx = compat.get_context("spawn")
    seen = ctx.spawn_child(targets_lean.environment).result(60)
    print(repr(seen))
    print(repr(ctx.spawn_child(local).result(60)))
    print(repr({"sys_path": sys.path, "sys_argv": sys.argv, "cwd": os.getcwd(),
                "logging": "logging" in sys.modules}))
"""


def test_the_child_finds_what_a_multiprocessing_child_finds(
    ctx: compat.Context, tmp_path: Any
) -> None:
    script = tmp_path / "lean_script.py"
    script.write_text(_SCRIPT)
    proc = run_python(script, "an-argument", env={"COMPAT_TEST_MARK": "inherited"})
    assert proc.returncode == 0, proc.stderr
    seen, local, parent = (eval(line) for line in proc.stdout.splitlines())
    assert seen["sys_path"] == [p or parent["cwd"] for p in parent["sys_path"]]
    assert seen["sys_argv"] == parent["sys_argv"] == [str(script), "an-argument"]
    assert seen["cwd"] == parent["cwd"]
    assert seen["main_name"] == "__mp_main__" and seen["mp_main"]  # the script re-ran
    assert local == "defined in the script"
    # Neither the call nor the script needs it (coverage, when it measures, imports it;
    # a parent that imported logging forwards the child's records through a Connection:
    # on 3.9 here, cloudpickle, which compat's pre-flight check imports, imports logging).
    assert seen["multiprocessing"] is False or seen["coverage"] or parent["logging"]
    assert seen["env"] == "inherited" and seen["stdin"] == ""


def test_multiprocessing_state_when_the_target_imports_it(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets_lean.mp_identity)
    seen = child.result(TIMEOUT)
    reference = _mp_spawn(targets_lean.mp_identity)
    assert seen["name"] == child.name
    assert seen["authkey"] == bytes(multiprocessing.current_process().authkey)
    assert seen["parent_pid"] == os.getpid() and seen["parent_alive"] is True
    for key in ("authkey", "daemon", "parent_pid", "parent_alive", "start_method", "identity_len"):
        assert seen[key] == reference[key], key


@pytest.mark.parametrize("kind", ["multiprocessing", "compat"])
def test_queues_locks_and_connections_reach_the_child(ctx: compat.Context, kind: str) -> None:
    mp_ctx = multiprocessing.get_context("spawn")
    queue = mp_ctx.Queue() if kind == "multiprocessing" else ctx.Queue()
    reader, writer = mp_ctx.Pipe(duplex=False)
    lock = mp_ctx.Lock()  # kept: a lock only the call holds is unlinked, as under multiprocessing
    child = ctx.spawn_child(targets_lean.use_queue_and_lock, queue, lock, writer, 100)
    assert type(child._process._popen) is SpawnPopen
    assert child.result(TIMEOUT) == 100
    assert [queue.get(timeout=TIMEOUT) for _ in range(100)] == list(range(100))
    assert reader.recv() == "via the connection"
    for conn in (reader, writer):
        conn.close()
    queue.close()
    queue.join_thread()


def test_large_arguments_and_results(ctx: compat.Context) -> None:
    data = os.urandom(10_000_000)
    assert ctx.spawn_child(targets_lean.size_of, data).result(TIMEOUT) == len(data)
    assert ctx.spawn_child(targets_lean.echo, data).result(TIMEOUT) == data


def test_a_call_that_cannot_be_rebuilt_in_the_child(ctx: compat.Context) -> None:
    err = ctx.spawn_child(targets_lean.echo, targets_lean.RebuildFails()).exception(TIMEOUT)
    assert err is not None and err.exitcode == 1  # as a multiprocessing child's
    assert err.remote_type == "RuntimeError" and "cannot be rebuilt" in err.remote_message


@pytest.mark.parametrize(("code", "expected"), [(None, 0), (7, 7), ("text", 1)])
def test_exit_codes_are_multiprocessings(ctx: compat.Context, code: Any, expected: int) -> None:
    child = ctx.spawn_child(targets_lean.exit_code, code)
    child.join(TIMEOUT)
    process = multiprocessing.get_context("spawn").Process(
        target=targets_lean.exit_code, args=(code,)
    )
    process.start()
    process.join(TIMEOUT)
    assert child.exitcode == process.exitcode == expected


def test_signals_are_unblocked(ctx: compat.Context) -> None:
    found: list[Any] = []
    thread = background_thread(
        lambda: found.append(ctx.spawn_child(targets_fastpath.signal_mask).result(TIMEOUT)),
        name="test-blocked",
    )
    thread.start()
    thread.join(TIMEOUT)
    assert found and not set(found[0]) & {int(s) for s in ASYNC_SIGNALS}


_EARLY_CTRL_C = """
import os, signal, sys, time
import compat
from tests import targets_slowimport

if __name__ == "__main__":
    os.environ["COMPAT_TEST_PARENT"] = str(os.getpid())
    child = compat.get_context("spawn").spawn_child(targets_slowimport.ran)
    marker = os.environ["COMPAT_TEST_IMPORTING"]
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the file is written: the child sleeps in the import now
    os.kill(child.pid, signal.SIGINT)
    child.join(60)
    print(type(child._process._popen).__name__, child.exitcode)
"""


def test_a_ctrl_c_before_the_target_runs_ends_the_child_quietly(
    ctx: compat.Context, tmp_path: Any
) -> None:
    # As under multiprocessing's spawn (compat._child.child): the signals stay blocked
    # while the child prepares the call (re-runs __main__, imports the target's
    # module), then a Ctrl+C that came meanwhile ends it as SIGINT would: -2, no
    # traceback, no KeyboardInterrupt "raised by the target".
    env = {"COMPAT_TEST_IMPORTING": str(tmp_path / "importing")}
    proc = run_python("-c", _EARLY_CTRL_C, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["SpawnPopen", "-2"]
    assert proc.stderr == ""


def test_no_descriptor_is_left_open(ctx: compat.Context) -> None:
    import gc

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    ctx.spawn_child(targets.double, 1).result(TIMEOUT)
    gc.collect()
    before = open_descriptors()
    for i in range(5):
        assert ctx.spawn_child(targets.double, i).result(TIMEOUT) == 2 * i
    gc.collect()
    assert open_descriptors() - before == set()  # none opened and left


def test_shared_memory_makes_it_step_aside(
    ctx: compat.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "multiprocessing.shared_memory", sys)
    assert not leanspawn.lean_possible()
    child = ctx.spawn_child(targets.double, 2)
    assert type(child._process._popen) is not SpawnPopen  # multiprocessing's own spawn
    assert child.result(TIMEOUT) == 4


def test_site_is_skipped_only_when_nothing_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.flags.no_site:
        assert leanspawn.site_plan() == "off"
        return
    monkeypatch.delenv("COVERAGE_PROCESS_START", raising=False)
    monkeypatch.delenv("COVERAGE_PROCESS_CONFIG", raising=False)
    monkeypatch.setattr(sys, "meta_path", [PathFinder])
    monkeypatch.setattr(sys, "path_hooks", sys.path_hooks[:2])
    for name in ("sitecustomize", "usercustomize"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert leanspawn.site_plan() == "skip" and leanspawn.site_needed() is False

    class EditableFinder:
        pass

    # A finder after the standard ones sees only what they cannot find: site runs late.
    monkeypatch.setattr(sys, "meta_path", [PathFinder, EditableFinder()])
    assert leanspawn.site_plan() == "late" and leanspawn.site_needed() is False
    monkeypatch.setattr(sys, "path_hooks", [*sys.path_hooks[:2], lambda entry: None])
    monkeypatch.setattr(sys, "meta_path", [PathFinder])
    assert leanspawn.site_plan() == "late"
    # One before them may change how anything is found: site runs as the child starts.
    monkeypatch.setattr(sys, "meta_path", [EditableFinder(), PathFinder])
    assert leanspawn.site_plan() == "eager" and leanspawn.site_needed() is True
    monkeypatch.setattr(sys, "meta_path", [PathFinder])
    monkeypatch.setattr(sys, "path_hooks", [lambda entry: None, *sys.path_hooks[:2]])
    assert leanspawn.site_plan() == "eager"
    monkeypatch.setattr(sys, "path_hooks", sys.path_hooks[1:])
    monkeypatch.setenv("COVERAGE_PROCESS_START", "pyproject.toml")
    assert leanspawn.site_plan() == "eager"


def test_late_site_runs_at_the_first_import_nothing_else_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    import site

    from compat._child import boot

    calls: list[str] = []

    class Installed:  # what a .pth file of an editable install appends
        @staticmethod
        def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
            if name != "compat_test_late_module":
                return None
            return importlib.util.spec_from_loader(name, loader=None)

    def main() -> None:
        calls.append("site.main")
        sys.meta_path.append(Installed)  # type: ignore[arg-type]

    monkeypatch.setattr(site, "main", main)
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path])
    late = boot._LateSite()
    sys.meta_path.append(late)  # type: ignore[arg-type]
    assert importlib.util.find_spec("json") is not None and calls == []  # found before it
    spec = importlib.util.find_spec("compat_test_late_module")
    assert spec is not None and spec.name == "compat_test_late_module"
    assert calls == ["site.main"] and late not in sys.meta_path
    assert importlib.util.find_spec("compat_test_missing_module") is None
    assert calls == ["site.main"]  # once


def test_a_child_without_site_keeps_its_builtins(ctx: compat.Context) -> None:
    seen = ctx.spawn_child(targets_lean.site_state).result(TIMEOUT)
    plan = leanspawn.site_plan()
    assert seen["no_site"] == (plan != "eager")
    assert seen["builtins"] == (plan != "off")  # exit, quit, help: as with site
    if plan == "late":  # this process has a finder after the standard ones
        assert seen["late_finders"] == [type(f).__name__ for f in sys.meta_path][-1:]


_SITE_STATE = """
import sys
import compat
from compat._child import leanspawn
from tests import targets_lean

if __name__ == "__main__":
    seen = compat.get_context("spawn").spawn_child(targets_lean.site_state).result(60)
    last = [type(f).__name__ for f in sys.meta_path][-1:]
    print(leanspawn.site_plan(), seen["no_site"], seen["builtins"], seen["late_finders"] == last)
"""


def test_a_program_without_pytests_import_hook_starts_children_without_site(
    ctx: compat.Context,
) -> None:
    # pytest's assertion rewriting hook comes first on sys.meta_path: children of this
    # process run site as they start. A plain program's do not, unless they must.
    proc = run_python("-c", _SITE_STATE)
    assert proc.returncode == 0, proc.stderr
    plan, no_site, builtins, same_last_finder = proc.stdout.split()
    assert plan in ("skip", "late", "eager", "off")
    assert no_site == str(plan != "eager") and builtins == str(plan != "off")
    if plan == "late":  # the program had a finder after the standard ones: so has the child
        assert same_last_finder == "True"


_LEAN_IMPORTS = """
import sys
import compat
from tests import targets_lean

if __name__ == "__main__":
    child = compat.get_context("spawn").spawn_child(targets_lean.heavy_modules)
    print(type(child._process._popen).__name__, child.result(60))
"""


def test_a_lean_child_imports_neither_multiprocessing_nor_typing(ctx: compat.Context) -> None:
    # Measured with python -S (on this machine site imports typing through a .pth
    # file): what the child's bootstrap imports, nothing from site. The parent never
    # imported logging, so nothing is forwarded either.
    proc = run_python("-S", "-c", _LEAN_IMPORTS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "SpawnPopen []"


_STDIN = """
import gc, sys
import compat
from tests import targets_lean

if __name__ == "__main__":
    ctx = compat.get_context("spawn")
    print(ctx.spawn_child(targets_lean.stdin_state).result(60))
    compat.set_spares(1)
    from compat._child import spares
    import time
    deadline = time.monotonic() + 60
    while not spares._idle and time.monotonic() < deadline:
        time.sleep(0.01)
    print(ctx.spawn_child(targets_lean.stdin_state).result(60))
    gc.collect()
"""


def test_stdin_is_dev_null_and_nothing_warns(ctx: compat.Context) -> None:
    # Development mode shows every ResourceWarning (an unclosed /dev/null among them),
    # in the parent and in the children (which get its -X and -W options).
    proc = run_python("-X", "dev", "-W", "error::ResourceWarning", "-c", _STDIN, input="typed")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["('', False, True)"] * 2  # cold, then a spare
    assert proc.stderr == ""


_ORPHAN = """
import os, signal
import compat
from tests import targets

if __name__ == "__main__":
    child = compat.get_context("spawn").spawn_child(targets.sleep_forever)
    time_limit = 30
    print(child.pid, flush=True)
    import time; time.sleep(2)  # let it arm its lifeline
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("lifeline", ["kernel", "thread"])
def test_children_die_with_their_killed_parent(ctx: compat.Context, lifeline: str) -> None:
    env = {"COMPAT_LIFELINE": "thread" if lifeline == "thread" else ""}
    proc = run_python("-c", _ORPHAN, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_exists(pid)
