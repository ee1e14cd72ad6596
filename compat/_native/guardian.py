"""``compat.Popen(..., die_with_parent=True)`` on POSIX: a guardian process that
SIGKILLs the registered process trees as soon as this process is gone.

One guardian per process, started on first use by :class:`Guardian`: a small
Python program (``guardian_main.py``, run as ``sys.executable -I -S`` by path, or
as ``-c`` source when compat is vendored inside a zip file; it imports neither
compat nor ``site``). It gets two pipe read ends (``pass_fds``):

- the read end of this process's *lifeline* pipe (:mod:`compat._native.lifeline`),
  whose write end only this process holds: end-of-file exactly when it is gone,
  whatever killed it (SIGKILL included: the kernel closes a dead process's
  descriptors);
- the read end of a *registration* pipe, whose write end only this process holds
  too (non-inheritable, and closed in forked children by an at-fork handler).
  Each die_with_parent child is a session leader (``pgid == pid``); this process
  writes ``+PGID`` when it starts, ``~PGID`` when compat has reaped it (the
  guardian then keeps the group only while members remain: what the child left
  running in it is still part of the tree, and the id cannot be reused before
  the group is empty) and ``-PGID`` after :meth:`compat.Popen.close_tree`.

At end-of-file of either pipe the guardian reads what is still buffered, sends
SIGKILL to every group it holds (``killpg``) and exits: it dies with this process
by construction. It runs in a session of its own (a terminal's Ctrl+C or hang-up
reaches this process's group, not the guardian; it also ignores SIGINT), with
``/`` as its directory and ``/dev/null`` as stdin/stdout/stderr, so it holds none
of this process's pipes or directories. It is not a descendant of any child, so
:meth:`compat.Popen.kill_tree` never hunts it. If it dies (killed by someone), the
next die_with_parent start (or reap) starts another, which gets every tree whose
child has not been reaped yet; trees whose child was reaped before are no longer
covered then.

Why not ``PR_SET_PDEATHSIG`` (Linux; macOS has no equivalent): it must be set in
the child between fork and exec, i.e. with ``preexec_fn``, which turns off
CPython's vfork fast path and is unsafe with threads; it fires when the *thread*
that started the child exits (a ``ThreadPoolExecutor`` worker calling
``compat.run`` would kill its child at the end of the thread), not the process;
and it reaches only the child, not the grandchildren it starts.

Costs, measured on Linux (CPython 3.11, 2 cores): the first die_with_parent start
in a process waits for the guardian to be ready, about 9 ms once (``-I -S``, and
``_signal`` rather than ``signal``, keep it short); afterwards a start costs about
0.1 ms more than without the flag (one short pipe write, and the guardian waking
to read it), and a reap and ``close_tree()`` one write each. The child itself is
started exactly as without the flag: strace shows vfork for the guardian and for
every child. The guardian is one more process per parent (one thread, about 3 MB
of private memory). The tree is gone about 3-5 ms after the parent is SIGKILLed.

Limits: descendants that left the child's process group (``setsid``, daemons) are
not reached, as :meth:`compat.Popen.close_tree` does not reach them; a program
that forks with C code (not ``os.fork``) keeps both pipes' write ends in that
child, which then delays the kill until it exits as well.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator

from .lifeline import parent_read_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

__all__ = [
    "GUARDIAN",
    "READY_TIMEOUT",
    "Guardian",
    "guardian_command",
    "guardian_for",
    "guardian_needed",
]

#: How long a start waits for a new guardian to say it is ready (seconds): far
#: more than the ~9 ms it takes, for loaded CI machines.
READY_TIMEOUT = 20.0
_MAIN = "guardian_main.py"
_READY = b"ready\n"

if TYPE_CHECKING:
    _ProcessBase = subprocess.Popen[bytes]
else:
    _ProcessBase = subprocess.Popen


class _GuardianProcess(_ProcessBase):
    def __del__(self) -> None:
        # The guardian outlives the references to it on purpose (a forked child drops
        # its parent's), and ends by itself with this process: no "still running"
        # ResourceWarning, no reaping of a process that may not be ours.
        pass


def guardian_command(
    executable: str,
    lifeline_fd: int,
    registry_fd: int,
    *,
    script: Optional[str],
    source: Optional[str] = None,
    frozen: bool = False,
) -> list[str]:
    """The guardian's command line: ``executable -I -S SCRIPT LIFELINE REGISTRY``, or
    ``-c SOURCE`` instead of ``SCRIPT`` when there is no file (compat in a zip).

    ``-I``: no environment variables, no user site, not the script's directory on
    ``sys.path``; ``-S``: no ``site`` (the start takes ~8 ms instead of ~15). Raises
    OSError when ``executable`` cannot run it: a frozen program (PyInstaller...)
    whose executable is the program itself, or no interpreter path at all. As for
    multiprocessing's spawn, ``sys.executable`` must be a Python interpreter: under
    an embedding host (uWSGI...) the guardian does not say it is ready, and the
    start fails with OSError (at the latest after :data:`READY_TIMEOUT`)."""
    if frozen or not executable:
        what = "this program is frozen" if frozen else "sys.executable is empty"
        raise OSError(
            f"die_with_parent=True needs a Python interpreter to run compat's guardian "
            f"process, and {what}; start the child without die_with_parent, or from a "
            f"compat.spawn_child() child (which dies with this process)"
        )
    fds = [str(lifeline_fd), str(registry_fd)]
    if script is not None:
        return [executable, "-I", "-S", script, *fds]
    if source is None:
        raise OSError(f"cannot find compat's {_MAIN} to run the die_with_parent guardian")
    return [executable, "-I", "-S", "-c", source, *fds]


def _program(by_path: bool) -> tuple[Optional[str], Optional[str]]:
    """(script path, None), or (None, source) when the file is not on disk."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _MAIN)
    if by_path and os.path.isfile(path):
        return path, None
    import pkgutil

    try:
        data = pkgutil.get_data(__name__.rpartition(".")[0], _MAIN)
    except OSError:
        data = None
    return None, None if data is None else data.decode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _wait_ready(process: _GuardianProcess, timeout: float) -> None:
    """Wait for the guardian's ``ready`` line and the end of its output (it points
    stdout at /dev/null right after); raise OSError with what it wrote otherwise."""
    import selectors

    stdout = process.stdout
    assert stdout is not None
    deadline = time.monotonic() + timeout
    output = b""
    with selectors.DefaultSelector() as selector, stdout:
        selector.register(stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OSError(f"compat's die_with_parent guardian was not ready in {timeout} s")
            if selector.select(remaining):
                data = os.read(stdout.fileno(), 65536)
                if not data:
                    break
                output += data
    if not output.startswith(_READY):
        detail = output.decode("utf-8", "replace").strip() or f"exit code {process.poll()}"
        raise OSError(f"compat's die_with_parent guardian did not start: {detail}")


def _start_guardian(by_path: bool) -> tuple[_GuardianProcess, int]:
    """Start a guardian; return it and the write end of its registration pipe."""
    lifeline = parent_read_fd()
    script, source = _program(by_path)
    frozen = bool(getattr(sys, "frozen", False))
    r, w = os.pipe()  # both non-inheritable: only pass_fds gives r to the guardian
    try:
        command = guardian_command(
            sys.executable, lifeline, r, script=script, source=source, frozen=frozen
        )
        # No preexec_fn: the vfork/posix_spawn fast paths stay. The new session
        # keeps a terminal's Ctrl+C and hang-up away from it.
        process = _GuardianProcess(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/",
            pass_fds=(lifeline, r),
            start_new_session=True,
        )
    except BaseException:
        os.close(w)
        raise
    finally:
        os.close(r)
    try:
        _wait_ready(process, READY_TIMEOUT)
    except BaseException:
        os.close(w)
        _end(process)
        raise
    return process, w


def _end(process: _GuardianProcess) -> None:
    """Kill (if still running) and reap a guardian this process gives up on."""
    try:
        process.kill()
    except OSError:
        pass
    process.wait()


class Guardian:
    """This process's guardian: started on first use, restarted if it died.

    Thread-safe; in a forked child it starts empty (an at-fork handler forgets the
    parent's guardian and closes the inherited registration pipe). ``by_path=False``
    runs the program as ``-c`` source, as when compat is vendored in a zip file.
    """

    def __init__(self, *, by_path: bool = True) -> None:
        self._by_path = by_path
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._process: Optional[_GuardianProcess] = None
        self._fd: Optional[int] = None  # the registration pipe's write end
        self._live: set[int] = set()  # registered groups whose child is not reaped
        self._reaped: deque[int] = deque()  # see reaped()
        _instances.add(self)

    @property
    def pid(self) -> Optional[int]:
        """The guardian's pid, or None before it was started."""
        process = self._process
        return None if process is None else process.pid

    def registered(self) -> frozenset[int]:
        """The groups registered whose child compat has not reaped yet."""
        with self._lock:
            return frozenset(self._live)

    def ensure_running(self) -> None:
        """Start the guardian unless it runs (before a child starts, so that a
        failure leaves nothing to clean up and registering takes one write)."""
        with self._locked():
            self._ensure()

    def register(self, pgid: int) -> None:
        """Kill process group ``pgid`` when this process is gone. Raises OSError
        when no guardian can be started."""
        with self._locked():
            self._write(b"+%d\n" % pgid)
            self._live.add(pgid)

    def reaped(self, pgid: int) -> None:
        """``pgid``'s leader has been reaped (or abandoned to the standard library,
        which reaps it later): keep the group only while it has members.

        Never raises, and never waits for the lock: ``compat.Popen.__del__`` calls
        this, and the garbage collector may run that while this very thread holds
        the lock. The group is queued; whoever holds the lock sends it on release."""
        self._reaped.append(pgid)
        self._send_reaped()

    def release(self, pgid: int) -> None:
        """``pgid`` is no longer ours to kill. Never raises; starts no guardian."""
        with self._locked():
            self._live.discard(pgid)
            process, fd = self._process, self._fd
            if fd is None or process is None or self._owner != os.getpid():
                return
            try:
                _write_all(fd, b"-%d\n" % pgid)
            except OSError:  # it died: a new one will not know the group anyway
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """End the guardian as this process's death would (it SIGKILLs the groups
        still registered) and reap it. The next registration starts a new one."""
        with self._lock:
            process, fd = self._process, self._fd
            self._process = self._fd = None
            self._live.clear()
        if fd is not None:
            os.close(fd)
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _end(process)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._lock:
                yield
        finally:
            self._send_reaped()

    def _send_reaped(self) -> None:
        # Checked after every release of the lock: a group queued while it was
        # held (by another thread, or by this one when the collector ran) goes now.
        queue = self._reaped
        while queue and self._lock.acquire(blocking=False):
            try:
                while queue:
                    pgid = queue.popleft()
                    if pgid in self._live:
                        self._live.discard(pgid)
                        try:
                            self._write(b"~%d\n" % pgid)
                        except OSError:
                            pass  # no guardian can run any more: nothing else to do
            finally:
                self._lock.release()

    # -- under the lock --------------------------------------------------------

    def _ensure(self) -> None:
        if self._owner != os.getpid():  # forked without the at-fork handler
            self._forget()
        process = self._process
        if process is None or process.poll() is not None:
            self._start()

    def _start(self) -> None:
        old, fd = self._process, self._fd
        self._process = self._fd = None
        if fd is not None:
            os.close(fd)
        if old is not None:
            _end(old)
        self._process, self._fd = _start_guardian(self._by_path)
        if self._live:  # a restart: the new guardian gets every unreaped tree
            _write_all(self._fd, b"".join(b"+%d\n" % g for g in sorted(self._live)))

    def _write(self, line: bytes) -> None:
        self._ensure()
        assert self._fd is not None
        try:
            _write_all(self._fd, line)
        except BrokenPipeError:  # it died since the check: start another one
            self._start()
            _write_all(self._fd, line)

    def _forget(self) -> None:
        """In a forked child: the parent's guardian and pipe are not ours."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._owner = os.getpid()
        fd, self._fd = self._fd, None
        self._process = None
        self._live = set()
        self._reaped = deque()
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


_instances: weakref.WeakSet[Guardian] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for guardian in list(_instances):
        guardian._forget()


if sys.platform != "win32":
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: The guardian of compat.Popen's die_with_parent children.
GUARDIAN = Guardian()


def guardian_needed(die_with_parent: object, *, windows: bool) -> bool:
    """Whether a child started with ``die_with_parent`` needs the guardian: on POSIX
    when asked; never on Windows, whose Job Object already ends a compat.Popen tree
    with its parent. TypeError unless ``die_with_parent`` is a bool."""
    if not isinstance(die_with_parent, bool):
        raise TypeError(
            f"die_with_parent must be True or False, not {type(die_with_parent).__name__}"
        )
    return die_with_parent and not windows


def guardian_for(die_with_parent: object, *, windows: bool) -> Optional[Guardian]:
    """:data:`GUARDIAN`, running, when :func:`guardian_needed`; else None."""
    if not guardian_needed(die_with_parent, windows=windows):
        return None
    GUARDIAN.ensure_running()
    return GUARDIAN
