"""PROC-01 to PROC-07: process lifecycle, exit codes, orphans and stdin."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    ProbeTimeout,
    affected,
    not_applicable,
)
from ._probekit import (
    GRACE,
    Reaper,
    call_in_child,
    last_json,
    run_script,
    script_header,
    temp_dir,
)

ALL = ("linux", "darwin", "win32")
POSIX_EXITS = {"exit(None)": 0, "exit(3)": 3, "exit(256)": 0, "exit(-1)": 255, "raise": 1}


def _exit_with(value: Any) -> None:
    sys.exit(value)


def _raise() -> None:
    raise ValueError("raised on purpose by a compat probe")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _sleep_in_try(conn: Any, path: str, seconds: float) -> None:
    try:
        conn.send("ready")
        time.sleep(seconds)
    finally:
        with open(path, "w") as f:
            f.write("finally ran")


def _start_grandchild(method: str) -> str:
    import multiprocessing

    context: Any = multiprocessing.get_context(method)
    p = context.Process(target=_sleep, args=(0,))
    try:
        p.start()
    except AssertionError:
        return "AssertionError"
    p.join(GRACE)
    return "started"


def _read_stdin() -> str:
    return sys.stdin.read() if sys.stdin is not None else "<None>"


def _probe_exit_codes(ctx: ProbeContext) -> Observation:
    """Tabulate the exit codes of children ending with sys.exit(...) or an exception."""
    cases: dict[str, Any] = {
        "exit(None)": (_exit_with, (None,)),
        "exit(3)": (_exit_with, (3,)),
        "exit(256)": (_exit_with, (256,)),
        "exit(-1)": (_exit_with, (-1,)),
        "raise": (_raise, ()),
    }
    with Reaper() as reaper:
        started = {
            k: reaper.start(ctx.mp.Process(target=t, args=a, daemon=True))
            for k, (t, a) in cases.items()
        }
        for p in started.values():
            p.join(ctx.timeout)
        codes = {k: p.exitcode for k, p in started.items()}
    if None in codes.values():
        raise ProbeTimeout(f"children still running after {ctx.timeout:g} s: {codes}")
    odd = {k: v for k, v in codes.items() if POSIX_EXITS[k] != v}
    return affected(bool(odd), codes, f"differs from POSIX in {odd}" if odd else "POSIX codes")


def _probe_kill_codes(ctx: ProbeContext) -> Observation:
    """terminate() one sleeping child and kill() another; compare their exit codes."""
    with Reaper() as reaper:
        a = reaper.start(ctx.mp.Process(target=_sleep, args=(ctx.timeout,), daemon=True))
        b = reaper.start(ctx.mp.Process(target=_sleep, args=(ctx.timeout,), daemon=True))
        a.terminate()
        b.kill()
        a.join(GRACE)
        b.join(GRACE)
        codes = {"terminate": a.exitcode, "kill": b.exitcode}
    return affected(
        codes != {"terminate": -15, "kill": -9}, codes, f"terminate/kill exit codes: {codes}"
    )


def _probe_terminate_finally(ctx: ProbeContext) -> Observation:
    """terminate() a child inside try/finally; see whether the finally block ran."""
    with temp_dir() as d, Reaper() as reaper:
        marker = os.path.join(d, "finally.txt")
        reader, writer = ctx.mp.Pipe(duplex=False)
        p = reaper.start(
            ctx.mp.Process(target=_sleep_in_try, args=(writer, marker, ctx.timeout), daemon=True)
        )
        writer.close()
        if not reader.poll(ctx.timeout):
            raise ProbeTimeout(f"the {ctx.method} child did not get ready")
        reader.recv()
        reader.close()
        p.terminate()
        p.join(GRACE)
        ran = os.path.exists(marker)
    return affected(not ran, {"finally_ran": ran}, f"finally {'ran' if ran else 'did not run'}")


def _probe_daemon_children(ctx: ProbeContext) -> Observation:
    """A daemonic child tries to start a child of its own."""
    kind, value, _code = call_in_child(ctx, _start_grandchild, ctx.method)
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    return affected(value == "AssertionError", {"result": value}, f"the daemonic child: {value}")


_ORPHAN = """
def survivor(path, conn):
    conn.send("ready")
    conn.close()
    time.sleep(0.5)
    with open(path, "w") as f:
        f.write(json.dumps({"ppid": os.getppid()}))

if __name__ == "__main__":
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=survivor, args=(sys.argv[1], w), daemon=True)
    p.start()
    if r.poll(20):
        r.recv()
    print(json.dumps({"parent": os.getpid()}), flush=True)
    os._exit(0)
"""


def _orphan_report(ctx: ProbeContext) -> dict[str, Any]:
    """Run a parent that dies abruptly with a daemonic child; what did the child see?"""
    with temp_dir() as d:
        marker = os.path.join(d, "survivor.json")
        proc = run_script(script_header(ctx.method) + _ORPHAN, marker, timeout=ctx.timeout)
        parent = last_json(proc.stdout)["parent"]
        deadline = time.monotonic() + 3
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.05)  # let the survivor finish writing
        if not os.path.exists(marker):
            return {"survived": False, "ppid_is_dead_parent": None}
        with open(marker) as f:
            ppid = json.load(f)["ppid"]
    return {"survived": True, "ppid_is_dead_parent": ppid == parent}


def _probe_orphans(ctx: ProbeContext) -> Observation:
    """Kill a parent abruptly (os._exit) and see whether its daemonic child lives on."""
    seen = _orphan_report(ctx)
    return affected(
        seen["survived"], {"survived": seen["survived"]}, "the child outlived its parent"
    )


def _probe_getppid_after_death(ctx: ProbeContext) -> Observation:
    """An orphaned child reports os.getppid() after its parent died."""
    seen = _orphan_report(ctx)
    if not seen["survived"]:
        return not_applicable("the child did not outlive its parent", seen)
    stale = bool(seen["ppid_is_dead_parent"])
    detail = "getppid() still names the dead parent" if stale else "getppid() changed (re-parented)"
    return affected(stale, {"ppid_is_dead_parent": stale}, detail)


def _probe_stdin(ctx: ProbeContext) -> Observation:
    """A child reads sys.stdin."""
    kind, value, _code = call_in_child(ctx, _read_stdin)
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    return affected(value == "", {"read": value}, "the child's stdin is os.devnull")


ENTRIES = (
    Difference(
        id="PROC-01",
        area="PROC",
        title="Exit codes are 8-bit on POSIX and 32-bit on Windows; sys.exit() was 1 on 3.8",
        oses=ALL,
        python="3.8-3.14 (sys.exit() gives 0 from 3.9, bpo-35727)",
        kind="exit-code",
        behaviour=(
            "An uncaught exception gives 1, sys.exit(n) gives n, sys.exit('msg') gives 1. "
            "POSIX keeps 8 bits: sys.exit(256) becomes 0 and sys.exit(-1) 255. Windows "
            "keeps a 32-bit unsigned code (sys.exit(-1) reads 4294967295) and reports "
            "crashes as NTSTATUS values (0xC0000005 = 3221225477) where POSIX gives -11."
        ),
        compat=(
            "Child.exitcode and ChildError follow one convention: the code the child "
            "exited with, or the negative signal number when a signal (or a Windows "
            "crash status) ended it. The truncation of large codes is the OS's."
        ),
        handling="handles",
        sources=("docs: multiprocessing, Process.exitcode", "bpo-35727", "docs: sys.exit"),
        cells=("0-255; -N for signals", "0-255; -N for signals", "32-bit; NTSTATUS for crashes"),
        probe=_probe_exit_codes,
    ),
    Difference(
        id="PROC-02",
        area="PROC",
        title="Process.kill() reports -15 on Windows, -9 on POSIX",
        oses=("win32",),
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "POSIX: terminate() sends SIGTERM (exitcode -15), kill() SIGKILL (-9). "
            "Windows: both call TerminateProcess with a marker code that multiprocessing "
            "maps to -15, so kill() also reads -15; a child ended by Task Manager or "
            "os.kill reads 1 or the signal number, never negative (gh-76044)."
        ),
        compat=(
            "compat's exit codes are negative signal numbers on every OS: a child "
            "compat killed reads -9 on Windows too (compat._exitcodes)."
        ),
        handling="handles",
        sources=(
            "docs: multiprocessing, Process.terminate",
            "source: Lib/multiprocessing/popen_spawn_win32.py",
            "gh-76044",
        ),
        cells=("-15 / -9", "-15 / -9", "-15 / -15"),
        probe=_probe_kill_codes,
    ),
    Difference(
        id="PROC-03",
        area="PROC",
        title="terminate() skips finally blocks and atexit, and orphans grandchildren",
        oses=ALL,
        python="3.8-3.14 (Process.interrupt() in 3.14)",
        kind="silent",
        behaviour=(
            "The child is killed without running finally clauses, exit handlers or "
            "__exit__; its own children become orphans and a queue or lock it held may "
            "be left broken. A POSIX child can install a SIGTERM handler; a Windows child "
            "cannot (TerminateProcess). 3.14 adds Process.interrupt() (SIGINT)."
        ),
        compat=(
            "Child.terminate() is the standard library's. For programs, compat's handle "
            "offers interrupt() (SIGINT, or CTRL_BREAK_EVENT to a new process group on "
            "Windows) and terminate_tree()/kill_tree() (DESIGN: Running programs)."
        ),
        handling="documents",
        sources=("docs: multiprocessing, Process.terminate", "gh-131913"),
        cells=("no finally (SIGTERM)", "no finally (SIGTERM)", "no finally (TerminateProcess)"),
        probe=_probe_terminate_finally,
    ),
    Difference(
        id="PROC-04",
        area="PROC",
        title="Daemonic processes, Pool workers included, cannot start children",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "start() inside a daemonic process raises AssertionError ('daemonic processes "
            "are not allowed to have children'); Pool workers are daemonic, so a task "
            "cannot start a Process or a Pool. ProcessPoolExecutor workers are not "
            "daemonic. Same on every OS."
        ),
        compat="Same rule as the standard library (drop-in); use a non-daemonic child.",
        handling="documents",
        sources=("docs: multiprocessing, Process.daemon",),
        cells=("AssertionError", "AssertionError", "AssertionError"),
        probe=_probe_daemon_children,
    ),
    Difference(
        id="PROC-05",
        area="PROC",
        title="Children outlive a parent that dies abruptly, daemonic or not",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "daemon=True only means 'terminated by the parent's exit handlers', which do "
            "not run when the parent is killed or calls os._exit(): daemonic children, "
            "ProcessPoolExecutor workers and fork Pool workers keep running. POSIX "
            "re-parents them to init or a subreaper; Windows has no re-parenting."
        ),
        compat=(
            "compat's Pool and ProcessPoolExecutor workers, spawn_child and "
            "spawn_consumer children and Manager servers end within milliseconds of "
            "their parent, however it dies: each holds the read end of a pipe only the "
            "parent writes (Linux: the kernel sends SIGKILL at its end of file, "
            "F_SETSIG; macOS: a watch thread; Windows: a thread waiting on the parent's "
            "handle). get_context(die_with_parent=False) opts out for children meant "
            "to outlive the parent. compat.Popen/run(die_with_parent=True) covers a "
            "program's whole tree (a guardian process on POSIX; the Job Object on "
            "Windows already does). compat.Process keeps the standard library's "
            "behaviour, which the probe shows."
        ),
        handling="handles",
        sources=(
            "docs: multiprocessing, Process.daemon",
            "docs: multiprocessing.parent_process",
            "docs: Linux man-pages fcntl(2), F_SETOWN and F_SETSIG",
        ),
        cells=("orphans survive", "orphans survive", "orphans survive"),
        probe=_probe_orphans,
    ),
    Difference(
        id="PROC-06",
        area="PROC",
        title="os.getppid() of an orphan: init on POSIX, the dead (reusable) pid on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "After the parent exits, POSIX children see init (1) or a subreaper; on "
            "Windows os.getppid() keeps returning the old parent's pid, which the system "
            "may already have given to another process. Under forkserver it is the "
            "server's pid even while the parent lives (START-06)."
        ),
        compat="Use multiprocessing.parent_process() (its sentinel and is_alive()).",
        handling="documents",
        sources=("docs: os.getppid", "docs: multiprocessing.parent_process"),
        cells=("1 or a subreaper", "1", "stale pid"),
        probe=_probe_getppid_after_death,
    ),
    Difference(
        id="PROC-07",
        area="PROC",
        title="A multiprocessing child reads an empty stdin",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Process bootstrap closes sys.stdin and reopens it on os.devnull: read() "
            "returns '' and input() raises EOFError. Windows offers no supported way to "
            "hand the console to a multiprocessing child."
        ),
        compat="Same as the standard library: read input in the parent and send it.",
        handling="documents",
        sources=(
            "docs: multiprocessing, Programming guidelines, Beware of replacing sys.stdin",
            "source: Lib/multiprocessing/util.py",
        ),
        cells=("os.devnull", "os.devnull", "os.devnull"),
        probe=_probe_stdin,
    ),
)
