"""The checker's rules over one parsed file: one pass with scopes that knows what
names stand for (imports, ``ctx = get_context()``, ``p = Pool()``, local functions
and classes), where the ``__main__`` guard is, and which code is platform-aware.

Ids: MAIN-01 (processes started at import time), MAIN-03 (a target defined under the
guard), MAIN-05 (unpicklable targets), MAIN-10 (set_start_method at import time),
IPC-01 (qsize/get_value on macOS), and the OS rules of :mod:`.platform_rules`.
Unknown names are never findings.
"""

from __future__ import annotations

import ast
import os

from .findings import FIXES, GUARD, Finding
from .names import (
    Scope,
    aware_after_checks,
    catches_platform_errors,
    family,
    import_aliases,
    is_main_guard,
    mentions_platform,
    skipped_by_platform,
)
from .platform_rules import call_problems, name_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Optional

POOL_METHODS = {
    "map", "map_async", "imap", "imap_unordered", "starmap", "starmap_async", "apply",
    "apply_async",
}  # fmt: skip
SPAWNERS = {"spawn_child", "spawn_consumer"}
# Ids the platform-awareness of the code around a finding silences: all but MAIN-*.
PLATFORM_IDS = ("START-", "SIG-", "SUB-", "IPC-")


class Checker(ast.NodeVisitor):
    """Collects the findings of one file; ``run()`` returns them in source order."""

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.aliases = import_aliases(tree)
        self.aware_ids = aware_after_checks(tree)
        # python -m pkg does not re-run pkg/__main__.py in spawned children (MAIN-02).
        self.main_file = os.path.basename(path) == "__main__.py"
        self.scopes = [Scope("module")]
        self.attrs: dict[str, str] = {}  # "self.q" -> kind, file-wide
        self.found: dict[tuple[str, int, int, str], Finding] = {}
        self.guarded = 0  # inside the __main__ guard
        # inside a platform check, a try catching AttributeError, a function decorated
        # with one (@skipif(...), @posix_only), or a test module skipped by pytestmark
        self.aware = int(skipped_by_platform(tree))
        self.depth = 0  # function nesting: 0 runs at import time
        self.top: Optional[str] = None  # the module-level function being visited
        self.top_defs = {
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.process_classes: set[str] = set()
        self.sites: dict[str, dict[str, tuple[int, str]]] = {"MAIN-01": {}, "MAIN-10": {}}
        self.calls: dict[str, set[str]] = {}
        self.import_time_calls: list[tuple[ast.Call, str]] = []

    # results

    def run(self) -> list[Finding]:
        self.visit(self.tree)
        for call, name in self.import_time_calls:
            for rid, what in (("MAIN-01", "starts a process"), ("MAIN-10", "sets the method")):
                site = self.reach(name, self.sites[rid])
                if site is not None:
                    self.add(
                        call, rid, f"{name}() is called at import time, outside `{GUARD}`, "
                        f"and {what} ({site[1]} at line {site[0]})",
                    )  # fmt: skip
        return sorted(self.found.values(), key=lambda f: (f.line, f.col, f.id))

    def reach(self, name: str, sites: dict[str, tuple[int, str]]) -> Optional[tuple[int, str]]:
        seen, todo = {name}, [name]
        while todo:
            current = todo.pop(0)
            if current in sites:
                return sites[current]
            for callee in sorted(self.calls.get(current, ())):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        return None

    def add(self, node: ast.AST, rid: str, message: str) -> None:
        if rid.startswith(PLATFORM_IDS) and (self.aware or id(node) in self.aware_ids):
            return
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        key = (rid, line, col, message)
        self.found.setdefault(key, Finding(rid, self.path, line, col, message + ".", FIXES[rid]))

    # names

    def lookup(self, name: str) -> Optional[str]:
        for i, scope in enumerate(reversed(self.scopes)):
            if scope.kind == "class" and i > 0:
                continue  # a class body's names are not visible in its methods
            if name in scope.names:
                return scope.names[name]
        return None

    def resolve(self, node: ast.AST) -> Optional[str]:
        """The dotted name an expression stands for, or None when unknown."""
        if isinstance(node, ast.Name):
            kind = self.lookup(node.id)
            if kind is not None:
                return kind[6:] if kind.startswith("alias:") else None
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            fam, name = family(self.resolve(node.func))
            if fam in ("mp", "compat") and name == "get_context":
                return "multiprocessing" if fam == "mp" else "compat"
        return None

    def is_process_class(self, func: ast.AST) -> bool:
        fam, name = family(self.resolve(func))
        if fam in ("mp", "compat") and name == "Process":
            return True
        return (
            isinstance(func, ast.Name)
            and func.id in self.process_classes
            and self.lookup(func.id) is None
        )

    def kind_of(self, value: Optional[ast.AST]) -> str:
        """What a value is, for the names bound to it."""
        if isinstance(value, ast.Lambda):
            return "lambda"
        if isinstance(value, (ast.Name, ast.Attribute)):
            return self.receiver(value) if not self.resolve(value) else ""
        if not isinstance(value, ast.Call):
            return ""
        fam, name = family(self.resolve(value.func))
        if fam in ("mp", "compat") and name == "get_context":
            return "alias:" + ("multiprocessing" if fam == "mp" else "compat")
        if self.is_process_class(value.func):
            return "process"
        if fam in ("mp", "compat") and name == "Pool":
            return "pool"
        if fam and name == "ProcessPoolExecutor":
            return "executor"
        if fam == "mp" and name in ("Queue", "JoinableQueue"):
            return "mpqueue"
        if fam == "mp" and name in ("Semaphore", "BoundedSemaphore"):
            return "mpsem"
        if isinstance(value.func, ast.Name) and self.lookup(value.func.id) == "localclass":
            return "localobj"
        return ""

    def receiver(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.lookup(node.id) or ""
        if isinstance(node, ast.Attribute):
            return self.attrs.get(ast.unparse(node), "")
        if isinstance(node, ast.Call):
            return self.kind_of(node)
        return ""

    def bind(self, target: ast.AST, kind: str) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1].names[target.id] = kind
        elif isinstance(target, ast.Attribute):
            self.attrs[ast.unparse(target)] = kind
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind(elt, "")
        elif isinstance(target, ast.Starred):
            self.bind(target.value, "")

    # blocks and scopes

    def visit_If(self, node: ast.If) -> None:
        guard = is_main_guard(node.test) if self.depth == 0 else None
        self.visit(node.test)
        if guard is not None:
            for body, guarded in ((node.body, guard), (node.orelse, not guard)):
                self.guarded += guarded
                for stmt in body:
                    self.visit(stmt)
                self.guarded -= guarded
            return
        aware = mentions_platform(node.test)
        self.aware += aware
        for stmt in node.body + node.orelse:
            self.visit(stmt)
        self.aware -= aware

    def visit_IfExp(self, node: ast.IfExp) -> None:
        aware = mentions_platform(node.test)
        self.aware += aware
        self.generic_visit(node)
        self.aware -= aware

    def visit_Try(self, node: ast.Try) -> None:
        aware = catches_platform_errors(node)
        self.aware += aware
        for stmt in node.body:
            self.visit(stmt)
        self.aware -= aware
        for part in (node.handlers, node.orelse, node.finalbody):
            for child in part:
                self.visit(child)

    visit_TryStar = visit_Try

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope = self.scopes[-1]
        if scope.kind == "function":
            scope.names[node.name] = "nested"
        elif scope.kind == "module" and self.guarded:
            scope.names[node.name] = "guarded"
        elif scope.kind == "module":
            scope.names.pop(node.name, None)
        for child in [*node.decorator_list, node.args]:
            self.visit(child)
        outer = self.top
        self.top = node.name if scope.kind == "module" and not self.guarded else None
        aware = any(mentions_platform(d) for d in node.decorator_list)  # @skipif, @posix_only
        self.aware += aware
        self.enter("function", node.body, node.args)
        self.aware -= aware
        self.top = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        outer, self.top = self.top, None
        self.enter("function", [node.body], node.args)
        self.top = outer

    def enter(self, kind: str, body: Sequence[ast.AST], args: Optional[ast.arguments]) -> None:
        scope = Scope(kind)
        if args is not None:
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            scope.names.update((a.arg, "") for a in every if a is not None)
        self.scopes.append(scope)
        self.depth += kind == "function"
        for child in body:
            self.visit(child)
        self.depth -= kind == "function"
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        scope = self.scopes[-1]
        scope.names[node.name] = "localclass" if scope.kind == "function" else ""
        if scope.kind == "module":
            del scope.names[node.name]
            if any(self.is_process_class(base) for base in node.bases):
                self.process_classes.add(node.name)
        aware = any(mentions_platform(d) for d in node.decorator_list)
        self.aware += aware
        self.enter("class", node.body, None)
        self.aware -= aware

    # bindings

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        kind = self.kind_of(node.value)
        for target in node.targets:
            self.visit(target)
            self.bind(target, kind)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)
        self.bind(node.target, self.kind_of(node.value))

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, self.kind_of(item.context_expr))
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.bind(node.target, "")
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    # rules

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            problem = name_problem(f"{node.module}.{alias.name}") if node.level == 0 else None
            if problem is not None:
                self.add(node, problem[0], problem[1].replace("AttributeError", "ImportError"))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load):
            qualname = self.resolve(node)
            problem = name_problem(qualname) if qualname else None
            if problem is not None:
                self.add(node, *problem)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        qualname = self.resolve(node.func)
        fam, name = family(qualname)
        self.check_start(node, fam, name)
        self.check_targets(node, fam, name)
        for where, rid, message in call_problems(
            node, qualname or "", fam == "compat" and name in ("run", "Popen")
        ):
            self.add(where, rid, message)
        if isinstance(node.func, ast.Attribute):
            kind = self.receiver(node.func.value)
            if node.func.attr == "qsize" and kind == "mpqueue":
                self.add(node, "IPC-01", "multiprocessing Queue.qsize() raises "
                         "NotImplementedError on macOS")  # fmt: skip
            elif node.func.attr == "get_value" and kind == "mpsem":
                self.add(node, "IPC-01", "multiprocessing Semaphore.get_value() raises "
                         "NotImplementedError on macOS")  # fmt: skip
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.top_defs and self.lookup(func.id) is None:
            if self.depth == 0 and not self.guarded:
                self.import_time_calls.append((node, func.id))
            elif self.top is not None:
                self.calls.setdefault(self.top, set()).add(func.id)
        self.generic_visit(node)

    def check_start(self, node: ast.Call, fam: str, name: str) -> None:
        """MAIN-01 and MAIN-10 at import time; inside a module-level function, remember
        the site for the calls of that function made at import time."""
        func = node.func
        if fam == "mp" and name == "set_start_method":
            rid, what = "MAIN-10", "set_start_method()"
        elif (
            (fam in ("mp", "compat") and name in ("Pool", "Manager"))
            or (fam and name == "ProcessPoolExecutor")
            or (fam == "compat" and name in SPAWNERS)
        ):
            rid, what = "MAIN-01", f"{name}()"
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "start"
            and self.receiver(func.value) == "process"
        ):
            rid, what = "MAIN-01", "Process.start()"
        else:
            return
        if self.depth == 0 and not self.guarded:
            if self.main_file:
                return
            if rid == "MAIN-10":
                self.add(node, rid, "multiprocessing.set_start_method() runs at import time: "
                         "spawned children re-import this module and raise RuntimeError "
                         "('context has already been set')")  # fmt: skip
            else:
                self.add(node, rid, f"{what} starts a process at import time, outside "
                         f"`{GUARD}`: spawned children re-import this module and fail")  # fmt: skip
        elif self.top is not None:
            self.sites[rid].setdefault(self.top, (node.lineno, what))

    def check_targets(self, node: ast.Call, fam: str, name: str) -> None:
        """MAIN-05 and MAIN-03 for functions given to Process, Pool and executors."""

        def arg(index: int, keyword: str) -> Optional[ast.AST]:
            for k in node.keywords:
                if k.arg == keyword:
                    return k.value
            return node.args[index] if len(node.args) > index else None

        tasks = False
        if self.is_process_class(node.func):
            value = arg(1, "target")
        elif fam == "compat" and name in SPAWNERS:
            value = arg(0, "target")
        elif fam in ("mp", "compat") and name == "Pool":
            value = arg(1, "initializer")
        elif fam and name == "ProcessPoolExecutor":
            value = arg(2, "initializer")
        elif isinstance(node.func, ast.Attribute):
            kind, method = self.receiver(node.func.value), node.func.attr
            tasks = True
            if kind == "pool" and method in POOL_METHODS:
                value = arg(0, "func")
            elif kind == "executor" and method in ("submit", "map"):
                value = arg(0, "fn")
            else:
                return
        else:
            return
        if value is not None:
            self.check_picklable(value, tasks)

    def check_picklable(self, value: ast.AST, tasks: bool) -> None:
        when = (
            "tasks are pickled under every start method"
            if tasks
            else "spawn and forkserver children (the default on macOS and Windows) need it pickled"
        )
        what = None
        if isinstance(value, ast.Lambda):
            what = "a lambda"
        elif isinstance(value, ast.Name):
            kind = self.lookup(value.id)
            what = {
                "lambda": f"{value.id} is a lambda, which",
                "nested": f"{value.id} is a nested function, which",
                "localclass": f"{value.id} is a class defined in a function, which",
            }.get(kind or "")
            if kind == "guarded":
                self.add(value, "MAIN-03", f"{value.id} is defined under `{GUARD}`, so a "
                         "spawned child re-importing the script cannot find it")  # fmt: skip
        elif isinstance(value, ast.Attribute) and self.receiver(value.value) in (
            "localobj",
            "localclass",
        ):
            what = f"{ast.unparse(value)} is a method of a class defined in a function, which"
        elif (
            isinstance(value, ast.Call)
            and self.resolve(value.func) == "functools.partial"
            and value.args
        ):
            self.check_picklable(value.args[0], tasks)
        if what is not None:
            self.add(value, "MAIN-05", f"{what} cannot be pickled, and {when}")


def check_tree(path: str, tree: ast.Module) -> list[Finding]:
    """The findings of one parsed file, in source order."""
    return Checker(path, tree).run()
