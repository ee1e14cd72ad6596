"""``Process``: a drop-in ``multiprocessing.Process`` whose start method follows
compat's policy, with spawn pre-flight checks.

The classes live at module level (not made per context) because spawn and
forkserver children unpickle the Process object by class reference.
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess

from .._stdlib import (
    BASE_PROCESS_ATTRS,
    holds_process_call,
    process_call,
    set_process_call,
    start_popen,
)
from .main_checks import check_main_guard, main_file_fixup
from .preflight import check_parts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Optional

__all__ = ["ForkProcess", "ForkServerProcess", "Process", "SpawnProcess"]


class Process(BaseProcess):
    """A drop-in for ``multiprocessing.Process`` (same constructor, methods and
    attributes; subclass it and override ``run()`` as usual).

    It starts with the start method of compat's default context
    (:func:`compat.get_context`), chosen by :func:`compat.choose_start_method`:
    fork on Linux and macOS when that is safe, forkserver or spawn when it is not,
    spawn on Windows. ``compat.get_context("spawn").Process`` pins a method.

    Before a spawn or forkserver start, the target, arguments and (for
    subclasses) the instance's attributes are checked in the parent: a problem
    raises :class:`compat.SpawnError` naming the object, instead of the standard
    library's late, cryptic failure (on Windows, in the already-started child).

    ``exitcode`` is the standard library's: negative signal number on POSIX,
    and on Windows -15 after ``terminate()`` or ``kill()`` (both call
    TerminateProcess) and raw NTSTATUS codes after a crash. :class:`compat.Child`
    normalises those.
    """

    __module__ = "compat"
    _compat_method: ClassVar[Optional[str]] = None
    _start_method: ClassVar[Optional[str]] = None

    def start(self) -> None:
        from .._context import get_context

        ctx = get_context(type(self)._compat_method)
        method = ctx.method
        what = f"process {self.name!r}"
        check_main_guard(method, what)
        if method == "fork":
            ctx._warn_if_fork_unsafe()
            super().start()
            return
        target, args, kwargs = process_call(self)
        parts = [("target", target)]
        parts += [(f"args[{i}]", a) for i, a in enumerate(args)]
        parts += [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
        if type(self).run is not BaseProcess.run:
            # A subclass's own attributes travel with it (research MAIN-05).
            parts += [
                (f"self.{k}", v) for k, v in vars(self).items() if k not in BASE_PROCESS_ATTRS
            ]
        fixed = check_parts(method, parts, what=what)
        if not fixed:
            with main_file_fixup(method):
                super().start()
            return
        # Swap in cloudpickle carriers only while start() pickles the object, so
        # the parent's own view of the Process does not change.
        state = vars(self)
        own = [p[len("self.") :] for p in fixed if p.startswith("self.")]
        saved: dict[str, Any] = {k: state[k] for k in own}
        try:
            set_process_call(
                self,
                fixed.get("target", target),
                tuple(fixed.get(f"args[{i}]", a) for i, a in enumerate(args)),
                {k: fixed.get(f"kwargs[{k!r}]", v) for k, v in kwargs.items()},
            )
            for key in own:
                state[key] = fixed[f"self.{key}"]
            with main_file_fixup(method):
                super().start()
        finally:
            # A started process has dropped its call (a refcycle guard in start()):
            # keep that. Otherwise, and for the subclass's own attributes, give the
            # parent's view of the instance back what it had.
            if holds_process_call(self):
                set_process_call(self, target, args, kwargs)
            for key, value in saved.items():
                if key in state:
                    state[key] = value

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        from .._context import get_context

        ctx = get_context(type(process_obj)._compat_method)
        return start_popen(ctx.mp_context, process_obj)


class ForkProcess(Process):
    """A :class:`Process` that always forks (Linux and macOS only)."""

    _compat_method = "fork"
    _start_method = "fork"


class SpawnProcess(Process):
    """A :class:`Process` that always spawns a fresh interpreter (every OS)."""

    _compat_method = "spawn"
    _start_method = "spawn"


class ForkServerProcess(Process):
    """A :class:`Process` forked from the forkserver (Linux and macOS only)."""

    _compat_method = "forkserver"
    _start_method = "forkserver"


PROCESS_CLASSES = {
    None: Process,
    "fork": ForkProcess,
    "spawn": SpawnProcess,
    "forkserver": ForkServerProcess,
}
