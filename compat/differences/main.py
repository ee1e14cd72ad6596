"""MAIN: the main module is re-imported by spawned children; what travels must pickle."""

from __future__ import annotations

import sys
import threading
from typing import Any

from ._model import (
    Difference,
    Observation,
    PolicyCase,
    ProbeContext,
    affected,
    differs,
    not_applicable,
    supported,
)
from ._probekit import (
    call_in_child,
    last_json,
    run_python,
    run_script,
    script_header,
    start_and_join,
)

ALL = ("linux", "darwin", "win32")
REIMPORT_CELLS = ("fork: no; spawn, forkserver: yes", "yes (spawn)", "yes (spawn)")
HANG_WAIT = 1.5  # how long a probe waits before it calls a Pool call hung


def _noop() -> None:
    pass


def _argv_flags() -> list[Any]:
    return [sys.argv, sys.flags.optimize, sys.flags.dont_write_bytecode]


class _HoldsLock:
    """A callable target object holding a lock, like a Process subclass with a lock."""

    def __init__(self) -> None:
        self.guard = threading.Lock()

    def __call__(self) -> None:
        with self.guard:
            pass


_GUARDLESS = """
def work():
    pass

p = ctx.Process(target=work)
p.start()
p.join(20)
print(json.dumps({"exitcode": p.exitcode}))
"""

_REIMPORT = """
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imports.log")
with open(LOG, "a") as f:
    f.write(__name__ + "\\n")

def work():
    pass

if __name__ == "__main__":
    p = ctx.Process(target=work)
    p.start()
    p.join(20)
    with open(LOG) as f:
        names = f.read().split()
    print(json.dumps({"exitcode": p.exitcode, "mp_main_imports": names.count("__mp_main__")}))
"""

_IN_GUARD = """
if __name__ == "__main__":
    def inguard():
        return 1

    pool = ctx.Pool(1)
    try:
        result = pool.apply_async(inguard)
        try:
            out = {"result": result.get(timeout=float(sys.argv[1])), "hang": False}
        except mp.TimeoutError:
            out = {"result": None, "hang": True}
    finally:
        pool.terminate()
        pool.join()
    print(json.dumps(out))
"""

_DASH_C = """
def f():
    pass
p = ctx.Process(target=f)
p.start()
p.join(20)
print(json.dumps({"exitcode": p.exitcode}))
"""


def _probe_guardless(ctx: ProbeContext) -> Observation:
    """Run a script that starts a child without the __main__ guard."""
    proc = run_script(script_header(ctx.method) + _GUARDLESS, timeout=ctx.timeout)
    seen = last_json(proc.stdout)
    bootstrap = b"bootstrapping phase" in proc.stderr
    observed = {"exitcode": seen["exitcode"], "bootstrap_error": bootstrap}
    return affected(
        seen["exitcode"] != 0,
        observed,
        f"{ctx.method}: the child exited with {seen['exitcode']}"
        + (" (RuntimeError: bootstrapping phase)" if bootstrap else ""),
    )


def _probe_reimport(ctx: ProbeContext) -> Observation:
    """Count how often a script's top level runs as __mp_main__ for one child."""
    seen = last_json(run_script(script_header(ctx.method) + _REIMPORT, timeout=ctx.timeout).stdout)
    count = seen["mp_main_imports"]
    return affected(count > 0, {"mp_main_imports": count}, f"{ctx.method}: {count} re-import(s)")


def _probe_in_guard(ctx: ProbeContext) -> Observation:
    """Submit a function defined under the guard to a Pool; wait a bounded time."""
    proc = run_script(
        script_header(ctx.method) + _IN_GUARD, str(HANG_WAIT), timeout=ctx.timeout + HANG_WAIT
    )
    seen = last_json(proc.stdout)
    if seen["hang"]:
        return differs(seen, f"{ctx.method}: no result after {HANG_WAIT} s; the worker died")
    return supported(seen, f"{ctx.method}: the worker ran it")


def _probe_dash_c(ctx: ProbeContext) -> Observation:
    """Start a child whose target is defined in a `python -c` program."""
    seen = last_json(run_python(script_header(ctx.method) + _DASH_C, timeout=ctx.timeout).stdout)
    code = seen["exitcode"]
    return affected(code != 0, seen, f"{ctx.method}: the child exited with {code}")


def _probe_lambda(ctx: ProbeContext) -> Observation:
    """Start a child whose target is a lambda."""
    try:
        code = start_and_join(ctx, lambda: None)
    except Exception as exc:  # PicklingError, AttributeError or TypeError by version
        name = type(exc).__name__
        return differs({"error": name}, f"{ctx.method}: start() raised {name}")
    return supported({"error": None, "exitcode": code}, f"{ctx.method}: the lambda ran")


def _probe_lock_in_task(ctx: ProbeContext) -> Observation:
    """Pickle a Lock the way Pool and Queue pickle task arguments."""
    from multiprocessing.reduction import ForkingPickler

    lock = ctx.mp.Lock()
    try:
        ForkingPickler.dumps(lock)
    except RuntimeError as exc:
        return differs({"error": "RuntimeError"}, str(exc)[:90])
    return supported({"error": None}, "the lock pickled outside of a child start")


def _probe_frozen(ctx: ProbeContext) -> Observation:
    """Check whether this interpreter is a frozen executable."""
    if not getattr(sys, "frozen", False):
        return not_applicable("not a frozen executable", {"frozen": False})
    return differs({"frozen": True}, "frozen: spawn children re-run this executable")


def _probe_argv(ctx: ProbeContext) -> Observation:
    """A child reports sys.argv and interpreter flags; compare with the parent's."""
    kind, value, _code = call_in_child(ctx, _argv_flags)
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    same = {
        "argv_same": value[0] == sys.argv,
        "flags_same": [value[1], value[2]] == [sys.flags.optimize, sys.flags.dont_write_bytecode],
    }
    if ctx.method == "fork":
        return supported(same, "fork: the child is a copy; nothing is replayed")
    replayed = same["argv_same"] and same["flags_same"]
    return affected(replayed, same, f"{ctx.method}: the parent's argv and flags were replayed")


def _probe_holds_lock(ctx: ProbeContext) -> Observation:
    """Start a child whose target object holds a threading.Lock."""
    try:
        code = start_and_join(ctx, _HoldsLock())
    except TypeError as exc:
        return differs({"error": "TypeError"}, f"{ctx.method}: {str(exc)[:70]}")
    return supported({"error": None, "exitcode": code}, f"{ctx.method}: the object travelled")


ENTRIES = (
    Difference(
        id="MAIN-01",
        area="MAIN",
        title="A script without the `if __name__ == '__main__':` guard cannot start children",
        oses=ALL,
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "Under spawn and forkserver the child re-runs the script's top level, reaches "
            "start() again and raises RuntimeError ('An attempt has been made to start a "
            "new process before the current process has finished its bootstrapping "
            "phase') in the child: Process exits with 1 and the parent sees no error; an "
            "unguarded Pool keeps replacing dying workers and map() never returns; "
            "ProcessPoolExecutor raises BrokenProcessPool. Under fork nothing fails."
        ),
        compat=(
            "spawn_child detects a script that starts children without the guard and "
            "raises SpawnError in the parent, before any process starts, saying to add it."
        ),
        handling="checks",
        sources=(
            "docs: multiprocessing, Programming guidelines, Safe importing of main module",
            "source: Lib/multiprocessing/spawn.py",
        ),
        cells=("fork: fine; spawn: child exits 1", "child exits 1", "child exits 1"),
        probe=_probe_guardless,
    ),
    Difference(
        id="MAIN-02",
        area="MAIN",
        title="The main script runs again, as __mp_main__, in every spawned child",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "Each spawn or forkserver child imports the main script as __mp_main__: "
            "module-level prints, logging setup, file writes, network calls and heavy "
            "imports repeat once per child (N times for Pool(N)). A main run with "
            "`python -m pkg` (pkg/__main__.py) is not re-run."
        ),
        compat=(
            "Cannot be avoided (the child needs the script to find the target); compat "
            "documents it and keeps its own imports light. Keep side effects under the guard."
        ),
        handling="documents",
        sources=(
            "source: Lib/multiprocessing/spawn.py",
            "docs: multiprocessing, Programming guidelines",
        ),
        cells=REIMPORT_CELLS,
        probe=_probe_reimport,
    ),
    Difference(
        id="MAIN-03",
        area="MAIN",
        title="A function defined under the guard is missing in workers, and Pool hangs",
        oses=ALL,
        python="3.8-3.14",
        kind="hang",
        behaviour=(
            "It pickles by reference to __main__, but the child re-runs the script with "
            "the guard false, so unpickling fails (AttributeError: Can't get attribute "
            "... on <module '__mp_main__'>) in the worker, which dies; the task is lost "
            "and Pool.apply_async().get() waits forever. ProcessPoolExecutor raises "
            "BrokenProcessPool."
        ),
        compat=(
            "compat.Pool never waits forever: a worker that dies fails its task with "
            "ChildError and is replaced (DESIGN: Pools). Define workers at module level."
        ),
        handling="handles",
        sources=("docs: multiprocessing, Programming guidelines, Safe importing of main module",),
        cells=("fork: fine; spawn: hang", "Pool hangs", "Pool hangs"),
        probe=_probe_in_guard,
    ),
    Difference(
        id="MAIN-04",
        area="MAIN",
        title="Functions from the REPL, Jupyter, `python -c` or stdin never reach spawned children",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "A __main__ without a file cannot be re-imported: the child fails with "
            "AttributeError: Can't get attribute 'f' on <module '__main__' (built-in)> "
            "(stdin: FileNotFoundError '<stdin>'). A Process exits with 1, a Pool hangs, "
            "ProcessPoolExecutor raises BrokenProcessPool. Jupyter on macOS and Windows "
            "hits this constantly."
        ),
        compat=(
            "spawn_child refuses such a function with SpawnError before starting; with "
            "cloudpickle installed it sends the function by value instead."
        ),
        handling="checks",
        sources=(
            "docs: multiprocessing, Using a pool of workers",
            "docs: concurrent.futures, ProcessPoolExecutor",
        ),
        cells=("fork: fine; spawn: child exits 1", "child exits 1", "child exits 1"),
        probe=_probe_dash_c,
    ),
    Difference(
        id="MAIN-05",
        area="MAIN",
        title="Targets and arguments must pickle under spawn: lambdas and closures fail",
        oses=ALL,
        python="3.8-3.14 (3.14: always PicklingError, gh-122311)",
        kind="exception",
        behaviour=(
            "Under spawn and forkserver, start() pickles the target and arguments: a "
            "lambda raises PicklingError, a nested function AttributeError (\"Can't "
            'pickle local object") before 3.14 and PicklingError from 3.14. Under fork '
            "a Process runs them; Pool and Queue payloads pickle under every method."
        ),
        compat=(
            "spawn_child pickles target and arguments first and raises SpawnError naming "
            "the offending object and where it sits; with cloudpickle, lambdas and "
            "closures work under every method."
        ),
        handling="checks",
        sources=("docs: pickle, What can be pickled and unpickled?", "gh-122311"),
        cells=("fork: runs; spawn: PicklingError", "PicklingError", "PicklingError"),
        probe=_probe_lambda,
    ),
    Difference(
        id="MAIN-06",
        area="MAIN",
        title="Locks and Queues passed as Pool task arguments raise RuntimeError",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "Pool and ProcessPoolExecutor pickle task arguments outside of a child "
            "start, and multiprocessing primitives refuse that: RuntimeError 'Lock "
            "objects should only be shared between processes through inheritance'. "
            "They must go in Process args or Pool(initializer, initargs)."
        ),
        compat=(
            "compat keeps the standard library's rule (drop-in): pass primitives at "
            "creation or use Manager proxies. Same on every OS."
        ),
        handling="documents",
        sources=(
            "source: Lib/multiprocessing/context.py",
            "docs: multiprocessing, Programming guidelines",
        ),
        cells=("RuntimeError", "RuntimeError", "RuntimeError"),
        probe=_probe_lock_in_task,
    ),
    Difference(
        id="MAIN-07",
        area="MAIN",
        title="Frozen executables need freeze_support(), and cannot spawn on POSIX",
        oses=ALL,
        python="3.8-3.14 (3.14: freeze_support on every spawn platform, gh-80334)",
        kind="semantics",
        behaviour=(
            "A spawned child of a PyInstaller or cx_Freeze executable is the executable "
            "itself with --multiprocessing-fork; without multiprocessing.freeze_support() "
            "first under the guard it runs the whole application again. On POSIX, spawn "
            "and forkserver helpers run `exe -c ...`, which a frozen app cannot."
        ),
        compat=(
            "compat.freeze_support is the standard library's; the policy knows that "
            "spawn and forkserver cannot re-run a frozen executable on POSIX (its "
            "choices are below)."
        ),
        handling="chooses",
        sources=("docs: multiprocessing.freeze_support", "gh-80334", "bpo-32146"),
        cells=(
            "frozen: compat {policy}",
            "frozen: compat {policy}",
            "needs freeze_support(); compat {policy}",
        ),
        probe=_probe_frozen,
        policy_cases=(
            PolicyCase("linux", (3, 12), "frozen, 2 other threads", threads=3, frozen=True),
            PolicyCase("darwin", (3, 12), "frozen, 2 other threads", threads=3, frozen=True),
            PolicyCase("win32", (3, 12), "frozen", frozen=True),
        ),
    ),
    Difference(
        id="MAIN-08",
        area="MAIN",
        title="Spawned children replay the parent's sys.argv, sys.path and interpreter flags",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "The spawn command line carries the parent's -O, -B, -W, -X, -E, -s, -I flags; "
            "the child's sys.argv and sys.path are overwritten with the parent's. Code "
            "that decides at import time from sys.argv behaves as in the parent."
        ),
        compat="Same as the standard library; parse arguments under the guard only.",
        handling="documents",
        sources=("source: Lib/multiprocessing/spawn.py",),
        cells=("spawn: replayed", "replayed", "replayed"),
        probe=_probe_argv,
    ),
    Difference(
        id="MAIN-09",
        area="MAIN",
        title="A target object holding a lock, file or socket cannot start under spawn",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "A Process subclass (or callable object) is pickled whole under spawn and "
            "forkserver: a threading.Lock, open file or socket attribute raises "
            "TypeError (\"cannot pickle '_thread.lock' object\") at start(). Under fork "
            "the same object runs."
        ),
        compat=(
            "spawn_child takes a function and arguments, which its pre-flight check "
            "pickles, naming the attribute that cannot travel. Create such resources in "
            "the child."
        ),
        handling="checks",
        sources=(
            "docs: pickle, What can be pickled and unpickled?",
            "docs: multiprocessing, Process",
        ),
        cells=("fork: runs; spawn: TypeError", "TypeError", "TypeError"),
        probe=_probe_holds_lock,
    ),
)
