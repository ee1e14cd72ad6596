"""``spawn_child``'s fork fast path: fork, run the target, send the outcome, ``os._exit``.

``multiprocessing.Process`` under fork spends more time after the fork than the fork
itself takes: a fork child pays for every memory page it writes to (copied on first
write), and the standard library's bootstrap writes to hundreds (it opens a new
``sys.stdin``, logs, builds objects, walks registries). This path keeps every duty of
that bootstrap and does each with the fewest writes: what the child needs is made in
the parent before the fork, and registries are only walked when they hold something.

The duties, as ``Process._bootstrap`` and ``popen_fork`` perform them:

- the parent flushes ``sys.stdout``/``sys.stderr`` first (or the child would print
  the parent's buffered output again);
- ``os.fork`` runs the ``os.register_at_fork`` hooks: threading's, ``random``'s
  reseed, compat's (the lifeline write end closed, a compat thread's signal mask
  restored);
- ``current_process()`` is a Process record with the identity, name, ``daemon`` and
  ``authkey`` a started ``Process`` would have; ``parent_process()`` names the parent,
  and its sentinel is the lifeline pipe's read end (ready exactly when the parent is
  gone); the child starts with no children, its main thread's ``native_id`` is its own;
- ``sys.stdin`` becomes ``/dev/null`` (opened once, by the parent; the parent's
  ``sys.stdin`` object is replaced, not closed);
- the parent's ``multiprocessing.util`` finalizers are dropped and the after-fork hooks
  (``util.register_after_fork``: queues reset their feeder thread, locks their owner)
  run; resource tracker state is shared with the parent, as under the standard
  library (its descriptor is inherited);
- after the target: multiprocessing's exit function when it has work (a Queue's
  flush), threading's exit (non-daemon threads joined), then the flush of
  ``sys.stdout``/``sys.stderr``; the parent's atexit handlers never run (``os._exit``).
  CPython 3.13+ runs the atexit handlers the child registered itself, as its
  ``popen_fork`` does there; earlier versions do not, as theirs does not;
- the exit code as ``_bootstrap`` computes it.

compat's own duties come first: the lifeline armed (the kernel arming is prepared in
the parent, so the child only takes ownership: :func:`compat._native.forkproc.prepare_lifeline`),
the async signals, blocked across the fork (so that none goes off in an at-fork hook),
unblocked; a Ctrl+C that arrives before the target runs ends the child quietly (-2), as
in compat's other children.
The outcome travels as in :func:`compat._child.outcome.child_main`, in the same frames
as ``Connection.send_bytes``; the parent reads it with one ``read`` and waits on a pidfd.

Measured with bench/bench_child.py on a loaded 2-CPU machine: start+join 1.1-1.3x a
bare ``os.fork`` + ``waitpid``, where spawn_child through a multiprocessing Process took
1.7x (and the multiprocessing fork Process itself about what this path takes).
"""

from __future__ import annotations

import os
import sys
from multiprocessing import current_process

from .._native.forkproc import ForkPopen, fork, prepare_lifeline
from .._native.handoff import FrameReader, write_frame
from .._native.lifeline import Lifeline, parent_read_fd
from .._native.threads import block_for_start, end_block, exit_interrupted, unblock_async_signals
from .._stdlib_child import ChildHooks, join_threads, keep_tracker_fd
from .child import Child
from .logs import install as install_logs
from .logs import open_child_logs
from .main_checks import check_main_guard
from .outcome import call_and_report, name_of
from .records import ForkProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .._context import Context
    from .._policy import Decision

__all__ = ["start_fork_child"]

#: The standard library's fork children run the atexit handlers they register since
#: CPython 3.13 (its popen_fork clears the parent's, then runs them before os._exit).
RUNS_CHILD_ATEXIT = sys.version_info >= (3, 13)

_devnull: Optional[Any] = None


def _devnull_stdin() -> Any:
    """The ``sys.stdin`` of fork children: ``/dev/null`` opened once by the parent
    (the standard library opens it in each child, the costliest of its duties)."""
    global _devnull
    if _devnull is None:
        # As util._close_stdin: a descriptor kept for the life of the process, under a
        # file object that does not own it (so none warns about it being left open).
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            _devnull = open(fd, encoding="utf-8", closefd=False)  # noqa: SIM115 - kept
        except BaseException:
            os.close(fd)
            raise
    return _devnull


#: Whether COMPAT_LIFELINE=thread asks for the watch thread on Linux too: read when
#: the first fork child starts (children see the environment of that moment anyway).
_thread_lifeline: Optional[bool] = None
_hooks: Optional[ChildHooks] = None


def _child_hooks() -> ChildHooks:
    """This process's :class:`ChildHooks` (its name or pid may have changed)."""
    global _hooks
    hooks, name = _hooks, current_process().name
    if hooks is None or hooks.parent_pid != os.getpid() or hooks.parent_name != name:
        hooks = _hooks = ChildHooks(name, os.getpid(), parent_read_fd(), "fork", RUNS_CHILD_ATEXIT)
    return hooks


def start_fork_child(
    ctx: Context,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    decision: Optional[Decision] = None,
) -> Child:
    """Start ``target(*args, **kwargs)`` in a forked child; its :class:`Child` handle.

    Everything is made before the fork: a page the parent writes to while the child
    runs is copied too. The parent's own steps are few for the same reason: each
    object touched is a page written. ``decision``: the policy's, when it differs
    from ``ctx``'s (a forkserver choice that forks what forkserver cannot start)."""
    global _thread_lifeline
    name = name_of(target)
    check_main_guard("fork", f"a child running {name}")
    ctx._warn_if_fork_unsafe()
    hooks = _child_hooks()
    if ctx.die_with_parent:
        if _thread_lifeline is None:
            _thread_lifeline = os.environ.get("COMPAT_LIFELINE") == "thread"
        lifeline_fd = hooks.parent.sentinel  # the read end of this process's lifeline
        prepared = None if _thread_lifeline else prepare_lifeline(lifeline_fd)
        arm = Lifeline(lifeline_fd, hooks.parent_pid).arm if prepared is None else prepared[1]
    else:
        prepared, arm = None, None
    stdin = _devnull_stdin() if sys.stdin is not None else None
    logs = open_child_logs(ctx.mp_context, ctx.forward_logs)  # None: logging not imported
    sender = logs and logs.sender
    reader, writer = os.pipe()

    def launch(record: ForkProcess) -> ForkPopen:
        state = (record, hooks, hooks.flags(), target, args, kwargs, sender)
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        keep_tracker_fd(True)  # as popen_fork: the child keeps the parent's tracker
        started: list[ForkPopen] = []
        try:
            # Blocked across the fork: a Ctrl+C that reaches the new child while
            # CPython runs the at-fork hooks (threading's, random's) would go off in
            # one of them ("Exception ignored in atfork callback", with a traceback;
            # CI, CPython 3.15); blocked, it waits for the child's main function,
            # which ends quietly (-2).
            old = block_for_start()
            try:
                started.append(fork(lambda: _fork_child_main(reader, writer, arm, stdin, state)))
            finally:
                end_block(old)
        except BaseException:  # a Ctrl+C delivered as the block ended: no one holds it
            for popen in started:
                popen.kill()
                popen.wait()
                popen.close()
            raise
        finally:
            keep_tracker_fd(False)
        return started[0]

    try:
        record = ForkProcess(launch)
        handle = Child(record, FrameReader(reader), decision or ctx.decision, name)
        record.start()
    except BaseException:
        os.close(reader)
        if logs is not None:
            logs.discard()
        raise
    finally:
        os.close(writer)
        if prepared is not None:
            os.close(prepared[0])
    if logs is not None:
        logs.attach()
    return handle


def _fork_child_main(
    reader: int,
    writer: int,
    arm: Optional[Callable[[], None]],
    stdin: Any,
    state: tuple[ForkProcess, ChildHooks, Any, Callable[..., Any], tuple[Any, ...], Any, Any],
) -> int:
    """The child's whole life; returns its exit code (see the module's list)."""
    keep_tracker_fd(False)  # for the target's own forks (popen_fork resets it too)
    os.close(reader)
    record, hooks, flags, target, args, kwargs, sender = state
    try:
        if arm is not None:
            arm()
        unblock_async_signals()  # blocked across the fork (start_fork_child's launch)
        if stdin is not None and sys.stdin is not stdin:
            sys.stdin = stdin
        hooks.setup(record, flags)
    except KeyboardInterrupt:  # a Ctrl+C before the target runs: end quietly, as -2
        exit_interrupted()
    if sender is not None:  # its log records go to the parent's handlers
        install_logs(sender)
    code = 1
    try:
        try:
            call_and_report(lambda data: write_frame(writer, data), target, args, kwargs)
            code = 0
        finally:
            if not RUNS_CHILD_ATEXIT:
                hooks.finish()
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    except BaseException:
        import traceback

        code = 1
        sys.stderr.write(f"Process {current_process().name}:\n")
        traceback.print_exc()
    finally:
        join_threads()
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
    if RUNS_CHILD_ATEXIT:
        hooks.finish()
    return code


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (AttributeError, ValueError, OSError):
        pass
