"""MAIN-01 to MAIN-04: spawned children re-import the main module: the ``__main__`` guard,
side effects that run again, and functions they cannot find there."""

from __future__ import annotations

import re

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    differs,
    supported,
)
from ._probekit import (
    last_json,
    run_python,
    run_script,
    script_header,
)

ALL = ("linux", "darwin", "win32")
REIMPORT_CELLS = ("fork: no; spawn, forkserver: yes", "yes (spawn)", "yes (spawn)")
HANG_WAIT = 1.5  # how long a probe waits before it calls a Pool call hung


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
        # The worker is up before the bounded wait starts: the bound is for this
        # call alone, not for a worker's start on a loaded machine.
        pool.apply(os.getpid)
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
    bootstrap = b"bootstrapping phase" in proc.stderr
    if proc.returncode != 0 and bootstrap:
        # CPython 3.13.8+ and 3.14.1+ preload __main__ in the forkserver (gh-126631):
        # the forkserver runs the unguarded top level itself and dies there, so start()
        # fails in the parent, which prints nothing (3.15 ignores that error, gh-141860).
        errors = re.findall(rb"^(\w+(?:Error|Exception)):", proc.stderr, re.MULTILINE)
        error = errors[-1].decode() if errors else f"exit code {proc.returncode}"
        observed = {"exitcode": None, "bootstrap_error": True, "parent_error": error}
        return differs(
            observed,
            f"{ctx.method}: start() raised {error} in the parent: the forkserver ran the "
            "top level itself (RuntimeError: bootstrapping phase) and died",
        )
    seen = last_json(proc.stdout)
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
            "ProcessPoolExecutor raises BrokenProcessPool. Under fork nothing fails. "
            "CPython 3.13.8+ and 3.14.1+ run the main module once in the forkserver "
            "itself (gh-126631): there start() raises RuntimeError in the forkserver, "
            "which dies, and start() in the parent raises ConnectionResetError; 3.15 "
            "ignores the error in the forkserver (gh-141860) and the child exits 1 again."
        ),
        compat=(
            "spawn_child detects a script that starts children without the guard and "
            "raises SpawnError in the parent, before any process starts, saying to add it."
        ),
        handling="checks",
        sources=(
            "docs: multiprocessing, Programming guidelines, Safe importing of main module",
            "source: Lib/multiprocessing/spawn.py",
            "gh-126631",
            "gh-141860",
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
            "`python -m pkg` (pkg/__main__.py) is not re-run. CPython 3.13.8+ and 3.14.1+ "
            "import it once in the forkserver instead (gh-126631), whose children are "
            "forked from it: forkserver repeats the side effects once, not per child."
        ),
        compat=(
            "Cannot be avoided (the child needs the script to find the target); compat "
            "documents it and keeps its own imports light. Keep side effects under the guard."
        ),
        handling="documents",
        sources=(
            "source: Lib/multiprocessing/spawn.py",
            "docs: multiprocessing, Programming guidelines",
            "gh-126631",
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
)
