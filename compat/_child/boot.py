"""The entry of a lean spawn child (:mod:`compat._child.leanspawn`) and of a warm spare
(:mod:`compat._child.spares`): a fresh interpreter that runs one call without
importing ``multiprocessing`` unless the call needs it.

Its command line (:func:`command`) is the parent's interpreter with the parent's
flags (as multiprocessing's spawn passes them), ``-S`` where skipping ``site`` changes
nothing the child needs (see :func:`compat._child.leanspawn.site_needed`), and a short
``-c`` program that imports this module from compat's own directory and calls
:func:`main`. Then, as ``multiprocessing.spawn`` does:

1. the lifeline is armed (the child ends with its parent); ``sys.stdin`` becomes
   ``/dev/null``; the async signals the parent blocked while it started the child
   stay blocked until the target is about to run (a spare, while idle, ignores
   SIGINT instead: see :func:`_idle_signals`);
2. the child reads frames from its call pipe: a spare may first get ``warm`` frames
   (standard-library and compat modules the parent has loaded, to import now), then
   one ``run`` frame: the preparation data (``sys.path``, ``sys.argv``, working
   directory, how to re-run ``__main__`` as ``__mp_main__``), the pickled call, and
   the pickled Process record;
3. it prepares like ``spawn.prepare`` and unpickles the call; if ``multiprocessing``
   gets imported (by the call's objects or by the target), a hook makes
   ``current_process()``, ``parent_process()``, the start method, the authkey and the
   logging set-up what a multiprocessing spawn child has (the resource tracker is its
   own: see :mod:`compat._child.leanspawn`);
4. it runs the call (:func:`compat._child.outcome.call_and_report`) and exits with the
   exit code a multiprocessing spawn child would have, through the normal interpreter
   exit (atexit handlers, threads joined); a spare's child skips the module teardown
   at the end (:func:`_exit_without_teardown`).

Nothing of the user's program runs before the ``run`` frame arrives: a spare imports
only the standard library and compat until it is handed a call.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["command", "main"]

#: The frame kinds on the call pipe.
WARM, RUN = "warm", "run"
#: What a spare writes on its result pipe once warm, before it waits for a call.
READY = b"\x01"


def command(executable: str, flags: list[str], no_site: bool, spec: str) -> list[str]:
    """The child's command line. The ``-c`` program puts compat's parent directory
    first on ``sys.path`` only to import this module (compat may be vendored under
    another name, or installed where the child's path does not reach); the parent's
    ``sys.path`` replaces it before anything else is imported."""
    package = __name__.rsplit(".", 2)[0]  # "compat", or where it was vendored
    top = sys.modules[package.split(".")[0]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(top.__file__ or "")))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); from {package}._child.boot import main; main()"
    )
    return [executable, *flags, *(["-S"] if no_site else []), "-c", code, spec]


def main() -> None:
    """The child's life (see the module)."""
    from .._native.handoff import child_ends

    call_fd, result_fd, parent_sentinel, arm, blocked = child_ends(sys.argv[-1])
    # POSIX: the async signals stay blocked (the parent blocked them while it started
    # this child, and exec keeps a mask) until the target is about to run, as in
    # compat's other children (compat._native.threads): a Ctrl+C that comes while the
    # child starts waits, then ends it quietly (-2) in _run. Windows has no masks: a
    # KeyboardInterrupt before the target ends the child the same way.
    try:
        arm()  # the lifeline, first
        _devnull_stdin()
        spare, sigint, log_fd = False, None, -1
        with open(call_fd, "rb") as calls:
            while True:
                data = _read_frame(calls)
                if data is None:  # the parent closed the pipe: nothing to run
                    sys.exit(0)
                message = _loads(data)
                if message[0] == WARM:
                    if not spare:  # a spare: idle until a call comes, for long maybe
                        spare, sigint = True, _idle_signals(blocked)
                        log_fd = message[2]  # its log pipe's write end (-1: none)
                    _warm(message[1])
                    os.write(result_fd, READY)  # the parent lists it as ready now
                    continue
                prep, call_bytes, record_bytes = message[1:4]
                break
        if spare:
            _busy_signals(blocked, sigint)
    except KeyboardInterrupt:
        _interrupted()
    prep["parent_sentinel"] = parent_sentinel
    code = _run(prep, call_bytes, record_bytes, result_fd, blocked, log_fd)
    if spare:
        _exit_without_teardown(code)
    sys.exit(code)


def _idle_signals(blocked: list[int]) -> Any:
    """An idle spare ignores SIGINT: a terminal's Ctrl+C reaches every process of its
    group, and it is not the spare's (it runs no call yet); a pending one is dropped.
    The other signals are unblocked (SIGTERM ends an idle spare). Returns SIGINT's
    handler, which :func:`_busy_signals` puts back."""
    from .._stdlib_child import ignore_sigint, unblock_signals

    handler = ignore_sigint()
    unblock_signals(blocked)
    return handler


def _busy_signals(blocked: list[int], handler: Any) -> None:
    """A spare handed a call: the signals blocked again and SIGINT's handler back, as
    in a cold child (a Ctrl+C that came between the call and here was ignored: the
    parent's wait stops the child after its grace period, compat._child.child)."""
    from .._stdlib_child import block_signals, restore_sigint

    block_signals(blocked)
    restore_sigint(handler)


def _interrupted() -> None:
    from .._native.threads import exit_interrupted

    exit_interrupted()


def _exit_without_teardown(code: int) -> None:
    """How a spare's child ends: as interpreter exit does up to its module teardown
    (non-daemon threads joined, atexit handlers run, standard streams flushed), then
    ``os._exit``, as a fork child ends. The teardown of the modules a spare imported
    ahead costs more than the whole hand-off (see compat._child.spares)."""
    from .._stdlib_child import run_exit_hooks

    run_exit_hooks()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    os._exit(code)


def _devnull_stdin() -> None:
    # As multiprocessing's bootstrap (util._close_stdin): the parent's terminal is not
    # the child's to read.
    if sys.stdin is None:
        return
    try:
        sys.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            sys.stdin = open(fd, encoding="utf-8", closefd=False)  # noqa: SIM115 - kept
        except BaseException:
            os.close(fd)
            raise
    except (OSError, ValueError):
        pass


def _read_frame(stream: Any) -> Optional[bytes]:
    head = stream.read(8)
    if len(head) < 8:
        return None
    n = int.from_bytes(head, "little")
    data = stream.read(n)
    if len(data) < n:
        return None
    return bytes(data)


def frame(data: bytes) -> bytes:
    """One frame of the call pipe (used by the parent)."""
    return len(data).to_bytes(8, "little") + data


def _loads(data: bytes) -> Any:
    from .outcome import pickle  # the C accelerator: see compat._stdlib_child.c_pickle

    return pickle.loads(data)


def _warm(modules: list[str]) -> None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # a warm-up is a guess; the run imports what it needs
            pass


def _run(
    prep: dict[str, Any],
    call_bytes: bytes,
    record_bytes: bytes,
    result_fd: int,
    blocked: list[int],
    log_fd: int = -1,
) -> int:
    """Prepare, unpickle, unblock the signals, call, report; the exit code. ``log_fd``:
    a spare's log pipe, used if the parent forwards log records (``prep["logs"]``)."""
    from .._native.handoff import write_frame
    from . import outcome
    from .bootlogs import child_logs, name_records

    def send(data: bytes) -> None:
        write_frame(result_fd, data)

    try:
        try:
            _watch_for_multiprocessing(prep, record_bytes)
            _prepare(prep)
            target, args, kwargs = _loads(call_bytes)
            logs = child_logs(prep.get("logs"), log_fd)
            if logs is not None:  # its log records go to the parent's handlers
                from .logs import install

                install(logs)
                name_records(prep.get("name"))
        except KeyboardInterrupt:  # Windows: a Ctrl+C while it prepared
            _interrupted()
        except BaseException as exc:  # the call could not even be rebuilt here
            send(outcome.dumps((outcome.RAISED, *outcome.describe(exc))))
            return 1
        try:
            from .._stdlib_child import unblock_signals

            unblock_signals(blocked)  # one that came meanwhile is handled here
        except KeyboardInterrupt:  # a Ctrl+C that came while it started: end quietly
            _interrupted()
        try:
            outcome.call_and_report(send, target, args, kwargs)
        except SystemExit as exc:
            if exc.code is None:
                return 0
            if isinstance(exc.code, int):
                return exc.code
            sys.stderr.write(f"{exc.code}\n")
            return 1
    finally:
        os.close(result_fd)
    return 0


def _prepare(data: dict[str, Any]) -> None:
    """``multiprocessing.spawn.prepare`` without multiprocessing (its multiprocessing
    part waits for multiprocessing to be imported: :func:`_watch_for_multiprocessing`)."""
    if "environb" in data:  # a spare's, POSIX: the environment of the hand-off
        from .._native.handoff import set_environb

        set_environb(data["environb"])
    elif "environ" in data:  # a spare's, Windows
        environ = data["environ"]
        for key in [k for k in os.environ if k not in environ]:
            del os.environ[key]
        os.environ.update(environ)
    if "sys_path" in data:
        sys.path = data["sys_path"]
    if data.get("site") in ("late", "skip"):
        _site(data["site"] == "late")
    if "sys_argv" in data:
        sys.argv = data["sys_argv"]
    if "dir" in data:
        os.chdir(data["dir"])
    if "init_main_from_name" in data:
        from .mainrun import fixup_main_from_name

        fixup_main_from_name(data["init_main_from_name"])
    elif "init_main_from_path" in data:
        from .mainrun import fixup_main_from_path, sent_code

        fixup_main_from_path(data["init_main_from_path"], sent_code(data.get("main_code")))


def _site(late: bool) -> None:
    """A child started with ``-S`` for a parent that ran ``site`` (see
    :func:`compat._child.leanspawn.site_plan`): the builtins ``site`` adds (``exit``,
    ``quit``, ``help``...), and when ``late``, ``site`` itself at the first import the
    standard finders cannot satisfy (:class:`_LateSite`)."""
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
    if late:
        sys.meta_path.append(_LateSite())


class _LateSite:
    """Last on ``sys.meta_path``: the first time it is asked (no finder before it found
    the module), it runs ``site`` (whose ``.pth`` files install the parent's later
    import hooks: an editable install's finder), forgets the path entries no hook
    took until then, and asks the finders again."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        import site

        site.main()
        cache = sys.path_importer_cache
        for entry in [k for k, v in cache.items() if v is None]:
            del cache[entry]
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = None if find is None else find(name, path, target)
            if spec is not None:
                return spec
        return None


def _watch_for_multiprocessing(prep: dict[str, Any], record_bytes: bytes) -> None:
    """Once ``multiprocessing`` is imported, give it a spawn child's state."""
    if "multiprocessing" in sys.modules:  # imported already (a warm-up): now
        _adopt(prep, record_bytes)
        return
    sys.meta_path.insert(0, _Watch(prep, record_bytes))


class _Watch:
    """A meta path entry that, when ``multiprocessing`` is imported, lets the import
    run as usual and then calls :func:`_adopt`."""

    def __init__(self, prep: dict[str, Any], record_bytes: bytes) -> None:
        self.prep, self.record_bytes = prep, record_bytes

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "multiprocessing":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module
        prep, record_bytes = self.prep, self.record_bytes

        def exec_module(module: Any) -> None:
            run(module)
            _adopt(prep, record_bytes)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _adopt(prep: dict[str, Any], record_bytes: bytes) -> None:
    """What ``spawn_main``, ``spawn.prepare`` and ``Process._bootstrap`` do to
    multiprocessing's state in a spawn child."""
    import importlib
    import multiprocessing

    from .._stdlib_child import ChildHooks

    if "orig_dir" in prep:  # the directory relative main paths start from
        process: Any = importlib.import_module("multiprocessing.process")
        process.ORIGINAL_DIR = prep["orig_dir"]
    if prep.get("log_to_stderr"):
        multiprocessing.log_to_stderr()
    if "log_level" in prep:
        multiprocessing.get_logger().setLevel(prep["log_level"])
    if prep.get("start_method"):
        multiprocessing.set_start_method(prep["start_method"], force=True)
    record = _loads(record_bytes)
    parent = (prep["parent_name"], prep["parent_pid"], prep["parent_sentinel"])
    hooks = ChildHooks(*parent, "spawn", False)
    hooks.setup(record, hooks.flags())
