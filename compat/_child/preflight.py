"""Checks run in the parent before a spawn or forkserver child starts.

The standard library finds these problems late and says little: an unpicklable
argument fails deep inside ``start()`` (on Windows after the child already
exists), a function from an interactive ``__main__`` fails *in the child* with
``AttributeError: Can't get attribute``, and a script without the
``if __name__ == "__main__":`` guard fails in the child with a RuntimeError about
"bootstrapping" (research MAIN-01, MAIN-03, MAIN-04, MAIN-05). Here each becomes
one :class:`SpawnError` in the parent, naming the object and its path inside the
arguments, before any process starts.

With the optional ``cloudpickle`` installed, lambdas, closures and functions of an
interactive ``__main__`` travel by value instead of failing.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any, Callable, Optional

from .._errors import PortabilityWarning, SpawnError, warn_user
from .._platform import WINDOWS
from .._stdlib import inherited_types, semlock_of

__all__ = [
    "check_main_guard",
    "check_parts",
    "check_spawnable",
    "describe_main",
    "main_file_fixup",
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


def describe_main() -> tuple[str, Optional[str]]:
    """How ``__main__`` was started: (kind, file). kind is ``"file"``,
    ``"package"`` (``python -m pkg``), or ``"interactive"`` (REPL, ``-c``, stdin,
    notebooks)."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", "").endswith(".__main__"):
        return "package", file
    if not file or not os.path.exists(file):
        return "interactive", None
    return "file", file


@contextlib.contextmanager
def main_file_fixup(method: str) -> Iterator[None]:
    """While a spawn or forkserver child starts, hide a ``__main__.__file__`` that
    names no file (``python - < script.py`` sets ``"<stdin>"``).

    The standard library would make every child re-run that "file" and die with
    FileNotFoundError (research MAIN-04); without it, the child simply skips
    re-running ``__main__``, which is right for a program that came from stdin.
    """
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if method == "fork" or main is None or not file or os.path.exists(file):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = file


def main_reference_problem(obj: Any) -> Optional[str]:
    """Why a spawned child could not find ``obj`` (defined in ``__main__``), or None."""
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    kind, file = describe_main()
    what = "class" if isinstance(obj, type) else "function"
    if kind == "interactive":
        return (
            f"{what} {name!r} is defined in an interactive __main__ (REPL, notebook, "
            "python -c or stdin), which a spawned child cannot import; move it into a "
            ".py module and import it, or install cloudpickle"
        )
    if kind == "package":
        return (
            f"{what} {name!r} is defined in a package's __main__.py, which spawned "
            "children do not re-run; move it into another module of the package"
        )
    assert file is not None
    top = name.split(".", 1)[0]
    if "<locals>" in name:
        return None  # pickle itself refuses local objects, with a clear path
    defined = _top_level_names(file)
    if defined is not None and top not in defined:
        return (
            f"{what} {name!r} is defined inside `if __name__ == '__main__':` in "
            f"{os.path.basename(file)}, which spawned children skip; define it at "
            "module level"
        )
    return None


_AST_CACHE: dict[tuple[str, float], tuple[set[str], list[tuple[int, int]]]] = {}


def _parse_main(file: str) -> Optional[tuple[set[str], list[tuple[int, int]]]]:
    """Top-level names defined outside main guards, and the guards' line ranges."""
    try:
        key = (file, os.path.getmtime(file))
    except OSError:
        return None
    cached = _AST_CACHE.get(key)
    if cached is not None:
        return cached
    try:
        with open(file, "rb") as f:
            tree = ast.parse(f.read(), file)
    except (OSError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    guards: list[tuple[int, int]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and _is_main_guard(node.test):
                end = getattr(node, "end_lineno", None) or node.lineno
                guards.append((node.body[0].lineno, end))
                visit(node.orelse)
            elif isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ in (
                "TryStar",
            ):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []) or [])
            elif isinstance(node, ast.ExceptHandler):
                visit(node.body)
            else:
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        names.add(sub.name)
                        break
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        names.add(sub.id)
                    elif isinstance(sub, ast.alias):
                        names.add((sub.asname or sub.name).split(".")[0])

    visit(tree.body)
    _AST_CACHE[key] = (names, guards)
    return names, guards


def _top_level_names(file: str) -> Optional[set[str]]:
    parsed = _parse_main(file)
    return None if parsed is None else parsed[0]


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


def check_main_guard(method: str, what: str) -> None:
    """Refuse (spawn, forkserver) or warn (fork) when a child is started from the
    top level of a script outside ``if __name__ == "__main__":``.

    Spawned children re-run the script's top level; an unguarded start there is
    what makes the standard library fail in the child (research MAIN-01). Under
    fork it works, but the same script fails on Windows and macOS, hence the
    :class:`PortabilityWarning`.
    """
    kind, file = describe_main()
    if kind != "file" or file is None:
        return
    main_globals = vars(sys.modules["__main__"])
    frame: Optional[types.FrameType] = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    if frame is None:
        return
    line = frame.f_lineno
    parsed = _parse_main(file)
    if parsed is None:
        return
    if any(start <= line <= end for start, end in parsed[1]):
        return
    script = os.path.basename(file)
    message = (
        f"{script} starts {what} at line {line} outside `if __name__ == '__main__':`; "
        "spawned children re-run the script's top level, so put that code under the guard"
    )
    if method == "fork":
        warn_user(
            message + " (it works with fork here, but fails on Windows and macOS)",
            PortabilityWarning,
        )
        return
    raise SpawnError(message)


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
