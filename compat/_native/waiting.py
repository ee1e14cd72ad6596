"""Waiting until connections, descriptors or handles are ready: what
``multiprocessing.connection.wait`` does, for the waits a child's start and end pass
through.

POSIX: one ``poll()``. The standard library's wait builds a selector per call, whose
set-up and tear-down cost more than a fork child's whole run (about 0.1 ms against
0.02 ms, measured by bench/bench_child.py's fork rows). poll() restarts by itself
after a signal handler returns (PEP 475). Windows: the standard library's wait
(``WaitForMultipleObjects`` over handles and overlapped pipe reads).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # a lean spawn child imports this module: no typing at run time
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["wait_ready"]


def wait_ready(objects: list[Any], timeout: Optional[float]) -> list[Any]:
    """Those of ``objects`` that are ready to read, at end-of-file or closed by the
    other side, within ``timeout`` seconds (None: no limit; 0: a poll).

    Each object is a descriptor (POSIX) or handle (Windows) number, or has a
    ``fileno()`` (connections, sockets), as for ``multiprocessing.connection.wait``.
    """
    if sys.platform == "win32":
        from multiprocessing.connection import wait

        return list(wait(objects, timeout))
    else:  # noqa: RET505 - mypy --platform win32 must see the POSIX part as a branch
        import select

        poller = select.poll()
        by_fd: dict[int, Any] = {}
        for obj in objects:
            fd = obj if isinstance(obj, int) else obj.fileno()
            by_fd[fd] = obj
            poller.register(fd, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return [by_fd[fd] for fd, _ in poller.poll(ms)]
