"""Checks on the ``__main__`` module, run in the parent before a spawn or forkserver
child starts.

A spawned child re-runs the parent's main script as ``__mp_main__``, and the
standard library finds what goes wrong there late, in the child: a script
without the ``if __name__ == "__main__":`` guard fails with a RuntimeError about
"bootstrapping" (research MAIN-01), a function defined under that guard or in an
interactive ``__main__`` fails with ``AttributeError: Can't get attribute``
(MAIN-03, MAIN-04), and a ``__main__.__file__`` that names no file makes every
child die with FileNotFoundError (MAIN-04).

Here: :func:`describe_main` (how ``__main__`` was started),
:func:`main_reference_problem` (why a child could not find an object of
``__main__``; :mod:`compat._child.preflight` asks it while pickling),
:func:`check_main_guard` (a start outside the guard: refused, or a warning under
fork) and :func:`main_file_fixup` (hides a ``__file__`` that names no file while
a child starts).
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator

from .._errors import PortabilityWarning, SpawnError, warn_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from typing import Any, Optional

__all__ = [
    "check_main_guard",
    "describe_main",
    "main_file_fixup",
    "main_reference_problem",
]


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
    if "<" in name:
        # A lambda, or an object defined inside a function: no name leads to it in
        # any process, guard or not (compat._child.hints says what to do instead).
        return None
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
    defined = _top_level_names(file)
    if defined is not None and top not in defined:
        return (
            f"{what} {name!r} is defined inside `if __name__ == '__main__':` in "
            f"{os.path.basename(file)}, which spawned children skip; define it at "
            "module level, or install cloudpickle to send it by value"
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
    import ast  # here only: parsing is the one use, and ast takes ms to import

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
    import ast  # already loaded by _parse_main, the caller

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
