"""SIG: signals, Ctrl+C and Ctrl+Break, process groups and process trees."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Any, Optional

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    ProbeTimeout,
    affected,
    differs,
    not_applicable,
    supported,
)
from ._probekit import GRACE, Reaper, python

ALL = ("linux", "darwin", "win32")

# A Python child that says it is ready, then sleeps; KeyboardInterrupt exits with 3.
# SIGINT may be ignored when the parent runs in the background: reinstall the default.
_INTERRUPTIBLE = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "try:\n"
    "    print('ready', flush=True)\n"
    "    time.sleep(30)\n"
    "except KeyboardInterrupt:\n"
    "    sys.exit(3)\n"
)
_SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n"
_HANDLES_TERM = (
    "import os, signal, sys, time\n"
    "def stop(*args):\n"
    # os.write, not print: the signal can land inside print('ready'), and a
    # handler that prints then re-enters the same buffered writer (RuntimeError).
    "    os.write(1, b'handled\\n')\n"
    "    os._exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)
_TREE = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],\n"
    "                     stdin=sys.stdin, stdout=sys.stdout)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def _read_bounded(stream: Any, timeout: float, *, line: bool = True) -> Optional[bytes]:
    """readline() (or read() to EOF) from a pipe, giving up after ``timeout``."""
    box: list[bytes] = []
    reader = threading.Thread(
        target=lambda: box.append(stream.readline() if line else stream.read()), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


def _wait_ready(p: Any) -> None:
    if not _read_bounded(p.stdout, GRACE):
        raise ProbeTimeout("the child did not say it was ready")


def _probe_signal_names(ctx: ProbeContext) -> Observation:
    """Look up POSIX signals and Windows console events in the signal module."""
    names = ("SIGKILL", "SIGHUP", "SIGCHLD", "SIGALRM", "SIGUSR1", "SIGPIPE", "SIGBREAK")
    observed = {n: hasattr(signal, n) for n in (*names, "CTRL_C_EVENT", "CTRL_BREAK_EVENT")}
    missing = [n for n in names[:-1] if not observed[n]]
    return affected(bool(missing), observed, f"missing: {', '.join(missing) or 'none'}")


def _probe_kill_sigint(ctx: ProbeContext) -> Observation:
    """os.kill(child, SIGINT) on a child that exits with 3 on KeyboardInterrupt."""
    with Reaper() as reaper:
        p = reaper.popen(python("-c", _INTERRUPTIBLE), stdout=subprocess.PIPE)
        _wait_ready(p)
        os.kill(p.pid, signal.SIGINT)
        rc = p.wait(GRACE)
    detail = "KeyboardInterrupt in the child" if rc == 3 else f"hard kill, return code {rc}"
    return affected(rc != 3, {"returncode": rc}, detail)


def _probe_kill_zero(ctx: ProbeContext) -> Observation:
    """Check whether signal 0 means CTRL_C_EVENT (then os.kill(pid, 0) is not a liveness test)."""
    if getattr(signal, "CTRL_C_EVENT", None) == 0:
        return differs({"kill_0_is_ctrl_c": True}, "os.kill(pid, 0) would send Ctrl+C")
    os.kill(os.getpid(), 0)
    return supported({"kill_0_is_ctrl_c": False}, "os.kill(pid, 0) checks that pid exists")


def _probe_group_interrupt(ctx: ProbeContext) -> Observation:
    """Interrupt a child started in its own process group (SIGINT or CTRL_BREAK_EVENT)."""
    flag = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", None)
    brk = getattr(signal, "CTRL_BREAK_EVENT", None)
    killpg = getattr(os, "killpg", None)
    with Reaper() as reaper:
        if flag is not None and brk is not None:
            p = reaper.popen(python("-c", _SLEEPER), stdout=subprocess.PIPE, creationflags=flag)
            _wait_ready(p)
            try:
                p.send_signal(brk)
            except OSError as exc:
                return differs({"ctrl_break": f"OSError {exc.errno}"}, f"no console: {exc}")
            try:
                rc = p.wait(GRACE)
            except subprocess.TimeoutExpired:
                return differs({"ctrl_break": "ignored"}, "CTRL_BREAK_EVENT did not stop it")
            return differs({"ctrl_break": "stopped"}, f"CTRL_BREAK_EVENT stopped it ({rc})")
        if killpg is None:
            return not_applicable("neither process groups nor console events here")
        p = reaper.popen(python("-c", _INTERRUPTIBLE), stdout=subprocess.PIPE, group=True)
        _wait_ready(p)
        killpg(p.pid, signal.SIGINT)
        rc = p.wait(GRACE)
    return affected(rc != 3, {"sigint_to_group": rc == 3}, f"SIGINT to its group: exit {rc}")


def _probe_popen_codes(ctx: ProbeContext) -> Observation:
    """Popen.terminate() one sleeping child and kill() another; compare return codes."""
    with Reaper() as reaper:
        a = reaper.popen(python("-c", _SLEEPER), stdout=subprocess.DEVNULL)
        b = reaper.popen(python("-c", _SLEEPER), stdout=subprocess.DEVNULL)
        a.terminate()
        b.kill()
        codes = {"terminate": a.wait(GRACE), "kill": b.wait(GRACE)}
    return affected(codes != {"terminate": -15, "kill": -9}, codes, f"return codes {codes}")


def _probe_sigterm_handler(ctx: ProbeContext) -> Observation:
    """terminate() a child that handles SIGTERM; did its handler run?"""
    with Reaper() as reaper:
        p = reaper.popen(python("-c", _HANDLES_TERM), stdout=subprocess.PIPE)
        _wait_ready(p)
        p.terminate()
        rc = p.wait(GRACE)
        out = _read_bounded(p.stdout, GRACE, line=False) or b""
    ran = b"handled" in out
    return affected(not ran, {"handler_ran": ran}, f"handler ran: {ran} (return code {rc})")


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
        _wait_ready(p)
        p.kill()
        p.wait(GRACE)
        # EOF arrives only when every process holding the pipe has exited.
        survived = _read_bounded(p.stdout, 1.0, line=False) is None
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
        id="SIG-01",
        area="SIG",
        title="Most POSIX signals do not exist on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "signal.SIGKILL, SIGHUP, SIGCHLD, SIGALRM, SIGUSR1/2 and SIGPIPE are missing "
            "(AttributeError), as are signal.alarm, setitimer and pthread_kill; "
            "signal.signal() accepts only SIGABRT, SIGFPE, SIGILL, SIGINT, SIGSEGV, "
            "SIGTERM and SIGBREAK. SIGBREAK and CTRL_*_EVENT exist only on Windows."
        ),
        compat=(
            "compat names signals the same way on every OS (ChildError.signal_name "
            "knows SIGKILL on Windows too) and never needs signal.SIGKILL itself."
        ),
        handling="handles",
        sources=("docs: signal, Signal handling on Windows (signal.signal)",),
        cells=("all POSIX signals", "all POSIX signals", "7 signals + CTRL events"),
        probe=_probe_signal_names,
    ),
    Difference(
        id="SIG-02",
        area="SIG",
        title="os.kill(pid, SIGINT or SIGTERM) is an unconditional kill on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "On Windows os.kill() sends CTRL_C_EVENT or CTRL_BREAK_EVENT to a console "
            "group, and for any other value calls TerminateProcess with that value as "
            "the exit code: os.kill(pid, SIGINT) ends the child with 2, without "
            "KeyboardInterrupt, finally blocks or handlers."
        ),
        compat=(
            "compat's interrupt() sends SIGINT on POSIX and CTRL_BREAK_EVENT to a child "
            "started in a new process group on Windows."
        ),
        handling="handles",
        sources=("docs: os.kill",),
        cells=("KeyboardInterrupt", "KeyboardInterrupt", "killed, exit code 2"),
        probe=_probe_kill_sigint,
    ),
    Difference(
        id="SIG-03",
        area="SIG",
        title="os.kill(pid, 0) is not a liveness check on Windows: 0 is CTRL_C_EVENT",
        oses=("win32",),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "signal.CTRL_C_EVENT == 0, so os.kill(pid, 0) generates Ctrl+C for the "
            "console group (often including the caller, which gets a surprise "
            "KeyboardInterrupt) or raises OSError (WinError 87)."
        ),
        compat="Check liveness through a handle (Child.is_alive(), Popen.poll()).",
        handling="documents",
        sources=("docs: os.kill", "docs: signal.CTRL_C_EVENT"),
        cells=("liveness check", "liveness check", "sends Ctrl+C"),
        probe=_probe_kill_zero,
    ),
    Difference(
        id="SIG-04",
        area="SIG",
        title="A graceful interrupt needs CTRL_BREAK_EVENT and a new process group on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "CTRL_C_EVENT cannot be aimed at one process group, and a child created with "
            "CREATE_NEW_PROCESS_GROUP ignores Ctrl+C; only CTRL_BREAK_EVENT (SIGBREAK in "
            "Python) reaches it, and only from the same console. Popen.send_signal() "
            "accepts only SIGTERM, CTRL_C_EVENT and CTRL_BREAK_EVENT there. POSIX sends "
            "SIGINT to a group with os.killpg."
        ),
        compat=(
            "compat's interrupt() does the right thing per OS: SIGINT, or "
            "CTRL_BREAK_EVENT to the child's own process group."
        ),
        handling="handles",
        sources=("docs: subprocess.Popen.send_signal", "docs: subprocess.CREATE_NEW_PROCESS_GROUP"),
        cells=("SIGINT to the group", "SIGINT to the group", "CTRL_BREAK_EVENT only"),
        probe=_probe_group_interrupt,
    ),
    Difference(
        id="SIG-05",
        area="SIG",
        title="Popen.terminate() gives -15 on POSIX and 1 on Windows; kill() -9 or 1",
        oses=("win32",),
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "POSIX: terminate() sends SIGTERM (returncode -15), kill() SIGKILL (-9). "
            "Windows: both are TerminateProcess(handle, 1), so returncode is 1 and a "
            "killed program cannot be told from one that failed. (multiprocessing maps "
            "its own terminate to -15, PROC-02.)"
        ),
        compat="Documented; compat's Child reports negative signal numbers on every OS.",
        handling="documents",
        sources=("docs: subprocess.Popen.terminate", "bpo-38630"),
        cells=("-15 / -9", "-15 / -9", "1 / 1"),
        probe=_probe_popen_codes,
    ),
    Difference(
        id="SIG-06",
        area="SIG",
        title="SIGTERM handlers never run on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "A SIGTERM handler can be installed, but Process.terminate(), "
            "Popen.terminate() and os.kill(pid, SIGTERM) all call TerminateProcess: "
            "no handler, finally, atexit or __exit__ runs. Only Ctrl+C and Ctrl+Break "
            "reach Python handlers."
        ),
        compat="Stop children cooperatively (an Event or a message), then terminate them.",
        handling="documents",
        sources=("docs: os.kill", "source: Lib/multiprocessing/popen_spawn_win32.py"),
        cells=("handler runs", "handler runs", "never runs"),
        probe=_probe_sigterm_handler,
    ),
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
