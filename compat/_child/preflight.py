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
import sys
import types

from .._errors import SpawnError
from .._platform import WINDOWS
from .._stdlib import inherited_types, semlock_of
from .._stdlib_child import PLAIN_TYPES
from .hints import explain, kind_of
from .main_checks import main_reference_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = [
    "ByValue",
    "by_reference",
    "check_parts",
    "check_spawnable",
    "cloudpickle_or_none",
    "known_by_reference",
    "locate",
    "remember_by_reference",
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
        reducer = self.dispatch_table.get(type(obj))
        if getattr(reducer, "__module__", None) == "multiprocessing.sharedctypes":
            # A raw shared ctypes object (RawValue, Value(lock=False)): it travels
            # only when a process starts, as the documentation's sharedctypes example
            # passes it; its reducer registered the type with ForkingPickler.
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


def locate(
    obj: Any, path: str, fails: Callable[[Any, str], bool], depth: int = 0
) -> tuple[str, Any]:
    """Where ``obj``, which ``fails``, fails: the path and value of its innermost part
    for which ``fails(part, path)`` holds, or of an outer part that
    :func:`~compat._child.hints.explain` can name (a ``threading.Event`` is named as
    one, not as the lock inside it)."""
    if depth > 20 or kind_of(obj) is not None:
        return path, obj
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
        if fails(value, sub_path):
            return locate(value, sub_path, fails, depth + 1)
    return path, obj


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


_UNSET: Any = object()
_cloudpickle_module: Any = _UNSET


def _cloudpickle() -> Any:
    # Imported once: a failed import searches the whole path again each time.
    global _cloudpickle_module
    if _cloudpickle_module is _UNSET:
        try:
            import cloudpickle
        except ImportError:
            cloudpickle = None
        _cloudpickle_module = cloudpickle
    return _cloudpickle_module


def cloudpickle_or_none() -> Any:
    """The ``cloudpickle`` module when it is installed, else None."""
    return _cloudpickle()


class ByValue:
    """Carries an object to another process through cloudpickle (by value). The
    receiving side needs only ``pickle.loads`` and an importable cloudpickle.
    Pickled once however often it is sent (a map's function, chunk after chunk)."""

    __slots__ = ("_blob", "obj")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self._blob: Optional[bytes] = None

    def blob(self) -> bytes:
        """cloudpickle's bytes for the object (raises what cloudpickle raises)."""
        if self._blob is None:
            self._blob = _cloudpickle().dumps(self.obj, pickle.HIGHEST_PROTOCOL)
        return self._blob

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[bytes]]:
        return (pickle.loads, (self.blob(),))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # a fork child gets the carrier
        return self.obj(*args, **kwargs)


def by_reference(obj: Any) -> bool:
    """Whether pickle sends ``obj`` (a function or class) by reference: its module
    and qualified name lead back to it. Lambdas, functions and classes defined inside
    a function, and objects replaced in their module do not."""
    qualname = getattr(obj, "__qualname__", None)
    module_name = getattr(obj, "__module__", None)
    if not isinstance(qualname, str) or not isinstance(module_name, str) or "<" in qualname:
        return False
    found = sys.modules.get(module_name)
    if found is None:
        return True  # pickle imports it, and so does the receiving process
    for part in qualname.split("."):
        found = getattr(found, part, _UNSET)
        if found is _UNSET:
            return False
    return found is obj


#: Functions and classes known to reach the children by reference, with the start
#: methods they were checked for (the check costs a stat of the main script, and a
#: Python call per pickled object). Only objects their module holds get here; the
#: table starts afresh past _KNOWN_MAX (a session that keeps redefining functions),
#: instead of holding weak references, whose lookup would cost each start or task
#: several times as much. Shared by spawn_child and the pools.
_known: dict[Any, set[Optional[str]]] = {}
_KNOWN_MAX = 4096


def known_by_reference(obj: Any, method: Optional[str]) -> bool:
    """Whether the function or class ``obj`` was found to reach ``method`` children
    by reference (:func:`remember_by_reference`)."""
    try:
        known = _known.get(obj)
    except TypeError:  # a class whose metaclass makes it unhashable
        return False
    return known is not None and method in known


def remember_by_reference(obj: Any, method: Optional[str]) -> None:
    """Note that ``obj`` passed the checks for ``method`` children by reference."""
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    try:
        _known.setdefault(obj, set()).add(method)
    except TypeError:  # a class whose metaclass makes it unhashable: checked each time
        pass


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
    plain = PLAIN_TYPES  # a call made only of them and a known target needs no check
    simple = all(type(a) in plain for a in args) and all(type(v) in plain for v in kwargs.values())
    if simple and known_by_reference(target, method):
        return target, args, kwargs  # checked already (a start in a loop)
    parts: list[tuple[str, Any]] = [("target", target)]
    parts += [(f"args[{i}]", a) for i, a in enumerate(args)]
    parts += [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
    fixed = check_parts(method, parts, what=what)
    if not fixed:
        if isinstance(target, (types.FunctionType, type)):
            remember_by_reference(target, method)
        return target, args, kwargs
    target = fixed.get("target", target)
    args = tuple(fixed.get(f"args[{i}]", a) for i, a in enumerate(args))
    kwargs = {k: fixed.get(f"kwargs[{k!r}]", v) for k, v in kwargs.items()}
    return target, args, kwargs


def check_parts(method: str, parts: list[tuple[str, Any]], *, what: str) -> dict[str, Any]:
    """Check each (path, value) for a ``method`` child; return replacements
    (cloudpickle carriers) by path, or raise :class:`SpawnError`."""
    fixed: dict[str, Any] = {}
    for path, value in parts:
        problem = _pickle_problem(value, method, path)
        if problem is None:
            continue
        # Only now: importing cloudpickle imports logging (and typing), and a parent
        # that has logging forwards its children's records (compat._child.logs).
        cloudpickle = _cloudpickle()
        if cloudpickle is None:
            if isinstance(problem, _Problem):
                raise SpawnError(f"cannot start {what} with {method}: {path}: {problem}") from None
            raise _unpicklable(what, method, path, value, problem, None)
        carrier = ByValue(value)
        try:
            carrier.blob()
        except Exception as exc:
            raise _unpicklable(what, method, path, value, exc, cloudpickle) from exc
        fixed[path] = carrier
    return fixed


def _unpicklable(
    what: str, method: str, path: str, value: Any, problem: BaseException, cloudpickle: Any
) -> SpawnError:
    """The error for ``value`` that neither pickle nor (when given) cloudpickle can send."""

    def fails(part: Any, at: str) -> bool:
        if cloudpickle is None:
            return _pickle_problem(part, method, at) is not None
        try:
            cloudpickle.dumps(part)
        except Exception:
            return True
        return False

    where, part = locate(value, path, fails)
    hint = explain(part, receiver="child")
    if hint is None or (cloudpickle is not None and kind_of(part) in ("lambda", "local")):
        hint = f"cannot be pickled ({type(problem).__name__}: {problem})"
        if cloudpickle is None:
            hint += "; define it at module level, or install cloudpickle to send it by value"
    else:
        hint = f"cannot be pickled: it {hint}"
    error = SpawnError(f"cannot start {what} with {method}: {where} {hint}")
    error.__cause__ = problem
    return error
