"""What a name or attribute chain in a checked file stands for, from its imports and
simple assignments: ``mp.Process`` -> ``multiprocessing.Process``, ``ctx.Pool`` after
``ctx = mp.get_context("spawn")`` -> ``multiprocessing.Pool``; and whether an ``if``
test or ``try`` makes the code under it platform-aware."""

from __future__ import annotations

import ast
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

#: Module roots whose process API the checker knows, by family.
FAMILIES = {"multiprocessing": "mp", "compat": "compat", "concurrent": "cf"}
#: Spellings in an ``if`` test that make its branches platform-aware.
PLATFORM_SPELLINGS = {"sys.platform", "os.name", "platform.system", "sys.getwindowsversion"}
PLATFORM_FLAG = re.compile(r"(?i)(windows|win32|posix|linux|darwin|macos|^is_?win|^on_?win)")
#: Exceptions whose handler makes a ``try`` body platform-aware.
PLATFORM_EXCEPTIONS = {
    "AttributeError", "ImportError", "ModuleNotFoundError", "NotImplementedError",
}  # fmt: skip


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted name it was imported as, from every import in the file."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted(node: ast.AST) -> Optional[str]:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def family(qualname: Optional[str]) -> tuple[str, str]:
    """``("mp", "Pool")`` for ``multiprocessing.pool.Pool``; ``("", "")`` for names of
    other modules and for the thread-backed ``dummy`` modules."""
    if not qualname:
        return "", ""
    parts = qualname.split(".")
    fam = FAMILIES.get(parts[0], "")
    if not fam or "dummy" in parts or len(parts) < 2:
        return "", ""
    if fam == "cf" and parts[1] != "futures":
        return "", ""
    return fam, parts[-1]


def mentions_platform(node: ast.AST) -> bool:
    """True when an expression asks which platform this is: ``sys.platform``,
    ``os.name``, ``platform.system()``, ``hasattr(...)``/``getattr(...)``, or a name
    like ``WINDOWS``/``IS_POSIX``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            spelled = dotted(sub)
            if spelled and ".".join(spelled.split(".")[-2:]) in PLATFORM_SPELLINGS:
                return True
            if PLATFORM_FLAG.search(sub.attr):
                return True
        elif isinstance(sub, ast.Name) and (
            sub.id in ("hasattr", "getattr") or PLATFORM_FLAG.search(sub.id)
        ):
            return True
    return False


def skipped_by_platform(tree: ast.Module) -> bool:
    """True for a test module whose ``pytestmark`` asks which platform this is."""
    return any(
        isinstance(n, ast.Assign)
        and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
        and mentions_platform(n.value)
        for n in tree.body
    )


def catches_platform_errors(node: ast.Try) -> bool:
    """True when a ``try`` has a bare ``except`` or catches AttributeError/ImportError."""
    for handler in node.handlers:
        if handler.type is None:
            return True
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for name in names:
            spelled = dotted(name)
            if spelled and spelled.split(".")[-1] in PLATFORM_EXCEPTIONS:
                return True
    return False


def is_main_guard(test: ast.AST) -> Optional[bool]:
    """True for ``__name__ == "__main__"`` (either order, or inside an ``and``), False
    for ``__name__ != "__main__"``, None for any other test."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return True if any(is_main_guard(v) is True for v in test.values) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    if not (has_name and has_main):
        return None
    if isinstance(test.ops[0], ast.Eq):
        return True
    if isinstance(test.ops[0], ast.NotEq):
        return False
    return None


class Scope:
    """Names bound in one module, class or function body: name -> kind
    (``alias:<module>``, ``pool``, ``executor``, ``process``, ``mpqueue``, ``mpsem``,
    ``localobj``, ``lambda``, ``nested``, ``localclass``, ``guarded``, or ``""`` for a
    name rebound to something unknown)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: dict[str, str] = {}


def _terminates(body: list[ast.stmt]) -> bool:
    last = body[-1] if body else None
    if isinstance(last, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return (dotted(last.value.func) or "").endswith("exit")
    return False


def aware_after_checks(tree: ast.AST) -> set[int]:
    """ids of the nodes that follow, in the same block, a platform check that leaves
    the block (``if os.name == "nt": return``) or an ``assert`` on the platform."""
    aware: set[int] = set()
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            seen = False
            for stmt in block:
                if seen:
                    aware.update(id(n) for n in ast.walk(stmt))
                elif isinstance(stmt, ast.If) and mentions_platform(stmt.test):
                    seen = _terminates(stmt.body) or _terminates(stmt.orelse)
                elif isinstance(stmt, ast.Assert) and mentions_platform(stmt.test):
                    seen = True
    return aware
