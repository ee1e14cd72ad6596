"""``python -m compat check PATH...``: walk the paths, check each Python file, drop
findings silenced by ``# compat: ignore[ID]`` comments, and print them as text, JSON or
GitHub workflow commands.

Exit status: 0 when nothing is found, 1 when something is, 2 on a usage error (a path
that does not exist) or when a file cannot be read or parsed: such a file is reported
on stderr as an error (``path:line:col: error: SyntaxError: ...``), the other files are
still checked, and the status is 2 whatever else was found.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys

from .rules import check_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import TextIO

    from .findings import Finding

FORMATS = ("text", "json", "github")
#: Directory names never walked into (hidden directories and venvs are skipped too).
SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env", "build", "dist"}
IGNORE = re.compile(r"#\s*compat:\s*ignore(?:\[([^\]]*)\])?")


def python_files(path: str) -> Iterator[str]:
    """``path`` itself when it is a file; else the ``*.py`` files under it, sorted,
    skipping hidden directories (.git, .tox, .venv), venvs and ``__pycache__``."""
    if not os.path.isdir(path):
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIP_DIRS
            and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(root, name)


def suppressed(finding: Finding, lines: Sequence[str]) -> bool:
    """True when the finding's line carries ``# compat: ignore`` (every id) or
    ``# compat: ignore[ID1,ID2]`` naming its id."""
    if not 0 < finding.line <= len(lines):
        return False
    match = IGNORE.search(lines[finding.line - 1])
    if match is None:
        return False
    if match.group(1) is None:
        return True
    return finding.id in {part.strip().upper() for part in match.group(1).split(",")}


def check_file(path: str) -> list[Finding]:
    """The unsilenced findings of one file; OSError, SyntaxError or ValueError (a null
    byte) when it cannot be read or parsed."""
    with open(path, "rb") as f:
        data = f.read()
    tree = ast.parse(data, filename=path)
    lines = data.decode("utf-8", "replace").splitlines()
    return [f for f in check_tree(path, tree) if not suppressed(f, lines)]


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render(findings: Sequence[Finding], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"
    if fmt == "github":
        return "".join(
            f"::warning file={_escape(f.path, True)},line={f.line},col={f.col},"
            f"title={_escape('compat ' + f.id, True)}::{_escape(f.message + ' Fix: ' + f.fix)}\n"
            for f in findings
        )
    return "".join(
        f"{f.path}:{f.line}:{f.col}: {f.id} {f.message} (fix: {f.fix})\n" for f in findings
    )


def run_check(
    paths: Sequence[str], fmt: str = "text", out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Check ``paths`` and print the findings to ``out`` in ``fmt``; errors go to ``err``.
    Returns the exit status (0 clean, 1 findings, 2 usage or parse errors)."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        for path in missing:
            err.write(f"compat check: no such file or directory: {path}\n")
        return 2
    findings: list[Finding] = []
    broken = files = 0
    for top in paths:
        for path in python_files(top):
            files += 1
            try:
                findings.extend(check_file(path))
            except SyntaxError as exc:
                broken += 1
                where = f"{path}:{exc.lineno or 1}:{exc.offset or 1}"
                err.write(f"{where}: error: SyntaxError: {exc.msg}\n")
            except (OSError, ValueError) as exc:
                broken += 1
                err.write(f"{path}:1:1: error: cannot check it: {exc}\n")
    out.write(render(findings, fmt))
    if fmt == "text":
        flagged = len({f.path for f in findings})
        err.write(
            f"compat check: {len(findings)} finding(s) in {flagged} of {files} file(s)"
            + (f"; {broken} could not be parsed" if broken else "")
            + "\n"
        )
    return 2 if broken else 1 if findings else 0
