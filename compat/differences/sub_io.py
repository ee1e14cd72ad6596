"""SUB-09 to SUB-18: subprocess text, newlines, timeouts, return codes, exec errors, env,
and shell=True command lines that are POSIX shell syntax."""

from __future__ import annotations

import codecs
import locale
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .._platform import POSIX
from ._model import (
    Difference,
    Observation,
    ProbeContext,
    affected,
)
from ._probekit import (
    python,
    run_python,
    temp_dir,
    wait_gone,
)

ALL = ("linux", "darwin", "win32")
RUN_TIMEOUT = 1.0  # the timeout given to run() in the grandchild probe
GRANDCHILD_LIFE = 5.0  # the grandchild exits on its own after this, whatever happens

# The child starts a grandchild that shares its stdout and exits on stdin EOF (or after
# GRANDCHILD_LIFE seconds), then sleeps until it is killed.
_PARENT_OF_SLEEPER = (
    "import subprocess, sys, time\n"
    "code = ('import os, sys, threading; '\n"
    f"        't = threading.Timer({GRANDCHILD_LIFE}, os._exit, (0,)); t.daemon = True; '\n"
    "        't.start(); sys.stdin.read()')\n"
    "g = subprocess.Popen([sys.executable, '-c', code], stdin=sys.stdin, stdout=sys.stdout)\n"
    "sys.stderr.write(f'{g.pid}\\n')\n"
    "sys.stderr.flush()\n"
    "time.sleep(30)\n"
)


def _probe_decoding(ctx: ProbeContext) -> Observation:
    """A child writes bytes that are invalid UTF-8 and cp1252; read them with text=True."""
    encoding = codecs.lookup(locale.getpreferredencoding(False)).name
    code = "import sys; sys.stdout.buffer.write(b'ok \\x81\\x8d\\xff'); sys.stdout.flush()"
    errors: list[str] = []
    previous = threading.excepthook
    # On Windows the decoding happens in a reader thread; record its error instead of
    # letting it print (or fail a test run that treats thread errors as failures).
    threading.excepthook = lambda args: errors.append(args.exc_type.__name__)
    try:
        proc = subprocess.run(
            python("-c", code),
            capture_output=True,
            text=True,
            timeout=ctx.timeout,
            stdin=subprocess.DEVNULL,
        )
        outcome = "output lost (None)" if proc.stdout is None else "decoded"
    except UnicodeDecodeError:
        outcome = "UnicodeDecodeError"
    finally:
        threading.excepthook = previous
    observed = {"locale_encoding": encoding, "undecodable_output": outcome}
    bad = outcome.startswith("output lost") or encoding != "utf-8"
    return affected(bad, observed, f"text=True decodes with {encoding}; bad bytes: {outcome}")


def _probe_newlines(ctx: ProbeContext) -> Observation:
    """Send 'a\\nb' with text=True; the child reports the bytes it received."""
    code = "import sys; sys.stdout.write(repr(sys.stdin.buffer.read()))"
    proc = subprocess.run(
        python("-c", code), input="a\nb", text=True, capture_output=True, timeout=ctx.timeout
    )
    received = proc.stdout.strip()
    translated = "\\r\\n" in received
    return affected(translated, {"child_received": received}, f"the child read {received}")


def _probe_timeout_grandchild(ctx: ProbeContext) -> Observation:
    """run(timeout=1) a child whose grandchild holds stdout; time how long run() takes."""
    r, w = os.pipe()
    start = time.monotonic()
    grandchild = None
    try:
        try:
            subprocess.run(
                python("-c", _PARENT_OF_SLEEPER),
                stdin=r,
                capture_output=True,
                timeout=RUN_TIMEOUT,
                start_new_session=POSIX,
            )
            outcome = "returned"
        except subprocess.TimeoutExpired as exc:
            outcome = "TimeoutExpired"
            pid = (exc.stderr or b"").split(b"\n")[0].strip()
            grandchild = int(pid) if pid.isdigit() else None
        elapsed = time.monotonic() - start
    finally:
        os.close(w)  # the grandchild reads stdin: EOF makes it exit
        os.close(r)
    if grandchild is not None:
        wait_gone(grandchild, GRANDCHILD_LIFE)
    waited = elapsed > RUN_TIMEOUT + 2.5
    detail = f"{outcome} after {elapsed:.1f} s with timeout={RUN_TIMEOUT:g}"
    return affected(waited, {"waited_for_grandchild": waited, "outcome": outcome}, detail)


def _probe_return_codes(ctx: ProbeContext) -> Observation:
    """Run children that exit with 256 and -1; read their return codes."""
    codes = {
        f"exit({v})": run_python(f"import sys; sys.exit({v})", timeout=ctx.timeout).returncode
        for v in (256, -1)
    }
    return affected(codes != {"exit(256)": 0, "exit(-1)": 255}, codes, f"return codes {codes}")


def _exec_outcome(args: list[str], ctx: ProbeContext) -> str:
    try:
        out = subprocess.run(
            args, capture_output=True, timeout=ctx.timeout, stdin=subprocess.DEVNULL
        ).stdout
    except OSError as exc:
        code = getattr(exc, "winerror", None) or exc.errno
        return f"{type(exc).__name__} {code}"
    return "ran" if b"ran" in out else "no output"


def _probe_exec_errors(ctx: ProbeContext) -> Observation:
    """Execute a script with a shebang and one without."""
    with temp_dir() as d:
        observed = {}
        for name, text in (
            ("shebang", f"#!{sys.executable}\nprint('ran')\n"),
            ("no_shebang", "print('ran')\n"),
        ):
            path = os.path.join(d, f"{name}.py")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)  # noqa: S103 (an executable script in a private dir)
            observed[name] = _exec_outcome([path], ctx)
    failed = observed["shebang"] != "ran"
    return affected(failed, observed, f"scripts executed directly: {observed}")


def _probe_arg_length(ctx: ProbeContext) -> Observation:
    """Pass one argument of 30,000 and one of 131,072 characters to a child."""
    observed = {}
    for n in (30_000, 131_072):
        try:
            run_python("pass", timeout=ctx.timeout, extra=("x" * n,))
            observed[str(n)] = "ok"
        except OSError as exc:
            code = getattr(exc, "winerror", None) or exc.errno
            observed[str(n)] = f"{type(exc).__name__} {code}"
    return affected(observed["131072"] != "ok", observed, f"argument lengths: {observed}")


def _probe_empty_env(ctx: ProbeContext) -> Observation:
    """Start Python with env={} (no SYSTEMROOT on Windows)."""
    rc = run_python("pass", timeout=ctx.timeout, env={}).returncode
    return affected(rc != 0, {"returncode": rc}, f"python with env={{}} exited with {rc}")


def _probe_asyncio(ctx: ProbeContext) -> Observation:
    """Create an asyncio loop and add a signal handler to it."""
    import asyncio

    loop = asyncio.new_event_loop()
    observed: dict[str, Any] = {"loop": type(loop).__name__}
    sig = getattr(signal, "SIGUSR2", signal.SIGINT)
    try:
        previous = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(previous)
    except ValueError:  # not the main thread: signal handlers cannot be set at all
        previous = None
    try:
        loop.add_signal_handler(sig, lambda: None)
        loop.remove_signal_handler(sig)
        observed["add_signal_handler"] = "ok"
    except NotImplementedError:
        observed["add_signal_handler"] = "NotImplementedError"
    except (RuntimeError, ValueError):
        observed["add_signal_handler"] = "main thread only"
    finally:
        loop.close()
        if previous is not None:
            signal.set_wakeup_fd(previous)
    observed["child_watchers"] = hasattr(asyncio, "get_child_watcher")
    missing = observed["add_signal_handler"] == "NotImplementedError"
    return affected(missing, observed, f"asyncio here: {observed}")


def _probe_posix_shell_syntax(ctx: ProbeContext) -> Observation:
    """Run `echo $VAR; echo next` with shell=True and read what the shell printed."""
    env = dict(os.environ, COMPAT_PROBE_VAR="expanded")
    out = subprocess.run(  # noqa: S602 (a constant command: the shell is what is probed)
        "echo $COMPAT_PROBE_VAR; echo next",  # compat: ignore[SUB-18]
        shell=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=ctx.timeout,
        env=env,
    ).stdout.decode("utf-8", "replace")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    understood = lines == ["expanded", "next"]
    return affected(not understood, {"printed": lines}, f"the shell printed {lines}")


ENTRIES = (
    Difference(
        id="SUB-09",
        area="SUB",
        title="text=True decodes with the ANSI code page on Windows, and errors lose the output",
        oses=("win32",),
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "text=True uses the locale encoding: UTF-8 on most Linux and macOS systems, "
            "the ANSI page (cp1252) on Windows, while console programs write the OEM "
            "page or UTF-8: mojibake (gh-105312). A decode error raises "
            "UnicodeDecodeError on POSIX; on Windows it kills communicate()'s reader "
            "thread and run() returns stdout=None with return code 0."
        ),
        compat=(
            "compat.run decodes text=True as UTF-8 with a documented error handler "
            "unless encoding says otherwise, and a decode error never loses the output."
        ),
        handling="handles",
        sources=("docs: subprocess, Frequently Used Arguments", "gh-105312", "bpo-32370"),
        cells=("UTF-8; raises", "UTF-8; raises", "cp1252; output lost"),
        probe=_probe_decoding,
    ),
    Difference(
        id="SUB-10",
        area="SUB",
        title="Text input is sent with \\r\\n on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="silent",
        behaviour=(
            "Output \\r\\n and \\r become \\n in text mode everywhere. Input differs: "
            "POSIX communicate(input=str) encodes it as is, Windows writes it through a "
            "text wrapper that turns \\n into \\r\\n."
        ),
        compat="Documented; use bytes when exact input matters.",
        handling="documents",
        sources=("docs: subprocess.Popen.communicate", "docs: io.TextIOWrapper"),
        cells=("sent as is", "sent as is", "\\n -> \\r\\n"),
        probe=_probe_newlines,
    ),
    Difference(
        id="SUB-11",
        area="SUB",
        title="run(timeout=...) kills only the child, and on Windows waits for its grandchildren",
        oses=ALL,
        python="3.8-3.14 (gh-87512 open)",
        kind="hang",
        behaviour=(
            "On timeout run() kills the direct child. POSIX then returns promptly "
            "(bpo-37424) but the grandchildren live on. Windows calls communicate() "
            "without a timeout after the kill, which waits until every grandchild "
            "holding stdout or stderr exits."
        ),
        compat=(
            "compat.run kills the whole tree on timeout and returns within the timeout "
            "plus a small bound, even when a grandchild holds the pipes."
        ),
        handling="handles",
        sources=("gh-87512", "bpo-37424", "docs: subprocess.run"),
        cells=("returns; tree survives", "returns; tree survives", "waits for grandchildren"),
        probe=_probe_timeout_grandchild,
    ),
    Difference(
        id="SUB-12",
        area="SUB",
        title="Return codes: 0-255 and -N on POSIX, 32-bit and NTSTATUS on Windows",
        oses=ALL,
        python="3.8-3.14",
        kind="exit-code",
        behaviour=(
            "POSIX keeps 8 bits (exit(256) -> 0, exit(-1) -> 255) and reports a signal "
            "as -N. Windows keeps a 32-bit unsigned code (exit(-1) -> 4294967295) and "
            "crashes show as NTSTATUS values such as 3221225477 (0xC0000005) or "
            "3221225786 (0xC000013A, Ctrl+C)."
        ),
        compat="Documented; compat's Child exit codes map Windows crash statuses to signals.",
        handling="documents",
        sources=("docs: subprocess.Popen.returncode",),
        cells=("8-bit; -N", "8-bit; -N", "32-bit; NTSTATUS"),
        probe=_probe_return_codes,
    ),
    Difference(
        id="SUB-13",
        area="SUB",
        title="Scripts cannot be executed directly on Windows: shebangs mean nothing",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "POSIX runs an executable script through its shebang; without one, exec "
            "fails with OSError [Errno 8] Exec format error, without the exec bit with "
            "PermissionError. Windows raises OSError [WinError 193] '%1 is not a valid "
            "Win32 application' for any .py or shell script."
        ),
        compat=(
            "compat.run raises a clear error for a program it cannot execute; run "
            "scripts as [sys.executable, path]."
        ),
        handling="checks",
        sources=("docs: subprocess, Exceptions",),
        cells=("shebang runs; else errno 8", "shebang runs; else errno 8", "WinError 193"),
        probe=_probe_exec_errors,
    ),
    Difference(
        id="SUB-14",
        area="SUB",
        title="Command-line limits: 128 KiB per argument on Linux, 32,767 characters on Windows",
        oses=("linux", "win32"),
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "Linux limits a single argument to 131,072 bytes (MAX_ARG_STRLEN): OSError "
            "[Errno 7] Argument list too long although ARG_MAX is larger. Windows limits "
            "the whole command line to 32,767 characters (8,191 through cmd.exe). macOS "
            "allows about 1 MiB in total."
        ),
        compat="Documented; send large data through stdin, files or a Queue.",
        handling="documents",
        sources=("docs: subprocess.Popen",),
        cells=("128 KiB per argument", "~1 MiB total", "32,767 total"),
        probe=_probe_arg_length,
    ),
    Difference(
        id="SUB-15",
        area="SUB",
        title="An env without SYSTEMROOT breaks Windows programs; names are case-insensitive",
        oses=("win32",),
        python="3.8-3.14",
        kind="crash",
        behaviour=(
            "A minimal env={...} without SYSTEMROOT makes a Python child abort with "
            "'Fatal Python error: _Py_HashRandomization_Init' (bpo-20614) and other "
            "programs fail oddly. Windows variable names are case-insensitive and "
            "os.environ stores them upper-cased."
        ),
        compat="Documented; build child environments as {**os.environ, **changes}.",
        handling="documents",
        sources=("docs: subprocess.Popen", "bpo-20614"),
        cells=("env={} fine", "env={} fine", "needs SYSTEMROOT"),
        probe=_probe_empty_env,
    ),
    Difference(
        id="SUB-16",
        area="SUB",
        title="Console windows flash up when a GUI program starts console programs on Windows",
        oses=("win32",),
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "A pythonw.exe or windowed frozen parent that starts a console program gets "
            "a console window flashing up unless it passes "
            "creationflags=CREATE_NO_WINDOW or a STARTUPINFO hiding it; shell=True "
            "already hides it."
        ),
        compat="Documented.",
        handling="documents",
        sources=("docs: subprocess.CREATE_NO_WINDOW", "docs: subprocess.STARTUPINFO"),
        cells=("no consoles", "no consoles", "window flashes"),
        no_probe_reason="a flashing window can be seen on a desktop, not observed by a program",
    ),
    Difference(
        id="SUB-17",
        area="SUB",
        title="asyncio: no signal handlers on Windows; child watchers gone in 3.14",
        oses=ALL,
        python="3.8-3.14",
        kind="exception",
        behaviour=(
            "On Windows only the Proactor loop (the default) runs subprocesses, and "
            "loop.add_signal_handler() raises NotImplementedError on every loop. On "
            "POSIX child watchers were deprecated in 3.12 and removed in 3.14."
        ),
        compat="Documented; compat's helpers are synchronous.",
        handling="documents",
        sources=("docs: asyncio, Platform Support", "docs: What's New In Python 3.14, asyncio"),
        cells=("signal handlers ok", "signal handlers ok", "NotImplementedError"),
        probe=_probe_asyncio,
    ),
    Difference(
        id="SUB-18",
        area="SUB",
        title="shell=True means cmd.exe on Windows: $VAR, ';', quotes and ~ are POSIX syntax",
        oses=("win32",),
        python="all",
        kind="semantics",
        behaviour=(
            "shell=True (and os.system, os.popen, subprocess.getoutput) runs /bin/sh -c on "
            "POSIX and %ComSpec% /c (cmd.exe) on Windows, which leaves $VAR, ${VAR}, $(...) "
            "and backticks unexpanded, takes ';' and single quotes literally, knows no ~ "
            "and no export: 'echo $HOME; ls' prints '$HOME; ls'. &&, ||, |, > and 2>&1 "
            "work in both."
        ),
        compat=(
            "Documented; `python -m compat check` flags such string literals. Pass a list "
            "without shell=True and expand variables and ~ in Python."
        ),
        handling="documents",
        sources=("docs: subprocess.Popen", "docs: os.system"),
        cells=("/bin/sh", "/bin/sh", "cmd.exe: taken literally"),
        probe=_probe_posix_shell_syntax,
    ),
)
