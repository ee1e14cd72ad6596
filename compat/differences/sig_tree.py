"""SIG-07 to SIG-10: process groups and sessions, process trees, Ctrl+C to a whole
group, and the SIGPIPE disposition children inherit."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any, Optional

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    not_applicable,
)
from ._probekit import GRACE, Reaper, python, read_bounded, wait_ready

ALL = ("linux", "darwin", "win32")

# A Python child that starts a grandchild holding its stdin and stdout (the grandchild
# exits on stdin EOF), says it is ready, then sleeps.
_TREE = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],\n"
    "                     stdin=sys.stdin, stdout=sys.stdout)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def _probe_groups(ctx: ProbeContext) -> Observation:
    """Look for os.killpg and friends; on POSIX check start_new_session really works."""
    observed: dict[str, Any] = {n: hasattr(os, n) for n in ("killpg", "setsid", "getpgid")}
    observed["CREATE_NEW_PROCESS_GROUP"] = hasattr(subprocess, "CREATE_NEW_PROCESS_GROUP")
    if observed["setsid"]:
        code = "import os; print(os.getsid(0) == os.getpid())"
        with Reaper() as reaper:
            p = reaper.popen(python("-c", code), stdout=subprocess.PIPE, group=True)
            out = p.communicate(timeout=ctx.timeout)[0]
        observed["new_session_works"] = out.strip() == b"True"
    return affected(not observed["killpg"], observed, f"process-group tools: {observed}")


def _probe_tree(ctx: ProbeContext) -> Observation:
    """Kill a child that started a grandchild; does the grandchild keep its pipe open?"""
    with Reaper() as reaper:
        p = reaper.popen(
            python("-c", _TREE), stdin=subprocess.PIPE, stdout=subprocess.PIPE, group=True
        )
        wait_ready(p)
        p.kill()
        p.wait(GRACE)
        # EOF arrives only when every process holding the pipe has exited.
        survived = read_bounded(p.stdout, 1.0, line=False) is None
        p.stdin.close()  # the grandchild reads stdin: EOF makes it exit
    return affected(survived, {"grandchild_survives_kill": survived}, "after Popen.kill()")


def _sigpipe_ignored(pid: int) -> Optional[bool]:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (13 - 1) & 1)  # SIGPIPE is 13
    return None


def _probe_sigpipe(ctx: ProbeContext) -> Observation:
    """Read SIGPIPE's disposition in a non-Python child, with and without restore_signals."""
    sleep = shutil.which("sleep")
    if not os.path.exists("/proc/self/status") or sleep is None:
        return not_applicable("needs /proc and a sleep program (Linux)")
    observed: dict[str, Any] = {}
    with Reaper() as reaper:
        for restore in (True, False):
            p = reaper.popen([sleep, "5"], restore_signals=restore)
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline and os.path.realpath(f"/proc/{p.pid}/exe") != (
                os.path.realpath(sleep)
            ):
                time.sleep(0.005)
            observed[f"restore_signals={restore}"] = (
                "ignored" if _sigpipe_ignored(p.pid) else "default"
            )
            p.kill()
    inherited = observed["restore_signals=False"] == "ignored"
    return affected(inherited, observed, "SIGPIPE in exec'd children")


ENTRIES = (
    Difference(
        id="SIG-07",
        area="SIG",
        title="start_new_session and process_group are silently ignored on Windows",
        oses=ALL,
        python="3.8-3.14 (process_group from 3.11)",
        kind="silent",
        behaviour=(
            "Windows accepts start_new_session=True, process_group=0, restore_signals "
            "and umask and ignores them; os.setsid, os.killpg and os.getpgid do not "
            "exist. POSIX refuses creationflags and startupinfo (ValueError), and "
            "subprocess.CREATE_NEW_PROCESS_GROUP does not exist there."
        ),
        compat=(
            "compat's run handle starts a program in its own group on every OS: a new "
            "session on POSIX; a new process group and a kill-on-close Job Object (or "
            "the closest honest equivalent) on Windows."
        ),
        handling="handles",
        sources=("docs: subprocess.Popen", "source: Lib/subprocess.py"),
        cells=("sessions, killpg", "sessions, killpg", "ignored; no killpg"),
        probe=_probe_groups,
    ),
    Difference(
        id="SIG-08",
        area="SIG",
        title="Killing a process leaves its children running",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Popen.kill(), run(timeout=...), Process.terminate() and Pool.terminate() "
            "end only the direct child; grandchildren (from shell=True, helpers) keep "
            "running and keep the pipes open. POSIX can kill a session or group "
            "(start_new_session + os.killpg); the standard library has nothing on Windows."
        ),
        compat=(
            "compat.run kills the whole tree on timeout, and its handle has "
            "terminate_tree() and kill_tree()."
        ),
        handling="handles",
        sources=("docs: multiprocessing.Process.terminate", "docs: subprocess.Popen.kill"),
        cells=("grandchildren survive", "grandchildren survive", "grandchildren survive"),
        probe=_probe_tree,
    ),
    Difference(
        id="SIG-09",
        area="SIG",
        title="Ctrl+C reaches children directly; subprocess kills them 0.25 s later",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "A terminal Ctrl+C goes to the whole foreground process group (POSIX) or "
            "every process on the console (Windows), children included. On "
            "KeyboardInterrupt inside run() or Popen.__exit__, subprocess waits 0.25 s "
            "and then kills the child. Children in a new session or group do not get "
            "the terminal's Ctrl+C."
        ),
        compat="Documented; compat's handle lets each child share the terminal group or not.",
        handling="documents",
        sources=("source: Lib/subprocess.py",),
        cells=("whole foreground group", "whole foreground group", "whole console"),
        no_probe_reason=(
            "needs a terminal or console delivering Ctrl+C to a process group; a probe "
            "sending it would interrupt the doctor itself"
        ),
    ),
    Difference(
        id="SIG-10",
        area="SIG",
        title="Python ignores SIGPIPE, and fork children inherit that",
        oses=("linux", "darwin"),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "Python sets SIGPIPE to SIG_IGN, so its fork children (and programs run "
            "with restore_signals=False) get BrokenPipeError instead of dying. "
            "subprocess restores SIGPIPE, SIGXFZ and SIGXFSZ for exec'd programs by "
            "default; restore_signals does nothing on Windows."
        ),
        compat="Documented; compat keeps subprocess's restore_signals default.",
        handling="documents",
        sources=("docs: subprocess.Popen", "docs: signal, Note on SIGPIPE"),
        cells=("restored on exec", "restored on exec", "no SIGPIPE"),
        probe=_probe_sigpipe,
    ),
)
