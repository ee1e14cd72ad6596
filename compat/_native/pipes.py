"""Pipe buffer sizing, the one pipe primitive that differs by OS.

Linux lets a process enlarge a pipe's kernel buffer (``F_SETPIPE_SZ``, up to
``/proc/sys/fs/pipe-max-size``, 1 MiB by default), which lets a Queue writer hand
over a large message in one system call. macOS and Windows have no such call: their
pipe buffers stay at the OS default (64 KiB on macOS; Windows named pipes are sized
when created).

``fcntl`` is loaded with ``importlib`` so that this module type-checks on every
platform (mypy --platform win32 has no ``fcntl.fcntl``).
"""

from __future__ import annotations

import importlib

from .._platform import LINUX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["set_pipe_size"]

#: ``fcntl.F_SETPIPE_SZ``, which the fcntl module only names from CPython 3.10 on.
_F_SETPIPE_SZ = 1031


def set_pipe_size(fd: int, size: int) -> bool:
    """Ask for a ``size``-byte kernel buffer for the pipe ``fd``; True if it was set.

    Linux: ``fcntl(fd, F_SETPIPE_SZ, size)``; False when the request is over the
    per-user pipe quota (the default 64 KiB buffer then stays, which works too).
    macOS, Windows: False, nothing changes.
    """
    if not LINUX:
        return False
    fcntl: Any = importlib.import_module("fcntl")
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        return False
    return True
