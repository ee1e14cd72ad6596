"""The ``multiprocessing`` Process records of the children compat starts itself.

A child started by the fork fast path (:mod:`compat._child.fastfork`) or by lean
spawn (:mod:`compat._child.leanspawn`) is still a ``multiprocessing`` process to
everyone who asks: in the parent, ``active_children()`` lists its record and
interpreter exit joins it; in the child, the record is ``current_process()``, with the
name, identity, ``daemon`` and ``authkey`` a started Process has. The record starts
through a Popen of compat's (``_Popen``, the standard library's own hook for a start
method), not through ``multiprocessing``'s.

Kept small: a lean spawn child unpickles its record when it imports multiprocessing.
"""

from __future__ import annotations

from multiprocessing.process import BaseProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["ForkProcess", "SpawnProcess"]


class _Record(BaseProcess):
    def __init__(self, launch: Optional[Callable[[Any], Any]] = None) -> None:
        super().__init__(daemon=False)
        self.compat_launch = launch

    @staticmethod
    def _Popen(process_obj: _Record) -> Any:
        assert process_obj.compat_launch is not None, "a record is started by its parent"
        return process_obj.compat_launch(process_obj)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        state["compat_launch"] = None  # the parent's closure stays in the parent
        return state


class ForkProcess(_Record):
    """A child forked by spawn_child's fast path."""

    _start_method = "fork"


class SpawnProcess(_Record):
    """A child spawned by spawn_child's lean path (or handed to a warm spare)."""

    _start_method = "spawn"
