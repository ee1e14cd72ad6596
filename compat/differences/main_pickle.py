"""MAIN-05 to MAIN-10: what a spawned child is given and must unpickle or replay:
targets and arguments (lambdas, locks in Pool tasks, objects holding locks), the frozen
executable, the parent's argv and interpreter flags, and its start method (which an
import-time set_start_method() then sets a second time)."""

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
from ._probekit import call_in_child, last_json, run_script, script_header, start_and_join

ALL = ("linux", "darwin", "win32")


def _argv_flags() -> list[Any]:
    return [sys.argv, sys.flags.optimize, sys.flags.dont_write_bytecode]


class _HoldsLock:
    """A callable target object holding a lock, like a Process subclass with a lock."""

    def __init__(self) -> None:
        self.guard = threading.Lock()

    def __call__(self) -> None:
        with self.guard:
            pass


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


_SET_AT_IMPORT = """
mp.set_start_method(ctx.get_start_method())  # at import time, as many scripts do

def work():
    pass

if __name__ == "__main__":
    p = mp.Process(target=work)
    p.start()
    p.join(20)
    print(json.dumps({"exitcode": p.exitcode}))
"""


def _probe_set_at_import(ctx: ProbeContext) -> Observation:
    """Run a script that calls set_start_method() at import time and starts a child."""
    proc = run_script(script_header(ctx.method) + _SET_AT_IMPORT, timeout=ctx.timeout)
    seen = last_json(proc.stdout)
    already = b"context has already been set" in proc.stderr
    observed = {"exitcode": seen["exitcode"], "already_set_error": already}
    return affected(
        seen["exitcode"] != 0,
        observed,
        f"{ctx.method}: the child exited with {seen['exitcode']}"
        + (" (RuntimeError: context has already been set)" if already else ""),
    )


ENTRIES = (
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
    Difference(
        id="MAIN-10",
        area="MAIN",
        title="set_start_method() at import time raises RuntimeError in every spawned child",
        oses=ALL,
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "A spawn or forkserver child sets the parent's start method first and then "
            "re-imports the main script (MAIN-02), or imports the module holding the "
            "target: a module-level multiprocessing.set_start_method() without force=True "
            "runs again and raises RuntimeError ('context has already been set'), so the "
            "child exits with 1 and a Pool keeps replacing its workers. Under fork the "
            "child re-imports nothing."
        ),
        compat=(
            "compat.set_start_method() does not raise in compat's children; "
            "`python -m compat check` flags the standard library's call at import time. "
            "Call it under the guard or use get_context(method)."
        ),
        handling="documents",
        sources=(
            "docs: multiprocessing, Contexts and start methods",
            "source: Lib/multiprocessing/spawn.py",
        ),
        cells=("fork: fine; spawn: child exits 1", "child exits 1", "child exits 1"),
        probe=_probe_set_at_import,
    ),
)
