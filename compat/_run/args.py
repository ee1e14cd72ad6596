"""Argument checks and the text policy of :func:`compat.run` / :class:`compat.Popen`.

Each check runs before any process starts and raises the exception type the
standard library uses for that mistake, with a message that says what to do.
They are pure (the OS is a parameter) except :func:`check_cwd`, which looks at
the file system.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "DEFAULT_ENCODING",
    "DEFAULT_ERRORS",
    "check_args",
    "check_cwd",
    "check_env",
    "check_group_options",
    "check_timeout",
    "text_settings",
]

#: Text mode decodes with this unless ``encoding`` is given, on every OS: not the
#: locale's code page (cp1252 on many Windows machines, while console programs
#: write the OEM page and git/node write UTF-8: SUB-09).
DEFAULT_ENCODING = "utf-8"
#: ...and with this error handler unless ``errors`` is given: an undecodable byte
#: becomes U+FFFD, visibly, and the rest of the output is kept. (The standard
#: library's strict default loses the whole output to a UnicodeDecodeError, or on
#: Windows returns None from a dead reader thread.)
DEFAULT_ERRORS = "replace"


def check_args(args: Any, *, windows: bool) -> None:
    """Reject empty or mistyped ``args`` (the standard library fails with IndexError,
    or a TypeError that does not say which argument)."""
    if isinstance(args, (str, bytes)):
        if not args.strip():
            raise ValueError(
                "args is an empty string: pass the program and its arguments as a list, "
                "e.g. ['ls', '-l']"
            )
        return
    if isinstance(args, os.PathLike):
        return
    if args is None or not hasattr(args, "__iter__"):
        raise TypeError(f"args must be a list of strings (or a string), not {type(args).__name__}")
    items = list(args)
    if not items:
        raise ValueError("args is empty: pass the program and its arguments, e.g. ['ls', '-l']")
    for i, item in enumerate(items):
        if isinstance(item, bytes) and windows:
            raise TypeError(f"args[{i}] is bytes; Windows command lines are text: pass str")
        if not isinstance(item, (str, bytes, os.PathLike)):
            raise TypeError(
                f"args[{i}] is {type(item).__name__} {item!r}; every argument must be a "
                "str (or bytes or a path): convert it with str()"
            )
    if not os.fsdecode(items[0]):
        raise ValueError("args[0], the program, is an empty string")


def check_cwd(cwd: Any) -> None:
    """Reject a ``cwd`` that is not an existing directory, naming it as the cwd (the
    standard library's error names only the path, so it reads as "program not found")."""
    if cwd is None:
        return
    path = os.fsdecode(cwd)
    if os.path.isdir(path):
        return
    if os.path.exists(path):
        raise NotADirectoryError(f"cwd {path!r} is not a directory")
    raise FileNotFoundError(f"cwd {path!r} does not exist")


def check_env(env: Any, *, windows: bool) -> None:
    """Reject an ``env`` the child could not receive, naming the offending entry."""
    if env is None:
        return
    if not isinstance(env, Mapping):
        raise TypeError(f"env must be a mapping of str to str, not {type(env).__name__}")
    kinds = "str" if windows else "str (or bytes on POSIX)"
    for key, value in env.items():
        if not isinstance(key, (str, bytes)) or (windows and isinstance(key, bytes)):
            raise TypeError(
                f"env key {key!r} is {type(key).__name__}; environment names must be {kinds}"
            )
        if not isinstance(value, (str, bytes)) or (windows and isinstance(value, bytes)):
            raise TypeError(
                f"env[{key!r}] is {type(value).__name__} {value!r}; environment values "
                f"must be {kinds}: convert it with str()"
            )
        name = os.fsdecode(key)
        # Windows keeps per-drive working directories in names such as "=C:".
        if not name or "=" in (name[1:] if windows else name):
            raise ValueError(f"env key {key!r} is not a valid environment variable name")
        if "\0" in name or "\0" in os.fsdecode(value):
            raise ValueError(f"env[{key!r}] contains a NUL character")


def check_timeout(timeout: Any) -> None:
    """None, or a number of seconds >= 0 (the standard library starts the child and
    times out at once on a negative value)."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be None or a number of seconds, not {type(timeout).__name__}"
        )
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")


def check_group_options(start_new_session: Any, process_group: Any) -> None:
    """compat owns the child's session/process group (so it can stop the whole
    tree); only the settings that keep that true are accepted."""
    if process_group is not None and process_group != 0:
        raise ValueError(
            f"process_group={process_group!r} would put the child in a group compat does "
            "not own, so its tree could not be stopped; compat.Popen starts every child in "
            "a group of its own (use subprocess.Popen for anything else)"
        )
    if not start_new_session and process_group is None:
        raise ValueError(
            "start_new_session=False is not supported: compat.Popen starts every child in "
            "a session (POSIX) or process group (Windows) of its own so that its whole "
            "tree can be stopped; pass process_group=0 to keep the controlling terminal "
            "(POSIX, Python 3.11+), or use subprocess.Popen"
        )


def text_settings(
    text: Optional[bool],
    universal_newlines: Optional[bool],
    encoding: Optional[str],
    errors: Optional[str],
) -> tuple[bool, Optional[str], Optional[str]]:
    """``(text_mode, encoding, errors)``: text mode as the standard library decides it
    (any of text, universal_newlines, encoding, errors), then
    :data:`DEFAULT_ENCODING` and :data:`DEFAULT_ERRORS` for what was not given."""
    if (
        text is not None
        and universal_newlines is not None
        and bool(text) != bool(universal_newlines)
    ):
        raise subprocess.SubprocessError(
            "Cannot disambiguate when both text and universal_newlines are supplied but "
            "different. Pass one or the other."
        )
    if not (encoding or errors or text or universal_newlines):
        return False, None, None
    return True, encoding or DEFAULT_ENCODING, errors or DEFAULT_ERRORS
