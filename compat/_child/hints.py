"""What to say about an object that cannot reach another process: what it is (a
lambda, a function defined inside a function, a ``threading.Lock``, an open
file...), and what to send instead. Used by the pre-flight checks of children
(:mod:`compat._child.preflight`) and of pool tasks (:mod:`compat._pool.payload`).
"""

from __future__ import annotations

import io
import sys
import types

from .._stdlib import inherited_types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["explain", "kind_of"]


def _thread_types() -> dict[type, str]:
    import threading

    found = {type(threading.Lock()): "Lock", type(threading.RLock()): "RLock"}
    for name in ("Condition", "BoundedSemaphore", "Semaphore", "Event", "Barrier"):
        found[getattr(threading, name)] = name
    return found


#: Objects of these classes reach a process only when it starts; the pool's worker
#: gets them through initargs, a manager hands out proxies that travel anywhere.
_MANAGED = {
    "Lock": "Lock",
    "RLock": "RLock",
    "Semaphore": "Semaphore",
    "BoundedSemaphore": "BoundedSemaphore",
    "Condition": "Condition",
    "Event": "Event",
    "Barrier": "Barrier",
    "Queue": "Queue",
    "JoinableQueue": "JoinableQueue",
    "SimpleQueue": "Queue",
}


def kind_of(obj: Any) -> Optional[str]:
    """What :func:`explain` calls ``obj``, when it knows what to do about it."""
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        return "lambda"
    if isinstance(obj, (types.FunctionType, type)) and "<locals>" in obj.__qualname__:
        return "local"
    if isinstance(obj, types.GeneratorType):
        return "generator"
    if isinstance(obj, io.IOBase):
        return "file"
    if "threading" in sys.modules:
        for cls, name in _thread_types().items():
            if isinstance(obj, cls):
                return f"threading.{name}"
    queue = sys.modules.get("queue")
    if queue is not None and isinstance(obj, queue.Queue):
        return "queue.Queue"
    cls = type(obj)
    if cls.__name__ in _MANAGED and (
        getattr(cls, "_compat_shared_by_inheritance", False) or isinstance(obj, inherited_types())
    ):
        return "inherited"
    return None


def _bound_name(obj: Any) -> str:
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    for name, value in list(vars(module).items()) if module is not None else ():
        if value is obj:
            return f" (`{name}`)"
    return ""


def explain(obj: Any, *, receiver: str) -> Optional[str]:
    """Why ``obj`` cannot reach another process and what to send instead, as the
    end of a sentence about it (``"is a lambda ..."``); None when compat knows
    nothing particular. ``receiver``: ``"child"`` (a process being started, which
    may get locks and queues as arguments) or ``"worker"`` (a pool's, whose tasks
    may not carry them)."""
    kind = kind_of(obj)
    if kind == "lambda":
        return (
            f"is a lambda{_bound_name(obj)}, which cannot be sent by reference: define "
            "it with def at module level, or install cloudpickle to send it by value"
        )
    if kind == "local":
        return (
            f"is {obj.__qualname__}, defined inside a function, which cannot be sent by "
            "reference: define it at module level, or install cloudpickle to send it "
            "by value"
        )
    if kind == "generator":
        return (
            "is a generator, which cannot be pickled: pass a list instead, or what the "
            f"{receiver} needs to make it"
        )
    if kind == "file":
        return (
            "is an open file, which cannot be pickled: pass its name instead and open "
            f"it in the {receiver}"
        )
    if kind is None or (kind == "inherited" and receiver == "child"):
        return None
    if kind == "inherited":
        name = _MANAGED[type(obj).__name__]
        what = (
            f"a {type(obj).__module__}.{type(obj).__name__}, which reaches a process only "
            "as an argument of its start"
        )
    else:
        name = kind.split(".")[-1]
        what = f"a {kind}, which works only inside one process"
    noun = "lock" if name.endswith("Lock") else name.lower()
    if receiver == "child":
        return (
            f"is {what}: pass a compat.{name}() instead (a child can receive one when it "
            f"starts), or create the {noun} in the child"
        )
    return (
        f"is {what}, and a pool task cannot carry one: give the workers a compat.{name}() "
        f"through the pool's initializer and initargs, use a compat.Manager().{name}(), "
        f"or create the {noun} in the worker"
    )
