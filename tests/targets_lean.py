"""Child targets for tests/test_leanspawn.py and tests/test_spares.py: what a lean
spawn child (or a warm spare) sees. Imports nothing heavy: children import it."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def environment() -> dict[str, Any]:
    main = sys.modules["__main__"]
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sys_path": list(sys.path),
        "sys_argv": list(sys.argv),
        "cwd": os.getcwd(),
        "main_name": main.__name__,
        "mp_main": "__mp_main__" in sys.modules,
        "multiprocessing": "multiprocessing" in sys.modules,
        "coverage": "coverage" in sys.modules,  # it imports multiprocessing to follow it
        "no_site": sys.flags.no_site,
        "env": os.environ.get("COMPAT_TEST_MARK"),
        "stdin": sys.stdin.read(),
    }


def mp_identity() -> dict[str, Any]:
    import multiprocessing

    me = multiprocessing.current_process()
    parent = multiprocessing.parent_process()
    return {
        "name": me.name,
        "authkey": bytes(me.authkey),
        "daemon": me.daemon,
        "parent_pid": None if parent is None else parent.pid,
        "parent_alive": None if parent is None else parent.is_alive(),
        "start_method": multiprocessing.get_start_method(allow_none=True),
        "identity_len": len(me._identity),
    }


def use_queue_and_lock(queue: Any, lock: Any, conn: Any, n: int) -> int:
    with lock:
        for i in range(n):
            queue.put(i)
    conn.send("via the connection")
    return n


def size_of(data: bytes) -> int:
    return len(data)


def _explode() -> None:
    raise RuntimeError("cannot be rebuilt here")


class RebuildFails:
    """Pickles in the parent; unpickling it (in the child) raises."""

    def __reduce__(self) -> Any:
        return (_explode, ())


def echo(value: Any) -> Any:
    return value


def exit_code(code: Any) -> None:
    sys.exit(code)


def site_state() -> dict[str, Any]:
    """Whether site ran, its builtins are there, and which finders a failed import
    (the late site's cue) installed last."""
    import builtins

    state: dict[str, Any] = {
        "no_site": bool(sys.flags.no_site),
        "builtins": all(hasattr(builtins, n) for n in ("exit", "quit", "help", "copyright")),
    }
    try:
        import compat_test_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    state["late_finders"] = [type(f).__name__ for f in sys.meta_path][-1:]
    return state


def heavy_modules() -> list[str]:
    """The modules a lean child should not need, among those it has imported (not
    enum: pickle imports re, which imports it)."""
    heavy = ("typing", "dataclasses", "inspect", "ast", "enum", "multiprocessing", "logging")
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy)


def stdin_state() -> tuple[str, bool, bool]:
    """What the child reads from stdin, whether its file object owns its descriptor
    (it would warn as an unclosed file when collected), and whether it is /dev/null."""
    raw = sys.stdin.buffer.raw  # type: ignore[attr-defined]
    same = os.path.samestat(os.fstat(sys.stdin.fileno()), os.stat(os.devnull))
    return sys.stdin.read(), bool(raw.closefd), same


def marked_environment() -> dict[str, Any]:
    """The ``COMPAT_TEST_*`` variables this process sees, as str and (POSIX) as bytes."""
    seen: dict[str, Any] = {"pid": os.getpid()}
    seen["str"] = {k: v for k, v in os.environ.items() if k.startswith("COMPAT_TEST_")}
    if sys.platform != "win32":
        seen["bytes"] = {k: v for k, v in os.environb.items() if k.startswith(b"COMPAT_TEST_")}
    return seen
