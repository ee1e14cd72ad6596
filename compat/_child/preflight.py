"""Picklability checks run in the parent before a spawn or forkserver child starts.

The standard library finds these problems late and says little: an unpicklable
target or argument fails deep inside ``start()``, on Windows after the child
already exists (research MAIN-05), and a lock made by a fork context reaches a
spawn child as something it cannot open (START-05). Here each becomes one
:class:`SpawnError` in the parent, naming the object and its path inside the
arguments, before any process starts. A function or class of ``__main__`` met
while pickling is checked by :func:`~compat._child.main_checks.main_reference_problem`
(the other ``__main__`` checks live in :mod:`compat._child.main_checks`).

With the optional ``cloudpickle`` installed, lambdas, closures and functions of an
interactive ``__main__`` travel by value instead of failing.
"""

from __future__ import annotations

import io
import pickle
import types
from typing import Any, Callable, Optional

from .._errors import SpawnError
from .._platform import WINDOWS
from .._stdlib import inherited_types, semlock_of
from .main_checks import main_reference_problem

__all__ = [
    "check_parts",
    "check_spawnable",
]


class _NullWriter(io.RawIOBase):
    """A file that discards what is written: checks pickle without keeping a copy."""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return len(b)


class _Problem(Exception):
    """Internal: a `__main__` reference a spawned child cannot resolve."""


class _CheckPickler(pickle.Pickler):
    """Pickles to nowhere, noting what a spawned child could not rebuild."""

    def __init__(self, method: str, path: str) -> None:
        from multiprocessing.reduction import ForkingPickler

        super().__init__(_NullWriter(), pickle.HIGHEST_PROTOCOL)
        # ForkingPickler's reducers (bound methods, method descriptors...) apply
        # to spawn children, so the check uses them too.
        self.dispatch_table = ForkingPickler(io.BytesIO()).dispatch_table
        self.method = method
        self.path = path
        self.inherited = inherited_types()

    def persistent_id(self, obj: Any) -> Optional[str]:
        if self.inherited and isinstance(obj, self.inherited):
            _check_semlocks(obj, self.method, self.path)
            return "inherited"
        if getattr(type(obj), "_compat_shared_by_inheritance", False):
            _check_semlocks(obj, self.method, self.path)  # compat's queues hold locks too
            return "inherited"
        if isinstance(obj, (types.FunctionType, type)) and obj.__module__ in (
            "__main__",
            "__mp_main__",
        ):
            problem = main_reference_problem(obj)
            if problem:
                raise _Problem(problem)
        return None


def _check_semlocks(obj: Any, method: str, path: str, depth: int = 0) -> None:
    # A SemLock made by a fork context has no name on POSIX (it was unlinked at
    # once), so a spawn child cannot open it: 3.11+ raise a RuntimeError deep in
    # start(), 3.8-3.10 hand the child a dangling handle (research START-05).
    if WINDOWS or method == "fork" or depth > 3:
        return
    semlock = semlock_of(obj)
    if semlock is not None and semlock.name is None:
        raise SpawnError(
            f"{path} holds a {type(obj).__name__} created by a fork context, which a "
            f"{method} child cannot open; create it from the same context as the child, "
            f"e.g. compat.get_context({method!r}).{type(obj).__name__}()"
        )
    state = getattr(obj, "__dict__", None)
    if state:
        for value in state.values():
            if semlock_of(value) is not None or hasattr(value, "__dict__"):
                _check_semlocks(value, method, path, depth + 1)


def _locate(obj: Any, method: str, path: str, depth: int = 0) -> str:
    """The path of the first part of ``obj`` that cannot be pickled."""
    if depth > 20:
        return path
    items: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            items.append((f"{path}[{key!r}]", value))
    elif isinstance(obj, (list, tuple)):
        items = [(f"{path}[{i}]", value) for i, value in enumerate(obj)]
    elif isinstance(obj, (set, frozenset)):
        items = [(f"{path}{{{value!r}}}", value) for value in obj]
    else:
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict) and not isinstance(obj, (type, types.FunctionType)):
            items = [(f"{path}.{key}", value) for key, value in state.items()]
    for sub_path, value in items:
        if _pickle_problem(value, method, sub_path) is not None:
            return _locate(value, method, sub_path, depth + 1)
    return path


def _pickle_problem(obj: Any, method: str, path: str) -> Optional[BaseException]:
    try:
        _CheckPickler(method, path).dump(obj)
    except SpawnError:
        raise
    except _Problem as exc:
        return exc
    except Exception as exc:
        return exc
    return None


def _cloudpickle() -> Any:
    try:
        import cloudpickle
    except ImportError:
        return None
    return cloudpickle


class _ByValue:
    """Carries an object to a spawned child through cloudpickle (by value)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[bytes]]:
        import cloudpickle

        return (cloudpickle.loads, (cloudpickle.dumps(self.obj),))


def check_spawnable(
    method: str,
    target: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    what: str = "the child",
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Check that ``target(*args, **kwargs)`` can reach a ``method`` child.

    Returns the (possibly wrapped) target, args and kwargs: with cloudpickle
    installed, parts that plain pickle refuses travel by value. Raises
    :class:`SpawnError` naming the first offending object and its path. Under
    fork nothing is pickled, so nothing is checked.
    """
    if method == "fork":
        return target, args, kwargs
    parts: list[tuple[str, Any]] = [("target", target)]
    parts += [(f"args[{i}]", a) for i, a in enumerate(args)]
    parts += [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
    fixed = check_parts(method, parts, what=what)
    if not fixed:
        return target, args, kwargs
    target = fixed.get("target", target)
    args = tuple(fixed.get(f"args[{i}]", a) for i, a in enumerate(args))
    kwargs = {k: fixed.get(f"kwargs[{k!r}]", v) for k, v in kwargs.items()}
    return target, args, kwargs


def check_parts(method: str, parts: list[tuple[str, Any]], *, what: str) -> dict[str, Any]:
    """Check each (path, value) for a ``method`` child; return replacements
    (cloudpickle wrappers) by path, or raise :class:`SpawnError`."""
    cloudpickle = _cloudpickle()
    fixed: dict[str, Any] = {}
    for path, value in parts:
        problem = _pickle_problem(value, method, path)
        if problem is None:
            continue
        if cloudpickle is not None:
            try:
                cloudpickle.dumps(value)
            except Exception:
                pass
            else:
                fixed[path] = _ByValue(value)
                continue
        if isinstance(problem, _Problem):
            raise SpawnError(f"cannot start {what} with {method}: {path}: {problem}") from None
        where = _locate(value, method, path)
        hint = (
            ""
            if cloudpickle is not None
            else "; define it at module level, or install cloudpickle to send lambdas "
            "and closures by value"
        )
        raise SpawnError(
            f"cannot start {what} with {method}: {where} cannot be pickled "
            f"({type(problem).__name__}: {problem}){hint}"
        ) from problem
    return fixed
