"""POSIX shell syntax that cmd.exe (``shell=True`` on Windows) does not understand."""

from __future__ import annotations

import re

EXPORT = re.compile(r"(?:^|[;&|(]\s*)export\s+[A-Za-z_]\w*=")
WORD_BREAK = " \t|&;()<>="


def posix_only_syntax(command: str) -> list[str]:
    """The POSIX-only constructs in a shell command line, in order of appearance, each
    named once: ``$VAR``, ``$(...)``, backticks, ``;`` between commands, single
    quotes, ``~/`` and ``export``. Operators both shells share (``&&``, ``||``, ``|``,
    ``>``, ``2>&1``) are not reported, nor anything inside single quotes except the
    quotes themselves."""
    found: list[str] = []

    def note(what: str) -> None:
        if what not in found:
            found.append(what)

    quote = ""  # the open quote character, if any
    word_start = True
    i = 0
    while i < len(command):
        c = command[i]
        nxt = command[i + 1 : i + 2]
        if quote == "'":
            if c == "'":
                quote = ""
        elif c == "\\" and nxt:
            i += 1  # a POSIX escape: the next character is literal
        elif c == '"':
            quote = "" if quote == '"' else '"'
        elif c == "$" and nxt == "(":
            note("$(...)")
        elif c == "$" and (nxt == "{" or nxt == "_" or nxt.isalpha()):
            note("$VAR")
        elif c == "`":
            note("backticks")
        elif quote:
            pass
        elif c == ";":
            note("';' between commands")
        elif c == "'" and word_start and "'" in command[i + 1 :]:
            note("single quotes")
            quote = "'"
        elif c == "~" and word_start and nxt in ("/", ""):
            note("~/")
        word_start = not quote and c in WORD_BREAK
        i += 1
    if EXPORT.search(command):
        note("export")
    return found
