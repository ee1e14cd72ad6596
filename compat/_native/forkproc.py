"""POSIX: the primitives of ``spawn_child``'s fork fast path (:mod:`compat._child.fastfork`).

:class:`ForkPopen` is the per-child object a ``multiprocessing`` Process delegates to
(its ``_popen``): ``pid``, ``sentinel``, ``poll``, ``wait``, ``terminate``, ``kill``,
``close``, as ``multiprocessing.popen_fork.Popen`` has them, started by :func:`fork`.

What makes a fork child slow is not the fork but the pages it writes to afterwards:
each is copied on first write (copy-on-write), a few microseconds apiece on a virtual
machine. So the child gets what it needs ready-made by the parent and does as little
as it can, and the sentinel is a pidfd where Linux has them.

Windows has no fork: compat never calls these there (its policy never chooses fork);
they raise NotImplementedError. Each body sits under a ``sys.platform`` branch, which
is also what tells type checkers which part is POSIX (mypy --platform win32).
"""

from __future__ import annotations

import gc
import os
import sys

from .waiting import wait_ready

# A lean spawn child imports this module to arm its lifeline (prepare_lifeline): no
# typing at run time, and signal (which imports enum) only where the parent needs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

__all__ = ["ForkPopen", "fork", "prepare_lifeline"]

_NO_FORK = "os.fork() does not exist on Windows"

#: Whether a fork child moves the parent's objects to the collector's permanent
#: generation (gc.freeze) first thing: see :func:`fork` (False: bench/bench_child.py
#: measures the difference).
FREEZE_IN_CHILD = True

#: SIGKILL's number on Linux (the only OS that calls prepare_lifeline or has pidfds).
_SIGKILL = 9

#: Whether os.pidfd_open works here (Linux 5.3+; a seccomp filter may refuse it).
_pidfd: Optional[bool] = None


def _pidfd_works() -> bool:
    global _pidfd
    if sys.platform == "linux":
        if _pidfd is None:
            try:
                os.close(os.pidfd_open(os.getpid()))
                _pidfd = True
            except (AttributeError, OSError):
                _pidfd = False
        return _pidfd
    else:  # noqa: RET505 - a platform branch, for type checkers
        return False


def fork(child_main: Callable[[], int]) -> ForkPopen:
    """Fork; the child runs ``child_main()`` and ends with ``os._exit`` of what it
    returns (1 if it raises), so nothing of the parent's exit (atexit handlers,
    finalizers, buffered output) runs twice."""
    if sys.platform == "win32":
        raise NotImplementedError(_NO_FORK)
    else:  # noqa: RET506 - a platform branch, for type checkers
        use_pidfd = _pidfd_works()
        if not use_pidfd:
            # As popen_fork: a pipe whose write end only the child (and what it forks
            # without exec) holds; the read end is ready once the child is gone.
            sentinel, child_w = os.pipe()
        # No collection between the fork and the freeze below (the at-fork hooks
        # allocate); the parent's collector is off for the fork call alone.
        freeze = FREEZE_IN_CHILD
        collect = gc.isenabled()
        if collect:
            gc.disable()
        try:
            pid = os.fork()
        except BaseException:
            if collect:
                gc.enable()
            raise
        if pid == 0:  # pragma: no cover - measured through coverage's _exit patch
            code = 1
            try:
                if freeze:
                    # The parent's objects leave the collector's view: a collection
                    # here walks (writes to) every object it tracks, so a child of a
                    # large parent copied most of its heap page by page (58-176 ms).
                    # Refcounting still frees them; only cycles among them stay.
                    gc.freeze()
                if collect:
                    gc.enable()
                if not use_pidfd:
                    os.close(sentinel)
                code = child_main()
            except BaseException:  # say why, instead of a silent exit code 1
                try:
                    import traceback

                    traceback.print_exc()
                    sys.stderr.flush()
                except BaseException:
                    pass
            finally:
                os._exit(code)
        if collect:
            gc.enable()
        if not use_pidfd:
            os.close(child_w)
        elif sys.platform == "linux":
            try:
                sentinel = os.pidfd_open(pid)
            except OSError:  # the probe said yes: out of descriptors
                os.kill(pid, _SIGKILL)
                os.waitpid(pid, 0)
                raise
        return ForkPopen(pid, sentinel)


class ForkPopen:
    """A forked child: ``multiprocessing.popen_fork.Popen``'s interface.

    ``sentinel`` is a pidfd (Linux 5.3+), ready when the child has exited even if
    something it forked lives on, or else a pipe read end as the standard library's.
    """

    __slots__ = ("pid", "returncode", "sentinel")
    method = "fork"

    def __init__(self, pid: int, sentinel: int) -> None:
        self.pid = pid
        self.sentinel: Optional[int] = sentinel
        self.returncode: Optional[int] = None

    def poll(self, flag: Optional[int] = None) -> Optional[int]:
        """The exit code once the child has ended (``flag`` 0: wait for that)."""
        if sys.platform == "win32":
            raise NotImplementedError(_NO_FORK)
        else:  # noqa: RET506 - a platform branch, for type checkers
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG if flag is None else flag)
                except ChildProcessError:  # reaped by someone else: as popen_fork, no code
                    return None
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self.returncode is None:
            if (
                timeout is not None
                and self.sentinel is not None
                and not wait_ready([self.sentinel], timeout)
            ):
                return None
            return self.poll(None if timeout == 0.0 else 0)
        return self.returncode

    def _send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        import signal

        self._send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if sys.platform == "win32":
            raise NotImplementedError(_NO_FORK)
        else:  # noqa: RET506 - a platform branch, for type checkers
            import signal

            self._send_signal(signal.SIGKILL)

    def close(self) -> None:
        fd, self.sentinel = self.sentinel, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


def prepare_lifeline(fd: int) -> Optional[tuple[int, Callable[[], None]]]:
    """Linux, in the parent before the fork: the lifeline's kernel arming
    (:mod:`compat._native.lifeline`) done up to the last step, and that step.

    Returns ``(own, arm)``: ``own`` is a description of the lifeline pipe's read end
    ``fd`` of its own, set to raise SIGKILL instead of SIGIO (``F_SETSIG``,
    ``O_ASYNC``) but owned by nobody yet, so no signal goes anywhere; the parent
    closes it after the fork. ``arm()``, called in the child, makes the child its
    owner (one system call instead of the seven that arming from scratch takes), so
    that the kernel kills the child when the parent is gone, and kills it at once if
    the parent is already gone (no edge would come). None where the child must arm
    itself (not Linux, no ``/proc``; the caller also asks for ``COMPAT_LIFELINE``)."""
    if sys.platform == "linux":
        import fcntl
        import select

        try:
            own = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            fcntl.fcntl(own, getattr(fcntl, "F_SETSIG", 10), _SIGKILL)
            fcntl.fcntl(own, fcntl.F_SETFL, os.O_RDONLY | os.O_NONBLOCK | os.O_ASYNC)
        except OSError:
            os.close(own)
            return None
        poller = select.poll()
        poller.register(own, select.POLLIN)
        setown, getpid, kill = fcntl.fcntl, os.getpid, os.kill

        def arm() -> None:
            pid = getpid()
            setown(own, fcntl.F_SETOWN, pid)
            if poller.poll(0):  # end-of-file: nobody holds the write end any more
                kill(pid, _SIGKILL)

        return own, arm
    else:  # noqa: RET505 - a platform branch, for type checkers
        return None
