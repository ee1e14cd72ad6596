"""Log records from children reach the parent's handlers, on every start method.

Each child compat starts (``spawn_child``, Pool and executor workers,
``spawn_consumer``) gets the write end of a pipe of its own (:class:`ChildLogs`);
its main function calls :func:`install`, which puts a forwarding handler on
the child's root logger (and on every logger that does not propagate) in place of
the handlers it had, and gives the child's loggers the parent's levels. In the
parent one listener thread (:class:`_Listener`, a compat background thread) reads
every child's pipe and hands each record to ``logging.getLogger(record.name)``
there, so the parent's levels (as they are when the record arrives), filters,
handlers and formats apply, and ``record.process`` / ``record.processName`` stay
the child's. The thread starts with the first child and ends, closing every
descriptor, once the last child's pipe reached end-of-file (the child is gone).

Why fork forwards too: a forked child inherits the parent's handlers, and writing
to the same terminal from both works, but a ``RotatingFileHandler`` rotating in two
processes, or a handler holding a lock or a socket, does not; and the promise is
that a program logs the same under every method. Forwarding costs a forked child
the pickling of each record it emits and one pipe write (``bench`` numbers in the
README); the records it does not emit (below the level) cost nothing more.

A pipe per child, not one shared by all: a child killed in the middle of a write
then damages only its own pipe, and no lock is held across processes.

Only when the parent has imported :mod:`logging` by the time the child starts: a
program that never did has no configuration to forward, and each spawned child
would pay for importing it (4 ms).
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import threading

from .._native.locks import shared_lock
from .._native.threads import background_thread, signals_unblocked
from .._platform import WINDOWS

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Optional

__all__ = ["ChildLogs", "LogSender", "flush", "install", "open_child_logs"]

#: Seconds :func:`flush` waits at most at interpreter exit.
EXIT_FLUSH = 1.0


def _levels() -> tuple[tuple[tuple[str, int], ...], int]:
    """The parent's explicit logger levels (``""`` is the root) and ``logging.disable``."""
    import logging

    root = logging.getLogger()
    levels = [("", root.level)]
    for name, logger in list(root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels.append((name, logger.level))
    return tuple(levels), int(root.manager.disable)


class LogSender:
    """What a child gets: the write end of its log pipe and the parent's levels."""

    def __init__(self, conn: Any, levels: tuple[tuple[str, int], ...], disable: int) -> None:
        self.conn = conn
        self.levels = levels
        self.disable = disable


class ChildLogs:
    """The parent's side of one child's log pipe."""

    def __init__(self, mp_context: Any) -> None:
        self._reader, writer = mp_context.Pipe(duplex=False)
        self.sender: Optional[LogSender] = LogSender(writer, *_levels())

    def attach(self) -> None:
        """After the child started: close the parent's copy of the write end (the
        child has its own) and give the read end to the listener."""
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.conn.close()
            _listener.add(self._reader)

    def attach_fd(self, fd: int) -> None:
        """The child writes its records to a pipe it got when it started (a warm spare,
        compat._child.spares): give that pipe's read end ``fd`` to the listener
        instead, and close this one's ends."""
        from multiprocessing.connection import Connection

        self.discard()
        _listener.add(Connection(fd, writable=False))

    def discard(self) -> None:
        """The child did not start: close both ends."""
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.conn.close()
            self._reader.close()


def open_child_logs(mp_context: Any, enabled: bool = True) -> Optional[ChildLogs]:
    """A log pipe for a child about to start, or None (forwarding is off, or this
    process never imported logging)."""
    if not enabled or "logging" not in sys.modules:
        return None
    return ChildLogs(mp_context)


# The child's side ------------------------------------------------------------------


def install(sender: Optional[LogSender]) -> None:
    """In the child, first thing: forward every record to the parent.

    The handlers the child's loggers have now are the parent's (fork) or copies of
    its import-time configuration (spawn, forkserver); the parent's own apply to
    forwarded records, so these are removed rather than used twice. Handlers the
    child adds later stay. Loggers get the parent's explicit levels, so a record the
    parent would drop is not even made, and one it wants is not filtered out here.
    """
    if sender is None:
        return
    import logging

    root = logging.getLogger()
    handler = _forward_handler(sender.conn)
    loggers = [root] + [
        lg for lg in list(root.manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for old in list(logger.handlers):
            logger.removeHandler(old)
        if logger is root or not logger.propagate:
            logger.addHandler(handler)
    for name, level in sender.levels:
        logging.getLogger(name or None).setLevel(level)
    logging.disable(sender.disable)


def _forward_handler(conn: Any) -> logging.Handler:
    import logging

    class ForwardHandler(logging.Handler):
        """Sends each record, made picklable as ``QueueHandler.prepare`` does, to the
        parent: the message is formatted here (``msg % args``), ``args`` and
        ``exc_info`` are dropped, the traceback travels as ``exc_text``."""

        broken = False

        def emit(self, record: logging.LogRecord) -> None:
            if self.broken:
                return
            try:
                data = _dumps(_prepare(record))
            except Exception:
                self.handleError(record)
                return
            try:
                conn.send_bytes(data)
            except (OSError, ValueError):
                self.broken = True  # the parent is gone: nobody to log to

    return ForwardHandler()


_formatter: Any = None


def _prepare(record: logging.LogRecord) -> dict[str, Any]:
    global _formatter
    state = dict(record.__dict__)
    state["msg"] = record.getMessage()
    state["args"] = None
    if record.exc_info and not record.exc_text:
        if _formatter is None:
            import logging

            _formatter = logging.Formatter()
        state["exc_text"] = _formatter.formatException(record.exc_info)
    state["exc_info"] = None
    state.pop("message", None)
    return state


def _dumps(state: dict[str, Any]) -> bytes:
    try:
        return pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
    except Exception:  # an ``extra=`` value that does not pickle travels as its repr
        clean = {}
        for key, value in state.items():
            try:
                pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
                clean[key] = value
            except Exception:
                clean[key] = repr(value)
        return pickle.dumps(clean, pickle.HIGHEST_PROTOCOL)


# The parent's listener -----------------------------------------------------------


def _handle(data: bytes) -> None:
    import logging

    try:
        record = logging.makeLogRecord(pickle.loads(data))
        logger = logging.getLogger(record.name)
        # The parent's levels as they are now decide (Logger.handle does not look).
        if logger.isEnabledFor(record.levelno):
            with signals_unblocked():  # user handlers run here
                logger.handle(record)
    except Exception:  # one bad record or handler must not end the listener
        pass


class _Listener:
    """One thread reading every child's log pipe; it runs while there are pipes."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = shared_lock()  # see compat._native.locks
        self._thread: Optional[threading.Thread] = None
        self._wake: Optional[tuple[Any, Any]] = None
        self._new: list[Any] = []
        self._readers: list[Any] = []
        self._flushes: list[threading.Event] = []

    def add(self, reader: Any) -> None:
        with self._lock:
            self._new.append(reader)
            self._kick_locked()

    def flush(self, timeout: Optional[float]) -> bool:
        """Handle what every child has written so far; False if ``timeout`` passed."""
        with self._lock:
            if self._thread is None:
                return True
            if self._thread is threading.current_thread():
                return False  # a handler in the listener logging from a child... no wait
            done = threading.Event()
            self._flushes.append(done)
            self._kick_locked()
        return done.wait(timeout)

    def _kick_locked(self) -> None:
        if self._thread is None:
            from multiprocessing.connection import Pipe

            self._wake = Pipe(duplex=False)
            self._thread = background_thread(self._run, name="compat-child-logs")
            self._thread.start()
        else:
            assert self._wake is not None
            try:
                self._wake[1].send_bytes(b"")
            except OSError:
                pass

    def _run(self) -> None:
        from multiprocessing.connection import wait

        assert self._wake is not None
        wake = self._wake[0]
        readers = self._readers
        while True:
            with self._lock:
                readers.extend(self._new)
                self._new.clear()
                flushes, self._flushes = self._flushes, []
                if not readers and not flushes:
                    # Nothing uses the listener: end, leaving nothing open. Forgotten
                    # before closed: a fork meanwhile (another thread) must not give
                    # the child a reference to a closed descriptor, whose number the
                    # parent may reuse before the fork; the child closes what we
                    # reference (reset_after_fork) and would close the new one
                    # (seen: a fork child's own pipe closed under it, EBADF).
                    wake, self._wake = self._wake, None
                    self._thread = None
                    wake[0].close()
                    wake[1].close()
                    return
            if flushes:
                while self._read(_wait_all(wait, readers, 0.0), readers):
                    pass
                for done in flushes:
                    done.set()
                continue
            ready = _wait_all(wait, [*readers, wake], None)
            if wake in ready:
                while wake.poll():
                    wake.recv_bytes()
            self._read([r for r in ready if r is not wake], readers)

    def _read(self, ready: list[Any], readers: list[Any]) -> bool:
        for reader in ready:
            try:
                data = reader.recv_bytes()
            except (EOFError, OSError):  # the child is gone (or died mid-record)
                readers.remove(reader)
                reader.close()
                continue
            _handle(data)
        return bool(ready)

    def reset_after_fork(self) -> None:
        # A forked child has none of the parent's threads: forget the parent's pipes
        # (close its copies) and start afresh if it starts children itself.
        for conn in [*self._readers, *self._new, *(self._wake or ())]:
            try:
                conn.close()
            except OSError:
                pass
        self._reset()


_GROUPED_WAITS = WINDOWS and sys.version_info < (3, 13)


def _wait_all(wait: Any, conns: list[Any], timeout: Optional[float]) -> list[Any]:
    """``multiprocessing.connection.wait``, in groups on Windows before 3.13 (which
    waits on at most 63 handles at once): each group briefly, in turn."""
    limit = 60
    if not _GROUPED_WAITS or len(conns) <= limit:
        return list(wait(conns, timeout))
    while True:
        for start in range(0, len(conns), limit):
            ready = list(wait(conns[start : start + limit], 0.0 if timeout == 0 else 0.01))
            if ready:
                return ready
        if timeout == 0:
            return []


_listener = _Listener()


def flush(timeout: Optional[float] = 5.0) -> bool:
    """Hand every record children have written so far to the parent's handlers
    before returning (the records of a child that has ended are all there); False
    if ``timeout`` seconds passed first."""
    return _listener.flush(timeout)


atexit.register(flush, EXIT_FLUSH)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_listener.reset_after_fork)
