"""``die_with_parent=True`` for compat.Popen / compat.run: the tree ends when its parent dies.

The end-to-end tests run a *victim* parent (``tests/targets_run.py victim``) that starts
trees and says their pids, SIGKILL it, and check that its children and grandchildren
(and, on POSIX, its guardian) are gone within 2 s. The victim's children are not
ours once it is dead (they are re-parented to init), so the conftest reaper cannot
see them: every test here kills what it saw in ``finally``, whatever happened.
The guardian's protocol (``compat._native.guardian_main``) is tested in-process with
injected ``killpg``/``exists``; the parent side (``Guardian``) with the real guardian,
which the ``guardian`` fixture stops at the end of each test.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import compat
from compat._native import guardian as guardian_module
from compat._native.guardian import GUARDIAN, Guardian, guardian_command, guardian_needed
from compat._platform import LINUX, WINDOWS
from tests.procs import hard_kill, pid_exists

if not WINDOWS:
    from compat._native import guardian_main
    from compat._native.posix import tree_members

TARGETS = str(Path(__file__).resolve().parent / "targets_run.py")
PY = sys.executable
#: The promise: the tree is gone this long after the parent's death.
PROMISE = 2.0
#: How long the victim may take to start its trees (a loaded CI machine).
START_TIMEOUT = 30.0
SLEEP = [PY, "-S", "-c", "import time; time.sleep(60)"]

posix_only = pytest.mark.skipif(WINDOWS, reason="POSIX: the guardian (Windows has the Job Object)")


# -- observing processes without compat ----------------------------------------------


def alive(pid: int) -> bool:
    """Running: a zombie (dead, waiting for whoever reaps orphans) counts as gone."""
    if WINDOWS:
        return pid_exists(pid)
    if LINUX:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in (b"Z", b"X")
    if not pid_exists(pid):
        return False
    ps = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return ps.returncode == 0 and not ps.stdout.strip().startswith("Z")


def still_alive(pids: list[int], within: float) -> list[int]:
    """The pids still running after up to ``within`` seconds."""
    deadline = time.monotonic() + within
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [p for p in left if alive(p)]
    return left


def kill_leftovers(pids: list[int], groups: list[int]) -> None:
    """A test's cleanup: SIGKILL what still runs of ``pids`` and ``groups``."""
    if not WINDOWS:
        for pgid in groups:
            if pgid != os.getpgrp():
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except OSError:
                    pass
    for pid in pids:
        if alive(pid):
            try:
                hard_kill(pid)
            except OSError:
                pass


# -- the victim ------------------------------------------------------------------------


class Victim:
    """``targets_run.py victim SCENARIO FLAG``, with the pids its processes said."""

    def __init__(self, scenario: str, die_with_parent: bool) -> None:
        self.process = subprocess.Popen(
            [PY, TARGETS, "victim", scenario, "1" if die_with_parent else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.said: dict[str, list[int]] = {"child": [], "grandchild": [], "guardian": []}
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Closes stdout at its end: cleanup() must not (close() would wait for
        # this read, i.e. for whatever still holds the pipe).
        assert self.process.stdout is not None
        with self.process.stdout as stdout:
            for line in stdout:
                self._lines.put(line.strip())
        self._lines.put("")  # end of output

    def wait_ready(self, trees: int) -> None:
        """Until the victim said "ready" and ``trees`` children said "up"."""
        deadline = time.monotonic() + START_TIMEOUT
        ready, up = False, 0
        while not (ready and up >= trees):
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line, f"the victim ended early (exit code {self.process.poll()}): {self.said}"
            role, _, pid = line.partition(" ")
            if role == "ready":
                ready = True
            elif role == "up":
                up += 1
            else:
                assert role in self.said and pid.isdigit(), f"unexpected line {line!r}"
                self.said[role].append(int(pid))

    @property
    def tree(self) -> list[int]:
        return self.said["child"] + self.said["grandchild"]

    def kill(self) -> None:
        hard_kill(self.process.pid)
        self.process.wait(10)

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.process.wait(10)
        kill_leftovers(self.tree + self.said["guardian"], self.said["child"])
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass


@pytest.fixture
def victims() -> Iterator[list[Victim]]:
    made: list[Victim] = []
    yield made
    for victim in made:
        victim.cleanup()


@pytest.fixture
def guardian() -> Iterator[Guardian]:
    """This process's guardian, stopped (and reaped) at the end of the test."""
    yield GUARDIAN
    GUARDIAN.stop()


# -- the promise, end to end -------------------------------------------------------------

SCENARIOS = [
    pytest.param("run-thread", 1, id="run-from-a-thread"),
    pytest.param("shell", 1, id="shell-with-background-grandchild", marks=posix_only),
    pytest.param("lingering", 1, id="grandchild-left-by-a-reaped-child", marks=posix_only),
    pytest.param("restart", 2, id="guardian-killed-between-two-trees", marks=posix_only),
]


@pytest.mark.parametrize(("scenario", "trees"), SCENARIOS)
def test_the_tree_dies_with_a_parent_killed_by_sigkill(
    scenario: str, trees: int, victims: list[Victim]
) -> None:
    victim = Victim(scenario, die_with_parent=True)
    victims.append(victim)
    victim.wait_ready(trees)
    assert len(victim.said["child"]) == trees and len(victim.said["grandchild"]) == trees
    assert all(alive(pid) for pid in victim.said["grandchild"])
    if not WINDOWS:
        assert victim.said["guardian"], "no guardian said its pid"
    victim.kill()
    assert still_alive(victim.tree, PROMISE) == [], "the tree outlived its parent"
    # The guardian itself ends with the parent (and the restarted one too).
    assert still_alive(victim.said["guardian"], PROMISE) == []


@pytest.mark.parametrize("scenario", ["run-thread", pytest.param("shell", marks=posix_only)])
def test_without_die_with_parent_a_posix_tree_outlives_its_parent(
    scenario: str, victims: list[Victim]
) -> None:
    # What the flag changes. Windows: the Job Object (killed with its only handle,
    # the parent's) ends the tree anyway, flag or not: an OS difference compat keeps.
    victim = Victim(scenario, die_with_parent=False)
    victims.append(victim)
    victim.wait_ready(1)
    assert victim.said["guardian"] == []  # nothing starts one without the flag
    victim.kill()
    if WINDOWS:
        assert still_alive(victim.tree, PROMISE) == []
    else:
        time.sleep(1.0)
        assert still_alive(victim.tree, 0) == victim.tree


def test_a_normal_exit_ends_the_tree_and_the_guardian_holds_no_pipe(victims: list[Victim]) -> None:
    # The child holds the victim's stdout: the read ends only once it is killed.
    # The guardian itself holds none of the victim's pipes.
    victim = Victim("exit", die_with_parent=True)
    victims.append(victim)
    victim.wait_ready(1)
    assert victim.process.stdin is not None
    victim.process.stdin.write("exit now\n")
    victim.process.stdin.close()
    assert victim.process.wait(START_TIMEOUT) == 0
    assert still_alive(victim.tree + victim.said["guardian"], PROMISE) == []
    started = time.monotonic()
    assert victim._lines.get(timeout=PROMISE) == ""  # end of the victim's stdout
    assert time.monotonic() - started < PROMISE


# -- the parent side, with the real guardian -----------------------------------------------


@posix_only
def test_registration_follows_the_child(guardian: Guardian) -> None:
    with compat.Popen(SLEEP, die_with_parent=True) as p:
        assert guardian.registered() == {p.pid}
        p.kill_tree()
        assert p.poll() is None or p.returncode == -signal.SIGKILL
        p.wait(10)
        assert guardian.registered() == frozenset()  # reaped: ~PGID sent
    result = compat.run([PY, "-c", "print('hi')"], capture_output=True, die_with_parent=True)
    assert result.stdout.strip() == b"hi"
    assert guardian.registered() == frozenset()


@posix_only
def test_poll_reports_the_reap(guardian: Guardian) -> None:
    p = compat.Popen([PY, "-S", "-c", "pass"], die_with_parent=True)
    try:
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert guardian.registered() == frozenset()
    finally:
        p.kill_tree()
        p.wait(10)
        p.close_tree()


@posix_only
def test_a_reaped_childs_leftovers_die_with_the_parent(guardian: Guardian) -> None:
    # sh exits at once; its background sleep stays in the group, which the guardian
    # keeps while it has members. stop() is the parent's death, for the guardian.
    p = compat.Popen(
        ["sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, die_with_parent=True
    )
    assert p.stdout is not None
    leftover = int(p.stdout.readline())  # not communicate(): the sleep holds stdout
    try:
        assert p.wait(10) == 0 and alive(leftover)
        assert guardian.registered() == frozenset()
        guardian.stop()
        assert still_alive([leftover], PROMISE) == []
    finally:
        kill_leftovers([leftover], [p.pid])
        p.stdout.close()
        p.close_tree()


@posix_only
def test_a_restarted_guardian_gets_every_unreaped_tree(guardian: Guardian) -> None:
    first = compat.Popen(SLEEP, die_with_parent=True)
    second = None
    try:
        old = guardian.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(old) and time.monotonic() < deadline:
            time.sleep(0.01)
        second = compat.Popen(SLEEP, die_with_parent=True)  # finds it dead, starts another
        assert guardian.pid not in (None, old)
        assert not pid_exists(old)  # the dead one was reaped
        assert guardian.registered() == {first.pid, second.pid}
        guardian.stop()
        assert first.wait(PROMISE) == -signal.SIGKILL
        assert second.wait(PROMISE) == -signal.SIGKILL
    finally:
        for p in (first, second):
            if p is not None:
                p.kill_tree()
                p.wait(10)
                p.close_tree()


@posix_only
def test_the_guardian_ignores_sigint_in_a_session_of_its_own(guardian: Guardian) -> None:
    with compat.Popen(SLEEP, die_with_parent=True) as p:
        pid = guardian.pid
        assert pid is not None
        assert os.getsid(pid) == pid != os.getsid(0)  # a terminal's Ctrl+C misses it
        assert pid not in tree_members(p.pid)  # kill_tree never hunts it
        os.kill(pid, signal.SIGINT)  # the handshake came after its SIG_IGN
        time.sleep(0.2)
        assert alive(pid)
        p.kill_tree()


@pytest.mark.skipif(not LINUX, reason="reads the guardian's descriptors in /proc")
def test_the_guardian_holds_only_its_two_pipes(guardian: Guardian) -> None:
    with compat.Popen(SLEEP, die_with_parent=True) as p:
        pid = guardian.pid
        # It says "ready" before it points stdout and stderr at /dev/null: on a busy
        # machine that descriptor can still be open for a moment when we look.
        deadline = time.monotonic() + 10
        while True:
            fds = {
                int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
            }
            others = [target for fd, target in fds.items() if fd > 2]
            settled = [fds.get(fd) for fd in (0, 1, 2)] == ["/dev/null"] * 3 and len(others) == 2
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert [fds[fd] for fd in (0, 1, 2)] == ["/dev/null"] * 3
        assert len(others) == 2 and all(t.startswith("pipe:") for t in others), fds
        p.kill_tree()


@posix_only
def test_a_forked_child_forgets_the_parents_guardian(guardian: Guardian) -> None:
    guardian.ensure_running()
    parent_guardian, parent_fd = guardian.pid, guardian._fd
    assert parent_fd is not None
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            assert guardian.pid is None and guardian._fd is None
            try:
                os.fstat(parent_fd)
            except OSError:
                pass
            else:
                raise AssertionError("the registration pipe stayed open in the child")
            compat.run([PY, "-S", "-c", "pass"], die_with_parent=True)
            assert guardian.pid not in (None, parent_guardian)  # its own guardian
            guardian.stop()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert guardian.pid == parent_guardian and alive(parent_guardian)
    compat.run([PY, "-S", "-c", "pass"], die_with_parent=True)  # still ours, still works
    assert guardian.pid == parent_guardian


@posix_only
def test_a_dropped_popen_stays_guarded_until_its_group_is_empty(guardian: Guardian) -> None:
    p = compat.Popen(SLEEP, die_with_parent=True)
    pid = p.pid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # "subprocess is still running"
        del p
        gc.collect()
    try:
        assert guardian.registered() == frozenset()  # handed over: ~PGID
        assert alive(pid)
        guardian.stop()
        assert still_alive([pid], PROMISE) == []
    finally:
        kill_leftovers([pid], [pid])
        subprocess.run([PY, "-S", "-c", "pass"])  # the standard library reaps it now


@posix_only
def test_a_reap_reported_while_the_lock_is_held_waits_for_its_release(
    guardian: Guardian,
) -> None:
    # The collector may run Popen.__del__ (which reports a reap) in a thread that
    # holds the guardian's lock: that must queue, not deadlock.
    with compat.Popen(SLEEP, die_with_parent=True) as p:
        with guardian._lock:
            guardian.reaped(p.pid)
            assert p.pid in guardian._live
        guardian.ensure_running()  # the next holder sends it when it lets go
        assert guardian.registered() == frozenset()
        p.kill_tree()


@posix_only
def test_the_guardian_runs_from_source_when_there_is_no_file() -> None:
    # compat vendored in a zip file: python -c SOURCE instead of the script's path.
    own = Guardian(by_path=False)
    with compat.Popen(SLEEP) as p:
        try:
            own.register(p.pid)
            assert own.pid is not None
            own.stop()
            assert p.wait(PROMISE) == -signal.SIGKILL
        finally:
            own.stop()
            p.kill_tree()


@posix_only
def test_a_guardian_that_cannot_start_fails_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> list[str]:
        return [PY, "-S", "-c", "import sys; sys.exit('no guardian today')"]

    monkeypatch.setattr(guardian_module, "guardian_command", broken)
    own = Guardian()
    with pytest.raises(OSError, match="no guardian today"):
        own.register(12345)
    assert own.pid is None and own.registered() == frozenset()


def test_guardian_command() -> None:
    assert guardian_command("/py", 5, 7, script="/g.py") == ["/py", "-I", "-S", "/g.py", "5", "7"]
    assert guardian_command("/py", 5, 7, script=None, source="x") == [
        "/py", "-I", "-S", "-c", "x", "5", "7",
    ]  # fmt: skip
    with pytest.raises(OSError, match="frozen"):
        guardian_command("/app", 5, 7, script="/g.py", frozen=True)
    with pytest.raises(OSError, match=r"sys\.executable is empty"):
        guardian_command("", 5, 7, script="/g.py")
    with pytest.raises(OSError, match="cannot find"):
        guardian_command("/py", 5, 7, script=None, source=None)


def test_die_with_parent_needs_the_guardian_on_posix_only() -> None:
    assert guardian_needed(True, windows=False) is True
    assert guardian_needed(True, windows=True) is False  # the Job Object does it
    assert guardian_needed(False, windows=False) is False
    for bad in (1, None, "yes"):
        with pytest.raises(TypeError, match="die_with_parent must be True or False"):
            guardian_needed(bad, windows=False)
        with pytest.raises(TypeError, match="die_with_parent must be True or False"):
            compat.Popen(SLEEP, die_with_parent=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="die_with_parent must be True or False"):
            compat.run(SLEEP, die_with_parent=bad)


# -- the guardian's program, in-process ------------------------------------------------------


@posix_only
def test_registry_protocol() -> None:
    registry = guardian_main.Registry()
    registry.feed(b"+100\n+101\n-100\n+10")  # the last line is not complete yet
    assert registry.groups() == {101}
    registry.feed(b"2\n~102\nnonsense\n+\n+0\n+1\n-\n")
    assert registry.live == {101} and registry.lingering == {102}
    registry.feed(b"+%d\n" % os.getpgrp())  # never its own group
    registry.feed(b"+102\n")  # a new tree with that id: live again
    assert registry.live == {101, 102} and registry.lingering == set()
    registry.feed(b"~101\n~103\n")
    registry.prune(lambda pgid: pgid != 101)  # 101 is empty now: forgotten
    assert registry.groups() == {102, 103}


@posix_only
@pytest.mark.parametrize("end", ["lifeline", "registry"])
def test_serve_kills_what_is_registered_when_either_pipe_ends(end: str) -> None:
    lifeline_r, lifeline_w = os.pipe()
    registry_r, registry_w = os.pipe()
    killed: list[tuple[int, int]] = []
    result: list[guardian_main.Registry] = []

    def run() -> None:
        result.append(
            guardian_main.serve(
                lifeline_r,
                registry_r,
                killpg=lambda pgid, sig: killed.append((pgid, sig)),
                exists=lambda pgid: pgid != 102,  # 102's group is empty
            )
        )

    watcher = threading.Thread(target=run, daemon=True)
    watcher.start()
    dying = lifeline_w if end == "lifeline" else registry_w
    try:
        os.write(registry_w, b"+100\n+101\n+102\n~102\n+103\n~103\n-100\n")
        time.sleep(0.1)
        os.write(registry_w, b"+104\n")  # just before the death: still killed
        os.close(dying)
        watcher.join(10)
        assert not watcher.is_alive()
    finally:
        for fd in {lifeline_r, registry_r, lifeline_w, registry_w} - {dying}:
            os.close(fd)
    assert sorted(killed) == [(pgid, signal.SIGKILL) for pgid in (101, 103, 104)]
    assert result[0].lingering == {103}
