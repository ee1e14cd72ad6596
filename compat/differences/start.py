"""START: which start methods exist, which one is the default, and what each implies."""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

from .._platform import PlatformFacts, default_start_methods_for
from ._model import (
    OSES,
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
    start_and_join,
)

ALL = ("linux", "darwin", "win32")
POSIX_OSES = ("linux", "darwin")


def _noop() -> None:
    pass


def _acquire(lock: Any) -> None:
    if lock.acquire(timeout=2):
        lock.release()


def _parent_ids() -> list[Any]:
    import multiprocessing

    parent = multiprocessing.parent_process()
    return [os.getppid(), parent.pid if parent is not None else None]


def _probe_default(ctx: ProbeContext) -> Observation:
    """Ask a fresh interpreter for the standard library's default start method."""
    # A fresh interpreter: asking in this process would fix its default context (START-05).
    code = (
        "import json, multiprocessing as m; "
        "print(json.dumps([m.get_start_method(), m.get_all_start_methods()]))"
    )
    default, methods = last_json(run_python(code, timeout=ctx.timeout).stdout)
    observed = {"stdlib_default": default, "available": methods}
    return affected(
        default != "fork",
        observed,
        f"the standard library starts children with {default} by default here",
    )


def _probe_no_fork(ctx: ProbeContext) -> Observation:
    """Look for os.fork and for the fork and forkserver start methods."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    missing = [m for m in ("fork", "forkserver") if m not in methods]
    has_fork = hasattr(os, "fork")
    observed = {"os.fork": has_fork, "missing_methods": missing}
    if missing or not has_fork:
        return differs(observed, f"missing here: {', '.join(missing) or 'os.fork'}")
    return supported(observed, "fork, spawn and forkserver all exist here")


def _probe_macos_frameworks(ctx: ProbeContext) -> Observation:
    """On macOS, list loaded modules that make fork unsafe (compat's list of them)."""
    facts = PlatformFacts.current()
    if not facts.macos:
        return supported({"macos": False}, "not macOS: no Objective-C runtime to break")
    loaded = list(facts.fork_unsafe_modules)
    detail = f"loaded now: {', '.join(loaded)}" if loaded else "none loaded yet in this process"
    return differs({"macos": True, "fork_unsafe_loaded": loaded}, detail)


def _probe_fork_threads(ctx: ProbeContext) -> Observation:
    """Start a child while another thread runs and record any fork DeprecationWarning."""
    stop = threading.Event()
    idle = threading.Thread(target=stop.wait, args=(ctx.timeout,), name="compat-probe-idle")
    idle.daemon = True
    idle.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = start_and_join(ctx, _noop)
    finally:
        stop.set()
        idle.join(5)
    warned = any("multi-threaded" in str(w.message) for w in caught)
    observed = {"warning": warned, "exitcode": code}
    if warned:
        return differs(observed, f"{ctx.method} with a thread running: DeprecationWarning")
    return supported(observed, f"{ctx.method} with a thread running: no warning")


def _probe_mixed_lock(ctx: ProbeContext) -> Observation:
    """Pass a Lock made by the fork context to a child of another start method."""
    import multiprocessing

    if ctx.method == "fork":
        return not_applicable("a fork child inherits a lock without pickling it")
    if "fork" not in multiprocessing.get_all_start_methods():
        return not_applicable("no fork context here to make the lock with")
    lock = multiprocessing.get_context("fork").Lock()
    try:
        code = start_and_join(ctx, _acquire, lock)
    except RuntimeError as exc:
        return supported({"refused": True}, f"refused at start(): {str(exc)[:70]}")
    return differs(
        {"refused": False, "exitcode": code},
        f"a {ctx.method} child started with a fork-context lock (exit code {code})",
    )


def _probe_getppid(ctx: ProbeContext) -> Observation:
    """In a child, compare os.getppid() with multiprocessing.parent_process().pid."""
    kind, value, _code = call_in_child(ctx, _parent_ids)
    if kind != "ok":
        raise RuntimeError(f"the child failed: {value}")
    me = os.getpid()
    observed = {"getppid_is_parent": value[0] == me, "parent_process_is_parent": value[1] == me}
    if value[0] != me:
        return differs(observed, f"{ctx.method}: os.getppid() is not the parent's pid")
    return supported(observed, f"{ctx.method}: os.getppid() is the parent's pid")


ENTRIES = (
    Difference(
        id="START-01",
        area="START",
        title="The default start method depends on the OS and the CPython version",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "multiprocessing starts children with fork on Linux up to 3.13 and with "
            "forkserver from 3.14 (gh-84559); macOS has defaulted to spawn since 3.8 "
            "(bpo-33725); Windows only has spawn. Code that relies on the implicit "
            "default (globals inherited, unpicklable targets) works on one and breaks "
            "on the others. ProcessPoolExecutor follows the same default."
        ),
        compat=(
            "compat never uses the implicit default: choose_start_method() decides from "
            "the platform's facts (threads alive, frameworks loaded, frozen) and says "
            "why; get_context(method) pins one method for everything. Its choices are in "
            "the table below."
        ),
        handling="chooses",
        sources=(
            "docs: multiprocessing, Contexts and start methods",
            "docs: What's New In Python 3.14, multiprocessing",
            "gh-84559",
            "bpo-33725",
        ),
        cells=(
            "stdlib fork (3.14: forkserver); compat {policy}",
            "stdlib spawn; compat {policy}",
            "stdlib spawn; compat {policy}",
        ),
        probe=_probe_default,
        policy_cases=(
            PolicyCase("linux", (3, 12), "no other threads"),
            PolicyCase("linux", (3, 14), "no other threads"),
            PolicyCase("darwin", (3, 12), "no other threads, no framework loaded"),
            PolicyCase("win32", (3, 12), "any"),
        ),
    ),
    Difference(
        id="START-02",
        area="START",
        title="fork and forkserver do not exist on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "get_context('fork') and set_start_method('fork') raise ValueError "
            "(\"cannot find context for 'fork'\"); os.fork, os.register_at_fork, "
            "os.setsid and os.killpg are missing (AttributeError)."
        ),
        compat=(
            "The same names exist on every OS: asking for an unavailable method raises "
            "StartMethodUnavailable (a ValueError) listing the methods that exist; the "
            "policy never picks one that is missing."
        ),
        handling="checks",
        sources=("source: Lib/multiprocessing/context.py", "docs: os.fork"),
        cells=tuple(", ".join(default_start_methods_for(p)) for p in OSES),  # type: ignore[arg-type]
        probe=_probe_no_fork,
        policy_cases=(PolicyCase("win32", (3, 12), "any"),),
    ),
    Difference(
        id="START-03",
        area="START",
        title="fork is unsafe on macOS once system frameworks are loaded",
        oses=("darwin",),
        python="3.8-3.14",
        kind="crash",
        behaviour=(
            "A fork child that touches the Objective-C runtime, CoreFoundation or a "
            "framework the parent initialised (proxy lookup via _scproxy, Tk, Qt) can "
            "abort with 'objc[...]: +[... initialize] may have been in progress in "
            "another thread when fork() was called' (SIGABRT). This is why macOS "
            "defaults to spawn since 3.8."
        ),
        compat=(
            "The policy looks for loaded fork-unsafe framework modules (compat's list, "
            "_scproxy first) before it allows fork on macOS; its choices are below."
        ),
        handling="chooses",
        sources=("bpo-33725", "docs: multiprocessing, Contexts and start methods"),
        cells=("not affected; compat {policy}", "objc abort; compat {policy}", "no fork"),
        probe=_probe_macos_frameworks,
        policy_cases=(
            PolicyCase("linux", (3, 12), "any framework module loaded", 1, ("_scproxy",)),
            PolicyCase("darwin", (3, 12), "_scproxy loaded", 1, ("_scproxy",)),
            PolicyCase("darwin", (3, 12), "no framework loaded"),
        ),
    ),
    Difference(
        id="START-04",
        area="START",
        title="Forking a multi-threaded process warns (3.12+) and can deadlock the child",
        oses=POSIX_OSES,
        python="3.12+ (warning); all (deadlock risk)",
        kind="warning",
        behaviour=(
            "Only the forking thread survives in a fork child, so a lock another thread "
            "held stays locked forever. From 3.12 os.fork() and the fork start method "
            "emit DeprecationWarning 'This process is multi-threaded, use of fork() may "
            "lead to deadlocks in the child' (hidden by default filters inside "
            "multiprocessing); Pool replacing workers from its handler thread triggers it."
        ),
        compat=(
            "The policy counts the threads alive (from the OS where it can) and avoids "
            "a fork while any other runs; its choices are below."
        ),
        handling="chooses",
        sources=("docs: os.fork", "docs: multiprocessing, Contexts and start methods"),
        cells=(
            "3.12+ warns; compat {policy}",
            "3.12+ warns; compat {policy}",
            "no fork; compat {policy}",
        ),
        probe=_probe_fork_threads,
        policy_cases=(
            PolicyCase("linux", (3, 12), "2 other threads running", threads=3),
            PolicyCase("darwin", (3, 12), "2 other threads running", threads=3),
            PolicyCase("win32", (3, 12), "2 other threads running", threads=3),
            PolicyCase("linux", (3, 12), "no other threads"),
        ),
    ),
    Difference(
        id="START-05",
        area="START",
        title="A lock made by one start method's context cannot go to another's child",
        oses=POSIX_OSES,
        python="3.8-3.10 child breaks; 3.11+ RuntimeError",
        kind="exception",
        behaviour=(
            "A fork-context Lock is unlinked at once; passed to a spawn or forkserver "
            "child it is not refused before 3.11 and the child breaks (it died with "
            "SIGSEGV on 3.9 and 3.10 here); from 3.11 start() raises RuntimeError ('A SemLock "
            "created in a fork context is being shared with a process in a spawn "
            "context') from 3.11. The global set_start_method() raises RuntimeError "
            "once anything fixed the default context (even an import-time mp.Lock())."
        ),
        compat=(
            "A compat Context binds one start method and makes every primitive from it, "
            "so objects of different methods never mix; compat never calls the global "
            "set_start_method()."
        ),
        handling="handles",
        sources=(
            "source: Lib/multiprocessing/synchronize.py",
            "docs: multiprocessing, Contexts and start methods",
        ),
        cells=(
            "<3.11 child crashes; RuntimeError",
            "<3.11 child crashes; RuntimeError",
            "one method only",
        ),
        probe=_probe_mixed_lock,
        probe_method="spawn",
    ),
    Difference(
        id="START-06",
        area="START",
        title="forkserver children see the server, not their parent, as os.getppid()",
        oses=POSIX_OSES,
        python="3.8-3.14 (Linux default from 3.14)",
        kind="semantics",
        behaviour=(
            "forkserver children are forked from a server process started on first use, "
            "so os.getppid() returns the server's pid; they also miss environment changes "
            "made after the server started (ENV-03), and their targets must pickle as "
            "under spawn. multiprocessing.parent_process() still names the real parent."
        ),
        compat=(
            "compat.parent_process() names the real parent under every method; the "
            "doctor reports which method is in use."
        ),
        handling="documents",
        sources=("docs: multiprocessing, Contexts and start methods", "docs: os.getppid"),
        cells=("forkserver: server pid", "forkserver: server pid", "no forkserver"),
        probe=_probe_getppid,
        probe_method="forkserver",
    ),
    Difference(
        id="START-07",
        area="START",
        title="Start-up cost differs by method: fork ms, forkserver tens, spawn tens more",
        oses=ALL,
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "Per start+join, fork costs about 2 ms, forkserver about 15 ms and spawn about "
            "40-50 ms on Linux, because spawn starts a new interpreter and re-imports "
            "__main__ and multiprocessing; Windows process creation is slower still. "
            "Fork cost grows with the parent's memory."
        ),
        compat=(
            "Pools reuse workers; compat's spawned children import only what they use. "
            "The ratios are measured by the bench/ scripts."
        ),
        handling="documents",
        sources=("docs: multiprocessing, Contexts and start methods",),
        cells=("fork fastest", "spawn ~10x fork", "spawn only, slowest"),
        no_probe_reason=(
            "speed is measured by the benchmark scripts in bench/, side by side in one "
            "run; a timing taken by the doctor on a shared runner would be noise"
        ),
    ),
)
