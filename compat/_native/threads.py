"""compat's background threads leave the process's signals to the main thread.

POSIX delivers a signal sent to a process (a terminal's Ctrl+C, ``kill``) to any one
of its threads that does not block it. Python runs the handler in the main thread,
but only once that thread runs Python code again: when the signal lands in one of
compat's threads (a pool's manager thread waiting in ``poll()``), a main thread
blocked in ``get()`` or ``result()`` is never woken, and Ctrl+C does nothing. So
every thread compat starts blocks the asynchronous signals first
(``pthread_sigmask``), and the kernel picks a thread that takes them: the main one.

A blocked mask is inherited by the processes a thread starts (fork keeps it, and so
does exec), where SIGTERM would then do nothing. So: a child forked from such a
thread restores its mask at once (an at-fork handler); compat's own children started
by exec (spawn, forkserver) unblock first thing (:func:`unblock_async_signals`); and
user code that compat runs on its threads (pool callbacks) runs inside
:func:`signals_unblocked`, so a ``subprocess`` it starts gets a normal mask. Never
unblock around compat's own process starts: a signal arriving while a thread forks
is delivered to that thread (the kernel restarts the fork after it), and the main
thread would miss it (seen: one Ctrl+C in 40 lost that way).

Windows has no signal masks: there a console's Ctrl+C runs its handler in a new
thread of its own, and these functions do nothing.

Masks are not enough on their own: a signal whose C handler runs while the main
thread is between its last check for signals and the start of a blocking wait is
seen only when the thread next wakes (one Ctrl+C in 40-60 was lost that way during
``Pool.map`` under fork, the standard library's Pool included). So compat's own
indefinite waits in the main thread wake every :data:`SIGNAL_CHECK` seconds to look
(:func:`main_thread_slice`); other threads wait as asked.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = [
    "SIGNAL_CHECK",
    "async_signals_blocked",
    "background_thread",
    "background_threads",
    "block_again",
    "block_for_start",
    "end_block",
    "exit_interrupted",
    "join_started",
    "main_thread_slice",
    "signals_unblocked",
    "unblock_async_signals",
    "unblock_for_user_code",
]

#: Seconds an indefinite wait in the main thread sleeps at most before it looks for
#: a signal (Ctrl+C) that arrived without waking it.
SIGNAL_CHECK = 0.25

#: The signals a terminal or another process sends to ask for something; not the
#: synchronous ones (SIGSEGV...) nor SIGCHLD, which nobody waits for in a thread.
ASYNC_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
    if hasattr(signal, name)
)

_local = threading.local()

#: Every thread :func:`background_thread` made in this process, weakly held: the
#: pytest plugin's leak guard (compat.pytest_plugin) tells compat's threads by it.
_made: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_made_lock = threading.Lock()


def exit_interrupted() -> None:
    """End this process as SIGINT's default action would, without a traceback:
    exit code -2 (SIGINT) on POSIX, STATUS_CONTROL_C_EXIT on Windows (which compat
    reports as -2 too)."""
    import signal
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    if sys.platform == "win32":
        os._exit(0xC000013A)  # STATUS_CONTROL_C_EXIT
    else:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        os._exit(128 + signal.SIGINT)  # not reached: SIGINT's default action ends us


def main_thread_slice(timeout: Optional[float]) -> Optional[float]:
    """The timeout one step of a wait should use: ``timeout`` itself, except that an
    indefinite wait (None) in the main thread becomes :data:`SIGNAL_CHECK` (call it in
    a loop until the awaited thing happens)."""
    if timeout is None and threading.current_thread() is threading.main_thread():
        return SIGNAL_CHECK
    return timeout


def background_thread(
    target: Callable[..., object], *, name: str, args: tuple[Any, ...] = ()
) -> threading.Thread:
    """A daemon thread (not started) that blocks :data:`ASYNC_SIGNALS`, then runs
    ``target(*args)``."""

    def run() -> None:
        _block()
        target(*args)

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _made_lock:
        _made.add(thread)
    return thread


def join_started(thread: threading.Thread, timeout: Optional[float] = None) -> None:
    """``thread.join(timeout)`` for a thread whose ``start()`` may have been interrupted.

    ``Thread.start()`` waits, in Python code, until the new thread runs: a Ctrl+C in
    that wait leaves a thread that is running but that ``join()`` refuses ("cannot
    join thread before it is started", seen when a Ctrl+C came while an executor's
    workers started). Wait for the start first (at most a second: a thread whose
    start failed before it existed never starts), then join."""
    started = getattr(thread, "_started", None)  # CPython's Event, set as it runs
    if started is not None and not started.is_set():
        bound = 1.0 if timeout is None else min(timeout, 1.0)
        if not started.wait(bound):
            return
    thread.join(timeout)


def background_threads() -> list[threading.Thread]:
    """The threads :func:`background_thread` made that are running now."""
    with _made_lock:
        made = list(_made)
    return [t for t in made if t.is_alive()]


if sys.platform == "win32":

    def _block() -> None:
        pass

    @contextmanager
    def signals_unblocked() -> Iterator[None]:
        """Windows: nothing to do (no signal masks)."""
        yield

    def unblock_for_user_code() -> bool:
        """Windows: nothing to do (no signal masks)."""
        return False

    def block_again() -> None:
        """Windows: nothing to do."""

    def _after_fork_in_child() -> None:
        pass

    def unblock_async_signals() -> None:
        """Windows: nothing to do."""

    @contextmanager
    def async_signals_blocked(method: Optional[str] = None) -> Iterator[None]:
        """Windows: nothing to do (no signal masks)."""
        yield

    def block_for_start() -> Any:
        """Windows: nothing to do."""
        return None

    def end_block(old: Any) -> None:
        """Windows: nothing to do."""

else:
    # The C function under signal.pthread_sigmask, which turns each signal number of
    # the mask it returns into a Signals enum. signals_unblocked() runs for each batch
    # of results a pool delivers and reads no mask: its two calls took 28-57 us on
    # this 2-core Linux machine under load, 7-9 us without the conversion.
    from _signal import pthread_sigmask as _raw_sigmask  # type: ignore[import-not-found]

    def _block() -> None:
        _local.saved = _raw_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)

    @contextmanager
    def signals_unblocked() -> Iterator[None]:
        """Within: this thread's signal mask as it was before it blocked anything, so
        that a process started by user code run here (a callback) does not inherit
        compat's blocked signals."""
        if not unblock_for_user_code():
            yield
            return
        try:
            yield
        finally:
            block_again()

    def unblock_for_user_code() -> bool:
        """:func:`signals_unblocked` without the context manager, for a loop that runs
        per result: True if it changed the mask, and then :func:`block_again` must
        follow (in a ``finally``)."""
        saved = getattr(_local, "saved", None)
        if saved is None:
            return False
        _raw_sigmask(signal.SIG_SETMASK, saved)
        return True

    def block_again() -> None:
        _raw_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)

    def unblock_async_signals() -> None:
        """In a child compat started: take the signals a blocked parent thread left
        blocked (exec keeps the mask). Those that arrived meanwhile are delivered now."""
        _raw_sigmask(signal.SIG_UNBLOCK, ASYNC_SIGNALS)  # (a fork child: no enum set built)

    @contextmanager
    def async_signals_blocked(method: Optional[str] = None) -> Iterator[None]:
        """Within: :data:`ASYNC_SIGNALS` blocked in this thread, while it starts one of
        compat's children. The child starts with them blocked (exec keeps the mask)
        and unblocks them once its main function runs, so a Ctrl+C during its
        start-up (site, imports, unpickling) neither kills it with a fatal error nor
        prints a traceback: it is delivered then, and handled quietly. Here, a signal
        that arrives meanwhile waits until the block ends, in this thread: none is
        lost.

        ``method``: the start method. Unless it is fork, multiprocessing's servers
        are started first, outside the block. The resource tracker's start blocks
        and then *unblocks* SIGINT and SIGTERM in the calling thread, which would end
        the block early. A forkserver started inside it would keep them blocked for
        good, and so would every process it forks, ``Process`` children included
        (their ``terminate()`` would do nothing)."""
        if method is not None and method != "fork":
            from multiprocessing import forkserver, resource_tracker

            mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
            try:
                resource_tracker.ensure_running()
                if method == "forkserver":
                    forkserver.ensure_running()
            finally:
                # Put back what the tracker's start unblocked (a compat thread's block).
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        old = block_for_start()
        try:
            yield
        finally:
            end_block(old)

    def block_for_start() -> Any:
        """:func:`async_signals_blocked`'s block without the context manager and the
        servers' start (the fork fast path); returns what :func:`end_block` needs."""
        old = _raw_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)  # ints: no enum conversion
        # A child forked meanwhile keeps them blocked too: its main function takes
        # them back inside its own handler (a Ctrl+C that reached it already would
        # otherwise go off in the at-fork hook, as an "Exception ignored" there).
        _local.starting = True
        return old

    def end_block(old: Any) -> None:
        _local.starting = False
        _raw_sigmask(signal.SIG_SETMASK, old)

    def _after_fork_in_child() -> None:
        # The child's one thread is not one of compat's threads, nor inside a start.
        saved = getattr(_local, "saved", None)
        starting = getattr(_local, "starting", False)
        _local.saved, _local.starting = None, False
        if saved is not None and not starting:
            signal.pthread_sigmask(signal.SIG_SETMASK, saved)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def stop_started(process: object) -> None:
    """After an exception (a Ctrl+C delivered as a start's block ended) in the code
    that started ``process``: kill it if it started, so that no one is left waiting
    for a child nobody holds (multiprocessing joins non-daemonic children at exit)."""
    try:
        if getattr(process, "pid", None) is not None and process.exitcode is None:  # type: ignore[attr-defined]
            process.kill()  # type: ignore[attr-defined]
            process.join(5)  # type: ignore[attr-defined]
    except (OSError, ValueError, AssertionError, AttributeError):
        pass
