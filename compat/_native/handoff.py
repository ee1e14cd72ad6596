"""Starting a fresh interpreter with two pipes to its parent and a lifeline: the OS
part of the lean spawn path (:mod:`compat._child.leanspawn`, :mod:`compat._child.boot`).

The parent reads the child's one message with a :class:`FrameReader`.

The parent makes a *call* pipe (it writes what to run, the child reads) and a
*result* pipe (the child writes the outcome), and hands the child its ends:

- POSIX: ``pass_fds``. The child's command line names the descriptor numbers, the
  read end of the parent's lifeline pipe (:mod:`compat._native.lifeline`) and the
  parent's pid; where Linux has no pidfd, a sentinel pipe's write end too (as
  multiprocessing's spawn passes one).
- Windows: as multiprocessing's spawn does, the child opens its parent
  (``OpenProcess``) and moves the two pipe handles into itself (``DuplicateHandle``
  with ``DUPLICATE_CLOSE_SOURCE``), then makes descriptors of them
  (``msvcrt.open_osfhandle``). The parent's process handle is its lifeline: a thread
  waits on it and ends the child when the parent is gone.

:class:`SpawnPopen` is the parent's handle on such a child, with the interface of a
``multiprocessing`` Popen (``pid``, ``sentinel``, ``poll``, ``wait``, ``terminate``,
``kill``, ``close``), over a ``subprocess.Popen``, which reaps it.
"""

from __future__ import annotations

import os
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Callable, Optional

__all__ = [
    "ORPHAN_EXIT",
    "Channel",
    "DupFd",
    "FrameReader",
    "SpawnPopen",
    "child_ends",
    "launch",
    "set_environb",
    "waitable",
    "write_frame",
]

#: The exit code of a Windows child whose parent is gone (POSIX children are killed).
ORPHAN_EXIT = 0x0BAD


class Channel:
    """The parent's side of a child's pipes: ``call`` (to write to) and ``result`` (to
    read from) descriptors, and what the child's command line says about its ends.

    ``lifeline_fd`` (POSIX): the read end of this process's lifeline pipe, which the
    child also uses as ``parent_process().sentinel``; ``arm``: whether the child ends
    with this process; ``blocked``: the signals the starting thread blocks, which the
    child unblocks (exec keeps a signal mask)."""

    def __init__(self, lifeline_fd: int, arm: bool, blocked: tuple[int, ...] = ()) -> None:
        self.spec = ""
        self.pass_fds: tuple[int, ...] = ()
        self.sentinel: Optional[int] = None  # POSIX without pidfd: read end of a pipe
        self._child_ends: list[int] = []
        if sys.platform == "win32":
            import _winapi
            import msvcrt

            call_r, call_w = _winapi.CreatePipe(None, 0)
            result_r, result_w = _winapi.CreatePipe(None, 0)
            self.call = msvcrt.open_osfhandle(call_w, 0)
            self.result = msvcrt.open_osfhandle(result_r, os.O_RDONLY)
            # The child moves these two into itself, closing them here.
            self.spec = f"{call_r},{result_w},{os.getpid()},{int(arm)}"
        else:
            call_r, self.call = os.pipe()
            self.result, result_w = os.pipe()
            ends = [call_r, result_w]
            sentinel_w = -1
            if not _pidfd_works():
                self.sentinel, sentinel_w = os.pipe()
                ends.append(sentinel_w)
            self._child_ends = ends
            self.pass_fds = (*ends, lifeline_fd)
            signals = "/".join(map(str, blocked))
            self.spec = (
                f"{call_r},{result_w},{lifeline_fd},{int(arm)},{os.getpid()},{sentinel_w},{signals}"
            )

    def started(self) -> None:
        """After the child started: close the parent's copies of the child's ends."""
        ends, self._child_ends = self._child_ends, []
        for fd in ends:
            os.close(fd)

    def close(self) -> None:
        """Close everything (the start failed)."""
        self.started()
        for fd in (self.call, self.result, self.sentinel):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.call = self.result = -1
        self.sentinel = None


def _pidfd_works() -> bool:
    from .forkproc import _pidfd_works as works

    return works()


def launch(args: list[str], channel: Channel, fds: list[int]) -> SpawnPopen:
    """Start ``args`` (an interpreter command line) with the child's ends of
    ``channel`` and the descriptors ``fds`` (POSIX: those the arguments carry); stdin,
    stdout and stderr are inherited, as multiprocessing's are."""
    import subprocess  # here: the child imports this module too

    pass_fds = (*channel.pass_fds, *fds)
    popen = subprocess.Popen(args, pass_fds=pass_fds, close_fds=True)
    channel.started()
    sentinel: Optional[int] = channel.sentinel
    channel.sentinel = None
    if sys.platform == "linux" and sentinel is None:
        try:
            sentinel = os.pidfd_open(popen.pid)
        except OSError:
            popen.kill()
            popen.wait()
            raise
    elif sys.platform == "win32":
        from .._stdlib import windows_popen_handle

        sentinel = windows_popen_handle(popen)
    assert sentinel is not None
    return SpawnPopen(popen, sentinel)


class DupFd:
    """A descriptor passed to the child with the same number (``pass_fds``): what
    ``multiprocessing.reduction.DupFd`` makes through the spawning Popen's ``DupFd``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def detach(self) -> int:
        return self.fd


class SpawnPopen:
    """A child started by :func:`launch`: a ``multiprocessing`` Popen's interface
    (what a ``Process`` record delegates to) over a ``subprocess.Popen``."""

    method = "spawn"

    def __init__(self, popen: subprocess.Popen[bytes], sentinel: int) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.sentinel: Optional[int] = sentinel

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.returncode

    def poll(self, flag: Optional[int] = None) -> Optional[int]:
        """The exit code once the child has ended (``flag`` 0: wait for that)."""
        if flag == 0:
            return self.popen.wait()
        return self.popen.poll()

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self.popen.returncode is None and timeout is not None and self.sentinel is not None:
            from .waiting import wait_ready

            if not wait_ready([self.sentinel], timeout):
                return None
        return self.poll(0)

    def terminate(self) -> None:
        if self.popen.returncode is None:
            try:
                self.popen.terminate()
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        if self.popen.returncode is None:
            try:
                self.popen.kill()
            except ProcessLookupError:
                pass

    def close(self) -> None:
        fd, self.sentinel = self.sentinel, None
        if fd is not None and sys.platform != "win32":  # Windows: the Popen's handle
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


#: ``Connection.send_bytes`` framing: a signed 4-byte big-endian length; above 2 GiB
#: -1, then an 8-byte length (compat._stdlib's CONNECTION_HEADER, without importing it).
_HEADER, _LONG_HEADER = struct.Struct("!i"), struct.Struct("!Q")


class FrameReader:
    """The parent's end of the result pipe: reads the one message a child sends, in
    ``Connection.send_bytes`` framing, with one ``read`` when it is small."""

    def __init__(self, fd: int) -> None:
        self.fd: Optional[int] = fd
        self.handle = waitable(fd)  # Windows: what a wait waits on is a handle

    def fileno(self) -> int:
        """What a wait waits on (``multiprocessing.connection.wait``'s contract)."""
        if self.fd is None:
            raise ValueError("the result pipe is closed")
        return self.handle

    def recv_bytes(self) -> bytes:
        fd = self.fd
        if fd is None:
            raise ValueError("the result pipe is closed")
        data = os.read(fd, 0x10000)
        if len(data) < _HEADER.size:
            data += self._read_exactly(_HEADER.size - len(data), data)
        (size,) = _HEADER.unpack_from(data)
        start = _HEADER.size
        if size == -1:
            start += _LONG_HEADER.size
            if len(data) < start:
                data += self._read_exactly(start - len(data), data)
            (size,) = _LONG_HEADER.unpack_from(data, _HEADER.size)
        missing = start + size - len(data)
        if missing > 0:
            return data[start:] + self._read_exactly(missing, data)
        return data[start : start + size]

    def _read_exactly(self, n: int, got: bytes) -> bytes:
        parts: list[bytes] = []
        while n > 0:
            chunk = os.read(self.fd, min(n, 1 << 22))  # type: ignore[arg-type]
            if not chunk:
                raise EOFError if not got and not parts else OSError("end of file in a message")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


#: Largest message written together with its header in one ``write`` (the copy that
#: joins them costs less than a second system call); a larger one is not copied.
_JOIN_MAX = 16384


def write_frame(fd: int, data: bytes) -> None:
    """Write ``data`` to the pipe or socket ``fd`` in ``Connection.send_bytes``
    framing (a signed 4-byte big-endian length; above 2 GiB - 1, -1 then an 8-byte
    length), what :class:`FrameReader` and ``Connection.recv_bytes`` read. The one
    writer of that framing on raw descriptors: children's outcomes, a pool's batches
    and results (:mod:`compat._pool.frames`), forwarded log records."""
    n = len(data)
    head = _HEADER.pack(n) if n <= 0x7FFFFFFF else _HEADER.pack(-1) + _LONG_HEADER.pack(n)
    if n <= _JOIN_MAX:
        _write_all(fd, head + data)
    else:
        _write_all(fd, head)
        _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def waitable(fd: int) -> int:
    """What ``multiprocessing.connection.wait`` waits on for the pipe read end ``fd``:
    the descriptor on POSIX, its handle on Windows."""
    if sys.platform == "win32":
        import msvcrt

        return msvcrt.get_osfhandle(fd)
    else:  # noqa: RET505 - a platform branch, for type checkers
        return fd


def child_ends(spec: str) -> tuple[int, int, int, Callable[[], None], list[int]]:
    """In the child: ``(call, result, parent_sentinel, arm, blocked)`` from the command
    line's ``spec``: the descriptors to read the call from and write the outcome to,
    what ``parent_process().sentinel`` is (ready when the parent is gone), the function
    to call first, which makes this process end when its parent does (unless the
    parent said it may outlive it), and the signals the parent's thread blocked while
    it started this child (POSIX; exec keeps them blocked): the child unblocks them
    itself once it is about to run the target (compat._child.boot)."""
    if sys.platform == "win32":
        import _winapi
        import msvcrt

        call_h, result_h, parent_pid, armed = map(int, spec.split(","))
        parent = _winapi.OpenProcess(
            _winapi.SYNCHRONIZE | _winapi.PROCESS_DUP_HANDLE, False, parent_pid
        )
        here = _winapi.GetCurrentProcess()
        flags = _winapi.DUPLICATE_SAME_ACCESS | _winapi.DUPLICATE_CLOSE_SOURCE
        call = _winapi.DuplicateHandle(parent, call_h, here, 0, False, flags)
        result = _winapi.DuplicateHandle(parent, result_h, here, 0, False, flags)

        def arm() -> None:
            if not armed:
                return
            import threading

            def watch() -> None:
                _winapi.WaitForSingleObject(parent, _winapi.INFINITE)
                os._exit(ORPHAN_EXIT)

            threading.Thread(target=watch, name="compat-lifeline", daemon=True).start()

        call_fd = msvcrt.open_osfhandle(call, os.O_RDONLY)
        return call_fd, msvcrt.open_osfhandle(result, 0), parent, arm, []
    else:  # noqa: RET505 - mypy --platform win32 must see the POSIX part as a branch
        fields = spec.split(",")
        call, result, lifeline, armed, parent_pid, _sentinel_w = map(int, fields[:6])
        blocked = [int(s) for s in fields[6].split("/") if s]

        def arm() -> None:
            if armed:
                _arm_posix(lifeline, parent_pid)

        return call, result, lifeline, arm, blocked


def _arm_posix(lifeline: int, parent_pid: int) -> None:
    prepared = None
    if os.environ.get("COMPAT_LIFELINE") != "thread":
        from .forkproc import prepare_lifeline

        prepared = prepare_lifeline(lifeline)  # Linux: the kernel arming, here
    if prepared is not None:
        prepared[1]()  # its description stays open for the life of the process
        return
    from .lifeline import Lifeline

    Lifeline(lifeline, parent_pid).arm()


def set_environb(environ: dict[bytes, bytes]) -> None:
    """A warm spare's environment at the hand-off (:mod:`compat._child.spares`), POSIX:
    ``environ`` is the parent's ``os.environb``; only what differs is set (usually
    nothing: putenv for every variable cost about 0.1 ms of a 3 ms hand-off). A
    Windows parent sends ``os.environ`` instead (no bytes environment there)."""
    if sys.platform != "win32":
        current = os.environb
        data = getattr(current, "_data", None)
        if type(data) is not dict:
            data = dict(current)
        elif data == environ:
            return
        for key in [k for k in data if k not in environ]:
            del current[key]
        for key, value in environ.items():
            if data.get(key) != value:
                current[key] = value
