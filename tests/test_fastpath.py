"""spawn_child's fork fast path (compat._child.fastfork): each duty of the standard
library's fork bootstrap, one test each, and the Child handle over it.

Where the standard library's behaviour is the reference, the test runs the same
target under ``multiprocessing``'s fork Process and compares.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import compat
from compat._native import forkproc
from compat._native.handoff import FrameReader, write_frame
from compat._native.threads import ASYNC_SIGNALS, background_thread
from tests import targets, targets_fastpath
from tests.helpers import run_python
from tests.procs import open_descriptors, pid_exists

TIMEOUT = 30


@pytest.fixture
def ctx(start_method: str) -> compat.Context:
    if start_method != "fork":
        pytest.skip("the fork fast path serves fork children only")
    return compat.get_context("fork")


def _mp_fork_exitcode(target: Any, *args: Any) -> int:
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    process.join(TIMEOUT)
    assert process.exitcode is not None
    return process.exitcode


def test_the_child_is_forked_without_popen_fork(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.double, 4)
    assert type(child._process._popen) is forkproc.ForkPopen
    assert child.result(TIMEOUT) == 8


def test_current_and_parent_process(ctx: compat.Context) -> None:
    me = multiprocessing.current_process()
    child = ctx.spawn_child(targets_fastpath.identity)
    seen = child.result(TIMEOUT)
    assert seen["pid"] == seen["me_pid"] == child.pid
    assert seen["name"] == child.name and seen["name"].startswith("ForkProcess-")
    assert seen["identity"][:-1] == me._identity and len(seen["identity"]) == len(me._identity) + 1
    assert seen["parent_pid_attr"] == seen["parent_pid"] == os.getpid()
    assert seen["parent_name"] == me.name and seen["parent_alive"] is True
    assert seen["daemon"] is False and seen["authkey"] == bytes(me.authkey)
    assert seen["children"] == []  # the parent's children are not the child's
    assert seen["native_id_ok"] and seen["main_is_current"]
    assert seen["start_method"] == "fork"  # as Process._bootstrap forces it


def test_active_children_and_join(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_for, 0.3)
    assert child._process in multiprocessing.active_children()
    assert child.result(TIMEOUT) == "slept"
    assert child._process not in multiprocessing.active_children()


_hook_registered = False


def _at_fork_hook() -> None:
    targets_fastpath.SEEN["os.register_at_fork"] = os.getpid()


def test_after_fork_hooks_run(ctx: compat.Context) -> None:
    global _hook_registered
    if not _hook_registered:  # cannot be unregistered: once per test process
        os.register_at_fork(after_in_child=_at_fork_hook)
        _hook_registered = True

    class Holder:
        pass

    holder = Holder()
    multiprocessing.util.register_after_fork(
        holder, lambda obj: targets_fastpath.SEEN.__setitem__("register_after_fork", os.getpid())
    )
    child = ctx.spawn_child(targets_fastpath.seen)
    seen = child.result(TIMEOUT)
    assert seen == {"os.register_at_fork": child.pid, "register_after_fork": child.pid}
    del holder


def test_random_is_reseeded(ctx: compat.Context) -> None:
    import random

    state = random.getstate()
    try:
        values = [ctx.spawn_child(targets_fastpath.random_value).result(TIMEOUT) for _ in range(2)]
        mine = random.random()
    finally:
        random.setstate(state)
    assert len({*values, mine}) == 3


@pytest.mark.parametrize("kind", ["multiprocessing", "compat"])
def test_queue_feeder_restarts_and_flushes(ctx: compat.Context, kind: str) -> None:
    queue = (
        multiprocessing.get_context("fork").Queue() if kind == "multiprocessing" else ctx.Queue()
    )
    queue.put("from the parent")  # the parent's feeder thread runs: the child must not share it
    assert queue.get(timeout=TIMEOUT) == "from the parent"
    child = ctx.spawn_child(targets_fastpath.put_many, queue, 2000)
    assert child.result(TIMEOUT) is None  # returned: its queue was flushed before the exit
    assert [queue.get(timeout=TIMEOUT) for _ in range(2000)] == list(range(2000))
    queue.close()
    queue.join_thread()


def test_resource_tracker_is_the_parents(ctx: compat.Context) -> None:
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    # What the standard library's own fork child sees (3.14+ resets the pid there and
    # keeps the pipe, gh-146313): the fast path must leave the child the same state.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        expected = pool.apply(targets_fastpath.tracker_state)
    assert ctx.spawn_child(targets_fastpath.tracker_state).result(TIMEOUT) == expected
    assert expected[1], "a fork child keeps the parent's tracker pipe"


def test_stdin_is_dev_null(ctx: compat.Context) -> None:
    assert ctx.spawn_child(targets_fastpath.read_stdin).result(TIMEOUT) == ("", False)


def test_signals_unblocked_in_children_of_compat_threads(ctx: compat.Context) -> None:
    found: list[Any] = []

    def start() -> None:  # runs with the async signals blocked, as compat's threads do
        found.append(ctx.spawn_child(targets_fastpath.signal_mask).result(TIMEOUT))

    thread = background_thread(start, name="test-blocked")
    thread.start()
    thread.join(TIMEOUT)
    assert found and not set(found[0]) & {int(s) for s in ASYNC_SIGNALS}


def test_signals_a_user_thread_blocked_are_unblocked(ctx: compat.Context) -> None:
    found: list[Any] = []

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        found.append(ctx.spawn_child(targets_fastpath.signal_mask).result(TIMEOUT))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(TIMEOUT)
    assert found and int(signal.SIGUSR1) not in found[0]  # as under the standard library


@pytest.mark.skipif(
    not os.path.exists("/proc/self/smaps_rollup"), reason="Linux's per-process memory counts"
)
def test_a_collection_in_the_child_leaves_the_parents_heap_alone(ctx: compat.Context) -> None:
    # A collection walks every object the collector tracks, writing to each: in a fork
    # child that copies the parent's heap page by page (58-176 ms for a large parent).
    # The child freezes what it inherits (gc.freeze) before anything else runs.
    heap = [[i] for i in range(300_000)]  # about 20 MiB of tracked objects
    dirtied = ctx.spawn_child(targets_fastpath.dirtied_by_a_full_collection).result(TIMEOUT)
    assert dirtied < 4096, f"a full collection in the child copied {dirtied} KiB"
    del heap


def test_non_daemon_threads_are_joined(ctx: compat.Context, tmp_path: Path) -> None:
    path = tmp_path / "log"
    child = ctx.spawn_child(targets_fastpath.thread_then_return, str(path), 0.3)
    assert child.result(TIMEOUT) == "returned"
    assert path.read_text() == "thread done\n"


@pytest.mark.parametrize(
    ("target", "args"),
    [
        (targets_fastpath.exit_string, ()),
        (targets.exit_with, (7,)),
        (targets.exit_with, (None,)),
        (targets.hard_exit, (5,)),
        (targets.raise_value_error, ("x",)),
        (targets_fastpath.raise_keyboard_interrupt, ()),
    ],
)
def test_exit_codes_are_the_standard_librarys(
    ctx: compat.Context, target: Any, args: tuple[Any, ...]
) -> None:
    child = ctx.spawn_child(target, *args)
    child.join(TIMEOUT)
    assert child.exitcode == _mp_fork_exitcode(target, *args)


def test_remote_exception_and_keyboard_interrupt(ctx: compat.Context) -> None:
    err = ctx.spawn_child(targets_fastpath.raise_keyboard_interrupt).exception(TIMEOUT)
    assert err is not None and err.remote_type == "KeyboardInterrupt" and err.exitcode == 1
    assert isinstance(err.exception, KeyboardInterrupt)


def test_nested_fork_children(ctx: compat.Context) -> None:
    me = multiprocessing.current_process()._identity
    seen = ctx.spawn_child(targets_fastpath.nested_identity).result(TIMEOUT)
    assert len(seen["me"]) == len(me) + 1
    assert seen["grandchild"]["identity"][:-1] == seen["me"]
    assert seen["grandchild"]["parent_pid"] != os.getpid()


def test_pipe_sentinel_where_there_is_no_pidfd(
    ctx: compat.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forkproc, "_pidfd", False)
    monkeypatch.setattr(forkproc, "_pidfd_works", lambda: False)
    child = ctx.spawn_child(targets.sleep_for, 0.2)
    assert not multiprocessing.connection.wait([child.sentinel], 0)
    assert multiprocessing.connection.wait([child.sentinel], TIMEOUT) == [child.sentinel]
    assert child.result(TIMEOUT) == "slept" and child.exitcode == 0


def test_handle_api(ctx: compat.Context) -> None:
    child = ctx.spawn_child(targets.sleep_forever)
    assert child.is_alive() and child.exitcode is None and child.method == "fork"
    assert child.decision.method == "fork"
    assert not multiprocessing.connection.wait([child.sentinel], 0.05)
    child.terminate()
    assert multiprocessing.connection.wait([child.sentinel], TIMEOUT)
    child.join(TIMEOUT)
    assert (child.exitcode, child.raw_exitcode) == (-signal.SIGTERM, -signal.SIGTERM)
    child.close()
    killed = ctx.spawn_child(targets.sleep_forever)
    killed.kill()
    assert killed.exception(TIMEOUT).signal_name == "SIGKILL"  # type: ignore[union-attr]


def test_no_descriptor_is_left_open(ctx: compat.Context) -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    ctx.spawn_child(targets.double, 1).result(TIMEOUT)  # the lifeline, /dev/null: once
    gc.collect()
    before = open_descriptors()
    for i in range(20):
        assert ctx.spawn_child(targets.double, i).result(TIMEOUT) == 2 * i
    gc.collect()
    assert open_descriptors() - before == set()


def test_large_results_in_pieces(ctx: compat.Context) -> None:
    r, w = os.pipe()
    reader = FrameReader(r)
    payload = os.urandom(300_000)
    writer = threading.Thread(target=_write_framed, args=(w, payload))
    writer.start()
    try:
        assert reader.recv_bytes() == payload
        with pytest.raises(EOFError):
            reader.recv_bytes()
    finally:
        writer.join(TIMEOUT)
        reader.close()
    assert not writer.is_alive()


def _write_framed(fd: int, payload: bytes) -> None:
    # What the fork fast path's child writes its outcome with; closed however the
    # write ends, so that a failing writer cannot leave the reader waiting.
    try:
        write_frame(fd, payload)
    finally:
        os.close(fd)


_SCRIPT = """
import atexit, multiprocessing, os, sys
import compat
from tests import targets_fastpath as t

def main():
    mode, path = sys.argv[1], sys.argv[2]
    atexit.register(t._append, path, "parent-atexit\\n")
    sys.stdout.write("parent-buffered;")  # a pipe: block-buffered, not yet written
    if mode == "compat":
        start = compat.get_context("fork").spawn_child
        start(t.register_atexit, path).join(30)
        start(t.print_partial, "child-partial;").join(30)
        start(t.sleep_then_write, path, 0.5)  # not joined: interpreter exit joins it
    else:
        ctx = multiprocessing.get_context("fork")
        for target, args in [(t.register_atexit, (path,)), (t.print_partial, ("child-partial;",))]:
            p = ctx.Process(target=target, args=args)
            p.start()
            p.join(30)
        ctx.Process(target=t.sleep_then_write, args=(path, 0.5)).start()

if __name__ == "__main__":
    main()
"""


def test_streams_atexit_and_exit_join_as_the_standard_library(
    ctx: compat.Context, tmp_path: Path
) -> None:
    outcomes = {}
    for mode in ("multiprocessing", "compat"):
        path = tmp_path / f"{mode}.log"
        path.touch()
        proc = run_python("-c", _SCRIPT, mode, str(path), env={"PYTHONUNBUFFERED": ""})
        assert proc.returncode == 0, proc.stderr
        lines = [line.split(" ")[0] for line in path.read_text().splitlines()]
        outcomes[mode] = (proc.stdout, sorted(lines))
    assert outcomes["compat"] == outcomes["multiprocessing"]
    stdout, lines = outcomes["compat"]
    assert stdout == "parent-buffered;child-partial;"  # flushed before the fork, not twice
    expected = ["child finished", "parent-atexit"]
    if sys.version_info >= (3, 13):  # popen_fork runs a fork child's own atexit handlers
        expected.insert(0, "child-atexit")
    assert lines == sorted(line.split(" ")[0] for line in expected)


_ORPHAN = """
import os, signal, sys
import compat
from tests import targets

if __name__ == "__main__":
    child = compat.get_context("fork").spawn_child(targets.sleep_forever)
    print(child.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("lifeline", ["kernel", "thread"])
def test_children_die_with_their_killed_parent(ctx: compat.Context, lifeline: str) -> None:
    env = {"COMPAT_LIFELINE": "thread" if lifeline == "thread" else ""}
    proc = run_python("-c", _ORPHAN, env=env)
    assert proc.returncode == -signal.SIGKILL
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_exists(pid)


_CTRL_C_DURING_AT_FORK_HOOKS = """
import os, signal
import compat

def ran():
    return "ran"

if __name__ == "__main__":
    # Ctrl+C reaching the new child while CPython runs the at-fork hooks (a group's
    # Ctrl+C right after a fork: CI, CPython 3.15), made certain here.
    os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGINT))
    child = compat.get_context("fork").spawn_child(ran)
    try:
        print("result", child.result(timeout=30))
    except compat.ChildError:
        print("exitcode", child.exitcode)
"""


def test_a_ctrl_c_during_the_at_fork_hooks_ends_the_child_quietly(
    ctx: compat.Context, tmp_path: Path
) -> None:
    # The signals are blocked across the fork: the child ends as a Ctrl+C before its
    # target ends it (-2, nothing printed), not with "Exception ignored in atfork
    # callback" and a traceback, the target then running anyway.
    script = tmp_path / "at_fork_ctrl_c.py"
    script.write_text(_CTRL_C_DURING_AT_FORK_HOOKS, encoding="utf-8")
    done = run_python(script, method="fork")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"exitcode {-signal.SIGINT}\n", done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
