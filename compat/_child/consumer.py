"""Run a generator in another process and drive it with ``send()``.

The seed's coroutine producer/consumer, with the consumer in a child process::

    def consumer():
        r = ""
        while True:
            n = yield r
            if not n:
                return
            r = "200 OK"

    c = compat.spawn_consumer(consumer)
    c.send(None)        # runs to the first yield, returns ""
    c.send(1)           # -> "200 OK", computed in the child
    c.close()

The handle behaves like the generator object: ``send()`` returns what the
remote generator yielded and raises ``StopIteration`` when it returns; ``throw()``
and ``close()`` do what they do on a generator; ``next(handle)`` is
``send(None)``. What is different: an exception raised by the consumer (or the
consumer process dying) surfaces in the producer as :class:`compat.ChildError`
with the remote type, message and traceback, and the consumer process has ended.

Arguments and sent values are pickled; under spawn and forkserver (Windows,
macOS) the generator function must be importable, i.e. defined at module level.
Each call is one round trip over a ``Pipe`` (tens of microseconds).
"""

from __future__ import annotations

import pickle
import sys
import types

from .._errors import ChildError
from .._native.lifeline import make_lifeline
from .._native.threads import (
    async_signals_blocked,
    main_thread_slice,
    stop_started,
)
from .._platform import WINDOWS
from .._stdlib import Finalize
from .child import _dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["Consumer", "spawn_consumer", "start_consumer"]

_JOIN_TIMEOUT = 10.0

#: inspect.CO_GENERATOR: the code flag of a function that uses 'yield' (the inspect
#: module itself imports ast, dis and enum, which every spawned child would pay for).
_CO_GENERATOR = 0x20


def spawn_consumer(consumer: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Consumer:
    """Start ``consumer(*args, **kwargs)`` (a generator function) in a child process
    of compat's default context and return a :class:`Consumer` handle."""
    return start_consumer(consumer, args, kwargs)


def start_consumer(
    consumer: Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: Optional[dict[str, Any]] = None,
    *,
    ctx: Any = None,
) -> Consumer:
    """:func:`spawn_consumer` with an explicit context (compat Context or
    multiprocessing context); what ``Context.spawn_consumer`` calls."""
    # inspect.isfunction(consumer) and not inspect.isgeneratorfunction(consumer):
    if isinstance(consumer, types.FunctionType) and not consumer.__code__.co_flags & _CO_GENERATOR:
        raise TypeError(
            f"spawn_consumer needs a generator function (one that uses 'yield'); "
            f"{consumer.__qualname__} is a plain function"
        )
    return Consumer(consumer, tuple(args), dict(kwargs or {}), _context(ctx))


def _context(ctx: Any) -> Any:
    """A context with ``Process``, ``Pipe`` and ``get_start_method()``: a compat
    Context (its Process checks a spawn child's arguments before it starts; the
    default one for None) or the multiprocessing context the caller gave."""
    from .._context import get_context, resolve_context

    resolve_context(ctx)  # the one check of a ctx argument: raises TypeError
    return get_context() if ctx is None else ctx


class Consumer:
    """Handle of a generator running in a child process (see the module docstring)."""

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], ctx: Any
    ) -> None:
        self._conn, child_conn = ctx.Pipe()
        name = f"consumer-{getattr(func, '__name__', 'generator')}"
        lifeline = make_lifeline(die_with_parent=getattr(ctx, "die_with_parent", True))
        logs: Any = None
        if getattr(ctx, "forward_logs", True) and "logging" in sys.modules:
            from .logs import ChildLogs

            logs = ChildLogs(getattr(ctx, "mp_context", ctx))
        self._process = ctx.Process(
            target=_consumer_main,
            args=(child_conn, func, args, kwargs, lifeline, logs and logs.sender),
            name=name,
        )
        try:
            with async_signals_blocked(ctx.get_start_method()):  # compat._native.threads
                self._process.start()
        except BaseException:
            stop_started(self._process)
            self._conn.close()
            if logs is not None:
                logs.discard()
            raise
        finally:
            child_conn.close()
        if logs is not None:
            logs.attach()
        self._started = False
        self._done = False
        self.method: str = ctx.get_start_method()
        # Never leave the consumer running: on garbage collection and at exit
        # (before multiprocessing joins non-daemonic children), close it.
        self._finalizer = Finalize(self, _shutdown, (self._conn, self._process), exitpriority=5)

    @property
    def pid(self) -> Optional[int]:
        pid: Optional[int] = self._process.pid
        return pid

    @property
    def name(self) -> str:
        name: str = self._process.name
        return name

    def __repr__(self) -> str:
        state = "done" if self._done else "running"
        return f"<Consumer {self.name} pid={self.pid} {state}>"

    def send(self, value: Any) -> Any:
        """Send ``value`` to the remote generator; return what it yields next."""
        if self._done:
            raise StopIteration
        if not self._started and value is not None:
            raise TypeError("can't send non-None value to a just-started generator")
        self._started = True
        return self._call("send", value)

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> Consumer:
        return self

    def throw(self, exc: BaseException) -> Any:
        """Raise ``exc`` inside the remote generator at its current ``yield``."""
        if self._done:
            raise exc
        self._started = True
        return self._call("throw", exc)

    def close(self) -> None:
        """Close the remote generator (``GeneratorExit`` at its ``yield``) and end
        the child. Raises ChildError if the generator refuses (yields again) or fails."""
        if self._done:
            return
        self._call("close", None)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._finalizer()

    def _call(self, op: str, value: Any) -> Any:
        try:
            _send(self._conn, (op, value))
            kind, payload = self._receive()
        except (EOFError, OSError):
            raise self._died() from None
        if kind == "yield":
            return payload
        self._end()
        if kind == "stop":
            raise StopIteration(payload)
        if kind == "closed":
            return None
        remote_type, message, tb, exc = payload
        raise ChildError(
            f"the consumer {self.name} (pid {self.pid}) raised {remote_type}: {message}",
            remote_type=remote_type,
            remote_message=message,
            remote_traceback=tb,
            exception=exc,
            exitcode=_exitcode(self._process.exitcode),
            pid=self.pid,
            name=self.name,
            method=self.method,
        ) from exc

    def _receive(self) -> Any:
        """The consumer's answer, or EOFError once its process has ended without one.

        Waits on the process sentinel too, not only the pipe: on Windows the child's
        end of the pipe travels as a handle the parent duplicates and keeps until the
        child takes it over, so a consumer that dies while starting (an import error
        in the main module, killed) never closes it and the pipe never reports EOF."""
        from multiprocessing.connection import wait

        conn, sentinel = self._conn, self._process.sentinel
        while True:
            ready = wait([conn, sentinel], main_thread_slice(None))
            if conn in ready or conn.poll(0):  # answered, maybe just before it ended
                return conn.recv()
            if sentinel in ready:
                raise EOFError

    def _end(self) -> None:
        self._done = True
        self._finalizer()

    def _died(self) -> ChildError:
        self._done = True
        self._process.join(_JOIN_TIMEOUT)
        self._finalizer()
        code = _exitcode(self._process.exitcode)
        how = f"exit code {code}" if code is not None else "no exit code"
        err = ChildError(
            f"the consumer {self.name} (pid {self.pid}) died ({how}) before answering",
            exitcode=code,
            pid=self.pid,
            name=self.name,
            method=self.method,
        )
        if err.signal_name:
            err.args = (f"{err.args[0]}; killed by {err.signal_name}",)
        return err


def _exitcode(raw: Optional[int]) -> Optional[int]:
    if raw is None:
        return None
    try:
        from .._exitcodes import normalize_exitcode
    except ImportError:  # pragma: no cover
        return raw
    return normalize_exitcode(raw, windows=WINDOWS)


def _shutdown(conn: Any, process: Any) -> None:
    """Close the consumer: ask politely, then insist."""
    try:
        if process.is_alive():
            _send(conn, ("close", None))
            if conn.poll(_JOIN_TIMEOUT):
                conn.recv()
    except (EOFError, OSError, ValueError):
        pass
    try:
        conn.close()
    except OSError:
        pass
    process.join(_JOIN_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(_JOIN_TIMEOUT)
    logs = sys.modules.get("compat._child.logs")
    if logs is not None:
        logs.flush()  # its records are handled before close() returns


def _describe(exc: BaseException) -> tuple[str, str, str, Optional[BaseException]]:
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    import traceback  # only on errors: on 3.14+ it imports dataclasses, inspect, ast

    tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    try:
        pickle.loads(pickle.dumps(exc))
        obj: Optional[BaseException] = exc
    except Exception:
        obj = None
    return name, str(exc), tb, obj


def _consumer_main(
    conn: Any,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    lifeline: Any = None,
    logs: Any = None,
) -> None:
    """Runs in the child: create the generator and serve requests until it ends
    (or the producer's process is gone: ``lifeline``). ``logs``: see
    :mod:`compat._child.logs`."""
    from .outcome import start_child_side

    start_child_side(lifeline, logs)
    try:
        gen = func(*args, **kwargs)
        if not hasattr(gen, "send"):
            raise TypeError(
                f"spawn_consumer needs a generator function; {func!r} returned {type(gen).__name__}"
            )
    except BaseException as exc:
        _reply_error(conn, exc)
        return
    while True:
        try:
            op, value = conn.recv()
        except (EOFError, OSError):  # the producer went away
            gen.close()
            return
        try:
            if op == "send":
                result = gen.send(value)
            elif op == "throw":
                result = gen.throw(value)
            else:
                gen.close()
                _flush()
                _send(conn, ("closed", None))
                return
        except StopIteration as stop:
            _flush()
            _send(conn, ("stop", stop.value))
            return
        except BaseException as exc:
            _reply_error(conn, exc)
            return
        # The consumer's prints come before the producer's next line.
        _flush()
        try:
            _send(conn, ("yield", result))
        except Exception as exc:  # the yielded value does not pickle
            _reply_error(conn, exc)
            return


def _send(conn: Any, obj: Any) -> None:
    """``conn.send(obj)``, but through ``bytes``.

    ``Connection.send`` passes a memoryview of a ``BytesIO`` to its write; when the
    write fails (the other end died), the traceback keeps that view alive in a frame,
    and on CPython 3.12.0-3.12.1 the garbage collector then crashes the whole process
    collecting the two (CPython gh-111049 / gh-111211). Seen here: a consumer killed
    before ``send()`` segfaulted the caller's next ``gc.collect()``. A ``bytes``
    copy leaves no such view behind; consumer messages are small.
    """
    conn.send_bytes(_dumps(obj))


def _reply_error(conn: Any, exc: BaseException) -> None:
    _flush()
    try:
        _send(conn, ("error", _describe(exc)))
    except Exception:
        name, message, tb, _ = _describe(exc)
        _send(conn, ("error", (name, message, tb, None)))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


Consumer.__module__ = "compat"
