"""How a pool task's function and arguments are pickled for the workers, and what is
said when they cannot be.

- The function is checked once per call (once per ``map``, not per item) by
  :func:`prepare_function`: a function pickle cannot send by reference (a lambda, a
  function defined inside a function) and, under spawn and forkserver, a function of
  ``__main__`` the workers cannot import (defined under the main guard, or in an
  interactive session) travel by value through cloudpickle when it is installed;
  otherwise :class:`compat.SpawnError` says what to do, in the caller, before the
  task is queued. Under fork a function defined under the main guard works but fails
  on Windows and macOS: a :class:`compat.PortabilityWarning` says so.
- Each task is pickled the normal way first (the fast path: pickle, with
  multiprocessing's reducers). Only if that fails, and cloudpickle is installed, is it
  pickled again with the functions and classes pickle cannot send by reference going
  by value; everything else still goes by reference.
- An argument that cannot be sent at all fails its task with the exception pickle
  raised (the standard library's behaviour), told where it sits (``args[1]``,
  ``iterable[7]``) and what to pass instead when compat knows
  (:mod:`compat._child.hints`).

The workers need nothing from compat to read a value sent by value: cloudpickle's
output unpickles with ``pickle.loads`` wherever cloudpickle can be imported.
"""

from __future__ import annotations

import io
import pickle
import types
from multiprocessing.reduction import ForkingPickler

from .._child.hints import explain
from .._child.main_checks import describe_main, main_reference_problem
from .._child.preflight import (
    ByValue,
    by_reference,
    cloudpickle_or_none,
    known_by_reference,
    locate,
    remember_by_reference,
)
from .._errors import PortabilityWarning, SpawnError, warn_user
from . import worker as wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["encode", "prepare_function"]

_MAIN_MODULES = ("__main__", "__mp_main__")


def prepare_function(func: Any, method: Optional[str], what: str, *, eager: bool) -> Any:
    """What to pickle for ``func``: ``func`` itself, or a cloudpickle carrier when the
    workers could not get it by reference. Raises :class:`compat.SpawnError` when
    neither works. ``what`` names the call (``"Pool.map"``). ``eager``: also pickle
    a callable that is not a plain function or class now (``map``: once for all its
    chunks); otherwise its problems show when the task is pickled (:func:`encode`)."""
    if isinstance(func, (types.FunctionType, type)):
        if known_by_reference(func, method):
            return func
        sent = _check_plain(func, method or "spawn", what)
        if sent is func:
            remember_by_reference(func, method)
        return sent
    if eager:
        try:
            wire.dumps(func)
        except Exception as exc:
            return _by_value(func, exc, what)
    return func


def _check_plain(func: Any, method: str, what: str) -> Any:
    if not by_reference(func):
        return _by_value(func, None, what)
    if func.__module__ not in _MAIN_MODULES:
        return func
    problem = main_reference_problem(func)
    if problem is None:
        return func
    if method != "fork":
        if cloudpickle_or_none() is not None:
            return _by_value(func, None, what)
        raise SpawnError(f"cannot send the function given to {what} to {method} workers: {problem}")
    if cloudpickle_or_none() is None and describe_main()[0] == "file":
        warn_user(
            f"the function given to {what}: {problem} (it works with fork here, but "
            "fails on Windows and macOS)",
            PortabilityWarning,
        )
    return func


def _by_value(func: Any, error: Optional[BaseException], what: str) -> Any:
    """A carrier that sends ``func`` by value, or the SpawnError saying why not."""
    cloudpickle = cloudpickle_or_none()
    if cloudpickle is not None:
        carrier = ByValue(func)
        try:
            carrier.blob()
        except Exception as exc:
            error = exc
        else:
            return carrier
    hint = explain(func, receiver="worker") if cloudpickle is None else None
    if hint is not None:
        hint = f"it {hint}"
    else:
        name = getattr(func, "__qualname__", None) or type(func).__name__
        hint = f"{name} cannot be pickled"
        if error is not None:
            hint += f" ({type(error).__name__}: {error})"
        if cloudpickle is None:
            hint += "; define it at module level, or install cloudpickle to send it by value"
    raise SpawnError(
        f"cannot send the function given to {what} to the pool's workers: {hint}"
    ) from error


class _ByValuePickler(ForkingPickler):
    """multiprocessing's pickler, sending by value (through cloudpickle) exactly the
    functions and classes that pickle cannot send by reference."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (types.FunctionType, type)) and not by_reference(obj):
            return pickle.loads, (cloudpickle_or_none().dumps(obj, wire.PROTOCOL),)
        return NotImplemented


def _dumps_by_value(obj: Any) -> bytes:
    buf = io.BytesIO()
    _ByValuePickler(buf, wire.PROTOCOL).dump(obj)
    return buf.getvalue()


def encode(
    kind: int,
    sent_func: Any,
    args: Any,
    kwds: Any,
    *,
    what: str,
    layout: str,
    first: int = 0,
) -> bytes:
    """The pickled task ``(kind, sent_func, args, kwds)``.

    Raises :class:`compat.SpawnError` when the function cannot be sent (a callable
    :func:`prepare_function` did not pickle yet), otherwise the exception pickle
    raised for the arguments, told which argument it is. ``layout`` names the
    arguments in that message: ``"apply"`` (``args[i]``, ``kwds[k]``), ``"submit"``
    (``kwargs[k]``), ``"map"`` (``iterable[n]``, ``first`` being this chunk's first
    item) or ``"zip"`` (``iterables[i][n]``: the executor's map).
    """
    payload = (kind, sent_func, args, kwds)
    try:
        return wire.dumps(payload)
    except Exception as exc:
        error = exc
    cloudpickle = cloudpickle_or_none()
    if cloudpickle is not None:
        try:
            return _dumps_by_value(payload)
        except Exception:
            pass
    if _fails(sent_func, ""):
        _by_value(sent_func, error, what)  # raises
    raise _argument_error(error, args, kwds, layout, first)


def _fails(obj: Any, path: str) -> bool:
    try:
        wire.dumps(obj)
    except Exception:
        pass
    else:
        return False
    if cloudpickle_or_none() is None:
        return True
    try:
        _dumps_by_value(obj)
    except Exception:
        return True
    return False


def _argument_error(error: Exception, args: Any, kwds: Any, layout: str, first: int) -> Exception:
    parts: list[tuple[str, Any]]
    if layout in ("apply", "submit"):
        parts = [(f"args[{i}]", a) for i, a in enumerate(args)]
        name = "kwds" if layout == "apply" else "kwargs"
        parts += [(f"{name}[{k!r}]", v) for k, v in (kwds or {}).items()]
    elif layout == "zip":
        parts = [
            (f"iterables[{i}][{first + n}]", a)
            for n, item in enumerate(args)
            for i, a in enumerate(item)
        ]
    else:
        parts = [(f"iterable[{first + n}]", item) for n, item in enumerate(args)]
    for path, value in parts:
        if _fails(value, path):
            where, part = locate(value, path, _fails)
            hint = explain(part, receiver="worker")
            return error if hint is None else _retyped(error, f"{where} {hint}")
    return error


def _retyped(error: Exception, text: str) -> Exception:
    """``error`` with ``text`` added to its message, for the exception types pickle
    raises (so ``except TypeError`` keeps catching it); others stay as they are."""
    if type(error) not in (TypeError, AttributeError, RuntimeError, pickle.PicklingError):
        return error
    better = type(error)(f"{error}: {text}")
    better.__cause__ = error
    return better
