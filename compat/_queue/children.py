"""How a compat Queue follows itself into the children it is handed to.

End of stream (see :mod:`compat._queue.registry`) needs every child that gets a
queue to be counted *before* it runs. Two ways in, one per kind of start:

- fork: an ``os.register_at_fork`` hook reserves a slot for every live queue in
  the parent just before the fork; the child claims it in its own hook, before
  any of its code runs. Windows has no fork and no hooks.
- spawn/forkserver: the queue reserves a slot when it is pickled for the child
  (in the parent, inside ``Process.start()``); the child claims it when it
  unpickles the queue. A child that dies before that (its main module does not
  import, for instance) would leave the reservation behind and every reader
  waiting: a watcher thread in the parent, alive only while reservations are
  unclaimed, drops it when the child's sentinel fires.
"""

from __future__ import annotations

import threading
import weakref

from .._native.threads import background_thread
from .registry import Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["install_fork_hooks", "live", "watch_reservation"]


#: Queue handles alive in this process (the fork hooks visit them).
live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_hooks_installed = False


def install_fork_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    with _lock:
        import os

        register = getattr(os, "register_at_fork", None)
        if not _hooks_installed and register is not None:
            register(
                before=_before_fork,
                after_in_parent=_after_fork_parent,
                after_in_child=_after_fork_child,
            )
        _hooks_installed = True


def _before_fork() -> None:
    for q in list(live):
        q._before_fork()


def _after_fork_parent() -> None:
    for q in list(live):
        q._after_fork_parent()


def _after_fork_child() -> None:
    global _watcher
    _watched.clear()  # the parent's reservations are the parent's business
    _watcher = None
    for q in list(live):
        try:
            q._after_fork_child()
        except Exception as exc:  # the child must still start; using q raises
            q._fork_failed(exc)


# -- the watcher of unclaimed spawn/forkserver reservations -----------------------
_watched: list[tuple[Registry, int, int, Any]] = []
_watcher: Any = None
_POLL = 0.1


def watch_reservation(registry: Registry, ticket: int, owner: int, popen: Any) -> None:
    """Drop ``ticket`` if the child ``popen`` starts dies before claiming it."""
    global _watcher
    with _lock:
        _watched.append((registry, ticket, owner, weakref.ref(popen)))
        if _watcher is None:
            _watcher = background_thread(_watch, name="QueueReservationWatcher")
            _watcher.start()


def _watch() -> None:
    global _watcher
    try:
        _watch_loop()
    finally:  # normally it already is; after an error, the next reservation restarts it
        with _lock:
            _watcher = None


def _watch_loop() -> None:
    global _watcher
    from multiprocessing.connection import wait

    while True:
        sentinels: dict[Any, tuple[Registry, int, int, Any]] = {}
        with _lock:
            for entry in list(_watched):
                registry, ticket, owner, ref = entry
                popen = ref()
                if registry.claimed(ticket):
                    _watched.remove(entry)
                elif popen is None or getattr(popen, "returncode", None) is not None:
                    registry.void(ticket, owner)  # never started, or already ended
                    _watched.remove(entry)
                else:
                    # Only once launched (pid and sentinel both set): a forkserver
                    # Popen's sentinel is readable while the child's pid waits
                    # in it, and it sets its pid only after reading that.
                    sentinel = getattr(popen, "sentinel", None)
                    if sentinel is not None and getattr(popen, "pid", None) is not None:
                        sentinels[sentinel] = entry
            if not _watched:
                _watcher = None
                return
        try:
            ready = wait(list(sentinels), _POLL) if sentinels else []
        except (OSError, ValueError):  # the parent joined and closed it meanwhile
            ready = []
        if not sentinels:
            threading.Event().wait(_POLL)
        with _lock:
            for sentinel in ready:
                entry = sentinels[sentinel]
                if entry in _watched:
                    entry[0].void(entry[1], entry[2])  # no-op once it was claimed
                    _watched.remove(entry)
