"""compat.run and compat.Popen: process trees, program lookup, batch-file safety, text, bad input.

Every child is a Python program (tests/targets_run.py) or ``sh``; nothing needs the
network. Grandchildren are not the conftest reaper's business (they are not our
direct children), so each test that makes them records their pids in the
``tracked`` fixture, which kills whatever is left of them at teardown, after the
test has checked that compat did.
The Windows rules (PATHEXT lookup, cmd.exe quoting) are pure functions tested
here with injected facts.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import io
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from compat._native import tree as native_tree
from compat._native import windows as native_windows
from compat._platform import LINUX
from compat._run import popen as popen_module
from compat._run.args import (
    check_args,
    check_env,
    check_group_options,
    check_timeout,
    text_settings,
)
from compat._run.cmdline import (
    UnsafeBatchArgument,
    batch_command_line,
    find_comspec,
    is_batch_file,
    plan_windows_command,
    quote_batch_argument,
)
from compat._run.feeder import StdinFeeder
from compat._run.popen import Popen
from compat._run.run import DRAIN_SECONDS, run
from compat._run.which import find_program, resolve_program
from tests.helpers import run_example

if os.name == "posix":  # it refuses to import on Windows
    from compat._native import posix as native_posix

TARGETS = str(Path(__file__).resolve().parent / "targets_run.py")
PY = sys.executable
# Generous: these are behaviour checks on a shared 2-core machine, not benchmarks.
BOUND = 5.0


def child(mode: str, *args: str) -> list[str]:
    return [PY, TARGETS, mode, *args]


# -- helpers that observe processes without compat ---------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[2])


def alive(pid: int) -> bool:
    """Running (zombies, which only wait for their parent to reap them, are not)."""
    if LINUX:
        st = _stat(pid)
        return st is not None and st[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int, within: float = BOUND) -> set[int]:
    """The live members of process group ``pgid`` after up to ``within`` seconds: a
    process that got SIGKILL has closed its pipes (so run() returned) a moment before
    /proc shows it as a zombie, longer on a loaded machine."""
    deadline = time.monotonic() + within
    while True:
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = _stat(int(entry))
                if st is not None and st[2] == pgid and st[0] not in ("Z", "X"):
                    found.add(int(entry))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)


def survivors(pids: Iterable[int], within: float = BOUND) -> set[int]:
    """The pids still alive after up to ``within`` seconds (a SIGKILLed process can
    take a moment to be reaped by init)."""
    deadline = time.monotonic() + within
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = {p for p in left if alive(p)}
    return left


def kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(pgid: int | None) -> None:
    if pgid is not None and pgid != os.getpgrp():
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def pids_in(output: bytes | str | None) -> list[int]:
    if isinstance(output, bytes):
        output = output.decode()
    return [int(w) for w in (output or "").split() if w.isdigit()]


def read_until_ready(stream: object) -> list[int]:
    """Lines of pids a child prints before "ready"."""
    pids = []
    for _ in range(50):
        line = stream.readline()  # type: ignore[attr-defined]
        if isinstance(line, bytes):
            line = line.decode()
        line = line.strip()
        if line == "ready" or not line:
            break
        pids.append(int(line))
    return pids


@pytest.fixture
def tracked() -> Iterator[set[int]]:
    """Pids a test saw; whatever is left of them is killed at the end."""
    pids: set[int] = set()
    yield pids
    kill_all(pids)


posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX-only behaviour or tools (sh)")
linux_only = pytest.mark.skipif(not LINUX, reason="observes processes through /proc")


# -- timeouts kill the whole tree ----------------------------------------------------


@linux_only
def test_timeout_kills_shell_and_background_sleepers(tracked: set[int]) -> None:
    script = "echo $$; sleep 60 & echo $!; sleep 60 & echo $!; echo ready; sleep 60"
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run(["sh", "-c", script], capture_output=True, timeout=1)
    elapsed = time.monotonic() - start
    pids = pids_in(info.value.stdout)
    tracked.update(pids)
    try:
        assert elapsed < 1 + BOUND / 2, f"run() took {elapsed:.2f}s for timeout=1"
        assert len(pids) == 3, info.value.stdout  # the shell and two sleepers
        assert info.value.stdout.endswith(b"ready\n")  # bytes even though captured
        assert survivors(pids) == set()
        assert group_members(pids[0]) == set()
    finally:
        if pids:
            kill_group(pids[0])


@linux_only
def test_stdlib_leaves_the_sleepers_running(tracked: set[int]) -> None:
    # The contrast that makes the test above meaningful: the same check sees the
    # standard library's survivors (SIG-08). start_new_session only so that we can
    # clean up with one killpg.
    script = "echo $$; sleep 60 & echo $!; sleep 60 & echo $!; echo ready; sleep 60"
    with pytest.raises(subprocess.TimeoutExpired) as info:
        subprocess.run(["sh", "-c", script], capture_output=True, timeout=1, start_new_session=True)
    pids = pids_in(info.value.stdout)
    tracked.update(pids)
    try:
        assert len(pids) == 3
        assert survivors(pids[1:], within=0.2) == set(pids[1:])
    finally:
        kill_group(pids[0] if pids else None)


@linux_only
def test_timeout_kills_grandchildren_that_left_the_group(tracked: set[int]) -> None:
    # Two grandchildren in the group, one that called setsid(): the group kill
    # misses it, the /proc walk finds it through its parent.
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run(child("tree", "2", "1"), capture_output=True, timeout=3)
    pids = pids_in(info.value.stdout)
    tracked.update(pids)
    assert len(pids) == 3, info.value.stdout
    assert survivors(pids) == set()


@linux_only
def test_timeout_returns_when_a_process_outside_the_tree_holds_the_pipes(
    tracked: set[int],
) -> None:
    # The child starts a grandchild in a new session and exits at once: the
    # grandchild is re-parented away, so nothing can tie it to the tree, and it
    # keeps stdout open. The standard library hangs here on Windows (gh-87512);
    # compat gives up on the pipes DRAIN_SECONDS after the kill.
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run(child("orphan"), capture_output=True, timeout=2)
    elapsed = time.monotonic() - start
    pids = pids_in(info.value.stdout)
    tracked.update(pids)
    assert len(pids) == 1, info.value.stdout
    assert alive(pids[0])  # out of compat's reach, as documented
    assert 2 <= elapsed < 2 + DRAIN_SECONDS + BOUND / 2, elapsed


def test_timeout_output_so_far_is_bytes_even_in_text_mode() -> None:
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run(child("partial"), capture_output=True, text=True, timeout=3)
    assert info.value.stdout.replace(b"\r\n", b"\n") == b"partial\n"  # Windows writes \r\n
    assert info.value.stderr == b""
    assert info.value.timeout == 3


@posix_only
def test_run_after_normal_exit_leaves_no_background_process(tracked: set[int]) -> None:
    result = run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True)
    pids = pids_in(result.stdout)
    tracked.update(pids)
    assert result.returncode == 0 and len(pids) == 1
    assert survivors(pids) == set()


# -- the Popen handle ------------------------------------------------------------------


@posix_only
def test_interrupt_reaches_a_child_that_handles_sigint() -> None:
    with Popen(child("sigint"), stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        p.interrupt()
        out, _ = p.communicate(timeout=10)
    assert out == "interrupted\n"
    assert p.returncode == 3


@linux_only
def test_kill_tree_leaves_nothing(tracked: set[int]) -> None:
    with Popen(child("tree", "2", "1"), stdout=subprocess.PIPE) as p:
        pids = read_until_ready(p.stdout)
        tracked.update(pids)
        tracked.add(p.pid)
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        p.kill_tree()
        assert p.wait(timeout=10) == -signal.SIGKILL
    assert survivors([p.pid, *pids]) == set()
    assert group_members(p.pid) == set()


@linux_only
def test_without_proc_or_psutil_the_group_is_still_killed(
    tracked: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What macOS without psutil gets: no walk, only the process group.
    real_import = importlib.import_module

    def no_psutil(name: str, *args: object) -> object:
        if name == "psutil":
            raise ImportError("psutil hidden by the test")
        return real_import(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(native_posix, "LINUX", False)
    monkeypatch.setattr(importlib, "import_module", no_psutil)
    assert native_posix.tree_members(os.getpid()) == {}
    with Popen(child("tree", "2", "0"), stdout=subprocess.PIPE) as p:
        pids = read_until_ready(p.stdout)
        tracked.update(pids)
        p.kill_tree()
    assert len(pids) == 2 and survivors(pids) == set()


@linux_only
def test_terminate_tree_runs_the_childs_sigterm_handler(tracked: set[int]) -> None:
    with Popen(child("sigterm"), stdout=subprocess.PIPE) as p:
        pids = read_until_ready(p.stdout)
        tracked.update(pids)
        p.terminate_tree()
        assert p.wait(timeout=10) == 4  # its handler ran: sys.exit(4)
    assert survivors(pids) == set()


@linux_only
def test_with_block_that_raises_kills_the_tree(tracked: set[int]) -> None:
    started: list[Popen] = []

    def block() -> None:
        with Popen(child("tree", "1", "1"), stdout=subprocess.PIPE) as p:
            started.append(p)
            tracked.update(read_until_ready(p.stdout))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        block()
    assert started[0].returncode == -signal.SIGKILL
    assert len(tracked) == 2 and survivors(tracked) == set()


@linux_only
@pytest.mark.skipif(sys.version_info < (3, 11), reason="process_group is new in 3.11")
def test_process_group_zero_is_a_tree_too(tracked: set[int]) -> None:
    with Popen(child("tree", "1", "0"), stdout=subprocess.PIPE, process_group=0) as p:
        pids = read_until_ready(p.stdout)
        tracked.update(pids)
        assert os.getpgid(p.pid) == p.pid and os.getsid(p.pid) == os.getsid(0)
        p.kill_tree()
    assert survivors(pids) == set()


# -- die_with_parent (end to end in tests/test_guardian.py) --------------------------


@pytest.fixture
def guardian() -> Iterator[object]:
    """This process's die_with_parent guardian, stopped at the end of the test."""
    from compat._native.guardian import GUARDIAN

    yield GUARDIAN
    GUARDIAN.stop()


def test_run_with_die_with_parent_is_run(guardian: object, tracked: set[int]) -> None:
    from compat._native.guardian import GUARDIAN

    result = run(child("echo"), input=b"abc", capture_output=True, die_with_parent=True)
    assert result.returncode == 0 and result.stdout == b"abc"
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run(child("tree", "1", "0"), capture_output=True, timeout=1, die_with_parent=True)
    pids = pids_in(info.value.stdout)
    tracked.update(pids)
    assert survivors(pids) == set()
    assert GUARDIAN.registered() == frozenset()  # nothing left to kill with us
    with pytest.raises(TypeError, match="die_with_parent must be True or False"):
        run(child("exit", "0"), die_with_parent="yes")


@posix_only
@pytest.mark.skipif(sys.version_info < (3, 11), reason="process_group is new in 3.11")
def test_process_group_zero_with_die_with_parent(guardian: object) -> None:
    from compat._native.guardian import GUARDIAN

    with Popen(child("deaf"), process_group=0, die_with_parent=True) as p:
        assert os.getpgid(p.pid) == p.pid and GUARDIAN.registered() == {p.pid}
        p.kill_tree()
    assert GUARDIAN.registered() == frozenset()


@posix_only
def test_keyboard_interrupt_in_run_is_forwarded_then_the_tree_killed(tmp_path: Path) -> None:
    # The child is in its own session, so a terminal Ctrl+C would reach only us;
    # compat passes it on (the child writes a marker) before re-raising.
    marker = tmp_path / "marker"
    ready = tmp_path / "marker.ready"
    stop = threading.Event()

    def press_ctrl_c_when_ready() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            if ready.exists():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    presser = threading.Thread(target=press_ctrl_c_when_ready)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run(child("sigint", str(marker)), capture_output=True, timeout=30)
    finally:
        stop.set()
        presser.join()
    assert marker.read_text() == "interrupted"


def test_wait_and_communicate_refuse_negative_timeouts() -> None:
    with Popen(child("exit", "0")) as p:
        with pytest.raises(ValueError, match="timeout"):
            p.wait(timeout=-1)
        with pytest.raises(ValueError, match="timeout"):
            p.communicate(timeout=-0.5)
        assert p.wait(timeout=10) == 0


# -- results, input and text ---------------------------------------------------------------


def test_run_returns_completed_process_like_the_stdlib() -> None:
    result = run(child("exit", "7"))
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 7 and result.stdout is None
    assert result.args == child("exit", "7")  # what the caller passed
    assert run(iter(child("exit", "5"))).returncode == 5  # any iterable, read once
    with pytest.raises(subprocess.CalledProcessError) as info:
        run(child("nslookup", "nope.invalid"), capture_output=True, check=True)
    assert info.value.returncode == 1
    assert b"NXDOMAIN" in info.value.stdout


def test_input_reaches_stdin() -> None:
    assert run(child("echo"), input=b"a\0b", capture_output=True).stdout == b"a\0b"
    assert run(child("echo"), input="h\u00e9", capture_output=True, text=True).stdout == "h\u00e9"


def test_text_mode_is_utf8_and_replaces_undecodable_bytes() -> None:
    data = b"ok \xc3\xa9 \xff\xfe end\r\n"
    result = run(child("write", data.hex()), capture_output=True, text=True)
    assert result.stdout == "ok \u00e9 \ufffd\ufffd end\n"
    latin = run(child("write", data.hex()), capture_output=True, encoding="latin-1")
    assert latin.stdout == data.decode("latin-1").replace("\r\n", "\n")


def test_strict_decoding_raises_in_the_caller_with_the_data() -> None:
    data = b"ok \xff end\n"
    with pytest.raises(UnicodeDecodeError) as info:
        run(child("write", data.hex()), capture_output=True, text=True, errors="strict")
    assert info.value.object == data


def test_windows_reader_thread_returns_bytes_for_the_caller_to_decode() -> None:
    # Popen._readerthread is what the standard library's Windows communicate()
    # runs in a thread; here it is called directly on a pipe.
    with Popen(child("exit", "0"), text=True) as p:
        p.wait(timeout=10)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"a\xffb\r\n")
    os.close(write_fd)
    fh = open(read_fd, encoding="utf-8", errors="strict")  # noqa: SIM115
    buffer: list[object] = []
    p._readerthread(fh, buffer)
    assert buffer == [b"a\xffb\r\n"] and fh.closed
    assert p._decode(b"a\xffb\r\n") == "a\ufffdb\n"


# -- stdin that the child never reads ----------------------------------------------------

#: Far more than any pipe buffer (64 KiB on Linux, 4 KiB+ on Windows).
BIG_INPUT = b"x" * (8 * 1024 * 1024)


def windows_communicate(
    self: subprocess.Popen[bytes], input: object, endtime: object, orig_timeout: object
) -> tuple[None, None]:
    """CPython's Windows ``Popen._communicate`` (subprocess.py), reduced to its order
    for a child with only stdin piped: stdin is written and closed in the calling
    thread; only afterwards does communicate() wait with the timeout."""
    if self.stdin:
        self._stdin_write(input)  # type: ignore[attr-defined]
    return None, None


@posix_only
def test_windows_communicate_with_input_keeps_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The Windows code path on Linux: the standard library's Windows order of work
    # and compat's choice for Windows (the stdin feeder thread).
    monkeypatch.setattr(Popen, "_communicate", windows_communicate)
    outcome: list[BaseException] = []
    with Popen(child("deaf"), stdin=subprocess.PIPE) as p:
        monkeypatch.setattr(popen_module, "WINDOWS", True)

        def communicate() -> None:
            try:
                p.communicate(BIG_INPUT, timeout=0.5)
            except BaseException as exc:
                outcome.append(exc)

        caller = threading.Thread(target=communicate, daemon=True)
        started = time.monotonic()
        caller.start()
        caller.join(BOUND)
        blocked = caller.is_alive()
        p.kill_tree()  # ends a blocked write (before the fix) and the feeder's write
        caller.join(BOUND)
        monkeypatch.setattr(popen_module, "WINDOWS", False)
    assert not blocked, "communicate(input, timeout=0.5) blocked writing stdin"
    assert [type(e) for e in outcome] == [subprocess.TimeoutExpired]
    assert time.monotonic() - started < BOUND
    assert p.stdin is None  # the feeder thread owns (and has closed) the pipe
    assert p._stdin_feeder is not None and p._stdin_feeder.join(BOUND)
    assert p._stdin_feeder.error is None  # the broken pipe is ignored, as stdlib does


@posix_only
def test_run_with_unread_input_times_out_on_time() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run(child("deaf"), input=BIG_INPUT, capture_output=True, timeout=0.5)
    assert time.monotonic() - started < BOUND


def test_stdin_feeder_checks_the_input_type_in_the_caller() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    with open(write_fd, "wb") as raw:
        with pytest.raises(TypeError):
            StdinFeeder(raw, "text for a bytes pipe")
        text = open(os.dup(raw.fileno()), "w", encoding="utf-8")  # noqa: SIM115
        with pytest.raises(TypeError, match="str in text mode"):
            StdinFeeder(text, b"bytes for a text pipe")
        text.close()


def test_stdin_feeder_writes_closes_and_ignores_a_reader_that_left() -> None:
    read_fd, write_fd = os.pipe()
    feeder = StdinFeeder(open(write_fd, "wb"), b"hello")  # noqa: SIM115 (it closes it)
    with open(read_fd, "rb") as reader:
        assert reader.read() == b"hello"  # EOF: the feeder closed its end
    assert feeder.join(BOUND) and feeder.error is None
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # a child that exited without reading
    feeder = StdinFeeder(open(write_fd, "wb"), BIG_INPUT)  # noqa: SIM115 (it closes it)
    assert feeder.join(BOUND) and feeder.error is None  # BrokenPipeError is ignored


def test_stdin_feeder_keeps_other_errors_for_the_caller() -> None:
    class Failing(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(errno.EIO, "I/O error")

    stream = Failing()
    feeder = StdinFeeder(stream, b"x")
    assert feeder.join(BOUND) and stream.closed
    assert isinstance(feeder.error, OSError) and feeder.error.errno == errno.EIO


@posix_only
def test_communicate_that_ends_at_the_deadline_is_timeout_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The standard library's communicate() ends with wait(remaining time), which is
    # negative once the time is up: that is TimeoutExpired, not a ValueError about
    # the caller's timeout. The remaining time comes from Popen._remaining_time up to
    # 3.14 and from the module function subprocess._deadline_remaining in 3.15.
    if hasattr(subprocess.Popen, "_remaining_time"):
        monkeypatch.setattr(
            Popen, "_remaining_time", lambda self, endtime: None if endtime is None else -0.01
        )
    else:
        monkeypatch.setattr(
            subprocess, "_deadline_remaining", lambda endtime: None if endtime is None else -0.01
        )
    with Popen(child("deaf")) as p:
        with pytest.raises(subprocess.TimeoutExpired):
            p.communicate(timeout=5)
        p.kill_tree()


# -- a start interrupted once the child exists -------------------------------------------


@posix_only
def test_an_interrupt_before_the_tree_is_owned_kills_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On Windows the child is suspended there and would stay so forever.
    started: list[Popen] = []

    def interrupted(popen: Popen) -> None:
        started.append(popen)
        raise KeyboardInterrupt

    monkeypatch.setattr(popen_module, "skip_popen_sigint_wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Popen(child("deaf"))
    (p,) = started
    assert p.returncode == -signal.SIGKILL  # killed and reaped


@posix_only
def test_an_interrupt_inside_the_standard_library_after_the_fork_kills_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = subprocess.Popen._close_pipe_fds  # type: ignore[attr-defined]
    started: list[Popen] = []

    def interrupted(self: Popen, *fds: object) -> None:
        real(self, *fds)
        started.append(self)
        raise KeyboardInterrupt  # after the child exists, before __init__ returns

    monkeypatch.setattr(Popen, "_close_pipe_fds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Popen(child("deaf"))
    (p,) = started
    assert p.pid is not None and p.returncode == -signal.SIGKILL


# -- macOS: a group made only of zombies ---------------------------------------------------


def xnu_killpg(pgid: int, sig: int) -> None:
    """``os.killpg`` as macOS answers it: EPERM when every member of the group is a
    zombie (Linux signals the zombies and succeeds)."""
    stats = [_stat(int(entry)) for entry in os.listdir("/proc") if entry.isdigit()]
    states = [st[0] for st in stats if st is not None and st[2] == pgid]
    if states and all(state in ("Z", "X") for state in states):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
    os.killpg(pgid, sig)


def wait_for_zombie(pid: int) -> None:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        st = _stat(pid)
        if st is None or st[0] == "Z":
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} did not exit")


@linux_only
def test_run_timeout_as_the_child_exits_is_timeout_expired_with_macos_killpg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a real macOS run shows XNU answering EPERM at that moment; here a fake
    killpg answers as XNU does, and the timeout fires after the child exited."""
    real_adopt = native_tree.adopt_tree

    def adopt(popen: subprocess.Popen[bytes], creationflags: int = 0) -> object:
        tree = real_adopt(popen, creationflags)
        tree._send = xnu_killpg  # type: ignore[attr-defined]
        return tree

    def late_communicate(self: Popen, input: object = None, timeout: object = None) -> object:
        wait_for_zombie(self.pid)  # the child exits just as the timeout fires
        raise subprocess.TimeoutExpired(self.args, 1.0)

    monkeypatch.setattr(native_tree, "adopt_tree", adopt)
    monkeypatch.setattr(Popen, "communicate", late_communicate)
    with pytest.raises(subprocess.TimeoutExpired):
        run(child("exit", "0"), timeout=1.0)


@linux_only
@pytest.mark.parametrize("method", ["interrupt", "terminate_tree", "kill_tree", "close_tree"])
def test_tree_methods_after_the_child_exited_with_macos_killpg(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Popen(child("exit", "0")) as p:
        assert p._tree is not None
        monkeypatch.setattr(p._tree, "_send", xnu_killpg)
        wait_for_zombie(p.pid)
        getattr(p, method)()  # no PermissionError
        assert p.returncode == 0  # the leader was reaped to learn that it exited


# -- finding the program -------------------------------------------------------------------


def make_script(directory: Path, name: str, body: str = "echo found-it", mode: int = 0o755) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


@posix_only
def test_program_found_on_env_path(tmp_path: Path) -> None:
    make_script(tmp_path, "myprog")
    env = {"PATH": str(tmp_path)}
    assert find_program("myprog", env=env) == str(tmp_path / "myprog")
    assert run(["myprog"], env=env, capture_output=True).stdout == b"found-it\n"


@posix_only
def test_relative_path_entries_follow_cwd(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    make_script(tmp_path / "bin", "myprog")
    result = run(["myprog"], env={"PATH": "bin"}, cwd=tmp_path, capture_output=True)
    assert result.stdout == b"found-it\n"
    found = find_program("myprog", env={"PATH": "bin"}, cwd=str(tmp_path))
    assert found == str(tmp_path / "bin" / "myprog")


@posix_only
def test_missing_interpreter_is_named_as_such(tmp_path: Path) -> None:
    script = make_script(tmp_path, "prog")
    script.write_text("#!/nonexistent/interpreter\n")
    with pytest.raises(FileNotFoundError, match="interpreter its '#!' line names"):
        run([str(script)])


def test_missing_program_names_itself_and_the_search_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        run(["no-such-program-xyz"], env={"PATH": f"{tmp_path}{os.pathsep}/nowhere"})
    message = str(info.value)
    assert "no-such-program-xyz" in message and str(tmp_path) in message and "/nowhere" in message


@posix_only
def test_string_without_shell_is_the_program_name_on_posix() -> None:
    # What the standard library does (SUB-01), with a hint in the message.
    with pytest.raises(FileNotFoundError, match="pass a list"):
        run("ls -l")
    assert run("true").returncode == 0


@posix_only
def test_non_executable_program(tmp_path: Path) -> None:
    script = make_script(tmp_path, "prog.sh", mode=0o644)
    with pytest.raises(PermissionError, match="not executable"):
        run([str(script)])
    with pytest.raises(PermissionError, match="chmod"):
        run(["prog.sh"], env={"PATH": str(tmp_path)})


@posix_only
def test_script_without_interpreter_line(tmp_path: Path) -> None:
    script = tmp_path / "noshebang"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    with pytest.raises(OSError, match="interpreter") as info:
        run([str(script)])
    assert info.value.errno == errno.ENOEXEC


def test_directory_as_program(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        run([str(tmp_path)])


POSIX_FS = {
    "/usr/bin/tool": "exec",
    "/usr/local/bin/tool": "exec",
    "/opt/bin/plain": "file",
    "/usr/bin/plain": "exec",
    "/home/u/proj/bin/local": "exec",
    "/home/u/proj/local2": "exec",
    "/usr/bin/dironly": "dir",
}


def posix_probe(path: str) -> str:
    return POSIX_FS.get(path, "missing")


@pytest.mark.parametrize(
    ("name", "path", "cwd", "expected"),
    [
        ("tool", "/usr/local/bin:/usr/bin", None, "/usr/local/bin/tool"),
        ("tool", "/usr/bin:/usr/local/bin", None, "/usr/bin/tool"),
        ("plain", "/opt/bin:/usr/bin", None, "/usr/bin/plain"),  # non-executable skipped
        ("local", "bin", "/home/u/proj", "/home/u/proj/bin/local"),  # relative entry
        ("local2", "/usr/bin::/x", "/home/u/proj", "/home/u/proj/local2"),  # empty = cwd
        ("/usr/bin/tool", "", None, "/usr/bin/tool"),  # a path is not searched
        ("bin/local", "/usr/bin", "/home/u/proj", "/home/u/proj/bin/local"),
    ],
)
def test_resolve_program_posix(name: str, path: str, cwd: str | None, expected: str) -> None:
    found = resolve_program(name, path=path, windows=False, cwd=cwd, probe=posix_probe)
    assert found == expected


def test_resolve_program_posix_errors() -> None:
    with pytest.raises(PermissionError, match="/opt/bin/plain"):
        resolve_program("plain", path="/opt/bin", windows=False, probe=posix_probe)
    with pytest.raises(FileNotFoundError, match="searched: /a:/b"):
        resolve_program("dironly", path="/a:/b", windows=False, probe=posix_probe)
    with pytest.raises(FileNotFoundError) as info:
        resolve_program("dironly", path="/usr/bin", windows=False, probe=posix_probe)
    assert info.value.errno == errno.ENOENT and info.value.filename == "dironly"
    with pytest.raises(IsADirectoryError):
        resolve_program("/usr/bin/dironly", path="", windows=False, probe=posix_probe)
    with pytest.raises(IsADirectoryError):
        resolve_program("C:\\dir", path="", windows=True, probe=lambda p: "dir")
    with pytest.raises(ValueError, match="empty"):
        resolve_program("", path="/usr/bin", windows=False, probe=posix_probe)


WINDOWS_FS = {
    p.lower(): kind
    for p, kind in {
        r"C:\node\npm": "exec",  # the extensionless POSIX shim (gh-109590)
        r"C:\node\npm.cmd": "exec",
        r"C:\node\node.exe": "exec",
        r"C:\Windows\System32\where.exe": "exec",
        r"C:\tools\both.bat": "exec",
        r"C:\tools\both.exe": "exec",
        r"C:\scripts\job.vbs": "exec",
        r"C:\scripts\later.vbs": "exec",
        r"C:\later\later.exe": "exec",
        r"C:\Program Files\Git\cmd\git.exe": "exec",
        r"C:\work\tool.exe": "exec",
        r"C:\work\.\sub\run.cmd": "exec",
    }.items()
}


def windows_probe(path: str) -> str:
    return WINDOWS_FS.get(path.replace("/", "\\").lower(), "missing")


WIN_PATH = r'C:\Windows\System32;C:\node;;"C:\Program Files\Git\cmd";C:\tools;C:\scripts;C:\later'


@pytest.mark.parametrize(
    ("name", "pathext", "cwd", "expected"),
    [
        ("npm", None, None, r"C:\node\npm.cmd"),  # PATHEXT finds the .cmd, never the shim
        ("NPM", None, None, r"C:\node\NPM.cmd"),
        ("node", None, None, r"C:\node\node.exe"),
        ("node.exe", None, None, r"C:\node\node.exe"),
        ("where", None, None, r"C:\Windows\System32\where.exe"),
        ("git", None, None, r"C:\Program Files\Git\cmd\git.exe"),  # quoted entry
        ("both", None, None, r"C:\tools\both.exe"),  # PATHEXT order: .EXE before .BAT
        ("both", ".BAT;.EXE", None, r"C:\tools\both.bat"),
        ("both", "bat;exe", None, r"C:\tools\both.bat"),  # no dots, lower case
        ("later", None, None, r"C:\later\later.exe"),  # .vbs skipped, later .exe taken
        (r"C:\node\npm", None, None, r"C:\node\npm.cmd"),  # a path gets PATHEXT too
        ("C:/node/node", None, None, "C:/node/node.exe"),
        (r"sub\run", None, r"C:\work\.", r"C:\work\.\sub\run.cmd"),
    ],
)
def test_resolve_program_windows(
    name: str, pathext: str | None, cwd: str | None, expected: str
) -> None:
    found = resolve_program(
        name, path=WIN_PATH, windows=True, pathext=pathext, cwd=cwd, probe=windows_probe
    )
    assert found == expected


def test_resolve_program_windows_errors() -> None:
    # The current directory is not searched implicitly (tool.exe is in C:\work).
    with pytest.raises(FileNotFoundError) as info:
        resolve_program("tool", path=WIN_PATH, windows=True, cwd=r"C:\work", probe=windows_probe)
    assert "C:\\node" in str(info.value) and ".exe" in str(info.value)
    # Only a file CreateProcess cannot start: an error naming its interpreter.
    with pytest.raises(OSError, match="cscript") as info2:
        resolve_program("job", path=WIN_PATH, windows=True, probe=windows_probe)
    assert info2.value.errno == errno.ENOEXEC
    with pytest.raises(OSError, match=r"cannot start a \.vbs"):
        resolve_program(r"C:\scripts\job.vbs", path="", windows=True, probe=windows_probe)
    # cmd builtins are not programs (SUB-05).
    with pytest.raises(FileNotFoundError, match="builtin"):
        resolve_program("dir", path=WIN_PATH, windows=True, probe=windows_probe)
    with pytest.raises(FileNotFoundError, match=r"not found"):
        resolve_program("npm", path="", windows=True, probe=windows_probe)


# -- batch files on Windows: quoting and refusal (pure) -------------------------------------


def msvcrt_split(line: str) -> list[str]:
    """Split a command line by the MS C runtime rules (what the program a .cmd shim
    forwards ``%*`` to, e.g. node.exe, does); the reference for the round trip."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        arg: list[str] = []
        quoted = False
        while i < n:
            c = line[i]
            if c == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    arg.append("\\" * (count // 2))
                    if count % 2:
                        arg.append('"')
                        j += 1
                    i = j
                else:
                    arg.append("\\" * count)
                    i = j
            elif c == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            elif c in " \t" and not quoted:
                break
            else:
                arg.append(c)
                i += 1
        args.append("".join(arg))


CMD_SPECIAL = set("&|<>^()")
PREFIX = 'cmd.exe /d /e:ON /v:OFF /s /c "'


def cmd_sees(line: str) -> str:
    """What cmd.exe /s /c executes: the text between the outer quotes; and assert that
    no character cmd.exe treats specially is outside double quotes there."""
    assert line.startswith(PREFIX) and line.endswith('"')
    inner = line[len(PREFIX) : -1]
    quoted = False
    for c in inner:
        if c == '"':
            quoted = not quoted
        elif not quoted:
            assert c not in CMD_SPECIAL and c != "%", f"{c!r} unquoted in {inner!r}"
    assert not quoted
    return inner


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("install", "install"),
        ("--save-dev", "--save-dev"),
        (r"C:\dir\file.txt", r"C:\dir\file.txt"),
        ("caf\u00e9", "caf\u00e9"),
        ("", '""'),
        ("a b", '"a b"'),
        ("x&calc", '"x&calc"'),
        ("a|b<c>d^e(f)", '"a|b<c>d^e(f)"'),
        ("dir\\", '"dir\\\\"'),  # trailing backslash doubled inside quotes
        ("a\\\\", '"a\\\\\\\\"'),
        ("tab\there", '"tab\there"'),
    ],
)
def test_quote_batch_argument(arg: str, quoted: str) -> None:
    assert quote_batch_argument(arg) == quoted


@pytest.mark.parametrize(
    "arg", ["100%", "%PATH%", 'say "hi"', "a\nb", "a\rb", "a\0b", "wow!", "!PATH!", "^!x"]
)
def test_batch_arguments_cmd_cannot_take_literally_are_refused(arg: str) -> None:
    with pytest.raises(UnsafeBatchArgument) as info:
        batch_command_line(r"C:\node\npm.cmd", ["install", arg])
    assert isinstance(info.value, ValueError)
    assert info.value.index == 2 and info.value.argument == arg
    assert "npm.cmd" in str(info.value) and "BatBadBut" in str(info.value)


@pytest.mark.parametrize("script", [r'C:\a"b\x.bat', r"C:\100%\x.cmd", "C:\\dir\\"])
def test_unsafe_batch_paths_are_refused(script: str) -> None:
    with pytest.raises(UnsafeBatchArgument, match="batch file path"):
        batch_command_line(script, [])


def test_an_exclamation_mark_is_refused_with_why() -> None:
    # /v:OFF keeps "!" literal on cmd.exe's command line, but a batch file that runs
    # setlocal EnableDelayedExpansion expands !VAR! in %1/%* again.
    with pytest.raises(UnsafeBatchArgument, match="EnableDelayedExpansion") as info:
        batch_command_line(r"C:\x\build.cmd", ["--name", "hi!"])
    assert info.value.index == 2 and "'!'" in str(info.value)
    # The batch file's own path is not data: "!" stays allowed there.
    assert batch_command_line(r"C:\Users\Bang!\x.cmd", []) == (
        'cmd.exe /d /e:ON /v:OFF /s /c ""C:\\Users\\Bang!\\x.cmd""'
    )


def test_batch_command_line_shape() -> None:
    line = batch_command_line(r"C:\Program Files (x86)\nodejs\npm.cmd", ["run", "a&b", ""])
    assert line == (
        'cmd.exe /d /e:ON /v:OFF /s /c ""C:\\Program Files (x86)\\nodejs\\npm.cmd" run "a&b" """'
    )


def test_batch_quoting_round_trips_and_keeps_cmd_metacharacters_quoted() -> None:
    # Random arguments over an alphabet full of troublemakers: each is either
    # refused, or reaches the wrapped program unchanged with every cmd.exe
    # metacharacter inside quotes.
    alphabet = "ab Z9\\\"%!&|<>^()=,;\t\u00e9\u4e2d-_./:@*?#$~`'[]{}+"
    rng = random.Random(20240409)
    refused = accepted = 0
    for _ in range(3000):
        args = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3)]
        script = r"C:\x y\run.cmd"
        if any(c in a for a in args for c in '%"!'):
            with pytest.raises(UnsafeBatchArgument):
                batch_command_line(script, args)
            refused += 1
            continue
        accepted += 1
        assert msvcrt_split(cmd_sees(batch_command_line(script, args))) == [script, *args]
    assert refused > 100 and accepted > 100


def test_plan_windows_command() -> None:
    environ = {"ComSpec": r"C:\Windows\system32\cmd.exe"}
    plan = plan_windows_command(r"C:\node\npm.CMD", ["npm", "install", "x y"], environ=environ)
    assert plan.executable == r"C:\Windows\system32\cmd.exe"
    assert plan.args == 'cmd.exe /d /e:ON /v:OFF /s /c ""C:\\node\\npm.CMD" install "x y""'
    plan = plan_windows_command(r"C:\node\node.exe", ["node", "a&b"], environ=environ)
    assert (plan.executable, plan.args) == (r"C:\node\node.exe", ["node", "a&b"])
    with pytest.raises(UnsafeBatchArgument):
        plan_windows_command(r"C:\x\y.bat", ["y", "%CD%"], environ=environ)
    assert is_batch_file("A.BAT") and is_batch_file(r"c:\x.cmd") and not is_batch_file("x.exe")


def test_find_comspec() -> None:
    assert find_comspec({"COMSPEC": r"D:\cmd.exe"}) == r"D:\cmd.exe"
    assert find_comspec({"SystemRoot": r"C:\Windows"}) == r"C:\Windows\System32\cmd.exe"
    assert find_comspec({"ComSpec": "cmd.exe", "SYSTEMROOT": r"C:\W"}) == r"C:\W\System32\cmd.exe"
    with pytest.raises(FileNotFoundError, match="ComSpec"):
        find_comspec({})


# -- the Windows primitives that can be checked here -------------------------------------


def test_job_object_structures_have_the_windows_layout() -> None:
    # Natural alignment makes these the same on Linux and Windows for the same
    # pointer size: 144/64 bytes on 64-bit Windows, 112/48 on 32-bit (winnt.h).
    wide = ctypes.sizeof(ctypes.c_void_p) == 8
    ext = native_windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
    basic = native_windows.JOBOBJECT_BASIC_LIMIT_INFORMATION
    assert ctypes.sizeof(ext) == (144 if wide else 112)
    assert ctypes.sizeof(basic) == (64 if wide else 48)
    assert basic.LimitFlags.offset == 16
    assert ext.IoInfo.offset == ctypes.sizeof(basic)
    info = native_windows.kill_on_close_limits()
    assert info.BasicLimitInformation.LimitFlags == 0x2000 | 0x800  # tests/test_native_tree.py
    assert native_windows.taskkill_command(42, r"C:\Windows") == [
        r"C:\Windows\System32\taskkill.exe",
        "/T",
        "/F",
        "/PID",
        "42",
    ]


@posix_only
def test_native_contract_on_posix() -> None:
    assert native_tree._import_error is None
    assert native_tree.tree_popen_kwargs(0, None) == {"start_new_session": True}
    assert native_tree.tree_popen_kwargs(0, 0) == {"process_group": 0}


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "args is empty"),
        ("", {}, ValueError, "empty string"),
        ("   ", {}, ValueError, "empty string"),
        ([""], {}, ValueError, "program, is an empty string"),
        (None, {}, TypeError, "args must be"),
        ([PY, 3], {}, TypeError, r"args\[1\] is int"),
        ([PY, "-c", "pass"], {"cwd": "/nonexistent/dir"}, FileNotFoundError, "cwd"),
        ([PY, "-c", "pass"], {"cwd": __file__}, NotADirectoryError, "cwd"),
        ([PY, "-c", "pass"], {"env": {"A": 1}}, TypeError, r"env\['A'\] is int"),
        ([PY, "-c", "pass"], {"env": {1: "x"}}, TypeError, "env key 1"),
        ([PY, "-c", "pass"], {"env": {"A=B": "x"}}, ValueError, "not a valid"),
        ([PY, "-c", "pass"], {"env": {"A": "x\0"}}, ValueError, "NUL"),
        ([PY, "-c", "pass"], {"env": ["A=1"]}, TypeError, "mapping"),
        ([PY, "-c", "pass"], {"timeout": -1}, ValueError, ">= 0"),
        ([PY, "-c", "pass"], {"timeout": math.nan}, ValueError, ">= 0"),
        ([PY, "-c", "pass"], {"timeout": "1"}, TypeError, "number of seconds"),
        ([PY, "-c", "pass"], {"input": b"x", "stdin": subprocess.DEVNULL}, ValueError, "both"),
        ([PY, "-c", "pass"], {"capture_output": True, "stdout": subprocess.PIPE}, ValueError, None),
        ([PY, "-c", "pass"], {"start_new_session": False}, ValueError, "start_new_session"),
        ([PY, "-c", "pass"], {"process_group": 5}, ValueError, "process_group=5"),
        (
            [PY, "-c", "pass"],
            {"text": True, "universal_newlines": False},
            subprocess.SubprocessError,
            None,
        ),
    ],
)
def test_bad_input_raises_before_anything_starts(
    args: object, kwargs: dict[str, object], error: type[Exception], match: str | None
) -> None:
    with pytest.raises(error, match=match):
        run(args, **kwargs)  # the conftest reaper fails the test if a child started


def test_checks_with_windows_facts() -> None:
    with pytest.raises(TypeError, match="bytes"):
        check_env({"A": b"x"}, windows=True)
    check_env({"A": b"x", b"B": "y"}, windows=False)
    check_env({"=C:": r"C:\x"}, windows=True)  # per-drive directory variables
    with pytest.raises(TypeError, match="bytes"):
        check_args([b"prog"], windows=True)
    check_args([b"prog", Path("x")], windows=False)
    check_timeout(0)
    check_timeout(2.5)
    with pytest.raises(TypeError):
        check_timeout(True)
    check_group_options(True, None)
    check_group_options(False, 0)


def test_text_settings() -> None:
    assert text_settings(None, None, None, None) == (False, None, None)
    assert text_settings(True, None, None, None) == (True, "utf-8", "replace")
    assert text_settings(None, True, None, None) == (True, "utf-8", "replace")
    assert text_settings(None, None, "cp850", None) == (True, "cp850", "replace")
    assert text_settings(None, None, None, "strict") == (True, "utf-8", "strict")


# -- the seed's programs ---------------------------------------------------------------------


# The examples run in UTF-8 mode here, as they always have in these tests.
UTF8 = {"PYTHONUTF8": "1"}


def test_example_subprocess_call_prints_the_exit_code() -> None:
    proc = run_example("subprocess_call.py", PY, TARGETS, "nslookup", env=UTF8)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "$ nslookup www.python.org"
    assert "canonical name = dualstack.python.map.fastly.net." in proc.stdout
    assert lines[-1] == "Exit code: 0"


def test_example_subprocess_stdin_feeds_commands() -> None:
    proc = run_example("subprocess_stdin.py", PY, TARGETS, "nslookup", env=UTF8)
    assert proc.returncode == 0, proc.stderr
    assert "> set q=mx" in proc.stdout
    assert "python.org\tmail exchanger = 50 mail.python.org." in proc.stdout
    assert proc.stdout.splitlines()[-1] == "Exit code: 0"
