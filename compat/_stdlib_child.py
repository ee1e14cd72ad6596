"""The standard library's internals that a child compat starts itself needs: the second
home of private names (:mod:`compat._stdlib` lists each in ``PRIVATE_NAMES``, where
``tests/test_stdlib.py`` checks them on every CPython of the matrix).

Apart from :mod:`compat._stdlib` because a lean spawn child (:mod:`compat._child.boot`)
imports it, and must not pay for ``typing``: this module imports nothing at run time
but ``importlib``.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FC = "spawn_child starts fork and lean spawn children as Process.start and _bootstrap do"
#: alias -> (module, path, why, kind) of each internal used here: compat._stdlib makes
#: them entries of its PRIVATE_NAMES (a path with a space: kind "code").
PRIVATE: dict[str, tuple[str, str, str, str]] = {
    f"{module.rsplit('.', 1)[-1]}.{path}": (module, path, _FC, kind)
    for module, paths in (
        ("multiprocessing.process", "_current_process|_parent_process|_ParentProcess"),
        ("multiprocessing.process", "_process_counter|_children|BaseProcess.start _Popen"),
        ("multiprocessing.util", "_finalizer_registry|_afterfork_registry|_exit_function"),
        ("multiprocessing.util", "_run_after_forkers"),
        ("multiprocessing.context", "_force_start_method|set_spawning_popen"),
        ("threading", "_shutdown|Thread._set_native_id"),
        ("atexit", "_clear|_run_exitfuncs"),  # what 3.13+ popen_fork does
    )
    for path in paths.split("|")
    for kind in ["code" if " " in path else "attr"]
}
PRIVATE["_pickle"] = (
    "pickle",
    "from _pickle import (",
    "a lean spawn child pickles through _pickle: importing pickle imports re and enum",
    "source",
)
PRIVATE["_signal"] = (
    "signal",
    "from _signal import *",
    "a lean spawn child sets its signal mask through _signal: importing signal imports enum",
    "source",
)

#: Exact types that no reducer applies to (ForkingPickler's, copyreg's): the C pickler
#: alone sends them by value, with the same bytes, and no child can fail to rebuild
#: them. Pool results, queue items, children's outcomes and spawn_child's arguments
#: take the cheap path with them.
PLAIN_TYPES = frozenset({type(None), bool, int, float, str, bytes})

__all__ = [
    "PLAIN_TYPES",
    "PRIVATE",
    "ChildHooks",
    "block_signals",
    "c_pickle",
    "ignore_sigint",
    "join_threads",
    "restore_sigint",
    "run_exit_hooks",
    "unblock_signals",
]


class ChildHooks:
    """``Process._bootstrap``'s (3.13+: popen_fork's) work in a child compat started
    without it (compat._child.fastfork, compat._child.boot): made, and :meth:`flags`
    read, in the parent; in the child :meth:`setup` before the target, :meth:`finish`
    after it (the exit function, if it has work); :func:`join_threads` ends it."""

    def __init__(
        self, parent_name: str, parent_pid: int, sentinel: int, method: str, atexit_too: bool
    ) -> None:
        self.parent_pid, self.parent_name, self.method = parent_pid, parent_name, method
        mp = "multiprocessing"
        names = (mp, "atexit", "threading", f"{mp}.context", f"{mp}.process", f"{mp}.util")
        modules: Any = map(importlib.import_module, (*names, "itertools"))
        self.mp, self.atexit, self.threading, self.context, self.process, self.util, it = modules
        self.parent = self.process._ParentProcess(parent_name, parent_pid, sentinel)
        # Never touched in this process: each child starts with copies of these.
        self.counter, self.children = it.count(1), set()  # type: ignore[var-annotated]
        self.atexit_too = atexit_too

    def flags(self) -> tuple[bool, bool, bool]:  # force the method, drop finalizers, hooks
        util = self.util
        force = self.mp.get_start_method(allow_none=True) != self.method
        return force, bool(util._finalizer_registry), bool(util._afterfork_registry)

    def setup(self, record: Any, flags: tuple[bool, bool, bool]) -> None:
        process, util = self.process, self.util
        if flags[0]:
            self.context._force_start_method(self.method)
        process._process_counter, process._children = self.counter, self.children
        process._current_process, process._parent_process = record, self.parent
        self.threading.main_thread()._set_native_id()
        if flags[1]:
            util._finalizer_registry.clear()
        if flags[2]:
            util._run_after_forkers()
        if self.atexit_too:
            self.atexit._clear()

    def finish(self) -> None:
        if self.atexit_too:
            self.atexit._run_exitfuncs()
        if self.util._finalizer_registry or self.children:
            self.util._exit_function()


def join_threads() -> None:
    """As interpreter exit: threading's exit hooks, then the non-daemon threads joined."""
    threading: Any = importlib.import_module("threading")
    if threading.active_count() > 1:
        threading._shutdown()


def run_exit_hooks() -> None:
    """What interpreter exit runs before it flushes and tears down: threads, atexit."""
    join_threads()
    importlib.import_module("atexit")._run_exitfuncs()


# The signal module's functions through _signal, the C module it wraps (PRIVATE_NAMES
# "_signal"): ``import signal`` imports ``enum``, which a lean spawn child need not pay.


def unblock_signals(signals: list[int]) -> None:
    """POSIX: ``signal.pthread_sigmask(SIG_UNBLOCK, signals)``. A signal that was pending
    is handled before it returns: a Ctrl+C raises KeyboardInterrupt from here."""
    if signals:
        c: Any = importlib.import_module("_signal")
        c.pthread_sigmask(c.SIG_UNBLOCK, signals)


def block_signals(signals: list[int]) -> None:
    """POSIX: ``signal.pthread_sigmask(SIG_BLOCK, signals)``."""
    if signals:
        c: Any = importlib.import_module("_signal")
        c.pthread_sigmask(c.SIG_BLOCK, signals)


def ignore_sigint() -> Any:
    """Ignore SIGINT (a pending one is dropped); the handler it had, for :func:`restore_sigint`."""
    c: Any = importlib.import_module("_signal")
    return c.signal(c.SIGINT, c.SIG_IGN)


def restore_sigint(handler: Any) -> None:
    c: Any = importlib.import_module("_signal")
    c.signal(c.SIGINT, handler)


def c_pickle() -> Any:
    """What has ``pickle``'s ``dumps`` and ``loads`` (they are the C accelerator's):
    ``_pickle``, whose import costs a fresh child a third of ``pickle``'s (that also
    imports re and enum); ``pickle`` itself where there is no accelerator."""
    try:
        return importlib.import_module("_pickle")
    except ImportError:  # pragma: no cover - CPython always has it
        return importlib.import_module("pickle")


def keep_tracker_fd(keep: bool) -> None:
    """Tell the resource tracker's at-fork handler whether the next fork is a
    multiprocessing child, which reuses the parent's tracker (CPython gh-146313, in
    3.15 and recent 3.14 releases: ``popen_fork`` sets ``_fork_intent.preserve_fd``
    around its ``os.fork``; without it the child closes the tracker's pipe and would
    start a tracker of its own). A no-op on CPythons without it."""
    import sys

    tracker = sys.modules.get("multiprocessing.resource_tracker")
    intent = getattr(tracker, "_fork_intent", None)
    if intent is not None:
        intent.preserve_fd = keep
