"""``spawn_child`` and the :class:`Child` handle.

The child runs ``target(*args, **kwargs)`` and sends one message back through a
one-way pipe (:mod:`compat._child.outcome`): the return value, the exception (type,
message, traceback, and the object itself when it pickles), or the ``sys.exit`` code.
The parent reads that pipe while it waits, so a large result never blocks the child's
exit (the "join before draining" deadlock of research IPC-05).
"""

from __future__ import annotations

import pickle
import threading
import time

from .._errors import ChildError, ChildTimeout, SpawnError, signal_name
from .._exitcodes import normalize_exitcode
from .._native.threads import async_signals_blocked, main_thread_slice, stop_started
from .._native.waiting import wait_ready
from .._platform import WINDOWS
from .logs import flush as flush_logs
from .outcome import EXIT as _EXIT
from .outcome import OK as _OK
from .outcome import RAISED as _RAISED
from .outcome import child_main as _child_main
from .outcome import name_of as _name_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .._context import Context
    from .._policy import Decision

__all__ = ["Child", "start_child"]

#: Seconds a wait watches only the child's end before it also drains the result pipe
#: (a message larger than the pipe's buffer makes the child wait this long at most).
DRAIN_AFTER = 0.002

#: Seconds a child may take to end after a Ctrl+C interrupted a wait on it, before
#: it is killed.
INTERRUPT_GRACE = 0.5


class RemoteTraceback(Exception):
    """The child's formatted traceback, chained as the remote exception's cause."""

    __module__ = "compat"

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


def start_child(
    ctx: Context, target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Child:
    """Start a child under ``ctx``; the implementation of ``spawn_child``."""
    if not callable(target):
        raise TypeError(f"spawn_child() needs a callable target, not {type(target).__name__}")
    method = ctx.method
    if method == "fork":  # the fast path: no imports, no lookups it can avoid
        return (_FORK_START or _fork_start())(ctx, target, args, kwargs)
    from .main_checks import check_main_guard, main_file_fixup
    from .preflight import check_spawnable

    decision = ctx.decision
    name = _name_of(target)
    what = f"a child running {name}"
    try:
        check_main_guard(method, what)
        target, args, kwargs = check_spawnable(method, target, args, kwargs, what=what)
    except SpawnError as exc:
        from .._platform import PlatformFacts
        from .._policy import fork_instead

        forked = fork_instead(ctx.decision, str(exc), PlatformFacts.current())
        if forked is None:
            raise
        fork_ctx = ctx.get_context("fork")  # keeps its other settings
        return (_FORK_START or _fork_start())(fork_ctx, target, args, kwargs, forked)
    if method == "spawn":  # the lean path, unless this call needs multiprocessing's
        from .leanspawn import start_lean_child

        lean = start_lean_child(ctx, target, args, kwargs, name)
        if lean is not None:
            return lean
    reader, writer = ctx.mp_context.Pipe(duplex=False)
    # A plain standard-library Process of the context: the checks above already ran.
    from .._native.lifeline import make_lifeline
    from .logs import open_child_logs

    lifeline = make_lifeline(die_with_parent=ctx.die_with_parent)
    logs = open_child_logs(ctx.mp_context, ctx.forward_logs)
    child_args = (writer, target, args, kwargs, lifeline, logs and logs.sender)
    process = ctx.mp_context.Process(target=_child_main, args=child_args, name=None, daemon=False)
    try:
        # Blocked while it starts: a Ctrl+C then waits for the child's main function.
        with main_file_fixup(method), async_signals_blocked(method):
            process.start()
    except BaseException:
        stop_started(process)
        reader.close()
        writer.close()
        if logs is not None:
            logs.discard()
        raise
    if logs is not None:
        logs.attach()
    # The child holds its own copy of the write end; closing ours means the
    # reader sees EOF as soon as the child is gone, however it ended.
    writer.close()
    return Child(process, reader, decision, name)


def _dumps(obj: Any) -> bytes:
    """``obj`` pickled with ForkingPickler's reducers (what ``Connection.send`` uses)."""
    from multiprocessing.reduction import ForkingPickler

    return bytes(ForkingPickler.dumps(obj, pickle.HIGHEST_PROTOCOL))


_FORK_START: Optional[Callable[..., Child]] = None


def _fork_start() -> Callable[..., Child]:
    global _FORK_START
    from .fastfork import start_fork_child

    _FORK_START = start_fork_child
    return start_fork_child


class Child:
    """A handle on a child process started by :func:`compat.spawn_child`.

    Future-like: :meth:`result` returns the target's return value, or raises
    :class:`compat.ChildError` carrying the remote exception's type, message and
    traceback (the exception itself is the ``__cause__`` when it could be
    pickled), or the exit code and signal name when the child died first.

    ``exitcode`` follows one convention on every OS: ``None`` while running,
    ``>= 0`` for an exit, ``-N`` when signal N ended it. POSIX reports this
    natively. On Windows compat maps what TerminateProcess and crashes leave:
    ``terminate()`` gives -15 and ``kill()`` -9 (the standard library says -15
    for both), an access violation -11 (SIGSEGV), and so on; ``raw_exitcode`` keeps
    the original value.

    Used as a context manager, it never leaves the child running: leaving the
    block normally waits for the child; leaving it with an exception terminates
    the child (then kills it if it does not end within a second).
    """

    __module__ = "compat"

    def __init__(self, process: Any, reader: Any, decision: Decision, target_name: str) -> None:
        self._process = process
        self._reader: Any = reader
        self._lock: Any = threading.RLock()  # Any: _is_owned() is not in the stubs
        self._message: Optional[tuple[Any, ...]] = None
        self._finished = False
        self._killed = False
        self._draining = False
        self.decision = decision
        self.target_name = target_name

    def __repr__(self) -> str:
        state = "running" if not self._finished else f"exitcode={self.exitcode}"
        return f"<compat.Child {self.name!r} pid={self.pid} {self.method} {state}>"

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid  # type: ignore[no-any-return]

    @property
    def method(self) -> str:
        """The start method that started it: ``"fork"``, ``"spawn"`` or ``"forkserver"``."""
        return self.decision.method

    @property
    def name(self) -> str:
        return self._process.name  # type: ignore[no-any-return]

    @property
    def sentinel(self) -> Any:
        """Becomes ready when the child ends (for ``multiprocessing.connection.wait``)."""
        return self._process.sentinel

    @property
    def raw_exitcode(self) -> Optional[int]:
        """The exit code as the OS reported it (see ``exitcode`` for the portable one)."""
        self._poll()
        return self._process.exitcode  # type: ignore[no-any-return]

    @property
    def exitcode(self) -> Optional[int]:
        """None while running; else the exit code, ``-N`` if signal N ended it (every OS)."""
        return normalize_exitcode(self.raw_exitcode, windows=WINDOWS, killed=self._killed)

    def is_alive(self) -> bool:
        self._poll()
        return not self._finished

    def done(self) -> bool:
        """True once the child has ended (``result()`` will not block)."""
        return not self.is_alive()

    def _poll(self) -> None:
        if not self._finished:
            self._wait(0)

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the child ends or ``timeout`` seconds pass (then it is still
        running: check :meth:`is_alive`), reading its result meanwhile."""
        try:  # first: see _stop_after_interrupt
            self._wait(0 if timeout is not None and timeout < 0 else timeout)
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise

    def _stop_after_interrupt(self) -> None:
        """What a public wait (join, result, exception) does on Ctrl+C before the
        KeyboardInterrupt propagates: the child had :data:`INTERRUPT_GRACE` seconds to
        end by itself (a terminal's Ctrl+C reached it too), then it is killed.

        Each of them catches it as its first statement, not deeper: CPython 3.11+
        also handles a signal as a function starts (its RESUME), before that
        function's own try, and the calls down to the wait are such starts."""
        process = self._process
        try:
            process.join(INTERRUPT_GRACE)
            if process.exitcode is None:
                self.kill()
                process.join(INTERRUPT_GRACE)
        except (OSError, ValueError, AssertionError):
            pass

    def _wait(self, timeout: Optional[float]) -> bool:
        """Drain the result pipe and reap the child; True once it has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lock = self._lock
        try:
            lock.acquire()
            return self._wait_held(deadline)
        finally:
            # Not `with lock:`: a KeyboardInterrupt raised as acquire() returns (CPython
            # 3.14 handles signals there, gh-148874) left it held, and every other
            # thread's join() blocked for ever. This try covers the acquire itself.
            if lock._is_owned():
                lock.release()

    def _wait_held(self, deadline: Optional[float]) -> bool:
        """The wait, with the lock held (see _wait)."""
        while not self._finished:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = main_thread_slice(remaining)
            waitables = [self._process.sentinel]
            if self._reader is not None and self._draining:
                waitables.append(self._reader)
            elif self._reader is not None:
                # First watch the end alone: a short-lived child's message is then
                # read once, after it ended, with one wake-up instead of two.
                step = DRAIN_AFTER if step is None else min(step, DRAIN_AFTER)
                self._draining = True
            ready = wait_ready(waitables, step)
            if self._reader is not None and self._reader in ready:
                self._read_message()
            if self._process.sentinel in ready:
                if self._reader is not None and wait_ready([self._reader], 0):
                    self._read_message()
                self._process.join()
                self._finished = True
                self._close_reader()
                flush_logs()  # its records are handled before its end is reported
                break
            if not ready and deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def _read_message(self) -> None:
        try:
            data = self._reader.recv_bytes()
        except (EOFError, OSError):
            self._close_reader()  # the child closed its end: nothing more will come
            return
        try:
            self._message = tuple(pickle.loads(data))
        except BaseException as exc:  # SystemExit from a __reduce__ too: not ours to raise
            import traceback

            self._message = (
                _RAISED,
                "pickle.UnpicklingError",
                f"the child's result could not be unpickled in the parent: "
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
                None,
            )

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def terminate(self) -> None:
        """Ask the child to stop.

        POSIX: sends SIGTERM, which the child may handle (exitcode -15 if it does
        not). Windows: TerminateProcess, which the child cannot intercept and which
        skips its cleanup (exitcode -15 here too).
        """
        if not self._finished:
            self._process.terminate()

    def kill(self) -> None:
        """Stop the child at once: SIGKILL on POSIX, TerminateProcess on Windows;
        exitcode -9 on both."""
        if not self._finished:
            self._killed = True
            self._process.kill()

    def _outcome(self, timeout: Optional[float]) -> tuple[Any, Optional[ChildError]]:
        if not self._wait(timeout):
            raise ChildTimeout(
                f"child {self.name!r} (pid {self.pid}) running {self.target_name} "
                f"did not finish within {timeout} seconds; it is still running"
            )
        message = self._message
        if message is not None and message[0] == _OK:
            return message[1], None
        code = self.exitcode
        ident = f"child {self.name!r} (pid {self.pid}, {self.method}) running {self.target_name}"
        if message is not None and message[0] == _RAISED:
            remote_type, remote_message, remote_tb, blob = message[1:5]
            exception: Optional[BaseException] = None
            if blob is not None:
                try:
                    exception = pickle.loads(blob)
                except Exception:
                    exception = None
            error = ChildError(
                f"{ident} raised {remote_type}: {remote_message}",
                remote_type=remote_type,
                remote_message=remote_message,
                remote_traceback=remote_tb,
                exception=exception,
                exitcode=code,
                pid=self.pid,
                name=self.name,
                method=self.method,
            )
            if exception is not None:
                exception.__cause__ = RemoteTraceback(remote_tb)
                error.__cause__ = exception
            return None, error
        if message is not None and message[0] == _EXIT and code == 0:
            return None, None  # sys.exit(0) / sys.exit(None): a normal, empty end
        if code is not None and code < 0:
            how = f"was killed by {signal_name(code)} (exit code {code})"
        else:
            how = f"exited with code {code}"
        return None, ChildError(
            f"{ident} {how} before returning a result",
            exitcode=code,
            pid=self.pid,
            name=self.name,
            method=self.method,
        )

    def result(self, timeout: Optional[float] = None) -> Any:
        """Wait for the child and return what the target returned.

        Raises :class:`compat.ChildError` if the target raised or the child died
        (killed, crashed, ``os._exit``, ``sys.exit`` with a non-zero code), and
        :class:`compat.ChildTimeout` (a ``TimeoutError``) if ``timeout`` passed
        first; the child then keeps running. ``sys.exit(0)`` in the target gives None.
        """
        try:  # first: see _stop_after_interrupt
            value, error = self._outcome(timeout)
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise
        if error is not None:
            raise error
        return value

    def exception(self, timeout: Optional[float] = None) -> Optional[ChildError]:
        """Wait for the child; return the :class:`compat.ChildError` that
        :meth:`result` would raise, or None if it succeeded."""
        try:  # first: see _stop_after_interrupt
            return self._outcome(timeout)[1]
        except KeyboardInterrupt:
            self._stop_after_interrupt()
            raise

    def close(self) -> None:
        """Release the handle's resources; the child must have ended (ValueError otherwise)."""
        if not self.is_alive():
            self._close_reader()
            self._process.close()
        else:
            raise ValueError(f"cannot close {self!r}: it is still running; join() it first")

    def __enter__(self) -> Child:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.join()
            return
        if not self._finished:
            self.terminate()
            self.join(1.0)
            if not self._finished:
                self.kill()
                self.join()
