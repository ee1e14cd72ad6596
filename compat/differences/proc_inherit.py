"""PROC-08 to PROC-12: what a child inherits: globals, seeds, buffers, exit handlers, files."""

from __future__ import annotations

import os

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    not_applicable,
)
from ._probekit import (
    call_in_child,
    last_json,
    run_script,
    script_header,
    temp_dir,
)

ALL = ("linux", "darwin", "win32")
_STATE = {"value": "import-time"}


def _read_state() -> str:
    return _STATE["value"]


def _same_file(fd: int, ident: list[int]) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return [st.st_dev, st.st_ino] == ident


def _probe_globals(ctx: ProbeContext) -> Observation:
    """Change a module global at run time, then read it in a child."""
    _STATE["value"] = "set-at-runtime"
    try:
        kind, value, _code = call_in_child(ctx, _read_state)
    finally:
        _STATE["value"] = "import-time"
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    lost = value != "set-at-runtime"
    return affected(lost, {"child_saw": value}, f"{ctx.method}: the child saw the {value} value")


_SEEDED = """
import random
random.seed(1234)

def draw(q):
    q.put(random.random())

if __name__ == "__main__":
    q = ctx.Queue()
    ps = [ctx.Process(target=draw, args=(q,)) for _ in range(2)]
    for p in ps:
        p.start()
    values = [q.get(timeout=20) for _ in ps]
    for p in ps:
        p.join(20)
    print(json.dumps({"identical": values[0] == values[1]}))
"""


def _probe_random(ctx: ProbeContext) -> Observation:
    """Seed random at module level; two children each draw one number."""
    seen = last_json(run_script(script_header(ctx.method) + _SEEDED, timeout=ctx.timeout).stdout)
    return affected(seen["identical"], seen, f"{ctx.method}: identical draws: {seen['identical']}")


_BUFFERED = """
def work():
    pass

if __name__ == "__main__":
    sys.stdout.write("x")
    p = ctx.Process(target=work)
    p.start()
    p.join(20)
    sys.stdout.write("\\n")
    sys.stdout.flush()
    if hasattr(os, "fork"):
        sys.stdout.write("y")
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        sys.stdout.write("\\n")
"""


def _probe_buffering(ctx: ProbeContext) -> Observation:
    """Leave text unflushed, start a child (and a raw os.fork); count the copies printed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    out = run_script(script_header(ctx.method) + _BUFFERED, timeout=ctx.timeout, env=env).stdout
    observed = {"multiprocessing_copies": out.count(b"x"), "raw_fork_copies": out.count(b"y")}
    if not observed["raw_fork_copies"]:
        return not_applicable("no os.fork here", observed)
    dup = observed["raw_fork_copies"] > 1 or observed["multiprocessing_copies"] > 1
    return affected(dup, observed, f"copies printed: {observed}")


_ATEXIT = """
import atexit

def note():
    with open(sys.argv[1], "a") as f:
        f.write(__name__ + "\\n")

atexit.register(note)

def work():
    pass

if __name__ == "__main__":
    p = ctx.Process(target=work)
    p.start()
    p.join(20)
    print(json.dumps({"exitcode": p.exitcode}))
"""


def _probe_atexit(ctx: ProbeContext) -> Observation:
    """Register an atexit handler at module level; count where it runs."""
    with temp_dir() as d:
        log = os.path.join(d, "atexit.log")
        run_script(script_header(ctx.method) + _ATEXIT, log, timeout=ctx.timeout)
        with open(log) as f:
            names = f.read().split()
    in_child = names.count("__mp_main__")
    return affected(in_child > 0, {"ran_in_child": in_child > 0}, f"ran in: {', '.join(names)}")


def _probe_fds(ctx: ProbeContext) -> Observation:
    """Open a file (not inheritable) and check whether a child still has it open."""
    with temp_dir() as d:
        path = os.path.join(d, "held.txt")
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        try:
            st = os.fstat(fd)
            kind, value, _code = call_in_child(ctx, _same_file, fd, [st.st_dev, st.st_ino])
        finally:
            os.close(fd)
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    held = bool(value)
    return affected(held, {"child_has_fd": held}, f"{ctx.method}: child holds the file: {held}")


ENTRIES = (
    Difference(
        id="PROC-08",
        area="PROC",
        title="Spawned children do not inherit run-time state: globals, logging, patches",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "A fork child is a copy of the parent. A spawn or forkserver child starts "
            "fresh and gets only sys.path, sys.argv, the cwd and os.environ: globals set "
            "at run time, logging handlers, monkeypatches, signal handlers and open "
            "connections are missing, so child logs 'disappear' on macOS and Windows."
        ),
        compat=(
            "compat cannot copy state that does not pickle; pass it as arguments or "
            "through Pool(initializer, initargs). The policy's fork keeps Linux and "
            "macOS behaviour where it is safe."
        ),
        handling="documents",
        sources=("docs: multiprocessing, Programming guidelines, Global variables",),
        cells=("fork: inherited; spawn: fresh", "fresh (spawn)", "fresh"),
        probe=_probe_globals,
    ),
    Difference(
        id="PROC-09",
        area="PROC",
        title="random seeded at module level gives every spawned worker the same numbers",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "random re-seeds itself in a fork child (os.register_at_fork), discarding "
            "the parent's seed; a spawned child re-runs the module-level random.seed(n), "
            "so every worker draws the same stream. numpy's legacy global generator is "
            "not re-seeded at fork. forkserver children drew the same stream too until "
            "CPython 3.13.8 and 3.14.1, which run the main module once in the forkserver "
            "(gh-126631): its children are forked from it, so they re-seed and differ."
        ),
        compat="Derive a seed per task and pass it explicitly.",
        handling="documents",
        sources=("docs: os.register_at_fork", "source: Lib/random.py", "gh-126631"),
        cells=("fork: distinct; spawn: identical", "identical", "identical"),
        probe=_probe_random,
    ),
    Difference(
        id="PROC-10",
        area="PROC",
        title="Unflushed output is printed twice by a raw os.fork(); stdout may be None",
        oses=("linux", "darwin"),
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "os.fork() copies unflushed stdio buffers, so buffered text appears twice. "
            "multiprocessing's fork start method flushes sys.stdout and sys.stderr first. "
            "Spawned children start with fresh, block-buffered pipes. Under pythonw.exe "
            "and windowed frozen apps sys.stdout is None."
        ),
        compat=(
            "Flush before a raw fork; multiprocessing's fork start method does it. compat "
            "adds nothing here."
        ),
        handling="documents",
        sources=("source: Lib/multiprocessing/popen_fork.py", "docs: sys.__stdout__"),
        cells=("raw fork: twice", "raw fork: twice", "no fork; pythonw: None"),
        probe=_probe_buffering,
    ),
    Difference(
        id="PROC-11",
        area="PROC",
        title="Module-level atexit handlers run in every spawned child, never in fork children",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "Fork children leave through os._exit(), so no atexit handler runs there. "
            "Spawn children re-import the main module, registering its handlers again, "
            "and run them at exit. forkserver children re-import it too; they skipped "
            "the handlers up to 3.12 and run them on 3.13 (seen on 3.9-3.13 here)."
        ),
        compat="Register handlers under the guard; same as the standard library.",
        handling="documents",
        sources=("docs: atexit", "source: Lib/multiprocessing/spawn.py"),
        cells=("fork: none; spawn: every child", "every child (spawn)", "every child"),
        probe=_probe_atexit,
    ),
    Difference(
        id="PROC-12",
        area="PROC",
        title="Fork children hold every file the parent had open",
        oses=("linux", "darwin"),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "File descriptors are non-inheritable by default (PEP 446), but fork copies "
            "all of them: listening sockets, lock files and database sockets stay open in "
            "every child, with shared offsets and locks. Spawn passes only the "
            "descriptors multiprocessing needs; Windows duplicates handles explicitly."
        ),
        compat=(
            "compat's fork path keeps the standard library's semantics; open resources "
            "in the child, or use spawn or forkserver through get_context()."
        ),
        handling="documents",
        sources=(
            "docs: os, Inheritance of File Descriptors",
            "source: Lib/multiprocessing/popen_spawn_posix.py",
        ),
        cells=("fork: all open files", "fork: all open files", "only what is passed"),
        probe=_probe_fds,
    ),
)
