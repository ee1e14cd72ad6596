"""Finding the program to run, one way on every OS.

:func:`resolve_program` is a pure function of the name, the search path, PATHEXT,
the platform and a file probe, so the Windows rules are tested on Linux;
:func:`find_program` applies it to the running process.

Why (SUB-03): POSIX searches ``env['PATH']`` with ``execvpe`` rules, while
Windows' CreateProcess searches the parent's PATH (``env`` is ignored) and
appends only ``.exe``, so ``run(['npm', 'install'])`` cannot find ``npm.cmd``;
``shutil.which`` honours PATHEXT but, on 3.12.0, could return the extensionless
POSIX shim first (gh-109590), and on Windows it also searches the current
directory. compat follows one set of rules. Windows applies them in the parent
and hands CreateProcess the absolute path; on POSIX subprocess's exec already
follows them (it tries each PATH entry, as ``execvpe`` does), so compat looks
the program up only to explain a failure (no stat per PATH entry on every run):

- a name with a directory part is used as given (relative to ``cwd``);
- otherwise each PATH entry is searched in order (``env['PATH']`` when ``env`` is
  given, on every OS; an empty POSIX entry means the working directory, as for
  ``execvp``); relative entries are relative to ``cwd``;
- POSIX: the first regular file with execute permission wins; a file without it
  is skipped, and raises PermissionError only if nothing else is found (``execvp``
  does the same);
- Windows: the name is tried with each PATHEXT extension in order (unless it
  already ends with one), and only files CreateProcess can start are taken:
  ``.exe``, ``.com``, ``.bat``, ``.cmd`` (a ``.vbs``, ``.js`` or ``.py`` match
  raises an error naming its interpreter instead); the current directory is never
  searched implicitly (as in PowerShell; write ``.\\prog`` for that).
"""

from __future__ import annotations

import errno
import ntpath
import os
import posixpath
import stat
from collections.abc import Iterator, Mapping
from types import ModuleType

from .._platform import WINDOWS
from .cmdline import plan_windows_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    #: A file probe: "missing", "dir", "file" (not executable) or "exec".
    Probe = Callable[[str], str]

__all__ = [
    "DEFAULT_PATHEXT",
    "RUNNABLE_SUFFIXES",
    "explain_start_error",
    "find_program",
    "locate_for_windows",
    "probe_file",
    "program_name",
    "resolve_program",
]

#: Windows' default PATHEXT.
DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"
#: What CreateProcess can start (batch files through cmd.exe).
RUNNABLE_SUFFIXES = (".exe", ".com", ".bat", ".cmd")

#: cmd.exe builtins that people try to run as programs (SUB-05).
_CMD_BUILTINS = frozenset(
    {
        *("assoc", "call", "cd", "chdir", "cls", "copy", "del", "dir", "echo", "erase"),
        *("ftype", "md", "mkdir", "mklink", "move", "path", "popd", "pushd", "rd", "ren"),
        *("rename", "rmdir", "set", "start", "title", "type", "ver", "vol"),
    }
)


def probe_file(path: str, *, windows: bool = WINDOWS) -> str:
    """What ``path`` is on this machine, in :data:`Probe` terms."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # ValueError: embedded NUL
        return "missing"
    if stat.S_ISDIR(mode):
        return "dir"
    if windows:  # no execute bit; the suffix decides (see resolve_program)
        return "exec"
    return "exec" if os.access(path, os.X_OK) else "file"


def resolve_program(
    name: str,
    *,
    path: str,
    windows: bool,
    pathext: Optional[str] = None,
    cwd: Optional[str] = None,
    probe: Probe,
) -> str:
    """The file that running ``name`` starts, by the rules in the module docstring.

    ``path`` is the PATH string; ``pathext`` Windows' PATHEXT (None: the default);
    ``cwd`` the child's working directory (None: the caller's). The result is
    relative to the caller's working directory when ``cwd`` and the matching
    entry are both relative. Raises FileNotFoundError naming ``name`` and the
    directories searched, PermissionError when only non-executable files match
    (POSIX), or OSError(ENOEXEC) when only files CreateProcess cannot start match
    (Windows).
    """
    if not name:
        raise ValueError("the program name is empty")
    pathmod = ntpath if windows else posixpath
    suffixes = _suffixes(pathext) if windows else ("",)
    has_dir = _has_dir_part(name, windows=windows)
    dirs = [""] if has_dir else _search_dirs(path, windows=windows)
    candidates = _candidate_names(name, suffixes, windows=windows)
    if has_dir:
        _refuse_directory(name, cwd, pathmod, probe)
    not_executable: list[str] = []
    not_runnable: list[str] = []
    for full in _paths_to_try(dirs, candidates, cwd, pathmod):
        kind = probe(full)
        if kind == "exec":
            if windows and pathmod.splitext(full)[1].lower() not in RUNNABLE_SUFFIXES:
                not_runnable.append(full)
                continue
            return full
        if kind == "file":
            not_executable.append(full)
    if not_runnable:
        raise _not_runnable_error(name, not_runnable[0])
    if not_executable:
        raise _not_executable_error(name, not_executable[0])
    raise FileNotFoundError(
        errno.ENOENT, _not_found_message(name, dirs, has_dir, windows, suffixes, cwd), name
    )


def _has_dir_part(name: str, *, windows: bool) -> bool:
    """Whether ``name`` names a file by path (used as given) rather than a program
    to search PATH for."""
    if windows:
        return "/" in name or "\\" in name or ntpath.splitdrive(name)[0] != ""
    return "/" in name


def _search_dirs(path: str, *, windows: bool) -> list[str]:
    """The directories of the PATH string ``path``, in search order."""
    if windows:
        entries = [e.strip().strip('"') for e in path.split(";")]
        return [e for e in entries if e]
    # execvp rules: an empty entry (also PATH="") is the working directory.
    return [e or "." for e in path.split(":")]


def _candidate_names(name: str, suffixes: tuple[str, ...], *, windows: bool) -> list[str]:
    """The file names tried in each directory: Windows adds each PATHEXT suffix
    unless ``name`` already ends with one."""
    if not windows or ntpath.splitext(name)[1].lower() in suffixes:
        return [name]
    return [name + s for s in suffixes]


def _refuse_directory(name: str, cwd: Optional[str], pathmod: ModuleType, probe: Probe) -> None:
    """Raise IsADirectoryError if ``name``, a path, is a directory."""
    given = pathmod.join(cwd, name) if cwd is not None else name
    if probe(given) == "dir":  # on Windows the suffixed candidates would miss it
        raise IsADirectoryError(errno.EISDIR, f"cannot run {name!r}: it is a directory", given)


def _paths_to_try(
    dirs: list[str], candidates: list[str], cwd: Optional[str], pathmod: ModuleType
) -> Iterator[str]:
    """Each candidate in each directory, in search order (lazily: the search stops
    probing at the first match)."""
    for directory in dirs:
        if cwd is None:
            base = directory
        else:
            base = cwd if directory == "." else pathmod.join(cwd, directory)
        for candidate in candidates:
            yield pathmod.join(base, candidate) if base else candidate


def _not_runnable_error(name: str, found: str) -> OSError:
    """Only files CreateProcess cannot start matched (Windows)."""
    return OSError(
        errno.ENOEXEC,
        f"cannot run {name!r}: found {found!r}, but Windows cannot start a "
        f"{ntpath.splitext(found)[1]} file as a program; run it through its interpreter "
        f"(for example ['cscript', {found!r}] or [sys.executable, {found!r}])",
        found,
    )


def _not_executable_error(name: str, found: str) -> PermissionError:
    """Only files without execute permission matched (POSIX)."""
    return PermissionError(
        errno.EACCES,
        f"cannot run {name!r}: {found!r} is not executable; set its execute "
        f"permission (chmod +x) or run it through its interpreter (for example "
        f"[sys.executable, {found!r}] or ['sh', {found!r}])",
        found,
    )


def _suffixes(pathext: Optional[str]) -> tuple[str, ...]:
    items = []
    for ext in (pathext or DEFAULT_PATHEXT).split(";"):
        ext = ext.strip().lower()
        if ext:
            items.append(ext if ext.startswith(".") else "." + ext)
    return tuple(dict.fromkeys(items)) or tuple(DEFAULT_PATHEXT.lower().split(";"))


def _not_found_message(
    name: str,
    dirs: list[str],
    has_dir: bool,
    windows: bool,
    suffixes: tuple[str, ...],
    cwd: Optional[str],
) -> str:
    where = f" (relative to cwd {cwd!r})" if cwd is not None else ""
    if has_dir:
        message = f"program {name!r} not found{where}"
    elif dirs:
        message = f"program {name!r} not found on PATH{where}; searched: {os.pathsep.join(dirs)}"
    else:
        message = f"program {name!r} not found: PATH is empty"
    if windows:
        message += f"; extensions tried: {';'.join(suffixes)}"
        if name.lower() in _CMD_BUILTINS:
            message += (
                f"; {name!r} is a cmd.exe builtin, not a program: run "
                f"['cmd', '/c', {name!r}, ...] or use shell=True"
            )
    elif any(c.isspace() for c in name):
        message += (
            "; on POSIX a string is the program name, not a command line: pass a list "
            "(shlex.split) or shell=True"
        )
    return message


def _lookup(environ: Mapping[str, str], key: str) -> Optional[str]:
    upper = key.upper()
    for k, v in environ.items():  # Windows variable names are case-insensitive (SUB-15)
        if k.upper() == upper:
            return v
    return None


def find_program(
    name: str,
    *,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
) -> str:
    """The file :func:`compat.run` would start for ``name`` on this machine.

    ``env`` is the child's environment (its PATH and PATHEXT are used, on every
    OS); ``cwd`` its working directory. Raises FileNotFoundError naming the
    program and the search path, or the errors of :func:`resolve_program`.
    """
    pathext: Optional[str] = None
    if WINDOWS:
        environ = os.environ if env is None else env
        path = _lookup(environ, "PATH") or ""
        pathext = _lookup(environ, "PATHEXT")
    else:
        # The same rules as the exec itself: str or bytes keys, os.defpath when unset.
        path = ":".join(os.get_exec_path(env))
    found = resolve_program(
        name,
        path=path,
        windows=WINDOWS,
        pathext=pathext,
        cwd=cwd,
        probe=probe_file,
    )
    # A relative result is relative to our working directory; the child changes
    # to cwd before exec (POSIX) so make it absolute then.
    if cwd is not None and not os.path.isabs(found):
        found = os.path.abspath(found)
    return found


def program_name(args: Any, executable: Any, shell: bool) -> Optional[str]:
    """The program name compat looks up, or None (shell=True; a Windows string,
    which is a command line handed to CreateProcess as is: pass a list to get the
    PATHEXT search and the batch-file checks)."""
    if shell or (WINDOWS and isinstance(args, (str, bytes))):
        return None
    if executable is not None:
        return os.fsdecode(executable)
    if isinstance(args, (str, bytes, os.PathLike)):
        return os.fsdecode(args)
    return os.fsdecode(next(iter(args)))


def locate_for_windows(
    program: str, args: Any, cwd: Any, env: Optional[Mapping[Any, Any]]
) -> tuple[Any, str]:
    """(args, executable) for CreateProcess: the program resolved with PATHEXT, and
    a batch file wrapped in an explicit, checked cmd.exe command line."""
    resolved = find_program(program, env=env, cwd=None if cwd is None else os.fsdecode(cwd))
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    plan = plan_windows_command(resolved, argv, environ=os.environ)
    return plan.args, plan.executable


def explain_start_error(
    exc: OSError, program: Optional[str], cwd: Any, env: Optional[Mapping[Any, Any]]
) -> Optional[OSError]:
    """A clearer error for a program that could not be started, or None.

    POSIX leaves the PATH search to the exec, as the standard library does (its
    rules are the ones :mod:`compat._run.which` documents, and doing it in the parent
    would cost a stat per PATH entry on every run); only when the exec fails does
    compat look the program up itself, to say what was searched and what to do.
    """
    if program is None or exc.errno not in (errno.ENOENT, errno.EACCES, errno.ENOEXEC):
        return None
    try:
        found = find_program(program, env=env, cwd=None if cwd is None else os.fsdecode(cwd))
    except OSError as lookup_error:  # not found, not executable, a directory...
        return lookup_error
    if exc.errno == errno.ENOEXEC:  # also Windows' ERROR_BAD_EXE_FORMAT (WinError 193)
        return OSError(
            errno.ENOEXEC,
            f"cannot run {found!r}: it is not a program this OS can start (a script "
            "without a '#!' line, or on Windows anything but .exe/.com/.bat/.cmd); run "
            f"it through its interpreter, e.g. ['sh', {found!r}] or [sys.executable, {found!r}]",
            found,
        )
    if exc.errno == errno.ENOENT:
        return FileNotFoundError(
            errno.ENOENT,
            f"cannot run {found!r}: the file exists, so what is missing is the interpreter "
            "its '#!' line names (or, for a binary, its dynamic loader)",
            found,
        )
    return PermissionError(
        errno.EACCES,
        f"cannot run {found!r}: permission denied by the OS although the file is "
        "executable (a file system mounted noexec?)",
        found,
    )


find_program.__module__ = "compat"
