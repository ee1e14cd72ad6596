"""Contracts of the package's shape: one OS boundary, one home for private standard-library
names, empty subpackage __init__ files, small modules, one context resolver, public
names that say they are compat's, and contexts whose objects all use their method."""

from __future__ import annotations

import ast
import multiprocessing
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
from compat._child.consumer import start_consumer
from compat._context import resolve_context
from compat._stdlib import PRIVATE_NAMES
from tests import targets

PACKAGE = Path(compat.__file__).resolve().parent
TIMEOUT = 60

#: Modules that only compat._native may import (or load with import_module/__import__).
OS_MODULES = {"_winapi", "msvcrt", "fcntl", "ctypes"}
#: The standard library's exceptions, re-exported for `import compat as multiprocessing`.
STDLIB_REEXPORTS = {"AuthenticationError", "BufferTooShort", "ProcessError", "TimeoutError"}
#: Underscored names that the standard library's documentation describes (not
#: internals that may change without notice).
DOCUMENTED_PRIVATES = {"sys._getframe", "sys._xoptions", "os._exit"}
MAX_LINES = 450
#: The modules that may touch private standard-library names (each listed in
#: compat._stdlib.PRIVATE_NAMES): the second one is what compat's own children import.
STDLIB_HOMES = {"_stdlib.py", "_stdlib_child.py"}
#: Top-level standard-library package names (3.10+ lists them; 3.9 gets the ones
#: compat uses).
STDLIB = set(getattr(sys, "stdlib_module_names", ())) or {
    "concurrent", "copyreg", "io", "multiprocessing", "os", "pickle", "select", "signal",
    "socket", "subprocess", "sys", "threading",
}  # fmt: skip


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"), rel)


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every absolute module an AST imports, including import_module("x") and
    __import__("x") with a constant name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                yield node.lineno, first.value


def _guard_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if`/`assert` tests: where a type checker's platform
    guard (``if sys.platform == "win32":``) lives."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.Assert)):
            inside.update(id(n) for n in ast.walk(node.test))
    return inside


def test_os_boundary() -> None:
    problems = []
    for rel, tree in _modules():
        native = rel.startswith("_native/")
        for lineno, module in _imported_modules(tree):
            if module.split(".")[0] in OS_MODULES and not native:
                problems.append(f"{rel}:{lineno} imports {module} (only compat/_native may)")
        guards = _guard_nodes(tree) if native else set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
                continue
            spelled = f"{node.value.id}.{node.attr}"
            if (
                spelled in ("sys.platform", "os.name")
                and rel != "_platform.py"
                and id(node) not in guards
            ):
                problems.append(
                    f"{rel}:{node.lineno} reads {spelled} (use compat._platform's flags)"
                )
            if spelled == "signal.SIGKILL" and not native:
                problems.append(f"{rel}:{node.lineno} uses signal.SIGKILL (absent on Windows)")
    assert problems == []


def test_the_boundary_check_catches_violations(tmp_path: Path) -> None:
    # The scan above must be able to fail: feed it the spellings it forbids.
    tree = ast.parse(
        "import fcntl\nfrom ctypes import windll\nimportlib.import_module('_winapi')\n"
        "__import__('msvcrt')\nimportlib.import_module('.sibling', __name__)\n"
    )
    found = {module for _, module in _imported_modules(tree)}
    assert {"fcntl", "ctypes", "_winapi", "msvcrt"} <= found
    assert ".sibling" not in found
    guarded = ast.parse("if sys.platform == 'win32':\n    x = sys.platform\n")
    attrs = [n for n in ast.walk(guarded) if isinstance(n, ast.Attribute)]
    guards = _guard_nodes(guarded)
    assert [id(a) in guards for a in attrs] == [True, False]


def _known_private_names() -> set[str]:
    """The underscored names compat._stdlib stands for, plus ``_name`` (a context's,
    read through the public get_start_method() instead)."""
    names = {"_name"}
    for entry in PRIVATE_NAMES.values():
        if entry.kind == "attr" and "." not in entry.path:
            # A module-level name (threading._shutdown): never an attribute of an
            # object, so only its spellings on a module count (the check below), not
            # compat's own attributes of that name (an executor's self._shutdown).
            continue
        names.update(re.findall(r"\b_[A-Za-z]\w*", entry.path))
    return {n for n in names if not n.startswith("__")}


def _private_stdlib_uses(rel: str, tree: ast.AST) -> Iterator[str]:
    """Where a module touches a private standard-library name: imports one, spells an
    underscored attribute of a standard-library module, or spells (as an attribute
    or a getattr/hasattr/setattr string) a name compat._stdlib stands for."""
    known = _known_private_names()
    modules: set[str] = set()  # local names bound to standard-library modules
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in STDLIB:
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in STDLIB:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and node.module != "__future__":
                    yield f"{rel}:{node.lineno} imports {node.module}.{alias.name}"
                modules.add(alias.asname or alias.name)  # may be a submodule
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            spelled = f"{getattr(root, 'id', '?')}.{node.attr}"
            if node.attr in known or (
                isinstance(root, ast.Name)
                and root.id in modules
                and not node.attr.startswith("__")
                and spelled not in DOCUMENTED_PRIVATES
            ):
                yield f"{rel}:{node.lineno} uses {ast.unparse(node)}"
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name, owner = node.args[1].value, ast.unparse(node.args[0])
            if name in known or (
                owner in modules
                and name.startswith("_")
                and not name.startswith("__")
                and f"{owner}.{name}" not in DOCUMENTED_PRIVATES
            ):
                yield f"{rel}:{node.lineno} looks up {owner}.{name} with {node.func.id}()"


def test_private_stdlib_names_only_in_stdlib_module() -> None:
    problems = [
        problem
        for rel, tree in _modules()
        if rel not in STDLIB_HOMES
        for problem in _private_stdlib_uses(rel, tree)
    ]
    assert problems == []


def test_the_private_name_check_catches_violations() -> None:
    code = (
        "import subprocess\n"
        "from multiprocessing import util, pool as _p\n"
        "from concurrent.futures.process import _RemoteTraceback\n"
        "import multiprocessing.reduction\n"
        "x = multiprocessing.reduction.ForkingPickler._extra_reducers\n"
        "y = getattr(ctx, '_name', None)\n"
        "z = _p.Pool._repopulate_pool\n"
        "w = getattr(subprocess, '_USE_VFORK', False)\n"
        "v = popen._handle\n"
        "self._args = 1\n"  # a name compat._stdlib stands for, even on compat's own object
    )
    found = list(_private_stdlib_uses("x.py", ast.parse(code)))
    assert len(found) == 7, found


def test_subpackage_inits_are_empty() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name == "differences":
            continue  # the public registry (compat.differences) is that package
        assert init.read_text().strip() == "", f"{init} must stay empty (import cost)"


def test_modules_stay_small() -> None:
    big = {
        rel: n
        for rel, n in (
            (p.relative_to(PACKAGE).as_posix(), len(p.read_text().splitlines()))
            for p in PACKAGE.rglob("*.py")
        )
        if n > MAX_LINES
    }
    assert big == {}, f"split these modules (over {MAX_LINES} lines): {big}"


def test_public_names_say_they_are_compats() -> None:
    wrong = {}
    for name in compat.__all__:
        if name == "__version__":
            continue
        obj = getattr(compat, name)
        if name in STDLIB_REEXPORTS:
            assert obj is getattr(multiprocessing, name)
            continue
        if getattr(obj, "__module__", None) != "compat":
            wrong[name] = getattr(obj, "__module__", None)
    assert wrong == {}


@pytest.mark.parametrize(
    "make",
    [
        lambda bad: compat.Pool(1, context=bad),
        lambda bad: compat.ProcessPoolExecutor(1, mp_context=bad),
        lambda bad: compat.Queue(ctx=bad),
        lambda bad: compat.JoinableQueue(ctx=bad),
        lambda bad: compat.SimpleQueue(ctx=bad),
        lambda bad: start_consumer(targets.start_method_seen_gen, ctx=bad),
    ],
    ids=["Pool", "ProcessPoolExecutor", "Queue", "JoinableQueue", "SimpleQueue", "consumer"],
)
def test_every_ctx_argument_goes_through_one_resolver(make: Any) -> None:
    with pytest.raises(TypeError, match=r"compat Context .* or a multiprocessing context"):
        make("spawn")


def test_resolve_context(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    mp_ctx = multiprocessing.get_context(start_method)
    assert resolve_context(ctx) is ctx.mp_context is mp_ctx
    assert resolve_context(mp_ctx) is mp_ctx
    assert resolve_context(None) is compat.get_context().mp_context
    with pytest.raises(TypeError, match=r"^context must be"):
        resolve_context(object(), argument="context")


def _semlock_method(obj: Any) -> str:
    # A lock made by a fork context is unlinked at once (no name); spawn and
    # forkserver locks keep a name a child can open. That tells fork from the others.
    return "fork" if obj._semlock.name is None else "non-fork"


def test_every_object_a_context_makes_uses_its_method(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    me = os.getpid()
    kind = "fork" if start_method == "fork" else "non-fork"
    targets.PARENT_MARK = object()  # only fork children inherit it
    try:
        assert ctx.Process._start_method == start_method
        for lock_like in (ctx.Lock(), ctx.RLock(), ctx.Semaphore(), ctx.BoundedSemaphore()):
            assert _semlock_method(lock_like) == kind
        assert _semlock_method(ctx.Event()._cond._lock) == kind
        assert _semlock_method(ctx.Value("i", 1).get_lock()) == kind
        assert _semlock_method(ctx.Array("i", 2).get_lock()) == kind
        for q in (ctx.Queue(), ctx.JoinableQueue(), ctx.SimpleQueue()):
            assert _semlock_method(q._rlock) == kind
            q.close()
        child = ctx.spawn_child(targets.start_method_seen, me)
        assert child.result(timeout=TIMEOUT) == start_method
        with ctx.Pool(1) as pool:
            assert pool.apply(targets.start_method_seen, (me,)) == start_method
        with ctx.ProcessPoolExecutor(1) as ex:
            assert ex.submit(targets.start_method_seen, me).result(TIMEOUT) == start_method
        consumer = ctx.spawn_consumer(targets.start_method_seen_gen, me)
        try:
            assert next(consumer) == start_method
        finally:
            consumer.close()
        with ctx.Manager() as manager:
            assert manager._process._start_method == start_method
    finally:
        targets.PARENT_MARK = None
