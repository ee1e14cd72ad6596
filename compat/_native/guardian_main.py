"""The guardian's own program (POSIX): SIGKILL registered process groups once the parent is gone.

:mod:`compat._native.guardian` runs this file as
``python -I -S guardian_main.py LIFELINE_FD REGISTRY_FD`` (or its source with ``-c``
when compat is vendored inside a zip file). It imports nothing but the standard
library's built-in modules and never compat, so it starts in a few milliseconds
whatever the parent's ``sys.path`` and wherever compat lives.

- ``LIFELINE_FD``: the read end of the parent's lifeline pipe
  (:mod:`compat._native.lifeline`), whose write end only the parent holds: it
  reaches end-of-file exactly when the parent process is gone.
- ``REGISTRY_FD``: the read end of the registration pipe, written only by the
  parent (its write end is non-inheritable and closed in forked children too), one
  line per change: ``+PGID`` (a tree to kill with the parent), ``~PGID`` (its root
  has been reaped: keep it only while the group still has members) and ``-PGID``
  (no longer ours).

Once ready it writes ``ready`` to its stdout (the parent waits for that line, and
reads everything else on failure), then points stdout and stderr at ``/dev/null``.
At end-of-file of either pipe it reads the registrations still buffered, sends
SIGKILL to every group it holds, and exits.
"""

from __future__ import annotations

import os
import select
import sys

# typing takes longer to import than the rest of this program: mypy reads this
# name as True whatever its value.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
else:
    try:  # the C module alone: the signal module imports enum and functools (4 ms)
        import _signal as signal
    except ImportError:  # pragma: no cover - every CPython 3 has it
        import signal

# The guardian runs on POSIX only (mypy --platform win32 skips what follows).
assert sys.platform != "win32", "the compat guardian runs on POSIX only"

#: While a registered group outlives its reaped root, how often (ms) the guardian
#: checks whether the group is empty yet: its id may be reused only then, and a
#: pid wrap-around within this time would take millions of forks per second.
PRUNE_MS = 500
READY = b"ready\n"


def group_exists(pgid: int) -> bool:
    """Whether process group ``pgid`` may still have members. macOS answers EPERM
    for a group of zombies only: kept until their reaper empties it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Registry:
    """The process groups to kill when the parent is gone: ``live`` (root not reaped
    yet, so the group id cannot be reused) and ``lingering`` (root reaped: kept
    while members remain)."""

    def __init__(self) -> None:
        self.live: set[int] = set()
        self.lingering: set[int] = set()
        self._pending = b""

    def feed(self, data: bytes) -> None:
        """Apply the complete lines of ``data`` (a partial line waits for the rest)."""
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            self.apply(line)

    def apply(self, line: bytes) -> None:
        """Apply one protocol line; malformed lines and impossible groups (0, 1,
        negative: killpg would reach the caller's group or every process) are ignored."""
        op, number = line[:1], line[1:].strip()
        if not number.isdigit():
            return
        pgid = int(number)
        if pgid <= 1 or pgid == os.getpgrp():
            return
        if op == b"+":
            self.lingering.discard(pgid)
            self.live.add(pgid)
        elif op == b"~":
            self.live.discard(pgid)
            self.lingering.add(pgid)
        elif op == b"-":
            self.live.discard(pgid)
            self.lingering.discard(pgid)

    def prune(self, exists: Callable[[int], bool] = group_exists) -> None:
        """Forget lingering groups that have no members left."""
        self.lingering = {pgid for pgid in self.lingering if exists(pgid)}

    def groups(self) -> set[int]:
        return self.live | self.lingering


def _read_available(fd: int, registry: Registry) -> bool:
    """Feed ``registry`` what ``fd`` (non-blocking) holds; True at end-of-file."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not data:
            return True
        registry.feed(data)


def serve(
    lifeline: int,
    registry_fd: int,
    *,
    killpg: Callable[[int, int], None] = os.killpg,
    exists: Callable[[int], bool] = group_exists,
) -> Registry:
    """Watch until the parent is gone, then SIGKILL every registered group.

    Returns the registry as it was at the end (for tests, which inject ``killpg``
    and ``exists``)."""
    registry = Registry()
    os.set_blocking(registry_fd, False)
    poller = select.poll()
    poller.register(lifeline, select.POLLIN)
    poller.register(registry_fd, select.POLLIN)
    parent_gone = False
    while not parent_gone:
        events = poller.poll(PRUNE_MS if registry.lingering else None)
        for fd, _ in events:
            # Nobody ever writes to the lifeline: any event on it is end-of-file.
            parent_gone |= fd == lifeline or _read_available(registry_fd, registry)
        if registry.lingering:
            registry.prune(exists)
    # What the parent wrote before it died is still in the pipe: a tree registered
    # a moment before the death must be killed too.
    _read_available(registry_fd, registry)
    for pgid in registry.groups():
        try:
            killpg(pgid, signal.SIGKILL)
        except OSError:  # already empty (ESRCH), or zombies only on macOS (EPERM)
            pass
    return registry


def main(argv: list[str]) -> int:
    # A Ctrl+C for the parent must not end the guardian before the parent decides
    # (it runs in a session of its own, so a terminal's Ctrl+C does not reach it;
    # this covers a SIGINT sent to it by pid).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lifeline, registry_fd = int(argv[0]), int(argv[1])
    try:
        os.write(1, READY)
    except OSError:  # the parent is gone already: serve() sees it at once
        pass
    # Hold none of the parent's pipes: the handshake pipe closes here. The parent
    # takes the pipe's end-of-file as "set up", so the spare descriptor is closed
    # before the last dup2() drops the pipe: nothing extra is open after it.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.dup2(1, 2)
    serve(lifeline, registry_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
