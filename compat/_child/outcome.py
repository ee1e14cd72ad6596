"""The child's side of ``spawn_child``: call the target, send one message describing
the outcome (its value, its exception, or its ``sys.exit`` code), exit with the code
the standard library would give. Every start method's child runs this (fork: the fast
path of :mod:`compat._child.fastfork`; spawn: :mod:`compat._child.boot`; forkserver and
the others: :func:`child_main` inside a ``multiprocessing`` Process); the parent's side
is :class:`compat._child.child.Child`.

Kept light: a spawned child imports it before the target, so it imports nothing else
of compat, and ``multiprocessing`` only to pickle what plain pickle cannot.
"""

from __future__ import annotations

import sys

from .._stdlib_child import PLAIN_TYPES, c_pickle

pickle: Any = c_pickle()  # pickle's dumps and loads, without pickle.py's imports
#: The highest protocol (``pickle.HIGHEST_PROTOCOL``), as dumps() understands it.
HIGHEST = -1

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["EXIT", "OK", "RAISED", "call_and_report", "child_main", "describe", "name_of"]

OK, RAISED, EXIT = "ok", "raised", "exit"


def dumps(obj: Any) -> bytes:
    """``obj`` pickled as multiprocessing sends it (ForkingPickler's reducers), or with
    plain pickle where multiprocessing is not loaded: no object of it can exist then,
    and no reducer was registered (a lean spawn child need not import it to answer)."""
    if "multiprocessing.reduction" not in sys.modules:
        return bytes(pickle.dumps(obj, HIGHEST))
    from multiprocessing.reduction import ForkingPickler

    return bytes(ForkingPickler.dumps(obj, HIGHEST))


def start_child_side(lifeline: Any, logs: Any) -> None:
    """What every child compat starts through ``multiprocessing`` does first: take the
    signals its start left blocked (compat._native.threads), arm its ``lifeline`` and
    forward its log records (``logs``, :mod:`compat._child.logs`). A Ctrl+C that came
    while it started ends it quietly (-2)."""
    from .._native.threads import exit_interrupted, unblock_async_signals

    try:
        unblock_async_signals()
        if lifeline is not None:
            lifeline.arm()
    except KeyboardInterrupt:
        exit_interrupted()
    if logs is not None:
        from .logs import install

        install(logs)


def child_main(
    conn: Any,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    lifeline: Any = None,
    logs: Any = None,
) -> None:
    """Runs in the child: call the target, send one message describing the outcome.
    ``lifeline`` ends the child as soon as the parent process is gone; ``logs``
    forwards its log records to the parent (:mod:`compat._child.logs`)."""
    start_child_side(lifeline, logs)
    try:
        call_and_report(conn.send_bytes, target, args, kwargs)
    finally:
        conn.close()


OK_NONE = pickle.dumps((OK, None), HIGHEST)


def call_and_report(
    send: Callable[[bytes], None],
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Call the target and ``send`` one message: its value, its exception, or its
    ``sys.exit`` code. Raises SystemExit with the child's exit code when it did not
    return (1 after an exception: the parent reports the traceback, so the child does
    not print it too)."""
    try:
        value = target(*args, **kwargs)
    except SystemExit as exc:
        code = exc.code
        send(dumps((EXIT, code if isinstance(code, int) or code is None else 1)))
        raise
    except BaseException as exc:
        send(dumps((RAISED, *describe(exc))))
        # Exit code 1 as the standard library gives an uncaught exception.
        sys.exit(1)
    try:
        if value is None:
            payload = OK_NONE
        elif type(value) in PLAIN_TYPES:  # pickle.dumps: cheaper to set up
            payload = pickle.dumps((OK, value), HIGHEST)
        else:
            payload = dumps((OK, value))
    except BaseException as exc:  # a __reduce__ calling sys.exit() included
        import traceback

        tb = traceback.format_exc()
        message = (
            f"the return value of {name_of(target)} could not be pickled to send it "
            f"back: {type(exc).__name__}: {exc}"
        )
        send(dumps((RAISED, "pickle.PicklingError", message, tb, None)))
        sys.exit(1)
    send(payload)


def describe(exc: BaseException) -> tuple[str, str, str, Optional[bytes]]:
    import traceback

    cls = type(exc)
    qualname = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    blob: Optional[bytes]
    try:
        data = dumps(exc)
        pickle.loads(data)  # must also rebuild, or the parent gets nothing useful
        blob = data
    except Exception:
        blob = None
    return qualname, str(exc), tb, blob


def name_of(target: Any) -> str:
    return str(getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target)))
