"""Helpers the probes share: bounded children that are always reaped.

Every helper that starts a process waits with a timeout and kills and reaps what is
still running when it returns or raises, so a probe never leaves a process behind.
Child targets live at module level so that spawn and forkserver children can import
them by reference.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

from .._platform import POSIX
from ._model import ProbeContext, ProbeTimeout

#: How long a probe waits for something that should happen at once but depends on a
#: busy machine (a child starting up).
GRACE = 10.0


def python(*args: str) -> list[str]:
    """A command line running this interpreter, isolated from user site-packages."""
    return [sys.executable, "-s", *args]


class Reaper:
    """Tracks children started by a probe and kills and reaps them on exit."""

    def __init__(self) -> None:
        self._procs: list[Any] = []
        self._popens: list[subprocess.Popen[Any]] = []
        self._groups: list[int] = []

    def __enter__(self) -> Reaper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, process: Any) -> Any:
        """Start a multiprocessing process and track it."""
        self._procs.append(process)
        process.start()
        return process

    def popen(self, args: Sequence[str], *, group: bool = False, **kwargs: Any) -> Any:
        """Start a subprocess and track it; ``group=True`` puts it in a new session on
        POSIX so that its descendants can be killed with it (ignored on Windows, SIG-07)."""
        if group and POSIX:
            kwargs["start_new_session"] = True
        p: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
        self._popens.append(p)
        if group and POSIX:
            self._groups.append(p.pid)
        return p

    def close(self) -> None:
        for p in self._procs:
            try:
                if p.is_alive():
                    p.kill()
                p.join(5)
            except (ValueError, AssertionError, AttributeError):
                pass  # never started (start() raised) or already closed
        killpg = getattr(os, "killpg", None)
        for pgid in self._groups:
            if killpg is not None:
                try:
                    killpg(pgid, 9)  # SIGKILL; the number is the same on every POSIX system
                except OSError:
                    pass
        for pp in self._popens:
            if pp.poll() is None:
                pp.kill()
            try:
                pp.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass  # e.g. a probe closed stdin itself; the streams are closed below
            for stream in (pp.stdin, pp.stdout, pp.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            if pp.returncode is None:
                try:
                    pp.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self._procs.clear()
        self._popens.clear()
        self._groups.clear()


def run_python(
    code: str,
    *,
    timeout: float,
    input: Optional[bytes] = None,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[str] = None,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -c code`` and capture its output; ProbeTimeout when it overruns."""
    try:
        return subprocess.run(
            [*python("-c", code), *extra],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProbeTimeout(f"python -c did not end within {timeout:g} s") from exc


@contextmanager
def temp_dir() -> Iterator[str]:
    """A temporary directory removed afterwards (errors ignored: a probe may have shown
    exactly that it cannot be removed yet)."""
    path = tempfile.mkdtemp(prefix="compat-probe-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_script(
    source: str, *args: str, timeout: float, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess[bytes]:
    """Write ``source`` to a file named like a user's script and run it."""
    with temp_dir() as d:
        path = os.path.join(d, "probe_main.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        try:
            return subprocess.run(
                [*python(path), *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                cwd=d,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            raise ProbeTimeout(f"the probe script did not end within {timeout:g} s") from exc


def last_json(out: bytes) -> Any:
    """The last line of ``out`` that parses as JSON (scripts print their verdict last)."""
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError(f"no JSON line in the output: {out[-300:]!r}")


def stderr_tail(proc: subprocess.CompletedProcess[bytes], lines: int = 1) -> str:
    text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:])


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` (not our child) has exited; kill it when ``timeout`` passes.

    POSIX only: ``os.kill(pid, 0)`` sends Ctrl+C on Windows (SIG-03), where this
    returns False at once. A zombie waiting for init to reap it counts as gone.
    """
    if not POSIX:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # the pid was reused by another user's process
            return True
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.01)
    try:
        os.kill(pid, 9)  # SIGKILL; the number is the same on every POSIX system
    except OSError:
        pass
    return False


def read_bounded(stream: Any, timeout: float, *, line: bool = True) -> Optional[bytes]:
    """readline() (or read() to EOF) from a pipe, giving up after ``timeout``."""
    box: list[bytes] = []
    reader = threading.Thread(
        target=lambda: box.append(stream.readline() if line else stream.read()), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


def wait_ready(p: Any) -> None:
    """Wait for the first line from Popen ``p``'s stdout: its child says it is ready."""
    if not read_bounded(p.stdout, GRACE):
        raise ProbeTimeout("the child did not say it was ready")


def _child_call(conn: Any, fn: Any, args: tuple[Any, ...]) -> None:
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except BaseException as exc:  # report everything, SystemExit included
        result = ("raised", f"{type(exc).__name__}: {exc}")
    conn.send(result)
    conn.close()


def call_in_child(ctx: ProbeContext, fn: Any, *args: Any) -> tuple[str, Any, Optional[int]]:
    """Run ``fn(*args)`` in a child started with ``ctx.method``.

    Returns ``(kind, value, exitcode)``: kind ``"ok"`` with the return value, or
    ``"raised"`` with ``"Type: message"``. ``fn`` must be importable (module level).
    """
    reader, writer = ctx.mp.Pipe(duplex=False)
    with Reaper() as reaper:
        p = reaper.start(ctx.mp.Process(target=_child_call, args=(writer, fn, args), daemon=True))
        writer.close()
        try:
            if not reader.poll(ctx.timeout):
                raise ProbeTimeout(f"a {ctx.method} child sent nothing in {ctx.timeout:g} s")
            kind, value = reader.recv()
        except EOFError:
            kind, value = "died", None
        finally:
            reader.close()
        p.join(ctx.timeout)
        return kind, value, p.exitcode


def start_and_join(ctx: ProbeContext, target: Any, *args: Any) -> Optional[int]:
    """Start ``target(*args)`` in a child, wait for it (bounded), return its exit code."""
    with Reaper() as reaper:
        p = reaper.start(ctx.mp.Process(target=target, args=args, daemon=True))
        p.join(ctx.timeout)
        if p.exitcode is None:
            raise ProbeTimeout(f"a {ctx.method} child did not end within {ctx.timeout:g} s")
        code: Optional[int] = p.exitcode
        return code


def script_header(method: str) -> str:
    """The start of a probe script: stdlib imports and the context for ``method``."""
    return (
        "import json, os, sys, time\n"
        "import multiprocessing as mp\n"
        f"ctx = mp.get_context({method!r})\n"
    )
