"""``compat.run``: :func:`subprocess.run` on a :class:`compat.Popen`, whose timeout
stops the whole process tree and returns on time.

:func:`run` checks its own arguments, asks for the pipes ``input`` and
``capture_output`` need, and runs the program in a :class:`compat.Popen`
(:mod:`compat._run.popen`), so everything that class does (the process tree, the
program search, batch-file checks, UTF-8 text) applies. What is run()'s alone is
the timeout: it kills the tree and then reads what was already written for at most
:data:`DRAIN_SECONDS`, abandoning pipes that something outside the tree holds open.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping

from .._platform import WINDOWS
from .args import check_timeout
from .popen import Popen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["DRAIN_SECONDS", "run"]

#: After a timeout kills the tree, how long run() keeps reading output that was
#: already written. Something outside the tree (a daemon that left it, or on
#: Windows a process that broke away from the job) may hold the pipes open
#: forever; run() then abandons them instead of hanging (gh-87512, SUB-11).
DRAIN_SECONDS = 0.5


def run(
    args: Any,
    *,
    input: Any = None,
    capture_output: bool = False,
    timeout: Optional[float] = None,
    check: bool = False,
    text: Optional[bool] = None,
    encoding: Optional[str] = None,
    errors: Optional[str] = None,
    cwd: Any = None,
    env: Optional[Mapping[Any, Any]] = None,
    shell: bool = False,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """Run a program and wait for it, like :func:`subprocess.run`.

    Returns :class:`subprocess.CompletedProcess`; raises
    :class:`subprocess.TimeoutExpired` and, with ``check=True``,
    :class:`subprocess.CalledProcessError`. Other keyword arguments go to
    :class:`compat.Popen`. Different on purpose, on every OS:

    - **A timeout kills the whole process tree** (the child's process group on
      POSIX, its Job Object on Windows), and ``run()`` returns within the timeout
      plus about :data:`DRAIN_SECONDS` even when a process outside the tree holds
      stdout/stderr open. ``TimeoutExpired.stdout``/``.stderr`` hold the bytes
      captured until the kill (bytes even with ``text=True``, as the standard
      library documents; on Windows it gave str or nothing). The timeout also
      holds while the program does not read ``input`` (Windows writes it from a
      thread; see :meth:`compat.Popen.communicate`).
    - When ``run()`` returns, nothing the program started is left running, except
      processes that left the tree on purpose and cannot be found: on POSIX one
      that left the process group (``setsid``) when no parent link leads to it
      any more (its parent exited; or, outside Linux, psutil is not installed),
      on Windows one started with ``CREATE_BREAKAWAY_FROM_JOB``.
    - **The program is found the same way everywhere**: ``env['PATH']`` when
      ``env`` is given, PATHEXT on Windows (``npm`` finds ``npm.cmd``); a missing
      program raises FileNotFoundError naming it and the directories searched.
    - **Batch files are safe**: arguments of a ``.bat``/``.cmd`` program that
      cmd.exe would reinterpret raise :class:`compat.UnsafeBatchArgument`.
    - **Text is predictable**: ``text=True`` decodes UTF-8 with
      ``errors="replace"`` unless ``encoding``/``errors`` say otherwise, not with
      the locale's code page. (A Python child on Windows writes the ANSI code page
      to pipes unless it runs with ``PYTHONUTF8=1``; compat does not change the
      child's environment.)
    - **Opt-in: the tree dies with this process** with ``die_with_parent=True``,
      however this process dies (SIGKILL included): see :class:`compat.Popen`.
    - **Bad input raises before anything starts**: empty ``args``, a ``cwd`` that
      is not a directory, ``env`` entries that are not strings, a negative
      ``timeout``, ``input`` together with ``stdin``. A string with
      ``shell=False`` is, as in the standard library, the program name on POSIX
      (FileNotFoundError with a hint) and the command line on Windows.
    """
    if timeout is not None:
        check_timeout(timeout)
    _request_pipes(kwargs, input, capture_output)
    with Popen(
        args, text=text, encoding=encoding, errors=errors, cwd=cwd, env=env, shell=shell, **kwargs
    ) as process:
        stdout, stderr = _communicate_or_stop_tree(process, input, timeout)
        retcode = process.wait()  # already reaped by communicate(); no waiting here
        if check and retcode:
            raise subprocess.CalledProcessError(retcode, process.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, retcode, stdout, stderr)


run.__module__ = "compat"


def _request_pipes(popen_kwargs: dict[str, Any], input: Any, capture_output: bool) -> None:
    """Set the pipes ``input`` and ``capture_output`` need in ``popen_kwargs``,
    refusing the combinations the standard library refuses."""
    if input is not None:
        if popen_kwargs.get("stdin") is not None:
            raise ValueError(
                "stdin and input arguments may not both be used: input= is written to "
                "a pipe compat creates as the child's stdin; drop one of them"
            )
        popen_kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        if popen_kwargs.get("stdout") is not None or popen_kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        popen_kwargs["stdout"] = subprocess.PIPE
        popen_kwargs["stderr"] = subprocess.PIPE


def _communicate_or_stop_tree(
    process: Popen, input: Any, timeout: Optional[float]
) -> tuple[Any, Any]:
    """``process.communicate()``; on timeout, stop the tree before TimeoutExpired
    propagates."""
    try:
        return process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _stop_after_timeout(process, exc)
        raise


def _stop_after_timeout(process: Popen, exc: subprocess.TimeoutExpired) -> None:
    """run()'s timeout: kill the tree, collect what was written, never hang."""
    process.kill_tree()
    subprocess.Popen.wait(process)
    stdout, stderr = _drain_windows(process) if WINDOWS else _drain_posix(process)
    exc.stdout = _join(exc.stdout, stdout)
    exc.stderr = _join(exc.stderr, stderr)


def _drain_posix(process: Popen) -> tuple[Optional[bytes], Optional[bytes]]:
    # subprocess's POSIX communicate() put the output read so far into the
    # TimeoutExpired; read what the tree wrote after that, until EOF or
    # DRAIN_SECONDS, then close the pipes whoever else holds them.
    streams = [s for s in (process.stdout, process.stderr) if s is not None and not s.closed]
    chunks: dict[int, list[bytes]] = {s.fileno(): [] for s in streams}
    deadline = time.monotonic() + DRAIN_SECONDS
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, 32768)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    out = err = None
    if process.stdout is not None and not process.stdout.closed:
        out = b"".join(chunks[process.stdout.fileno()])
    if process.stderr is not None and not process.stderr.closed:
        err = b"".join(chunks[process.stderr.fileno()])
    for stream in (process.stdin, *streams):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # BrokenPipeError flushing stdin
                pass
    return out, err


def _drain_windows(process: Popen) -> tuple[Optional[bytes], Optional[bytes]]:
    # The reader threads of the standard library's Windows communicate() hold
    # the pipes; with the job terminated they reach EOF at once, and
    # Popen._readerthread made them return bytes. The standard library's
    # communicate(), not compat's, so that they stay bytes. stdin is not touched:
    # compat's communicate() gave it to a feeder thread, which closes it once the
    # killed child's end of the pipe is gone.
    try:
        out, err = super(Popen, process).communicate(timeout=DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        # A process outside the job holds a pipe. Closing it now would block
        # on the lock the reader thread holds inside read(), so abandon the
        # pipes to those daemon threads, which close them at EOF.
        process.stdout = process.stderr = None
        return None, None
    return out, err


def _join(first: Optional[bytes], more: Optional[bytes]) -> Optional[bytes]:
    if first is None and more is None:
        return None
    return (first or b"") + (more or b"")
