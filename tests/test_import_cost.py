"""``import compat``, and what a spawned child imports to run a target, stay cheap.

Every spawned child pays for its imports: compat imports neither :mod:`typing` (about
10 ms) nor :mod:`dataclasses`, :mod:`inspect` or :mod:`ast` at run time (annotations
are for the type checker: names only they use are imported under ``TYPE_CHECKING``),
and ``import compat`` imports no submodule but ``compat._version``. :mod:`enum` comes
with the standard library's ``signal``, ``socket`` and ``re``, which children need
anyway; compat itself imports it nowhere. Timings are not asserted (they belong to
the machine); these tests check which modules load, in fresh interpreters run with
``-S`` (a site ``.pth`` file may import typing itself and hide the cost).

Also here: the run-time stand-ins for typing's and dataclasses' classes behave as the
originals did (fields, defaults, repr, equality, pickling, ``X[int]``).
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
from tests.helpers import run_python

PACKAGE = Path(compat.__file__).resolve().parent
#: The modules compat must not import at run time.
HEAVY = ("typing", "dataclasses", "inspect", "ast")
#: What a spawned child imports from compat to run its target, as seen in children of
#: spawn_child, spawn_consumer, Process (with a Queue argument), Pool and
#: ProcessPoolExecutor, plus the policy and context modules a child that starts
#: children of its own needs.
CHILD_MODULES = (
    "compat._child.child",
    "compat._child.consumer",
    "compat._child.hints",
    "compat._child.main_checks",
    "compat._child.preflight",
    "compat._child.process",
    "compat._context",
    "compat._errors",
    "compat._exitcodes",
    "compat._native.lifeline",
    "compat._native.liveness",
    "compat._native.pipes",
    "compat._native.procinfo",
    "compat._native.threads",
    "compat._platform",
    "compat._policy",
    "compat._pool.worker",
    "compat._queue.joinable",
    "compat._queue.queue",
    "compat._queue.simple",
    "compat._record",
    "compat._stdlib",
)


def _new_modules(code: str) -> dict[str, list[str]]:
    """Run ``code`` under ``python -S``; it prints a JSON object of module lists."""
    proc = run_python("-S", "-c", code)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, list[str]] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_import_compat_loads_only_its_version() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import compat\n"
        "print(json.dumps({'new': sorted(set(sys.modules) - before)}))\n"
    )
    # Not even __future__ (a `from __future__ import` statement imports it) nor
    # importlib (compat's __getattr__ uses __import__). json imports no __future__.
    new = set(_new_modules(code)["new"])
    assert new == {"compat", "compat._version"}


def test_modules_a_child_imports_are_cheap() -> None:
    heavy = ", ".join(map(repr, HEAVY))
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"for name in {CHILD_MODULES!r}:\n"
        "    __import__(name)\n"
        f"print(json.dumps({{'heavy': sorted(set(sys.modules) - before & {{{heavy}}})}}))\n"
    )
    assert _new_modules(code)["heavy"] == []


#: Modules that assert, when imported, that they are on the OS they serve.
OTHER_OS_MODULES = {"compat._native.posix", "compat._native.guardian_main"}


def _compat_modules() -> list[str]:
    """Every module but the tools (the OS-differences registry, the command line,
    the static checker, the pytest plugin: they may use typing, dataclasses and ast)."""
    return sorted(
        ".".join(("compat", *path.relative_to(PACKAGE).with_suffix("").parts))
        for path in PACKAGE.rglob("*.py")
        if not _tool(path)
        and not _needs_dask(path)
        and path.name not in ("__main__.py", "__init__.py")
    )


def _needs_dask(path: Path) -> bool:
    """The Dask backend (the optional extra): its modules import ``distributed``, which
    imports typing itself; only its Dask-free chooser is imported by every pool."""
    parts = path.relative_to(PACKAGE).parts
    return parts == ("distributed.py",) or (parts[0] == "_dask" and path.name != "backend.py")


def _tool(path: Path) -> bool:
    """A module only the command line (``python -m compat ...``) or pytest loads."""
    return bool({"differences", "_check", "_testkit"} & set(path.parts)) or path.name in (
        "_cli.py",
        "pytest_plugin.py",
    )


def test_no_compat_module_imports_heavy_modules() -> None:
    # All in one interpreter (one each would be slow), after the standard library
    # modules they build on, so that only what compat adds counts (3.9's
    # multiprocessing.spawn imports typing through runpy and pkgutil, for instance).
    heavy = ", ".join(map(repr, HEAVY))
    code = (
        "import json, sys\n"
        "import multiprocessing.spawn, multiprocessing.resource_tracker, concurrent.futures\n"
        "import multiprocessing.forkserver, multiprocessing.managers, multiprocessing.pool\n"
        "import multiprocessing.shared_memory, multiprocessing.sharedctypes, subprocess\n"
        "before = set(sys.modules)\n"
        "skipped = []\n"
        f"for name in {_compat_modules()!r}:\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except AssertionError:\n"
        "        skipped.append(name)\n"
        f"print(json.dumps({{'heavy': sorted(set(sys.modules) - before & {{{heavy}}}),"
        " 'skipped': skipped}))\n"
    )
    seen = _new_modules(code)
    assert seen["heavy"] == []
    assert set(seen["skipped"]) <= (OTHER_OS_MODULES if sys.platform == "win32" else set())


def _runtime_imports(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The import statements of a module that run when it is imported: not those
    under `if TYPE_CHECKING:` nor in functions (those run on the paths that need them)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if getattr(node.test, "id", "") != "TYPE_CHECKING":
                yield from _runtime_imports(node.body)
            yield from _runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _runtime_imports(part)


def test_compat_source_has_no_runtime_import_of_them() -> None:
    # What the previous tests cannot see: an import of a module that something
    # else had already imported.
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if _tool(path):
            continue
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                mods = [alias.name for alias in node.names]
            else:
                assert isinstance(node, ast.ImportFrom)
                mods = [node.module or ""]
            where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
            offenders += [f"{where} {m}" for m in mods if m.split(".")[0] in (*HEAVY, "enum")]
    assert offenders == []


_CHILD_PROBE = """\
import sys

WATCH = ("typing", "dataclasses", "inspect", "ast", "enum")


def watched():
    return sorted(m for m in sys.modules if m in WATCH)


def into(queue):
    queue.put(watched())
"""

_SPAWN_CODE = """\
import json, multiprocessing
import compat
import probe_targets as t

# The standard library's own spawn child, for comparison.
q = multiprocessing.get_context("spawn").SimpleQueue()
p = multiprocessing.get_context("spawn").Process(target=t.into, args=(q,))
p.start()
stdlib = q.get()
p.join(30)
ctx = compat.get_context("spawn")
with ctx.spawn_child(t.watched) as child:
    spawn_child = child.result(timeout=60)
with ctx.Pool(1) as pool:
    pool_worker = pool.apply(t.watched)
queue = ctx.Queue()
p = ctx.Process(target=t.into, args=(queue,))
p.start()
process = queue.get(timeout=60)
p.join(30)
print(json.dumps({"stdlib": stdlib, "spawn_child": spawn_child, "pool": pool_worker,
                  "process": process}))
"""


def test_spawned_children_import_nothing_heavy(start_method: str, tmp_path: Path) -> None:
    if start_method != "spawn":
        pytest.skip("about spawn children")
    # The parent runs code given with -c: with a script as __main__, the standard
    # library's spawn child runs it through runpy.run_path, whose pkgutil imports
    # typing (3.11-3.13: functools.singledispatch's register(); 3.9: at import).
    # The child's target lives in a module that imports nothing heavy itself.
    (tmp_path / "probe_targets.py").write_text(_CHILD_PROBE, encoding="utf-8")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + _SPAWN_CODE
    seen = _new_modules(code)
    stdlib = set(seen.pop("stdlib"))
    # Only what compat adds to the standard library's child counts: its child
    # already has enum (signal, socket), and typing on 3.9 (runpy imports pkgutil).
    assert {kind: sorted(set(mods) - stdlib) for kind, mods in seen.items()} == {
        "spawn_child": [],
        "pool": [],
        "process": [],
    }
    if (3, 10) <= sys.version_info < (3, 14):  # seen there: the check above sees typing
        assert "typing" not in stdlib


# -- The stand-ins behave as what they replace -------------------------------------


def _namedtuple_pairs() -> list[tuple[str, str, list[str], dict[str, Any]]]:
    """(module, class, fields, defaults) of every typing.NamedTuple class written
    under `if TYPE_CHECKING:` for the type checker, whose fields run time builds
    with collections.namedtuple (the two lists must agree)."""
    pairs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not (isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"):
                continue
            for cls in node.body:
                if isinstance(cls, ast.ClassDef) and any(
                    getattr(b, "id", "") == "NamedTuple" for b in cls.bases
                ):
                    annotated = [
                        (s.target.id, s.value)
                        for s in cls.body
                        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                    ]
                    fields = [name for name, _ in annotated]
                    defaults = {n: ast.literal_eval(v) for n, v in annotated if v is not None}
                    parts = ("compat", *path.relative_to(PACKAGE).with_suffix("").parts)
                    pairs.append((".".join(parts), cls.name, fields, defaults))
    return pairs


NAMEDTUPLES = _namedtuple_pairs()


def test_every_namedtuple_stand_in_is_found() -> None:
    found = {(module, cls) for module, cls, _, _ in NAMEDTUPLES}
    assert found == {
        ("compat._platform", "_PlatformFactsFields"),
        ("compat._policy", "_DecisionFields"),
        ("compat._stdlib", "_PrivateNameFields"),
        ("compat._queue.registry", "_ScanFields"),
        ("compat._native.procinfo", "_BsdInfoFields"),
        ("compat._native.windows", "_JobCallsFields"),
    }


@pytest.mark.parametrize(("module", "cls", "fields", "defaults"), NAMEDTUPLES)
def test_namedtuple_fields_agree(
    module: str, cls: str, fields: list[str], defaults: dict[str, Any]
) -> None:
    runtime = getattr(importlib.import_module(module), cls)
    assert list(runtime._fields) == fields
    assert runtime._field_defaults == defaults
    public = [
        obj
        for obj in vars(sys.modules[module]).values()
        if isinstance(obj, type) and obj.__bases__ == (runtime,)
    ]
    assert len(public) == 1, f"one public class on {cls}"
    assert public[0].__slots__ == ()  # no __dict__: a plain named tuple, as before


def test_namedtuple_stand_ins_behave_like_typing_namedtuples() -> None:
    facts = compat.PlatformFacts.simulated("win32", (3, 12))
    assert isinstance(facts, tuple) and not hasattr(facts, "__dict__")
    assert repr(facts).startswith("PlatformFacts(platform='win32', python=(3, 12), ")
    changed = facts.with_(threads=3)
    assert type(changed) is compat.PlatformFacts and changed.threads == 3
    assert pickle.loads(pickle.dumps(facts)) == facts
    assert b"compat\nPlatformFacts" in pickle.dumps(facts, 0)  # by reference, public name
    decision = compat.Decision("spawn", "why")
    assert (decision.source, str(decision), decision) == (
        "policy",
        "spawn: why",
        ("spawn", "why", "policy"),
    )
    assert pickle.loads(pickle.dumps(decision)) == decision
    assert compat.PlatformFacts.__doc__ and compat.Decision.__doc__


def test_records_behave_like_frozen_dataclasses() -> None:
    from compat._cpu import CpuFacts
    from compat._queue.transport import QueuePlan, plan_for
    from compat._run.cmdline import WindowsCommand

    facts = CpuFacts(os_cpu_count=8, affinity=2)
    assert repr(facts) == (
        "CpuFacts(os_cpu_count=8, process_cpu_count=None, affinity=2, quota=None, override=None)"
    )
    assert (
        facts == CpuFacts(8, None, 2)
        and facts != CpuFacts(8)
        and hash(facts) == hash(CpuFacts(8, None, 2))
    )
    with pytest.raises(AttributeError):
        facts.quota = 1.0  # type: ignore[misc]
    assert not hasattr(facts, "__dict__")
    plan = plan_for(compat.PlatformFacts.simulated("win32"))
    smaller = plan.replace(max_packet=1024)
    assert type(smaller) is QueuePlan and smaller.max_packet == 1024 and plan.max_packet != 1024
    assert pickle.loads(pickle.dumps(plan)) == plan and copy.copy(plan) == plan
    with pytest.raises(TypeError):
        plan.replace(nope=1)
    command = WindowsCommand("cmd.exe", ["a"])
    assert command == WindowsCommand("cmd.exe", ["a"]) and command.args == ["a"]
    if sys.version_info >= (3, 13):
        assert copy.replace(command, args="x") == WindowsCommand("cmd.exe", "x")  # type: ignore[attr-defined]


def test_generic_classes_still_subscript() -> None:
    from compat._pool.futures import SignalAwareFuture
    from compat._pool.results import ApplyResult, IMapIterator, MapResult

    for cls in (
        ApplyResult,
        MapResult,
        IMapIterator,
        SignalAwareFuture,
        compat.Queue,
        compat.SimpleQueue,
    ):
        alias = cls[int]
        assert alias.__origin__ is cls and alias.__args__ == (int,)


def test_consumer_still_refuses_a_plain_function() -> None:
    from compat._child.consumer import start_consumer

    def plain() -> None:
        pass

    with pytest.raises(TypeError, match="needs a generator function"):
        start_consumer(plain)
