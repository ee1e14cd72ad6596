"""``spawn_child``'s lean spawn path: a fresh interpreter that imports only what the
call needs (:mod:`compat._child.boot`), started and fed by the parent here.

What ``multiprocessing``'s spawn does, and what this path does instead:

- the same interpreter (``spawn.get_executable()``, so ``set_executable`` counts) with
  the same flags (``spawn.get_command_line()``'s), plus ``-S`` when skipping ``site``
  changes nothing the child needs, or when it can run late (:func:`site_plan`): the
  child's ``sys.path`` is the parent's anyway, so ``site`` matters only for what its
  ``.pth`` files and ``sitecustomize`` *run* (import hooks such as editable installs,
  coverage);
- the same preparation data (``spawn.get_preparation_data``): ``sys.path``,
  ``sys.argv``, working directory, ``__main__`` re-run as ``__mp_main__``;
- the call and the Process record pickled as multiprocessing pickles them, with this
  child as the "spawning" Popen: connections, queues and locks among the arguments
  reach the child as under multiprocessing (POSIX: their descriptors by ``pass_fds``);
- no ``import multiprocessing`` in the child unless the call needs it; when it does,
  the child's ``current_process()``, ``parent_process()``, start method and authkey
  are made what a multiprocessing spawn child has (:func:`compat._child.boot._adopt`).

As compat's other children, it ends with its parent (its lifeline: the read end of the
parent's lifeline pipe, passed to it; Windows: the parent's process handle), takes back
the signals its start blocked, and reads ``/dev/null`` as ``sys.stdin``.

What it saves is what multiprocessing adds to a bare interpreter: ``site`` where it
can be skipped, ``import multiprocessing`` and its bootstrap. What stays is what every
spawn child pays: the interpreter, ``import compat`` (about 1 ms, no ``typing``),
and re-running ``__main__``, whose own imports a faithful child cannot skip (it runs
without runpy and pkgutil, compiled once in the parent: :mod:`compat._child.mainrun`).
With bench/bench_child.py as ``__main__`` it measured 0.40x multiprocessing's spawn
(CPython 3.11, ``site`` skipped; before the ``__main__`` changes, 0.62x).

It steps aside (the caller uses multiprocessing's spawn) for a frozen executable,
for Windows arguments that carry handles (multiprocessing duplicates those into a
child that already exists), and when ``multiprocessing.shared_memory`` is loaded: a
lean child does not share the parent's resource tracker, and a child with its own
tracker would unlink, when it ends, a segment it attached to (CPython < 3.13).
"""

from __future__ import annotations

import os
import sys

from .._native.handoff import Channel, DupFd, FrameReader, SpawnPopen, launch
from .._native.lifeline import parent_read_fd
from .._native.threads import ASYNC_SIGNALS, async_signals_blocked
from .._platform import WINDOWS
from .._stdlib import get_spawning_popen
from .boot import RUN, command, frame
from .child import Child
from .main_checks import main_file_fixup
from .outcome import dumps
from .records import SpawnProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from .._context import Context

__all__ = ["LeanStart", "main_code", "prepare_call", "site_needed", "site_plan", "start_lean_child"]


class _NotLean(Exception):
    """This call needs multiprocessing's own spawn (see the module)."""


class LeanStart:
    """The Popen an unstarted lean child is pickled for (multiprocessing's "spawning
    popen"): descriptors the arguments carry are passed to the child."""

    DupFd = DupFd

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.popen: Optional[SpawnPopen] = None

    def duplicate_for_child(self, fd: int) -> int:
        if WINDOWS:  # multiprocessing duplicates a handle into the started child
            raise _NotLean("a handle among the arguments")
        self.fds.append(fd)
        return fd  # pass_fds keeps the number

    # What a compat Queue watches on the Popen it was pickled for.
    @property
    def pid(self) -> Optional[int]:
        return None if self.popen is None else self.popen.pid

    @property
    def sentinel(self) -> Optional[int]:
        return None if self.popen is None else self.popen.sentinel

    @property
    def returncode(self) -> Optional[int]:
        return None if self.popen is None else self.popen.returncode


def _lifeline_fd() -> int:
    """POSIX: the read end of this process's lifeline (Windows children watch the
    parent's process handle instead)."""
    return -1 if WINDOWS else parent_read_fd()


def _spawning(start: Optional[LeanStart]) -> None:
    from multiprocessing.context import set_spawning_popen

    set_spawning_popen(start)


def site_plan() -> str:
    """How the child treats ``site``:

    - ``"off"``: this process runs without it (``-S``): so does the child;
    - ``"eager"``: the child runs it as it starts (no ``-S``): ``sitecustomize`` or
      ``usercustomize`` ran here, coverage measures children (``COVERAGE_PROCESS_START``),
      or an import hook that a ``.pth`` file may have installed comes *before* the
      standard finders (it can change how any module is found);
    - ``"late"``: ``-S``, and the child runs ``site`` at the first import that the
      standard finders cannot satisfy, then looks again: hooks installed only *after*
      them (an editable install's finder, path hooks appended) see only such imports
      here too;
    - ``"skip"``: ``-S``, the import system is the standard one.

    With ``-S`` the child still gets the builtins ``site`` adds (``exit``, ``quit``,
    ``help``...). setuptools' ``_distutils_hack`` is not counted: it only redirects
    ``import distutils``."""
    if sys.flags.no_site:
        return "off"
    env = os.environ
    if (
        "sitecustomize" in sys.modules
        or "usercustomize" in sys.modules
        or env.get("COVERAGE_PROCESS_START")
        or env.get("COVERAGE_PROCESS_CONFIG")
    ):
        return "eager"
    from importlib.machinery import BuiltinImporter, FrozenImporter, PathFinder
    from zipimport import zipimporter

    standard: list[Any] = [BuiltinImporter, FrozenImporter, PathFinder]
    finders: list[Any] = list(sys.meta_path)
    ours = [i for i, f in enumerate(finders) if f in standard]
    others = [
        i
        for i, f in enumerate(finders)
        if f not in standard and type(f).__module__ != "_distutils_hack"
    ]
    if others and (not ours or others[0] < ours[-1]):  # before a standard finder
        return "eager"
    late = bool(others)
    hooks: list[Any] = list(sys.path_hooks)
    if len(hooks) < 2 or hooks[0] is not zipimporter:
        return "eager"
    if getattr(hooks[1], "__name__", "") != "path_hook_for_FileFinder":
        return "eager"
    return "late" if late or len(hooks) > 2 else "skip"


def site_needed() -> bool:
    """Whether the child must run ``site`` as it starts (:func:`site_plan`)."""
    return site_plan() == "eager"


def lean_possible() -> bool:
    """Whether this process can start lean children at all."""
    return not getattr(sys, "frozen", False) and "multiprocessing.shared_memory" not in sys.modules


def prepare_call(
    target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Optional[tuple[SpawnProcess, LeanStart, dict[str, Any], tuple[bytes, bytes]]]:
    """The record, the spawning Popen, the preparation data and the pickled call and
    record of a lean child, or None when this call needs multiprocessing's spawn.
    Pickles as ``Process.start`` does."""
    from multiprocessing import current_process
    from multiprocessing.spawn import get_preparation_data

    if not lean_possible() or get_spawning_popen() is not None:
        return None
    record = SpawnProcess()
    start = LeanStart()
    _spawning(start)
    try:
        call = dumps((target, args, kwargs))
        record_bytes = dumps(record)
    except _NotLean:
        return None
    finally:
        _spawning(None)
    with main_file_fixup("spawn"):
        prep = get_preparation_data(record.name)
    prep["authkey"] = bytes(prep["authkey"])  # the record carries it; plain bytes here
    me = current_process()
    prep.update(parent_name=me.name, parent_pid=os.getpid(), site=site_plan())
    if "init_main_from_path" in prep:
        code = main_code(prep["init_main_from_path"])
        if code is not None:
            prep["main_code"] = code
    return record, start, prep, (call, record_bytes)


#: path -> ((path, mtime_ns, size), (magic, marshalled code)) of __main__ scripts.
_main_codes: dict[str, tuple[tuple[str, int, int], tuple[bytes, bytes]]] = {}


def main_code(path: str) -> Optional[tuple[bytes, bytes]]:
    """The ``__main__`` script at ``path`` compiled once here, as
    ``(importlib's magic number, marshal data)``, for children that would otherwise
    compile it at every start, as multiprocessing's do (about 1 ms for a 300-line
    script). Compiled again when the file changes (its modification time or size);
    None when it cannot be compiled here (the child then compiles it, and reports a
    syntax error as it would have). A child of another CPython (``set_executable``)
    ignores it: the magic number differs (:mod:`compat._child.mainrun`)."""
    from .mainrun import compile_script, pack_code

    if not path.endswith(".py"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    cached = _main_codes.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        compiled = pack_code(compile_script(path))
    except (OSError, SyntaxError, ValueError):
        return None
    _main_codes[path] = (key, compiled)
    return compiled


def start_lean_child(
    ctx: Context,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_name: str,
) -> Optional[Child]:
    """Start an already checked call in a lean child; None when it needs
    multiprocessing's spawn (the caller then uses it)."""
    from .logs import open_child_logs

    logs = open_child_logs(ctx.mp_context, ctx.forward_logs)  # None: logging not imported
    try:
        child = _start(ctx, target, args, kwargs, target_name, logs)
    except BaseException:
        if logs is not None:
            logs.discard()
        raise
    if logs is not None:
        if child is None:
            logs.discard()
        else:
            logs.attach()
    return child


def _start(
    ctx: Context,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    target_name: str,
    logs: Any,
) -> Optional[Child]:
    prepared = prepare_call(target, args, kwargs)
    if prepared is None:
        return None
    record, start, prep, pickled = prepared
    # A warm spare, if there is one. It cannot receive descriptors (it started
    # already): a call that carries some starts cold. Its log records come through a
    # pipe it got when it started (POSIX; on Windows a call whose logs are forwarded
    # starts cold).
    if ctx.die_with_parent and not start.fds and (logs is None or not WINDOWS):
        from .spares import take_spare

        spare = take_spare(prep["site"])
        if spare is not None:  # it started with another environment: it gets this one
            key, environ = _environ_now()
            prep[key] = environ
            if logs is not None and logs.sender is not None:
                prep["logs"] = (logs.sender.levels, logs.sender.disable)
            data = frame(dumps((RUN, prep, *pickled)))
            return _hand_over(ctx, record, start, data, spare, target_name, logs)
    if logs is not None and logs.sender is not None:
        if WINDOWS:  # the pipe is a handle, which multiprocessing's spawn passes
            return None
        # Its write end, passed with the same number (pass_fds): the child writes
        # records to it in Connection framing without importing multiprocessing.
        fd = logs.sender.conn.fileno()
        start.fds.append(fd)
        prep["logs"] = (logs.sender.levels, logs.sender.disable, fd)
    data = frame(dumps((RUN, prep, *pickled)))
    from multiprocessing.spawn import get_command_line

    cmd = get_command_line()
    executable, flags = cmd[0], cmd[1:-3]  # [exe, *flags, "-c", prog, "--multiprocessing-fork"]
    channel = Channel(_lifeline_fd(), ctx.die_with_parent, tuple(map(int, ASYNC_SIGNALS)))

    def go(record: SpawnProcess) -> SpawnPopen:
        args = command(executable, flags, prep["site"] in ("late", "skip"), channel.spec)
        popen: Optional[SpawnPopen] = None
        try:
            with async_signals_blocked():  # the child unblocks them once it runs (boot)
                popen = launch(args, channel, start.fds)
            start.popen = popen
            _feed(channel.call, data)
        except BaseException:  # a Ctrl+C that waited for the block's end, included
            if popen is not None:  # no one would hold it: stop it
                popen.kill()
                popen.poll(0)
                popen.close()
            raise
        return popen

    record.compat_launch = go
    try:
        handle = Child(record, FrameReader(channel.result), ctx.decision, target_name)
        record.start()
    except BaseException:
        channel.close()
        raise
    return handle


def _environ_now() -> tuple[str, dict[Any, Any]]:
    """This process's environment for a spare: on POSIX the bytes ``os.environ`` keeps
    (``os.environb``'s mapping; copying it decodes nothing, and the spare compares it
    with its own in one step), else ``dict(os.environ)``."""
    data = getattr(os.environ, "_data", None)
    if not WINDOWS and type(data) is dict:
        return "environb", dict(data)
    return "environ", dict(os.environ)


def _hand_over(
    ctx: Context,
    record: SpawnProcess,
    start: LeanStart,
    data: bytes,
    spare: Any,
    name: str,
    logs: Any,
) -> Child:
    """Give the call to a running spare (:mod:`compat._child.spares`); its log pipe
    goes to the listener when ``logs`` forwards them, else is closed."""

    def go(record: SpawnProcess) -> SpawnPopen:
        start.popen = spare.popen
        _feed(spare.call, data)
        return spare.popen  # type: ignore[no-any-return]

    record.compat_launch = go
    try:
        handle = Child(record, FrameReader(spare.result), ctx.decision, name)
        record.start()
    except BaseException:
        spare.discard()
        raise
    log, spare.log = spare.log, None
    if log is not None:
        if logs is not None:
            logs.attach_fd(log)
        else:
            os.close(log)
    return handle


def _feed(fd: int, data: bytes) -> None:
    """Write the call and close the pipe (a child that died meanwhile is reported by
    its handle, with its exit code)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)
