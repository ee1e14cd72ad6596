"""How the tests run a Python program (an example, a script, code) in a fresh interpreter.

``run_python(*args)`` runs ``sys.executable *args`` from the repository root with
``compat`` and ``tests`` importable, a timeout, and captured text output. The program
runs in a process group of its own (POSIX), so that when it times out, or leaves a
grandchild behind, the whole group is killed: the conftest reaper only sees our direct
children. ``run_example(name)`` is ``run_python`` on ``examples/<name>`` with ``-W error``;
``clean_lines(proc)`` checks that a program succeeded and said nothing on stderr.

Ending or crashing a process portably, and the exit code to expect on each OS, are in
:mod:`tests.procs`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from compat._platform import POSIX

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = ROOT / "tests" / "scripts"
TIMEOUT = 60.0
# How long to wait for the output of a program that was just killed.
_AFTER_KILL = 5.0


def python_env(method: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment, with the repository root first on PYTHONPATH.

    ``COMPAT_START_METHOD`` is passed through unless ``method`` sets it; ``env``
    overrides anything (``{"COMPAT_START_METHOD": ""}`` lets the policy choose).
    """
    environ = dict(os.environ)
    inherited = environ.get("PYTHONPATH")
    environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{inherited}" if inherited else str(ROOT)
    if method is not None:
        environ["COMPAT_START_METHOD"] = method
    environ.update(env or {})
    return environ


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the program and whatever is left in its process group (POSIX; Windows has
    no process groups to signal, and :func:`tests.procs.hard_kill` is for one process)."""
    if POSIX:
        # Safe after the reap: while any member is left, its pid (the group id)
        # cannot be given to a new process.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.returncode is None:
        proc.kill()


def run_python(
    *args: str | Path,
    method: str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``sys.executable *args`` in the repository root and return what it did.

    ``method`` sets ``COMPAT_START_METHOD`` (see :func:`python_env`); ``input`` is
    written to its stdin (otherwise stdin is empty). On timeout the program and its
    process group are killed and ``subprocess.TimeoutExpired`` is raised with the
    output so far, as ``subprocess.run`` does.
    """
    command = [sys.executable, *map(str, args)]
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=python_env(method, env),
        start_new_session=True,  # a group of its own (POSIX; Windows ignores it)
    ) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:
                out, err = proc.communicate(timeout=_AFTER_KILL)
            except subprocess.TimeoutExpired:  # something outside the group holds the pipes
                out = err = None
            raise subprocess.TimeoutExpired(command, timeout, out, err) from None
        finally:
            _kill_group(proc)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def run_example(
    name: str, *args: str, method: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` with warnings as errors (the examples must not warn)."""
    return run_python("-W", "error", EXAMPLES / name, *args, method=method, env=env)


def clean_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines a program printed, after checking that it succeeded without a word on stderr."""
    assert proc.returncode == 0, f"exit code {proc.returncode}; stderr:\n{proc.stderr}"
    assert proc.stderr == "", f"stderr:\n{proc.stderr}"
    return proc.stdout.splitlines()
