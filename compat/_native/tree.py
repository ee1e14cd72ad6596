"""The process-tree contract: what compat needs from each OS family to own a process tree.

``compat._native`` is compat's one OS boundary: only its modules may import
``_winapi``, ``msvcrt``, ``fcntl`` or ``ctypes`` or refer to ``signal.SIGKILL``, and
besides ``compat._platform`` only they may spell ``sys.platform`` (as type-checker
guards); ``tests/test_architecture.py`` enforces it. Its modules: this contract and
its backends ``posix.py`` and ``windows.py``; ``liveness.py`` (is a pid still
running); ``pipes.py`` (pipe buffer size). Its ``__init__`` stays empty, so that a
queue that needs ``liveness`` does not load the process-tree backends.

Each primitive is defined here once, with its documentation, as a stub; one
import-time selection below replaces the stubs with the POSIX or Windows
implementation (the shape trio's ``_subprocess_platform`` uses).

A *process tree* is a child started by :class:`compat.Popen` and every process it
starts in turn:

- POSIX: the child starts in a new session (``start_new_session=True``, which
  keeps CPython's vfork fast path; ``preexec_fn`` would not), so the child's pid
  is also the id of a process group its descendants inherit. Descendants that
  leave the group (``setsid``, daemons) are found by walking parent links:
  ``/proc`` on Linux, psutil elsewhere when it is installed.
- Windows: the child starts suspended in a new process group and is put in a
  Job Object with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`` before it runs, so its
  descendants are in the job from their first instruction; see ``windows.py``.
  The job allows breakaway: a descendant that asks for it
  (``CREATE_BREAKAWAY_FROM_JOB``) leaves the tree, as a POSIX daemon leaves the
  group with ``setsid``, but no parent-link walk finds it afterwards.

After :meth:`ProcessTree.close`, ``interrupt()``, ``terminate()`` and ``kill()`` do
nothing on every OS: the child has been reaped, and its pid (the group id) may
already belong to an unrelated process.
"""

from __future__ import annotations

import subprocess
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Protocol

__all__ = ["adopt_tree", "tree_popen_kwargs"]  # ProcessTree (a Protocol): type checkers only

_import_error: Optional[ImportError] = None


# For annotations only (typing.Protocol would import typing at run time).
if TYPE_CHECKING:

    class ProcessTree(Protocol):
        """A started child and everything it starts, owned by one :class:`compat.Popen`."""

        pid: int

        def interrupt(self) -> None:
            """Ask the tree to stop the way a terminal's Ctrl+C (Ctrl+Break) would.

            POSIX: SIGINT to the child's process group (Python children raise
            KeyboardInterrupt). Windows: CTRL_BREAK_EVENT to the child's process
            group; it reaches only processes attached to the caller's console (SIG-04)
            and Python children see it as SIGBREAK, whose default action ends them.
            A child started with ``CREATE_NO_WINDOW``, ``DETACHED_PROCESS`` or
            ``CREATE_NEW_CONSOLE`` is on no console of the caller's, so this raises
            ValueError naming the flag instead of silently doing nothing.
            """
            ...

        def terminate(self) -> None:
            """Ask every process of the tree to end.

            POSIX: SIGTERM to the group and to descendants that left it; handlers run.
            Windows: there is no catchable request (SIG-06), so this is :meth:`kill`.
            POSIX: if the group is made only of zombies after the child exited (macOS
            then answers EPERM), there is nothing left to signal and this returns.
            """
            ...

        def kill(self) -> None:
            """End every process of the tree now.

            POSIX: the group and the descendants found by walking parent links are
            stopped (SIGSTOP) until no new member appears, then sent SIGKILL, so a
            process forking during the kill cannot escape; a group left with only
            zombies after the child exited counts as gone (macOS's EPERM). Windows:
            TerminateJobObject; not the processes that broke away from the job.
            """
            ...

        def close(self) -> None:
            """End ownership after the child has exited: kill whatever of the tree is left.

            POSIX: SIGKILL to the process group (one system call; descendants that
            left the group are not hunted here). Windows: closes the job handle, and
            the kill-on-close job ends every member. Idempotent; afterwards the other
            methods do nothing (on Windows without a job, kill() would otherwise run
            taskkill on a pid that may have been reused).
            """
            ...


def tree_popen_kwargs(creationflags: int, process_group: Optional[int]) -> dict[str, Any]:
    """Keyword arguments for :class:`subprocess.Popen` that make the child a tree root.

    ``creationflags`` is the caller's value (Windows); ``process_group`` the
    caller's ``process_group`` argument (POSIX, 3.11+; only ``None`` or ``0``).

    POSIX: ``start_new_session=True``, or ``process_group=0`` when the caller
    asked for it (the child then keeps the controlling terminal). Windows:
    ``creationflags`` plus ``CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED``; the
    child stays suspended until :func:`adopt_tree` has put it in the job.
    """
    raise NotImplementedError("compat has no process-tree backend here") from _import_error


def adopt_tree(popen: subprocess.Popen[Any], creationflags: int = 0) -> ProcessTree:
    """Take ownership of the tree of ``popen``, started with :func:`tree_popen_kwargs`
    and the caller's ``creationflags`` (Windows; :meth:`ProcessTree.interrupt`
    checks them).

    POSIX: records the process group (nothing to do at start). Windows: creates
    the Job Object, assigns the suspended child to it and resumes it; any
    exception on the way (KeyboardInterrupt included) terminates the still
    suspended child and closes the job before it propagates. If the job
    cannot be used (Windows 7 with a parent already in a job that forbids
    breakaway), the child is resumed anyway and the tree falls back to
    ``taskkill /T /F``, which walks parent links like the POSIX fallback.
    """
    raise NotImplementedError("compat has no process-tree backend here") from _import_error


try:
    # sys.platform rather than _platform.WINDOWS (the same fact): type checkers narrow
    # on this spelling only, so that mypy --platform win32 checks windows.py's
    # functions and --platform linux/darwin check posix.py's.
    if sys.platform == "win32":
        from .windows import adopt_tree, tree_popen_kwargs
    else:
        from .posix import adopt_tree, tree_popen_kwargs
except ImportError as exc:  # keep the stubs; remember why for the error chain
    _import_error = exc
