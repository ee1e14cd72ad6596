"""Windows command lines for batch files (.bat/.cmd), safe against cmd.exe reinterpretation.

Pure functions of their inputs (nothing here asks the running OS), so every rule
is tested on Linux.

Why this exists (SUB-04, the "BatBadBut" class, Rust CVE-2024-24576): Windows runs
a batch file through ``cmd.exe`` whatever the caller asked, and ``cmd.exe`` parses
the command line by its own rules, which ``subprocess.list2cmdline`` (MS C runtime
rules) does not escape: ``&``, ``|``, ``<``, ``>``, ``^`` and ``%VAR%`` pass through,
so an argument such as ``"x & calc"`` runs a second command.

What compat does instead, for a program whose name ends in ``.bat`` or ``.cmd``:

- it starts ``cmd.exe`` itself, with a known parser state:
  ``cmd.exe /d /e:ON /v:OFF /s /c ""C:\\path\\script.cmd" arg1 "arg 2""``
  (``/d``: no AutoRun commands; ``/v:OFF``: ``!`` is literal on that command
  line; ``/s /c``: cmd strips exactly the outer pair of quotes);
- every argument that is not made only of letters, digits, non-ASCII letters and
  ``#$*+-./:?@\\_`` (or that ends with a backslash) is put in double quotes,
  where cmd.exe treats
  ``& | < > ^ ( ) , ; =`` and spaces literally; backslashes before the closing
  quote are doubled, so the program the batch file forwards ``%*`` to (MS C
  runtime rules) gets the argument back unchanged;
- an argument cmd.exe cannot be told to take literally is refused with
  :class:`UnsafeBatchArgument`: ``%`` (variables expand even inside quotes), ``!``
  (a batch file that runs ``setlocal EnableDelayedExpansion`` itself expands
  ``!VAR!`` in the arguments it uses, quoted or not, whatever ``/v:OFF`` said),
  ``"`` (it toggles cmd's quoting), and carriage return, line feed and NUL (they
  end the command line).

A batch file that uses ``%~1`` (the argument without its quotes) in a command of
its own can still be abused by its own code; no caller-side quoting can prevent
that.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Mapping, Sequence

from .._errors import CompatError
from .._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Union

__all__ = [
    "BATCH_SUFFIXES",
    "UnsafeBatchArgument",
    "WindowsCommand",
    "batch_command_line",
    "find_comspec",
    "is_batch_file",
    "plan_windows_command",
    "quote_batch_argument",
]

BATCH_SUFFIXES = (".bat", ".cmd")

# Characters cmd.exe cannot be made to take literally in any quoting state.
_REFUSED = {
    "%": "cmd.exe expands %VARIABLES% even inside double quotes",
    # /v:OFF turns delayed expansion off for cmd.exe's own command line only; a
    # batch file may turn it back on (setlocal EnableDelayedExpansion, common in
    # build scripts), and then %1/%* is expanded again, !VAR! included.
    "!": (
        "a batch file that enables delayed expansion itself (setlocal "
        "EnableDelayedExpansion) expands !VARIABLES! in its arguments even inside "
        "double quotes, which /v:OFF cannot prevent"
    ),
    '"': "a double quote toggles cmd.exe's quoting, so the characters after it are parsed",
    "\r": "a carriage return ends the command line",
    "\n": "a line feed ends the command line",
    "\0": "NUL ends the command line",
}
# ASCII characters that are never special to cmd.exe or to the MS C runtime parser.
_PLAIN_ASCII = frozenset("#$*+-./:?@\\_")


class UnsafeBatchArgument(CompatError, ValueError):
    """An argument for a ``.bat``/``.cmd`` program that ``cmd.exe`` would reinterpret.

    Windows only in effect: only there does a batch file run through cmd.exe.
    The attributes ``argument`` (the refused text), ``index`` (its position in
    ``args``; 0 is the program) and ``program`` say which one.
    """

    __module__ = "compat"

    def __init__(self, message: str, *, program: str, index: int, argument: str) -> None:
        super().__init__(message)
        self.program = program
        self.index = index
        self.argument = argument


class WindowsCommand(Record):
    """What to hand to CreateProcess: the program file and the command line
    (a list is joined by :func:`subprocess.list2cmdline`)."""

    _fields = ("executable", "args")
    __slots__ = _fields
    executable: str
    args: Union[str, list[str]]

    def __init__(self, executable: str, args: Union[str, list[str]]) -> None:
        self._init(executable, args)


def is_batch_file(program: str) -> bool:
    """True when Windows would run ``program`` through cmd.exe (.bat/.cmd, any case)."""
    return ntpath.splitext(program)[1].lower() in BATCH_SUFFIXES


def _refusal(text: str, *, path: bool = False) -> Optional[str]:
    for char, why in _REFUSED.items():
        # A "!" in the batch file's own path is left alone: /v:OFF keeps it literal
        # on the command line, and the path is the caller's choice, not data.
        if char in text and not (path and char == "!"):
            return f"contains {char!r}: {why}"
    return None


def quote_batch_argument(arg: str, *, program: str = "", index: int = 1) -> str:
    """``arg`` as it must appear on a batch file's command line, or
    :class:`UnsafeBatchArgument` when no quoting makes it safe."""
    why = _refusal(arg)
    if why is not None:
        raise UnsafeBatchArgument(
            f"argument {index} ({arg!r}) for the batch file {program or '(batch file)'!r} "
            f"{why}. Batch files cannot receive it safely (the BatBadBut class of "
            "injection, CVE-2024-24576): call the program the batch file wraps directly "
            "(for example node.exe with the script an npm .cmd shim runs), pass the value "
            "through an environment variable or a file, or remove the character.",
            program=program,
            index=index,
            argument=arg,
        )
    # A trailing backslash is quoted too: a batch file that writes "%~1" (its own
    # quotes around the unquoted value) would otherwise end with \" and the
    # program behind it would read an escaped quote (Rust's fix does the same).
    quote = (
        arg == ""
        or arg.endswith("\\")
        or any(
            (c.isascii() and not (c.isalnum() or c in _PLAIN_ASCII)) or not c.isprintable()
            for c in arg
        )
    )
    if not quote:
        return arg
    # Inside quotes a backslash is literal to cmd.exe, but the program behind the
    # batch file splits its command line by MS C runtime rules, where backslashes
    # before a quote escape it: double the trailing ones so the closing quote
    # stays a quote. (Inner quotes were refused above.)
    tail = "\\" * (len(arg) - len(arg.rstrip("\\")))
    return f'"{arg}{tail}"'


def batch_command_line(script: str, args: Sequence[str]) -> str:
    """The command line for ``cmd.exe`` that runs ``script`` with ``args`` (not
    including the program itself), or :class:`UnsafeBatchArgument`."""
    why = _refusal(script, path=True)
    if why is None and script.endswith("\\"):
        why = "ends with a backslash, which would escape the closing quote"
    if why is not None:
        raise UnsafeBatchArgument(
            f"the batch file path {script!r} {why}; rename or move the file.",
            program=script,
            index=0,
            argument=script,
        )
    parts = [f'"{script}"']
    parts.extend(quote_batch_argument(a, program=script, index=i) for i, a in enumerate(args, 1))
    return f'cmd.exe /d /e:ON /v:OFF /s /c "{" ".join(parts)}"'


def find_comspec(environ: Mapping[str, str]) -> str:
    """The absolute path of cmd.exe: ``%ComSpec%``, else ``%SystemRoot%\\System32\\cmd.exe``
    (the order subprocess uses since gh-101283), else FileNotFoundError.

    ``environ`` is looked up case-insensitively, as Windows does.
    """
    upper = {k.upper(): v for k, v in environ.items()}
    comspec = upper.get("COMSPEC", "")
    if comspec and ntpath.isabs(comspec):
        return comspec
    system_root = upper.get("SYSTEMROOT", "")
    if system_root:
        candidate = ntpath.join(system_root, "System32", "cmd.exe")
        if ntpath.isabs(candidate):
            return candidate
    raise FileNotFoundError(
        "cannot run a batch file: cmd.exe not found because neither %ComSpec% nor "
        "%SystemRoot% is set to an absolute path in the parent's environment"
    )


def plan_windows_command(
    program: str,
    args: Sequence[Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]],
    *,
    environ: Mapping[str, str],
) -> WindowsCommand:
    """How to start the resolved ``program`` with ``args`` (``args[0]`` is the
    name the caller used) on Windows.

    A batch file gets an explicit ``cmd.exe`` command line built by
    :func:`batch_command_line`; any other program gets ``args`` unchanged, which
    subprocess joins with :func:`subprocess.list2cmdline`.
    """
    texts = [os.fsdecode(a) for a in args]
    if is_batch_file(program):
        return WindowsCommand(find_comspec(environ), batch_command_line(program, texts[1:]))
    return WindowsCommand(program, texts)
