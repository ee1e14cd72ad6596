"""``pytest --windows-semantics``: what Linux (or macOS) can emulate of Windows for
the duration of a test. Used by :mod:`compat.pytest_plugin`; no pytest import.

- spawn only: ``multiprocessing.get_context("fork")``/``("forkserver")``,
  ``set_start_method("fork")`` and ``compat.get_context("fork")`` raise as on Windows
  (ValueError; compat's StartMethodUnavailable), ``get_all_start_methods()`` is
  ``["spawn"]``, and both defaults are spawn (so compat's pre-flight checks run as
  for spawn: refusals, not fork-mode warnings);
- ``os.fork`` and ``os.forkpty`` do not exist (AttributeError; ``hasattr`` is False);
- POSIX-only calls made from the code under test raise
  :class:`compat.PortabilityWarning` (a warning turned into an error): ``os.kill``
  with a signal Windows lacks, 0 or SIGINT, ``os.killpg``, ``os.setsid`` and the
  other ``os`` functions Windows lacks, ``os.waitpid`` (a handle there, not a pid),
  ``signal.signal`` for a signal Windows lacks, ``signal.alarm``/``setitimer``/
  ``pthread_sigmask``..., ``subprocess.Popen(preexec_fn=, pass_fds=,
  start_new_session=, process_group=, user=, group=, extra_groups=, umask=)``, and
  ``import fcntl`` (and the other POSIX-only modules) by an ``import`` statement.

"From the code under test": the call's caller (for ``subprocess.Popen``, the first
caller outside the standard library) is not in the standard library, compat, or
pytest and its usual plugins, which make such calls portably on purpose.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
import sysconfig
import types
import warnings
from collections.abc import Iterator
from typing import Any, Callable, Optional

from .._errors import PortabilityWarning, StartMethodUnavailable

__all__ = ["EMULATION", "emulating_windows"]

EMULATION = "pytest --windows-semantics emulates Windows here"
_FORK_METHODS = ("fork", "forkserver")
#: Signals the signal module has on Windows (by name; numbers differ there).
_WINDOWS_SIGNALS = ("SIGABRT", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM", "SIGBREAK")
_OS_MISSING = (
    "killpg", "setsid", "setpgid", "setpgrp", "getpgid", "getpgrp", "getsid", "wait",
    "wait3", "wait4", "waitid", "mkfifo", "mknod", "getuid", "geteuid", "getgid",
    "getegid", "getgroups", "setuid", "setgid", "seteuid", "setegid", "nice", "openpty",
    "pipe2", "posix_spawn", "posix_spawnp", "sched_getaffinity", "sched_setaffinity",
    "getloadavg", "sysconf", "fchown", "chown", "lchown", "chroot", "sync",
)  # fmt: skip
_SIGNAL_MISSING = (
    "alarm", "setitimer", "getitimer", "pause", "pthread_kill", "pthread_sigmask",
    "sigpending", "sigwait", "sigwaitinfo", "sigtimedwait", "siginterrupt",
)  # fmt: skip
_POPEN_POSIX = (
    "preexec_fn", "pass_fds", "start_new_session", "process_group", "user", "group",
    "extra_groups", "umask",
)  # fmt: skip
POSIX_MODULES = frozenset({
    "fcntl", "termios", "tty", "pty", "grp", "pwd", "resource", "posix", "syslog",
    "crypt", "nis", "spwd", "ossaudiodev", "readline", "curses", "_posixsubprocess",
    "_posixshmem",
})  # fmt: skip
#: Packages whose calls are never the code under test's.
_MACHINERY = ("compat", "pytest", "_pytest", "pluggy", "xdist", "execnet", "pytest_timeout")


def _roots() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(standard library directories, machinery directories)."""
    paths = sysconfig.get_paths()
    stdlib = tuple({os.path.normcase(paths[k]) + os.sep for k in ("stdlib", "platstdlib")})
    machinery = []
    for name in (*_MACHINERY, "coverage"):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if file:
            machinery.append(os.path.normcase(os.path.dirname(os.path.abspath(file))) + os.sep)
    return stdlib, tuple(machinery)


class _Callers:
    def __init__(self) -> None:
        self.stdlib, self.machinery = _roots()

    def _kind(self, file: str) -> str:
        path = os.path.normcase(os.path.abspath(file)) if file[:1] != "<" else file
        if path.startswith(self.machinery):
            return "machinery"
        if path.startswith(self.stdlib) or file.startswith("<frozen"):
            return "stdlib"
        return "user"

    def user_level(self, start: int, *, through_stdlib: bool) -> Optional[int]:
        """Where the code under test made the call, as a frame index counted from this
        function (``start``: the index of the call's caller), or None when the
        standard library (unless ``through_stdlib``), compat or pytest made it. A
        function that calls :func:`_warn` gives it this index minus one."""
        frame: Optional[types.FrameType] = sys._getframe(start)
        level = start
        while frame is not None:
            kind = self._kind(frame.f_code.co_filename)
            if kind == "user":
                return level - 1
            if kind == "machinery" or not through_stdlib:
                return None
            frame = frame.f_back
            level += 1
        return None


def _warn(message: str, level: int) -> None:
    """Warn for the frame ``level`` above the caller of this function."""
    __tracebackhide__ = True  # pytest shows the caller's line, not the emulation's
    warnings.warn(f"{message} ({EMULATION})", PortabilityWarning, stacklevel=level + 2)


class _Patches:
    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        missing = object()
        old = owner.__dict__.get(name, missing) if hasattr(owner, "__dict__") else missing
        setattr(owner, name, value)

        def restore() -> None:
            if old is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, old)

        self.undo.append(restore)

    def delete(self, owner: Any, name: str) -> None:
        if name in owner.__dict__:
            old = owner.__dict__[name]
            delattr(owner, name)
            self.undo.append(lambda: setattr(owner, name, old))

    def restore(self) -> None:
        while self.undo:
            self.undo.pop()()


def _spawn_only(patches: _Patches) -> None:
    import multiprocessing
    import multiprocessing.context as mp_context

    from .. import _context, _policy

    base_get = mp_context.BaseContext.get_context

    def get_context(self: Any, method: Optional[str] = None) -> Any:
        if method in _FORK_METHODS:
            raise ValueError(f"cannot find context for {method!r} ({EMULATION}: spawn only)")
        return base_get(self, method)

    def get_all_start_methods(*args: Any) -> list[str]:
        return ["spawn"]

    patches.set(mp_context.BaseContext, "get_context", get_context)
    patches.set(mp_context.DefaultContext, "get_all_start_methods", get_all_start_methods)
    patches.set(multiprocessing, "get_all_start_methods", get_all_start_methods)

    validate = _policy.validate_method

    def validate_method(method: object, facts: Any, *, origin: str = "") -> str:
        if method in _FORK_METHODS:
            raise StartMethodUnavailable(
                f"start method {method!r} is not available on Windows, which offers only "
                f"'spawn' ({EMULATION})"
            )
        return validate(method, facts, origin=origin)

    patches.set(_policy, "validate_method", validate_method)
    cached = {k: v for k, v in _context._by_method.items() if k.split(":")[0] in _FORK_METHODS}
    for key in cached:
        _context._by_method.pop(key, None)

    def put_back() -> None:
        for key, ctx in cached.items():
            _context._by_method.setdefault(key, ctx)

    patches.undo.append(put_back)


def _no_fork(patches: _Patches) -> None:
    for name in ("fork", "forkpty"):
        patches.delete(os, name)

    def missing(name: str) -> Any:
        why = f" (Windows has no fork; {EMULATION})" if name in ("fork", "forkpty") else ""
        raise AttributeError(f"module 'os' has no attribute {name!r}{why}")

    patches.set(os, "__getattr__", missing)


def _wrap(patches: _Patches, owner: Any, name: str, check: Callable[..., None]) -> None:
    original = getattr(owner, name, None)
    if original is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        check(*args, **kwargs)
        return original(*args, **kwargs)

    wrapper.__name__ = getattr(original, "__name__", name)
    wrapper.__doc__ = getattr(original, "__doc__", None)
    patches.set(owner, name, wrapper)


def _posix_calls(patches: _Patches, callers: _Callers) -> None:
    import signal
    import subprocess

    windows_signals = {getattr(signal, n) for n in _WINDOWS_SIGNALS if hasattr(signal, n)}

    def missing_check(qualified: str, hint: str = "") -> Callable[..., None]:
        def check(*args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            level = callers.user_level(3, through_stdlib=False)
            if level is not None:
                _warn(f"{qualified}() does not exist on Windows{hint}", level)

        return check

    tree_hint = "; compat.Popen.kill_tree() and Child.kill() end a process tree on every OS"
    for name in _OS_MISSING:
        _wrap(patches, os, name, missing_check(f"os.{name}", tree_hint if "pg" in name else ""))
    for name in _SIGNAL_MISSING:
        _wrap(patches, signal, name, missing_check(f"signal.{name}"))

    def kill_check(pid: int, sig: int, *args: Any) -> None:
        __tracebackhide__ = True
        level = callers.user_level(3, through_stdlib=False)
        if level is None or sig == signal.SIGTERM:
            return
        if sig == 0:
            why = "os.kill(pid, 0) does not test a pid on Windows: 0 is CTRL_C_EVENT"
        elif sig == signal.SIGINT:
            why = (
                "os.kill(pid, SIGINT) terminates the process on Windows (exit code 2) "
                "instead of interrupting it; compat.Popen.interrupt() is portable"
            )
        else:
            why = (
                f"os.kill(pid, {_signal_name(sig)}): Windows has no such signal (os.kill "
                f"there terminates the process with exit code {sig}); Process.kill() and "
                "compat.Popen.kill_tree() are portable"
            )
        _warn(why, level)

    _wrap(patches, os, "kill", kill_check)
    _wrap(
        patches,
        os,
        "waitpid",
        missing_check("os.waitpid", " with a pid: it takes a process handle there"),
    )

    def signal_check(signum: int, *args: Any) -> None:
        __tracebackhide__ = True
        level = callers.user_level(3, through_stdlib=False)
        if level is not None and signum not in windows_signals:
            _warn(f"signal.signal({_signal_name(signum)}, ...): Windows has no such signal", level)

    _wrap(patches, signal, "signal", signal_check)

    popen_init = subprocess.Popen.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        used = [k for k in _POPEN_POSIX if kwargs.get(k) not in (None, False, (), -1)]
        if used:
            level = callers.user_level(2, through_stdlib=True)
            if level is not None:
                _warn(f"subprocess.Popen({'=, '.join(used)}=): POSIX only", level)
        popen_init(self, *args, **kwargs)

    patches.set(subprocess.Popen, "__init__", init)

    real_import = builtins.__import__

    def importer(name: str, globals: Any = None, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        top = name.partition(".")[0]
        relative = args[2] if len(args) > 2 else kwargs.get("level", 0)
        if top in POSIX_MODULES and not relative and globals:
            file = globals.get("__file__") or ""
            if file and callers._kind(file) == "user":
                _warn(f"import {name}: Windows has no {top} module", 1)
        return real_import(name, globals, *args, **kwargs)

    patches.set(builtins, "__import__", importer)


def _signal_name(sig: int) -> str:
    import signal

    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


@contextlib.contextmanager
def emulating_windows() -> Iterator[None]:
    """Emulate what can be emulated of Windows until the block ends (see the module
    docstring); PortabilityWarning is an error meanwhile unless filters say otherwise."""
    from .methods import running_under

    patches = _Patches()
    # The defaults first and back last: putting back a fork default must not meet
    # the emulation's refusal.
    with warnings.catch_warnings(), running_under("spawn", f"Windows has only spawn ({EMULATION})"):
        try:
            _spawn_only(patches)
            _no_fork(patches)
            _posix_calls(patches, _Callers())
            warnings.filterwarnings("error", category=PortabilityWarning, append=True)
            yield
        finally:
            patches.restore()
