"""A lean spawn child's (and a warm spare's) side of log forwarding and result frames
(:mod:`compat._child.boot`): the pipes are plain descriptors, written in
``Connection.send_bytes`` framing, so that the child need not import multiprocessing."""

from __future__ import annotations

import os
import sys

from .._native.handoff import write_frame

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["child_logs", "name_records"]


def child_logs(setup: Any, spare_fd: int) -> Any:
    """The :class:`compat._child.logs.LogSender` of this child when the parent forwards
    its log records (``setup``: the parent's levels, ``logging.disable`` and, for a cold
    child, the pipe's descriptor; a spare's pipe is ``spare_fd``), or None (a spare's
    pipe is then closed)."""
    if setup is None:
        if spare_fd >= 0:
            os.close(spare_fd)
        return None
    from .logs import LogSender

    fd = setup[2] if len(setup) > 2 else spare_fd
    return LogSender(_Writer(fd), setup[0], setup[1])


def name_records(name: Optional[str]) -> None:
    """A record names its process ``multiprocessing.current_process().name`` only once
    multiprocessing is imported (``MainProcess`` before): the forwarding handler
    (compat._child.logs.install put it on the root logger) names this child's records
    as a multiprocessing spawn child's are named, imported or not."""
    import logging

    def name_it(record: logging.LogRecord) -> bool:
        if "multiprocessing" not in sys.modules and name:
            record.processName = name
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(name_it)


class _Writer:
    """The write end of a pipe with ``Connection.send_bytes``'s framing (what the
    parent's listener reads), without importing multiprocessing."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send_bytes(self, data: bytes) -> None:
        write_frame(self.fd, data)
