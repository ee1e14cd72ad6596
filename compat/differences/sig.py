"""SIG-01 to SIG-06: signal names, os.kill, Ctrl+C and Ctrl+Break, terminate() return
codes and SIGTERM handlers."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap

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
from ._probekit import GRACE, Reaper, python, read_bounded, wait_ready

ALL = ("linux", "darwin", "win32")

# The children whose Python signal handler must run sleep in short steps, never one
# long sleep: a signal whose C handler runs just before time.sleep() starts (after the
# interpreter's last look for pending signals), or in another thread, leaves its Python
# handler pending until the sleep returns. With sleep(30) that was a probe timeout
# about once in a few hundred runs ("the child had not exited 10 s after
# terminate()", SigPnd empty, SigCgt with SIGTERM: CI, CPython 3.10 and 3.13).
_SLEEP_STEPS = "for _ in range(600):\n    time.sleep(0.05)\n"

# A Python child that says it is ready, then sleeps; KeyboardInterrupt exits with 3.
# SIGINT may be ignored when the parent runs in the background: reinstall the default.
_INTERRUPTIBLE = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "try:\n"
    "    print('ready', flush=True)\n"
    + textwrap.indent(_SLEEP_STEPS, "    ")
    + "except KeyboardInterrupt:\n"
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
    "print('ready', flush=True)\n" + _SLEEP_STEPS
)


def _signal_state(pid: int) -> str:
    """The child's pending, blocked, ignored and caught signals (Linux /proc), or ""."""
    wanted = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            fields = [line.strip().replace(":\t", " ") for line in f if line.startswith(wanted)]
    except OSError:
        return ""
    return f" ({', '.join(fields)})" if fields else ""


def _wait_exit(p: subprocess.Popen[bytes], after: str) -> int:
    """Wait up to GRACE for a child that was sent a signal; past it, a ProbeTimeout
    that shows the child's signal masks (a signal blocked or ignored by whatever
    started this process would explain it)."""
    try:
        return p.wait(GRACE)
    except subprocess.TimeoutExpired:
        state = _signal_state(p.pid)
        raise ProbeTimeout(f"the child had not exited {GRACE:g} s after {after}{state}") from None


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
        wait_ready(p)
        os.kill(p.pid, signal.SIGINT)
        rc = _wait_exit(p, "os.kill(pid, SIGINT)")
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
            wait_ready(p)
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
        wait_ready(p)
        killpg(p.pid, signal.SIGINT)
        rc = _wait_exit(p, "os.killpg(pgid, SIGINT)")
    return affected(rc != 3, {"sigint_to_group": rc == 3}, f"SIGINT to its group: exit {rc}")


def _probe_popen_codes(ctx: ProbeContext) -> Observation:
    """Popen.terminate() one sleeping child and kill() another; compare return codes."""
    with Reaper() as reaper:
        a = reaper.popen(python("-c", _SLEEPER), stdout=subprocess.DEVNULL)
        b = reaper.popen(python("-c", _SLEEPER), stdout=subprocess.DEVNULL)
        a.terminate()
        b.kill()
        codes = {"terminate": _wait_exit(a, "terminate()"), "kill": _wait_exit(b, "kill()")}
    return affected(codes != {"terminate": -15, "kill": -9}, codes, f"return codes {codes}")


def _probe_sigterm_handler(ctx: ProbeContext) -> Observation:
    """terminate() a child that handles SIGTERM; did its handler run?"""
    with Reaper() as reaper:
        p = reaper.popen(python("-c", _HANDLES_TERM), stdout=subprocess.PIPE)
        wait_ready(p)
        p.terminate()
        rc = _wait_exit(p, "terminate() (SIGTERM)")
        out = read_bounded(p.stdout, GRACE, line=False) or b""
    ran = b"handled" in out
    return affected(not ran, {"handler_ran": ran}, f"handler ran: {ran} (return code {rc})")


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
)
