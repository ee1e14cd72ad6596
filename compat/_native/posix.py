"""POSIX process trees: a new session per child, process-group signals, parent-link walks."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from .._platform import LINUX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

# Tells type checkers that nothing below exists on Windows (mypy --platform win32).
assert sys.platform != "win32", "compat._native.posix imported on Windows"

# How many snapshot rounds kill() takes at most to reach a fixpoint. Each round
# stops what it finds, and a stopped process cannot fork, so two rounds suffice
# unless processes are forking at the very moment of the first snapshot.
_FREEZE_ROUNDS = 10


def tree_popen_kwargs(creationflags: int, process_group: Optional[int]) -> dict[str, Any]:
    # A new session (setsid) rather than preexec_fn: _posixsubprocess does it
    # between vfork and exec, so the fast path stays (SUB-08). A session leader
    # also cannot move itself to another group, so pgid == pid for its lifetime.
    # setsid() and setpgid() must not both be requested: setpgid fails with
    # EPERM for a session leader and the exec would fail.
    del creationflags  # Windows-only; subprocess rejects a nonzero value itself
    if process_group == 0:
        return {"process_group": 0}
    return {"start_new_session": True}


def adopt_tree(popen: subprocess.Popen[Any], creationflags: int = 0) -> PosixTree:
    del creationflags  # Windows-only
    # poll() reaps the leader if it has exited: the answer macOS's EPERM needs
    # (see PosixTree._signal_group), from the object that owns the child.
    return PosixTree(popen.pid, leader_exited=lambda: popen.poll() is not None)


def _leader_unknown() -> bool:
    return False


class PosixTree:
    """The process group ``pid`` (its leader is compat's child) and the descendants
    that left it.

    ``leader_exited`` says whether the leader has exited (a zombie or reaped);
    ``killpg`` is :func:`os.killpg`. Both are parameters so that the macOS rule
    below is tested on Linux with injected facts.
    """

    def __init__(
        self,
        pid: int,
        *,
        leader_exited: Callable[[], bool] = _leader_unknown,
        killpg: Optional[Callable[[int, int], None]] = None,
    ) -> None:
        self.pid = pid
        self._closed = False
        self._leader_exited = leader_exited
        self._send = os.killpg if killpg is None else killpg

    def interrupt(self) -> None:
        # Like a terminal's Ctrl+C: the whole foreground group gets SIGINT.
        if not self._closed:
            self._killpg(signal.SIGINT)

    def terminate(self) -> None:
        # Once per process: a second SIGTERM can arrive after a Python child's
        # handler ran and its interpreter restored the default action, and kill
        # it by the signal after all.
        if self._closed:
            return
        outside = {pid for pid, group in tree_members(self.pid).items() if group != self.pid}
        self._killpg(signal.SIGTERM)
        _signal_each(outside, signal.SIGTERM)

    def kill(self) -> None:
        # After close() the child has been reaped, so its pid (and the group id)
        # may belong to someone else: walking or signalling it could hit strangers.
        if self._closed:
            return
        frozen = self._freeze()
        self._killpg(signal.SIGKILL)
        _signal_each(frozen, signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Runs once per program started, so it skips _killpg's self-check (one
        # system call): the child was started in a new session or with
        # process_group=0 by compat itself, so its group is never the caller's.
        # Called after the child was reaped. The group id stays reserved while
        # any member lives (a pid is not reused while a process group of that id
        # exists), so this reaches our leftovers; if the group is empty it fails
        # with ESRCH. The remaining race (group emptied, id recycled as a new
        # group leader's within microseconds) needs a full pid wrap-around.
        self._signal_group(signal.SIGKILL)

    def _freeze(self) -> set[int]:
        """Stop the group and every descendant found, until a snapshot finds nothing new."""
        self._killpg(signal.SIGSTOP)
        stopped: set[int] = set()
        for _ in range(_FREEZE_ROUNDS):
            new = set(tree_members(self.pid)) - stopped
            if not new:
                break
            _signal_each(new, signal.SIGSTOP)
            stopped |= new
        return stopped

    def _killpg(self, sig: int) -> None:
        # Never signal our own group: it would mean the child was not started in
        # a group of its own, and the caller would be hit too.
        if self.pid == os.getpgrp():
            raise RuntimeError(f"refusing to signal process group {self.pid}: it is the caller's")
        self._signal_group(sig)

    def _signal_group(self, sig: int) -> None:
        try:
            self._send(self.pid, sig)
        except ProcessLookupError:  # the group is empty: nothing left to signal
            pass
        except PermissionError:
            # macOS (XNU) answers EPERM, not ESRCH, when every member of the group
            # is a zombie (Linux signals the zombies and succeeds): that happens
            # when the child exits just as a timeout fires. Once the leader has
            # exited, the group is taken as gone: what is left is zombies, or at
            # worst members that changed user id (setuid programs), which compat
            # could not signal anyway. While the leader runs EPERM is real (the
            # leader itself changed user id) and the caller must hear of it.
            if not self._leader_exited():
                raise


def _signal_each(pids: set[int], sig: int) -> None:
    me = os.getpid()
    for pid in pids:
        if pid == me:
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def tree_members(pgid: int) -> dict[int, int]:
    """Live processes of the tree rooted at group ``pgid``, as pid -> process group:
    the group's members and every descendant of the root or of a member (those that
    left the group with setsid/setpgid). Linux reads ``/proc``; other systems use
    psutil when it is installed; otherwise only the group is known and this
    returns nothing.

    A descendant whose parent has already exited was re-parented to init or a
    subreaper and can no longer be told apart from unrelated processes (psutil#2534).
    """
    table = _process_table()
    if table is None:
        return {}
    children: dict[int, list[int]] = {}
    roots = {pgid}
    for pid, (ppid, group) in table.items():
        children.setdefault(ppid, []).append(pid)
        if group == pgid:
            roots.add(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    found.discard(os.getpid())
    return {pid: table[pid][1] for pid in found}


def _process_table() -> Optional[dict[int, tuple[int, int]]]:
    """pid -> (ppid, pgid) for live processes (zombies excluded), or None if unknown."""
    if LINUX:
        return _proc_table()
    return _psutil_table()


def _proc_table() -> Optional[dict[int, tuple[int, int]]]:
    table: dict[int, tuple[int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return _psutil_table()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # exited meanwhile, or hidden (hidepid)
            continue
        # Fields after the command name, which may itself contain ") ".
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] in (b"Z", b"X"):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def _psutil_table() -> Optional[dict[int, tuple[int, int]]]:
    try:
        # Optional dependency; imported by name so that type checkers without it
        # installed see Any rather than a missing module.
        psutil = importlib.import_module("psutil")
    except ImportError:
        return None
    table: dict[int, tuple[int, int]] = {}
    for proc in psutil.process_iter(["ppid", "status"]):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE or info.get("ppid") is None:
            continue
        try:
            table[proc.pid] = (int(info["ppid"]), os.getpgid(proc.pid))
        except OSError:
            continue
    return table
