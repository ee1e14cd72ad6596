"""Warm spare interpreters: spawn children that are already running when
``spawn_child`` needs one (opt-in: :func:`set_spares` or ``COMPAT_SPARES=n``).

A spare is a lean spawn child (:mod:`compat._child.boot`) started ahead of time: it
arms its lifeline (it dies with this process, however this process ends), imports the
standard-library and compat modules this process had loaded when it started, and
waits for a call. ``spawn_child`` hands the call to a ready spare and starts a
replacement in the background; with no ready spare it starts a child cold.

What a spare runs before it is handed a call is compat and the standard library,
never the program's own code: ``__main__`` is re-run as ``__mp_main__``, and the
call's modules are imported, only after the hand-off, as in a cold child. A standard
library module the program shadows (a ``random.py`` of its own) is not imported early.

What was fixed when a spare started, and what the hand-off brings up to date:

- up to date: ``sys.path``, ``sys.argv``, the working directory and ``__main__`` (the
  preparation data travels with the call, as multiprocessing sends it at start), and
  the environment (``os.environ`` is set to this process's before anything else);
- fixed at its start, so a spare is used only if they are unchanged (otherwise every
  spare is discarded and replaced, and this call starts cold): the interpreter and its
  flags, the ``PYTHON*`` environment variables (Python reads them as it starts),
  whether ``site`` runs, and the files behind descriptors 0, 1 and 2 (a spare writes
  where stdout was when it started: a program, or a test runner, that redirects them
  gets cold starts until spares on the new ones are ready);
- not served by spares: calls whose arguments carry descriptors (connections, queues:
  they are passed when a process starts), and contexts whose children may outlive
  this process (``die_with_parent=False``): those start cold.

How a spare's child ends: as interpreter exit does up to its module teardown
(non-daemon threads joined, atexit handlers run, stdout and stderr flushed), then
``os._exit``, as a fork child ends: tearing down the modules it imported ahead would
cost more than the whole hand-off (about 6 ms for 150 modules). What only the teardown
would do is then skipped: ``__del__`` of objects still alive, and the flush of a file
the target left open in a global (close your files, as for fork children).

The cost: ``n`` idle interpreters (about 10-20 MiB each), and one start in the
background after each hand-off.
"""

from __future__ import annotations

import os
import sys
import threading

from .._native.handoff import Channel, SpawnPopen, launch
from .._native.locks import shared_lock
from .._native.threads import ASYNC_SIGNALS, background_thread
from .._platform import WINDOWS
from .boot import READY, WARM, command, frame
from .leanspawn import _lifeline_fd
from .outcome import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["Spare", "set_spares", "spare_count", "take_spare"]

#: Modules never imported early: importing them does something (prints, opens a
#: browser, touches the terminal), or they are the program's.
_NOT_WARMED = frozenset(
    {"__main__", "__mp_main__", "this", "antigravity", "readline", "rlcompleter", "idlelib"}
    | {"tkinter", "turtle", "turtledemo", "site", "sitecustomize", "usercustomize"}
)

_lock = shared_lock()  # see compat._native.locks
_wanted: Optional[int] = None  # None: COMPAT_SPARES not read yet
_idle: list[Spare] = []
_cond = threading.Condition(_lock)
_worker: Optional[threading.Thread] = None  # the thread that starts spares
_starting = False  # it is starting one now
_after: Optional[Spare] = None  # the spare whose child its next start waits for
_exit_hook = False


class Spare:
    """An idle spare: its process, the ends of its pipes, and what it was started with."""

    def __init__(
        self,
        popen: SpawnPopen,
        call: int,
        result: int,
        fingerprint: tuple[Any, ...],
        log: Optional[int] = None,
    ) -> None:
        self.popen, self.call, self.result, self.fingerprint = popen, call, result, fingerprint
        #: POSIX: the read end of the pipe its child's log records come through, if this
        #: process forwards them (compat._child.logs) when the call is handed over.
        self.log = log

    def discard(self) -> None:
        """Stop it and reap it (closing its call pipe first: it exits by itself)."""
        for fd in (self.call, self.result, self.log):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        self.log = None
        self.popen.kill()
        self.popen.poll(0)
        self.popen.close()


def set_spares(n: int) -> None:
    """Keep ``n`` warm spare interpreters ready for spawn children (0: none, the default;
    ``COMPAT_SPARES`` sets it at start-up).

    ``spawn_child`` under the spawn start method then hands its call to a running
    interpreter instead of starting one: a start+join costs a few milliseconds instead
    of tens. Spares die with this process; what they started with and how a change is
    handled is in :mod:`compat._child.spares`. Each idle spare is a Python process
    (about 10-20 MiB). ``set_spares(0)`` stops the idle ones.
    """
    global _wanted
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"set_spares() needs a count >= 0, not {n!r}")
    with _cond:
        _wanted = n
        _cond.notify_all()  # a keeper thread with nothing to keep ends
        while _starting:  # a spare being started is kept or stopped first
            _cond.wait()
        extra = _idle[n:]
        del _idle[n:]
        worker = _worker if not n else None
    for spare in extra:
        spare.discard()
    if n:
        _refill()
    elif worker is not None:
        worker.join(5.0)  # no thread lingers once spares are off


def spare_count() -> int:
    """How many spares this process keeps (``set_spares``, else ``COMPAT_SPARES``)."""
    global _wanted
    if _wanted is None:
        try:
            _wanted = max(0, int(os.environ.get("COMPAT_SPARES", "0") or 0))
        except ValueError:
            _wanted = 0
    return _wanted


def take_spare(site: Optional[str] = None) -> Optional[Spare]:
    """A ready spare started as a child would start now, or None (then the caller
    starts one cold); a replacement starts in the background. ``site``: the call's
    :func:`~compat._child.leanspawn.site_plan`, if the caller has it already."""
    if not spare_count():
        return None
    fingerprint = _fingerprint(site)
    stale: list[Spare] = []
    taken: Optional[Spare] = None
    with _lock:
        while _idle and taken is None:
            spare = _idle.pop(0)
            if spare.fingerprint != fingerprint:
                stale.append(spare)
            elif spare.popen.poll() is None:  # not killed from outside meanwhile
                taken = spare
            else:
                stale.append(spare)
        if stale:  # the environment changed: the others are stale too
            stale.extend(_idle)
            _idle.clear()
    for spare in stale:
        spare.discard()
    _refill(after=taken)
    return taken


def _fingerprint(site: Optional[str] = None) -> tuple[Any, ...]:
    """What a spare cannot change after it started (see the module)."""
    from multiprocessing.spawn import get_command_line

    from .leanspawn import site_plan

    streams: list[Optional[tuple[int, int]]] = []
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            streams.append((st.st_dev, st.st_ino))
        except OSError:
            streams.append(None)
    cmd = get_command_line()
    # Python reads its own variables when it starts; the others travel with the call.
    # (Keys first: decoding every value of a large environment costs 0.1 ms a start.)
    environ = os.environ
    python = {k: environ[k] for k in list(environ) if k.startswith("PYTHON")}
    plan = site_plan() if site is None else site
    return (cmd[0], tuple(cmd[1:-3]), plan, python, tuple(streams))


def _warm_modules() -> list[str]:
    """The standard-library and compat modules loaded here, found where a spare
    would find them (not shadowed by the program's own)."""
    stdlib = os.path.dirname(os.__file__)
    package = __name__.split("._child", 1)[0]
    # What the hand-off itself imports: re-running __main__ (runpy: for ``python -m``
    # mains) and the child's log set-up (about 0.3 ms of a 3 ms hand-off when cold).
    names = ["runpy", f"{package}._child.mainrun", f"{package}._child.bootlogs"]
    for name, module in list(sys.modules.items()):
        top = name.split(".", 1)[0]
        if module is None or top in _NOT_WARMED or name in _NOT_WARMED:
            continue
        if name == package or name.startswith(package + "."):
            names.append(name)
            continue
        file = getattr(module, "__file__", None)
        if file is None:  # a built-in or frozen module is the standard library's
            origin = getattr(getattr(module, "__spec__", None), "origin", None)
            if name in sys.builtin_module_names or origin == "frozen":
                names.append(name)
        elif os.path.abspath(file).startswith(stdlib + os.sep) and not any(
            part in file for part in ("site-packages", "dist-packages")
        ):
            names.append(name)
    return sorted(set(names))


def _start_spare(fingerprint: tuple[Any, ...]) -> Spare:
    executable, flags, plan = fingerprint[0], list(fingerprint[1]), fingerprint[2]
    channel = Channel(_lifeline_fd(), True, tuple(map(int, ASYNC_SIGNALS)))
    log_r, log_w = (-1, -1) if WINDOWS else os.pipe()  # its log pipe (compat._child.logs)
    try:
        args = command(executable, flags, plan in ("late", "skip"), channel.spec)
        popen = launch(args, channel, [] if log_w < 0 else [log_w])
    except BaseException:
        channel.close()
        if log_r >= 0:
            os.close(log_r)
        raise
    finally:
        if log_w >= 0:
            os.close(log_w)  # the spare has its own copy, with the same number
    spare = Spare(popen, channel.call, channel.result, fingerprint, None if log_r < 0 else log_r)
    modules = _warm_modules()
    if plan in ("late", "skip"):
        # Started with -S, where importing site runs none of it (no site.main()); the
        # hand-off imports it for the builtins it adds (compat._child.boot._site).
        modules.append("site")
    view = memoryview(frame(dumps((WARM, modules, log_w))))
    try:
        while view:  # in the background: waiting for the spare to read costs nobody
            view = view[os.write(channel.call, view) :]
        ready = os.read(channel.result, 1) == READY  # once it has imported them
    except OSError:
        ready = False
    if not ready:  # it died while it started
        spare.discard()
        raise OSError("a spare interpreter ended while it started")
    return spare


#: Seconds a replacement waits for the child whose spare it replaces to end first: on
#: a machine with few CPUs, two interpreters starting at once slow each other down.
_DEFER = 0.05


def _refill(after: Optional[Spare] = None) -> None:
    """Have the background thread start spares until there are as many as wanted (once
    the child of the spare ``after`` ended, or :data:`_DEFER` seconds passed). The
    thread starts once: starting a thread at each hand-off would cost the hand-off."""
    global _worker, _after, _exit_hook
    with _cond:
        if len(_idle) >= spare_count():
            return
        _after = after
        if _worker is None:
            if not _exit_hook:
                import atexit

                atexit.register(_at_exit)
                _exit_hook = True
            _worker = background_thread(_work, name="compat-spares")
            _worker.start()
        _cond.notify_all()


def _work() -> None:
    global _after, _starting, _worker
    while True:
        with _cond:
            while len(_idle) >= spare_count():
                if spare_count() == 0:  # spares off: end; _refill starts a new one
                    _worker = None
                    return
                _cond.wait()
            after, _after = _after, None
            _starting = True
        if after is not None:
            _wait_for(after)
        spare = None
        try:
            spare = _start_spare(_fingerprint())
        except Exception:  # cannot start one now: cold starts, until the next hand-off
            pass
        with _cond:
            _starting = False
            keep = spare is not None and len(_idle) < spare_count()
            if keep:
                _idle.append(spare)  # type: ignore[arg-type]
            _cond.notify_all()
            if spare is None:
                _cond.wait()  # until _refill or set_spares asks again
        if spare is not None and not keep:  # fewer wanted meanwhile
            spare.discard()


def _wait_for(after: Spare) -> None:
    """Wait until the child of spare ``after`` ended and its parent noticed (so that
    the replacement's start slows neither), or :data:`_DEFER` seconds passed."""
    import time

    from .._native.waiting import wait_ready

    deadline = time.monotonic() + _DEFER
    sentinel = after.popen.sentinel
    try:
        if sentinel is not None:
            wait_ready([sentinel], _DEFER)
    except (OSError, ValueError):  # its handle was closed meanwhile: it ended
        return
    while after.popen.returncode is None and time.monotonic() < deadline:
        time.sleep(0.001)


def _after_fork_in_child() -> None:
    # The spares are the parent's: a forked child forgets them and closes its copies of
    # their descriptors (the lock may have been held by another thread of the parent).
    global _lock, _cond, _worker, _starting
    _lock = shared_lock()
    _cond = threading.Condition(_lock)
    for spare in _idle:
        for fd in (spare.call, spare.result, spare.log):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        spare.popen.close()
    _idle.clear()
    _worker, _starting = None, False


def _at_exit() -> None:
    # Idle spares would die with this process anyway (their lifeline); stopping them
    # here also reaps them.
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for spare in idle:
        spare.discard()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
