"""The loop a pool worker process runs, and the wire format it shares with the parent.

This module is imported by every spawned worker, so it imports only what the
multiprocessing bootstrap has already loaded (pickle, struct, the ForkingPickler).

Wire format, one ``Connection`` message each:

- parent -> worker: a pickled list of ``(seq, task_bytes)``; each ``task_bytes`` is a
  separately pickled ``(kind, func, args, kwds)``, so one task that cannot be
  unpickled in the worker fails alone. An empty message asks the worker to exit.
- worker -> parent: one byte of message type, 8 bytes of ``seq`` (little endian),
  8 bytes of the seconds the task ran (a double), then the pickled payload. The
  parent reads the header without unpickling, so a result that cannot be unpickled
  in the parent fails only its own task, and it sizes batches from the run time.
"""

from __future__ import annotations

import copyreg
import io
import itertools
import pickle
import struct
import threading
import time

from .._native.threads import exit_interrupted, unblock_async_signals
from .._stdlib import extra_reducers
from .._stdlib_child import PLAIN_TYPES
from .frames import frame_reader, frame_writer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

# Task kinds.
APPLY = 0  # func(*args, **kwds)
MAP = 1  # list(map(func, args))
STARMAP = 2  # list(itertools.starmap(func, args))

# Message types, worker -> parent.
RESULT = b"R"
ERROR = b"E"
READY = b"Y"
INIT_FAILED = b"I"

HEADER = struct.Struct("<cQd")  # type, seq, seconds the task ran
PROTOCOL = pickle.HIGHEST_PROTOCOL


_table: dict[Any, Any] = {}
_table_key = (-1, -1)
_EXTRA_REDUCERS = extra_reducers()


def _dispatch_table() -> dict[Any, Any]:
    # ForkingPickler copies copyreg's table and adds multiprocessing's reducers in
    # every __init__ (a dict copy per message); merge once, and again only when
    # either registry changes size.
    global _table, _table_key
    extra = _EXTRA_REDUCERS
    key = (len(copyreg.dispatch_table), len(extra))
    if key != _table_key:
        table = dict(copyreg.dispatch_table)
        table.update(extra)
        _table, _table_key = table, key
    return _table


_local = threading.local()
_REUSE_LIMIT = 1024  # bytes of pickle


def dumps(obj: object, prefix: bytes = b"") -> bytes:
    """Pickle like multiprocessing does (ForkingPickler's reducers: connections,
    sockets... travel), after an optional ``prefix``.

    Each thread reuses one pickler and buffer (a new pair per message costs more
    than pickling a small task); a nested call gets a fresh pair.
    """
    cached: Optional[list[Any]] = getattr(_local, "cached", None)
    if cached is None or cached[2]:
        entry: list[Any] = [io.BytesIO(), None, True]
        entry[1] = pickle.Pickler(entry[0], PROTOCOL)
        if cached is None:
            _local.cached = entry
    else:
        entry = cached
        entry[2] = True
        entry[0].seek(0)
        entry[0].truncate()
    buf, pickler = entry[0], entry[1]
    try:
        pickler.dispatch_table = _dispatch_table()
        buf.write(prefix)
        try:
            pickler.dump(obj)
        finally:
            # The memo references every object pickled: clearing it only before the
            # next message would keep the last task's arguments (or result) alive
            # after the caller dropped them, until this thread pickles again.
            pickler.clear_memo()
        data: bytes = buf.getvalue()
        if len(data) - len(prefix) > _REUSE_LIMIT and _local.cached is entry:
            # clear_memo() wipes the whole memo table, which keeps the size its
            # largest pickle gave it (it never shrinks). Every memoized object takes
            # at least 2 bytes of pickle, so after a large one start afresh rather
            # than pay for a big table on every later message.
            _local.cached = None
    finally:
        entry[2] = False
        buf.seek(0)
        buf.truncate()  # nor keep the bytes of a large message
    return data


class RemoteException:
    """An exception with its formatted traceback, rebuilt in the parent with a
    ``RemoteTraceback`` ``__cause__``: the standard library's shape for the Pool
    (``multiprocessing.pool.RemoteTraceback``) or the executor
    (``concurrent.futures.process._RemoteTraceback``)."""

    def __init__(self, exc: BaseException, flavour: str, note: str = "") -> None:
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.exc = exc
        self.tb = f'\n"""\n{note}{text}"""'
        self.flavour = flavour
        # The frames hold every object of the failed call; free them now.
        exc.__traceback__ = None

    def __reduce__(self) -> tuple[Any, ...]:
        return rebuild_exception, (self.exc, self.tb, self.flavour)


def rebuild_exception(exc: BaseException, tb: str, flavour: str) -> BaseException:
    """Unpickle hook: attach the remote traceback the way the standard library does."""
    cause: BaseException
    if flavour == "executor":
        from .._stdlib import ExecutorRemoteTraceback

        cause = ExecutorRemoteTraceback(tb)  # type: ignore[arg-type]  # typeshed: it is a str
    else:
        from .._stdlib import PoolRemoteTraceback

        cause = PoolRemoteTraceback(tb)
    exc.__cause__ = cause
    return exc


def _encode_error(
    seq: int,
    exc: BaseException,
    flavour: str,
    note: str = "",
    kind: bytes = ERROR,
    seconds: float = 0.0,
) -> bytes:
    prefix = HEADER.pack(kind, seq, seconds)
    try:
        data = dumps(RemoteException(exc, flavour, note), prefix)
        # An exception that pickles but cannot be rebuilt (a custom __init__ with
        # extra required arguments is the classic case) would fail in the parent's
        # reader; catch that here, where the task is known.
        pickle.loads(memoryview(data)[HEADER.size :])
        return data
    except BaseException as problem:
        return dumps(_encoding_error(problem, exc, flavour), prefix)


def _encoding_error(problem: BaseException, value: object, flavour: str) -> BaseException:
    if flavour == "executor":
        return problem if _picklable(problem) else RuntimeError(repr(problem))
    from .._stdlib import MaybeEncodingError

    error: BaseException = MaybeEncodingError(problem, value)
    return error


def _picklable(obj: object) -> bool:
    try:
        pickle.loads(dumps(obj))
    except BaseException:
        return False
    return True


def _encode_result(seq: int, value: object, flavour: str, seconds: float) -> bytes:
    if type(value) in PLAIN_TYPES:  # the C pickler alone, without dumps()' set-up
        return HEADER.pack(RESULT, seq, seconds) + pickle.dumps(value, PROTOCOL)
    try:
        return dumps(value, HEADER.pack(RESULT, seq, seconds))
    except BaseException as problem:
        # BaseException too: a __reduce__ that calls sys.exit() is the task's
        # outcome, not a reason to end the worker (the executor of the standard
        # library delivers it the same way; its Pool loses the worker and hangs).
        # The standard library's answers: MaybeEncodingError from the Pool, the
        # pickling error itself (with its traceback) from the executor.
        if flavour == "executor":
            return _encode_error(seq, problem, flavour, seconds=seconds)
        error = _encoding_error(problem, value, flavour)
        return dumps(error, HEADER.pack(ERROR, seq, seconds))


_UNPICKLE_NOTE = (
    "compat: the worker could not unpickle this task. Under the spawn and forkserver "
    "start methods the worker imports each function by module and name, so it must be "
    "defined at the top level of an importable module (not in an interactive session, "
    "a notebook cell or under `if __name__ == '__main__':`).\n"
)

_UNPICKLE_BASE_NOTE = (
    "compat: unpickling this task's arguments in the worker raised this; the task "
    "failed and the worker goes on with the next one.\n"
)


def worker_main(
    conn: Any,
    initializer: Optional[Callable[..., object]],
    initargs: tuple[Any, ...],
    maxtasks: Optional[int],
    flavour: str,
    lifeline: Any = None,
    logs: Any = None,
) -> None:
    """Run tasks from ``conn`` until told to stop, the parent goes away, or
    ``maxtasks`` tasks are done. ``flavour`` is ``"pool"`` (tasks may raise
    ``Exception``; ``SystemExit`` ends the worker, as in ``multiprocessing.Pool``) or
    ``"executor"`` (``BaseException`` travels back, as in ``ProcessPoolExecutor``).
    ``lifeline`` (:class:`compat._native.lifeline.Lifeline`) ends the worker as soon
    as the parent process is gone, even in the middle of a task. ``logs`` forwards
    the worker's log records to the parent (:mod:`compat._child.logs`)."""
    try:
        # Inside the try: a Ctrl+C that arrived while the worker started is
        # delivered as soon as this unblocks it.
        unblock_async_signals()  # its start left them blocked (compat._native.threads)
        if lifeline is not None:
            lifeline.arm()
        if logs is not None:
            from .._child.logs import install

            install(logs)
        _serve(conn, initializer, initargs, maxtasks, flavour)
    except KeyboardInterrupt:
        # Ctrl+C in a terminal reaches every process of the foreground group; the
        # parent deals with it (its KeyboardInterrupt stops the pool). A worker ends
        # quietly, without the traceback multiprocessing would print for each one.
        exit_interrupted()


def _serve(
    conn: Any,
    initializer: Optional[Callable[..., object]],
    initargs: tuple[Any, ...],
    maxtasks: Optional[int],
    flavour: str,
) -> None:
    send = frame_writer(conn)
    recv = frame_reader(conn)  # it alone reads conn: what it reads ahead is its own
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            # Reported once and not retried: the parent marks the pool broken instead
            # of restarting workers that fail the same way forever.
            try:
                send(_encode_error(0, exc, flavour, kind=INIT_FAILED))
            except OSError:
                pass  # the parent is gone: nobody to tell
            return
    try:
        send(HEADER.pack(READY, 0, 0.0))
    except OSError:
        return  # the pool ended while this worker started (a Ctrl+C, terminate())
    caught: type[BaseException] = BaseException if flavour == "executor" else Exception
    loads = pickle.loads
    clock = time.perf_counter
    completed = 0
    while maxtasks is None or completed < maxtasks:
        try:
            data = recv()
        except (EOFError, OSError):
            return  # the parent is gone or closed the pipe
        if not data:
            return  # asked to exit
        batch = loads(data)
        # Free each task's bytes as it starts, not when the next batch arrives.
        del data
        batch.reverse()
        while batch:
            seq, blob = batch.pop()
            try:
                kind, func, args, kwds = loads(blob)
            except BaseException as exc:  # SystemExit from a __setstate__ is this task's
                note = _UNPICKLE_NOTE if isinstance(exc, Exception) else _UNPICKLE_BASE_NOTE
                try:
                    send(_encode_error(seq, exc, flavour, note))
                except OSError:
                    return
                completed += 1
                continue
            value = None
            began = clock()
            try:
                if kind == APPLY:
                    value = func(*args, **kwds)
                elif kind == MAP:
                    value = list(map(func, args))
                else:
                    value = list(itertools.starmap(func, args))
            except caught as exc:
                message = _encode_error(seq, exc, flavour, seconds=clock() - began)
            else:
                message = _encode_result(seq, value, flavour, clock() - began)
            del func, args, kwds, value, blob
            try:
                send(message)
            except OSError:
                return  # the parent is gone: nobody wants the result
            completed += 1
            del message
