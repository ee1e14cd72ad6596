"""Children that die with their parent, however the parent dies (SIGKILL included).

The parent side is one *lifeline* pipe per process, made on first use. The parent
keeps the write end for as long as it lives and never lets a child hold it: it is
non-inheritable (so no exec'd program gets it) and an at-fork handler closes it in
every forked child. The read end therefore reaches end-of-file exactly when the
parent process is gone: the kernel closes a dead process's descriptors, whatever
killed it. Each child gets the read end (fork: inherited; spawn and forkserver: sent
with the process object, like any descriptor multiprocessing passes) inside a
:class:`Lifeline`, and calls :meth:`Lifeline.arm` first thing.

How a child watches, per OS:

- Linux: no thread. The child opens its own file description of the pipe
  (``/proc/self/fd/N``), owns it (``F_SETOWN``) and asks for ``SIGKILL`` instead of
  ``SIGIO`` when it becomes ready (``F_SETSIG`` + ``O_ASYNC``). The kernel then kills
  the child the moment the last write end closes. ``PR_SET_PDEATHSIG`` is not used:
  it fires when the parent *thread* that forked exits (a pool's manager thread
  replacing a worker, a thread pool's thread), and a forkserver child's parent is the
  server, not the process that asked for the child. Without ``/proc``: the thread below.
- macOS and other POSIX: a daemon thread blocks in ``poll()`` on the read end and
  ends the process (``SIGKILL``) at end-of-file. (``kqueue``'s ``NOTE_EXIT`` would
  also need a thread, and a pid, which can be reused.)
- Windows: a daemon thread waits on a handle to the parent process (the one spawn
  opened at start-up: ``multiprocessing.parent_process().sentinel``) and calls
  ``os._exit``. Windows has only spawn, so no pipe is needed there.

Either way the child is gone within milliseconds of its parent. A child that must
outlive its parent is started without a lifeline (``Lifeline.none()``).
"""

from __future__ import annotations

import os
import sys
import threading

from .._platform import LINUX, WINDOWS
from .threads import background_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["Lifeline", "arm", "make_lifeline", "parent_read_fd", "pipe_fds"]

#: Exit code a Windows child uses when its parent is gone (POSIX children are
#: killed with SIGKILL). Nobody is left to read it; it shows in process tools.
ORPHAN_EXIT = 0x0BAD

_lock = threading.Lock()
#: (pid that made it, read end, write end) of this process's lifeline pipe.
_pipe: Optional[tuple[int, int, int]] = None


def _parent_pipe() -> tuple[int, int]:
    """This process's lifeline pipe (read end, write end), made on first use."""
    global _pipe
    with _lock:
        pipe = _pipe
        if pipe is None or pipe[0] != os.getpid():
            r, w = os.pipe()  # both non-inheritable (PEP 446)
            pipe = _pipe = (os.getpid(), r, w)
        return pipe[1], pipe[2]


def parent_read_fd() -> int:
    """POSIX: the read end of this process's lifeline pipe (made on first use), for a
    watcher this process starts itself (:mod:`compat._native.guardian`): it reaches
    end-of-file exactly when this process is gone. Non-inheritable; pass it with
    ``pass_fds``."""
    return _parent_pipe()[0]


def pipe_fds() -> tuple[int, ...]:
    """The descriptors of this process's lifeline pipe, if it has been made: they stay
    open for the life of the process (the pytest plugin's leak guard skips them)."""
    pipe = _pipe
    if pipe is None or pipe[0] != os.getpid():
        return ()
    return pipe[1], pipe[2]


def _after_fork_in_child() -> None:
    # A forked child must not keep its parent's write end, or the read end would
    # never reach end-of-file while the child (or anything it forks) lives. The read
    # end stays open: a compat child arms it. The child makes its own pipe when it
    # starts children itself.
    global _pipe
    pipe = _pipe
    _pipe = None
    if pipe is not None:
        try:
            os.close(pipe[2])
        except OSError:
            pass


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Lifeline:
    """What a child needs to die with the process that started it.

    Made in the parent by :func:`make_lifeline` just before ``Process.start()`` and
    passed to the child's main function as an argument (so it travels with the
    process object under spawn and forkserver); the child calls :meth:`arm`.
    """

    __slots__ = ("fd", "parent_pid")

    def __init__(self, fd: Optional[int], parent_pid: int) -> None:
        self.fd = fd  # POSIX: the read end of the parent's lifeline pipe; None: none
        self.parent_pid = parent_pid  # 0: the child may outlive its parent

    @classmethod
    def none(cls) -> Lifeline:
        """A lifeline that does nothing: the child may outlive its parent."""
        return cls(None, 0)

    def __repr__(self) -> str:
        return f"<compat Lifeline parent={self.parent_pid} fd={self.fd}>"

    def __reduce__(self) -> tuple[Any, ...]:
        if sys.platform != "win32" and self.fd is not None:
            from multiprocessing.context import get_spawning_popen
            from multiprocessing.reduction import DupFd

            if get_spawning_popen() is not None:
                return _rebuild, (DupFd(self.fd), self.parent_pid)
            # Pickled outside Process.start(): compat's pre-flight check of a spawn
            # child's arguments does this, and nothing sends a lifeline anywhere
            # else. No descriptor can travel that way; the copy does nothing.
            return type(self), (None, 0)
        return type(self), (None, self.parent_pid)

    def arm(self) -> None:
        """In the child: die as soon as the parent process is gone (see the module)."""
        if not self.parent_pid:
            return
        if WINDOWS:
            _watch_parent_handle()
            return
        fd = self.fd
        if fd is None:
            return
        if _parent_gone(fd):
            _die()
        # COMPAT_LIFELINE=thread: the macOS way on Linux (how the tests cover it).
        if LINUX and os.environ.get("COMPAT_LIFELINE") != "thread" and _arm_kernel(fd):
            return
        _watch_pipe(fd)


def make_lifeline(*, die_with_parent: bool = True) -> Lifeline:
    """In the parent: a :class:`Lifeline` for a child about to start."""
    if not die_with_parent:
        return Lifeline.none()
    if WINDOWS:
        return Lifeline(None, os.getpid())
    r, _ = _parent_pipe()
    return Lifeline(r, os.getpid())


def arm(lifeline: Lifeline) -> None:
    """``lifeline.arm()`` as a function: an initializer for processes compat does not
    write the main function of (a manager's server), which also takes back the
    signals its start left blocked (see :mod:`compat._native.threads`)."""
    from .threads import unblock_async_signals

    unblock_async_signals()
    lifeline.arm()


def _rebuild(dupfd: Any, parent_pid: int) -> Lifeline:
    return Lifeline(dupfd.detach(), parent_pid)


#: Linux: the descriptions armed by _arm_kernel (kept open, or the signal goes).
_armed: list[int] = []

if sys.platform == "win32":

    def _die() -> None:
        os._exit(ORPHAN_EXIT)

    def _parent_gone(fd: int) -> bool:
        raise AssertionError("POSIX only")

    def _arm_kernel(fd: int) -> bool:
        raise AssertionError("POSIX only")

    def _watch_pipe(fd: int) -> None:
        raise AssertionError("POSIX only")

else:

    def _parent_gone(fd: int) -> bool:
        import select

        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))  # end-of-file (POLLHUP): nobody holds the write end
        except (OSError, ValueError):
            return False

    def _die() -> None:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    def _arm_kernel(fd: int) -> bool:
        """Linux: have the kernel SIGKILL this process when ``fd``'s pipe loses its last
        writer. True when armed."""
        import fcntl
        import signal

        try:
            # A description of our own: F_SETOWN and O_ASYNC belong to the open file
            # description, which siblings that received the same read end share.
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            fcntl.fcntl(own, fcntl.F_SETOWN, os.getpid())
            fcntl.fcntl(own, getattr(fcntl, "F_SETSIG", 10), signal.SIGKILL)
            flags = fcntl.fcntl(own, fcntl.F_GETFL)
            fcntl.fcntl(own, fcntl.F_SETFL, flags | os.O_ASYNC)
        except OSError:
            os.close(own)
            return False
        _armed.append(own)  # kept open for the life of the process
        if _parent_gone(own):  # the parent died while we armed: no edge will come
            _die()
        return True

    def _watch_pipe(fd: int) -> None:
        def watch() -> None:
            import select

            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while True:
                try:
                    if poller.poll():
                        break
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    continue
                except (OSError, ValueError):
                    return
            _die()

        background_thread(watch, name="compat-lifeline").start()


def _watch_parent_handle() -> None:
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return
    try:
        handle = parent.sentinel
    except ValueError:  # closed
        return
    if sys.platform == "win32":
        import _winapi

        def watch() -> None:
            _winapi.WaitForSingleObject(handle, _winapi.INFINITE)
            _die()

        background_thread(watch, name="compat-lifeline").start()
