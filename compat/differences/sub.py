"""SUB-01 to SUB-08: subprocess command lines, executable lookup, quoting and parameters."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from .._platform import WINDOWS
from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
    differs,
    not_applicable,
    supported,
)
from ._probekit import python, temp_dir

ALL = ("linux", "darwin", "win32")


def _run(args: Any, ctx: ProbeContext, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(args, capture_output=True, timeout=ctx.timeout, **kwargs)


def _probe_string_command(ctx: ProbeContext) -> Observation:
    """Run a whole command line given as one string, without shell=True."""
    line = subprocess.list2cmdline(python("-c", "pass"))
    try:
        rc = _run(line, ctx).returncode
    except FileNotFoundError:
        return differs({"string_command": "FileNotFoundError"}, "the string is a program name")
    return supported({"string_command": f"exit {rc}"}, "the string is a command line")


def _probe_shell_list(ctx: ProbeContext) -> Observation:
    """Run ['echo', 'a', 'b'] with shell=True and read what it printed."""
    # shell=True on purpose: the probe observes what it does with a list.
    proc = _run(["echo", "a", "b"], ctx, shell=True)  # noqa: S604
    out = proc.stdout.decode(errors="replace").strip()
    return affected(out != "a b", {"output": out}, f"printed {out!r}")


def _probe_lookup(ctx: ProbeContext) -> Observation:
    """Put a script on the PATH given in env= and run it by bare name."""
    name = "compat-probe-tool"
    with temp_dir() as d:
        if WINDOWS:
            path = os.path.join(d, name + ".cmd")
            text = "@echo found\r\n"
        else:
            path = os.path.join(d, name)
            text = "#!/bin/sh\necho found\n"
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)  # noqa: S103 (an executable script in a private dir)
        env = dict(os.environ, PATH=d + os.pathsep + os.environ.get("PATH", ""))
        which = shutil.which(name, path=env["PATH"]) is not None
        try:
            ran = b"found" in _run([name], ctx, env=env).stdout
            outcome = "found" if ran else "ran, no output"
        except FileNotFoundError:
            outcome = "FileNotFoundError"
    observed = {"shutil.which": which, "run": outcome}
    return affected(outcome != "found", observed, f"shutil.which: {which}; run: {outcome}")


def _probe_batbadbut(ctx: ProbeContext) -> Observation:
    """Quote cmd.exe metacharacters with subprocess.list2cmdline()."""
    line = subprocess.list2cmdline(["prog", "a&b", "%PATH%", "^|<>"])
    raw = all(ch in line for ch in "&%^|<>")
    observed = {"list2cmdline": line, "metacharacters_left": raw}
    if WINDOWS:
        return affected(raw, observed, ".bat/.cmd arguments reach cmd.exe unescaped")
    return supported(observed, "no cmd.exe here: POSIX passes arguments without a parser")


def _probe_builtin(ctx: ProbeContext) -> Observation:
    """Run ['echo', 'x'] without a shell (echo is a cmd.exe builtin on Windows)."""
    try:
        out = _run(["echo", "x"], ctx).stdout.strip()
    except FileNotFoundError:
        return differs({"echo": "FileNotFoundError"}, "echo is not a program here")
    return supported({"echo": "ran"}, f"echo is a program here (printed {out!r})")


def _probe_platform_params(ctx: ProbeContext) -> Observation:
    """Pass pass_fds (POSIX-only) and creationflags (Windows-only) to Popen."""
    observed: dict[str, str] = {}
    r, w = os.pipe()
    try:
        try:
            _run(python("-c", "pass"), ctx, pass_fds=(r,))
            observed["pass_fds"] = "ok"  # noqa: S105 (a Popen parameter, not a password)
        except (ValueError, AssertionError) as exc:
            observed["pass_fds"] = type(exc).__name__
    finally:
        os.close(r)
        os.close(w)
    try:
        _run(python("-c", "pass"), ctx, creationflags=0x00000200)
        observed["creationflags"] = "ok"
    except ValueError:
        observed["creationflags"] = "ValueError"
    refused = observed["pass_fds"] != "ok"  # noqa: S105
    return affected(refused, observed, f"Popen: {observed}")


def _probe_close_fds(ctx: ProbeContext) -> Observation:
    """Make a descriptor inheritable and see whether a child gets it by default."""
    import inspect

    default = inspect.signature(subprocess.Popen).parameters["close_fds"].default
    r, w = os.pipe()
    try:
        os.set_inheritable(w, True)
        code = (
            f"import os\ntry:\n    os.fstat({w})\n    print('open')\n"
            "except OSError:\n    print('closed')"
        )
        seen = _run(python("-c", code), ctx).stdout.decode().strip()
    finally:
        os.close(r)
        os.close(w)
    observed = {"close_fds_default": default, "inheritable_fd_in_child": seen}
    return affected(seen == "open", observed, f"an inheritable fd is {seen} in the child")


def _probe_fast_paths(ctx: ProbeContext) -> Observation:
    """Read which fast paths (posix_spawn, vfork) subprocess may use here."""
    if WINDOWS:
        return not_applicable("Windows starts programs with CreateProcess")
    from .._stdlib import subprocess_fast_paths

    observed = subprocess_fast_paths()
    fast = observed["posix_spawn"] or observed["vfork"]
    return affected(not fast, observed, f"fast paths: {observed}")


ENTRIES = (
    Difference(
        id="SUB-01",
        area="SUB",
        title="A string command without shell=True is a program name on POSIX",
        oses=("linux", "darwin"),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "On POSIX subprocess.run('ls -l') looks for a program called 'ls -l' and "
            "raises FileNotFoundError; on Windows the string is the command line and "
            "works. Code written on Windows breaks on POSIX."
        ),
        compat="compat.run does what subprocess does and documents it; pass a list.",
        handling="documents",
        sources=("docs: subprocess, Frequently Used Arguments",),
        cells=("FileNotFoundError", "FileNotFoundError", "runs"),
        probe=_probe_string_command,
    ),
    Difference(
        id="SUB-02",
        area="SUB",
        title="A list with shell=True runs only its first item on POSIX",
        oses=ALL,
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "POSIX runs /bin/sh -c args[0] and hands the rest to the shell as $0, $1...: "
            "run(['echo', 'a', 'b'], shell=True) prints an empty line. Windows joins the "
            "list into one command line for %ComSpec% /c and prints 'a b' (with no "
            "ComSpec it uses %SystemRoot%\\System32\\cmd.exe, gh-101283)."
        ),
        compat="Documented; use a string with shell=True and a list without.",
        handling="documents",
        sources=("docs: subprocess.Popen", "gh-101283"),
        cells=("first item only", "first item only", "joined"),
        probe=_probe_shell_list,
    ),
    Difference(
        id="SUB-03",
        area="SUB",
        title="Windows finds no .cmd/.bat by bare name and ignores env's PATH",
        oses=("win32",),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "CreateProcess appends only .exe and searches the parent's PATH, not "
            "env['PATH'], so run(['npm', 'install']) raises FileNotFoundError "
            "[WinError 2] although npm.cmd is on PATH. shutil.which() honours PATHEXT "
            "(3.12.0 could return the extensionless shim, gh-109590). POSIX searches "
            "env['PATH']."
        ),
        compat=(
            "compat.run resolves a bare name like a shell on every OS (PATH, PATHEXT on "
            "Windows); a missing program raises FileNotFoundError naming the program "
            "and the path searched."
        ),
        handling="handles",
        sources=("docs: subprocess.Popen", "gh-109590"),
        cells=("found via env PATH", "found via env PATH", "FileNotFoundError"),
        probe=_probe_lookup,
    ),
    Difference(
        id="SUB-04",
        area="SUB",
        title="Arguments to .bat/.cmd files are parsed by cmd.exe unescaped (BatBadBut)",
        oses=("win32",),
        python="all",
        kind="semantics",
        behaviour=(
            "Windows runs a batch file through cmd.exe whatever the arguments; "
            "list2cmdline quotes for the C runtime only and leaves &, |, <, >, ^ and "
            "%VAR% alone, so an untrusted argument can run commands (the class of Rust's "
            "CVE-2024-24576). The docs warn since gh-114539; bpo-34489 was not merged."
        ),
        compat=(
            "compat.run refuses, with a clear error, arguments that cmd.exe would "
            "reinterpret when the program is a .bat or .cmd file (a pure function)."
        ),
        handling="checks",
        sources=("docs: subprocess, Security Considerations", "gh-114539", "bpo-34489"),
        cells=("no cmd.exe", "no cmd.exe", "injectable"),
        probe=_probe_batbadbut,
    ),
    Difference(
        id="SUB-05",
        area="SUB",
        title="echo, dir, copy are cmd.exe builtins on Windows, programs on POSIX",
        oses=("win32",),
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "run(['echo', 'x']) raises FileNotFoundError on Windows (no echo.exe) and "
            "works on POSIX; builtins need shell=True or ['cmd', '/c', ...]. Programs "
            "with their own command-line parsers (msiexec, start) may split "
            "list2cmdline's quoting differently."
        ),
        compat="Documented; use Python's shutil and os instead of shell builtins.",
        handling="documents",
        sources=("docs: subprocess, Converting an argument sequence to a string on Windows",),
        cells=("programs", "programs", "builtins: FileNotFoundError"),
        probe=_probe_builtin,
    ),
    Difference(
        id="SUB-06",
        area="SUB",
        title="POSIX-only Popen parameters fail on Windows; Windows-only ones on POSIX",
        oses=ALL,
        python="3.8-3.14 (user/group/umask 3.9, pipesize 3.10, process_group 3.11)",
        kind="exception",
        behaviour=(
            "On Windows preexec_fn and user/group raise ValueError, pass_fds trips an "
            "assert (silently ignored under python -O), and umask, start_new_session, "
            "process_group and restore_signals are ignored; pipesize works only on Linux. "
            "On POSIX creationflags and startupinfo raise ValueError."
        ),
        compat="Documented; compat's own parameters mean the same on every OS.",
        handling="documents",
        sources=("docs: subprocess.Popen", "source: Lib/subprocess.py"),
        cells=("creationflags: ValueError", "creationflags: ValueError", "pass_fds: assert"),
        probe=_probe_platform_params,
    ),
    Difference(
        id="SUB-07",
        area="SUB",
        title="close_fds=True by default: passing descriptors needs pass_fds or a handle list",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "close_fds defaults to True on POSIX and on Windows (since 3.7), so even "
            "inheritable descriptors are not passed. POSIX passes chosen ones with "
            "pass_fds; Windows with STARTUPINFO(lpAttributeList={'handle_list': [...]})."
        ),
        compat="Documented; compat keeps the default.",
        handling="documents",
        sources=("docs: subprocess.Popen",),
        cells=("pass_fds", "pass_fds", "handle_list"),
        probe=_probe_close_fds,
    ),
    Difference(
        id="SUB-08",
        area="SUB",
        title="subprocess uses posix_spawn or vfork only when no option forbids it",
        oses=("linux", "darwin"),
        python="3.8+ posix_spawn; 3.10+ vfork (Linux)",
        kind="limit",
        behaviour=(
            "posix_spawn (macOS, Linux glibc >= 2.24) and vfork (Linux, 3.10+) make "
            "starting a program cheap even from a large parent, but preexec_fn, cwd, "
            "start_new_session, pass_fds and others fall back to a full fork; "
            "preexec_fn is also unsafe with threads."
        ),
        compat="compat.run keeps subprocess's fast paths (measured in bench/).",
        handling="documents",
        sources=("source: Lib/subprocess.py",),
        cells=("vfork / posix_spawn", "posix_spawn", "CreateProcess"),
        probe=_probe_fast_paths,
    ),
)
