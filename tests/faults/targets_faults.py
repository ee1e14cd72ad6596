"""Module-level, picklable targets for the fault tests (spawn and forkserver children
import them by module and name). Imports nothing heavy: every child imports it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

from tests import procs

# -- exceptions raised while pickling or unpickling ------------------------------------

#: The kinds of exception a (un)pickling hook raises, and the type each one is.
KINDS = ("exception", "systemexit", "keyboardinterrupt", "generatorexit")
EXC_TYPES: dict[str, type[BaseException]] = {
    "exception": ValueError,
    "systemexit": SystemExit,
    "keyboardinterrupt": KeyboardInterrupt,
    "generatorexit": GeneratorExit,
}


def make_exc(kind: str) -> BaseException:
    if kind == "systemexit":
        return SystemExit(7)
    return EXC_TYPES[kind](f"pickle fault: {kind}")


def raise_kind(kind: str) -> Any:
    """The unpickling hook of :class:`FailsToUnpickle`."""
    raise make_exc(kind)


class FailsToPickle:
    """Pickling it raises ``make_exc(kind)``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __reduce__(self) -> Any:
        raise make_exc(self.kind)

    def __repr__(self) -> str:
        return f"<FailsToPickle {self.kind}>"


class FailsToUnpickle:
    """Pickles; unpickling it raises ``make_exc(kind)``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __reduce__(self) -> Any:
        return (raise_kind, (self.kind,))

    def __repr__(self) -> str:
        return f"<FailsToUnpickle {self.kind}>"


def describe_arg(x: Any) -> str:
    return f"got {type(x).__name__}"


def return_fails_to_pickle(kind: str) -> Any:
    return FailsToPickle(kind)


def return_fails_to_unpickle(kind: str) -> Any:
    return FailsToUnpickle(kind)


# -- simple tasks -------------------------------------------------------------------------


def square(x: int) -> int:
    return x * x


def pid_of(_: object = None) -> int:
    return os.getpid()


def sleep_then(value: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return value


def report_and_sleep(path: str, seconds: float = 60.0) -> int:
    """Write this pid to ``path``, then sleep (a task to kill mid-run)."""
    return procs.report_pid_and_sleep(path, seconds)


def sleep_forever() -> None:
    while True:
        time.sleep(1)


# -- a task with a plain subprocess grandchild ------------------------------------------


def grandchild_and_sleep(path: str, seconds: float = 60.0) -> str:
    """Start a plain ``subprocess`` grandchild, write "<this pid> <grandchild pid>" to
    ``path``, then sleep: a task that runs past its time limit."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    os.replace(tmp, path)
    time.sleep(seconds)
    child.kill()
    child.wait()
    return "finished"


# -- killed while sending a large result ----------------------------------------------------

_WRITE_FRAMES = {"_write_all", "send", "send_bytes", "_send_bytes", "_send", "sendall"}


def _in_write(frame: Any) -> bool:
    """Whether the main thread is inside a write of a large buffer (a pool worker's
    frame writer or a Connection's send)."""
    depth = 0
    while frame is not None and depth < 12:
        if frame.f_code.co_name in _WRITE_FRAMES:
            for value in frame.f_locals.values():
                if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > 1 << 20:
                    return True
        frame = frame.f_back
        depth += 1
    return False


def arm_kill_while_sending(timeout: float = 10.0) -> None:
    """Start a thread that kills this process (tests.procs.hard_kill) as soon as the
    main thread is writing a large buffer to a pipe. If it never sees that within
    ``timeout`` seconds it does nothing (the result then arrives, and the test says so)."""
    main = threading.main_thread().ident

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)  # type: ignore[arg-type]
            if frame is not None and _in_write(frame):
                procs.hard_kill(os.getpid())
                return
            time.sleep(0.0005)

    threading.Thread(target=watch, daemon=True).start()


def big_result_killed_while_sending(size: int) -> bytes:
    """Return ``size`` bytes; the process is killed while it writes them back."""
    data = b"r" * size
    arm_kill_while_sending()
    return data


# -- spawn_child: killed after it sent its result ---------------------------------------------


def return_then_linger(path: str, value: Any) -> Any:
    """Return ``value``; a non-daemon thread keeps the process alive afterwards, and
    writes its pid to ``path`` once the result should be on its way."""

    def linger() -> None:
        time.sleep(0.2)
        procs.report_pid(path)
        time.sleep(60)

    threading.Thread(target=linger, daemon=False).start()
    return value


# -- spawn_consumer -----------------------------------------------------------------------------


def command_consumer() -> Any:
    """A consumer driven by ``(command, argument)`` pairs:

    - ``("echo", x)``: yields x
    - ``("sleep", path)``: writes its pid to path and sleeps a minute
    - ``("fails_to_pickle", kind)`` / ``("fails_to_unpickle", kind)``: yields such an object
    - ``("big_killed", size)``: yields ``size`` bytes and is killed while sending them
    - ``("pid", None)``: yields its pid
    """
    reply: Any = "ready"
    while True:
        command = yield reply
        if command is None:
            reply = None
            continue
        op, arg = command
        if op == "echo":
            reply = arg
        elif op == "sleep":
            reply = procs.report_pid_and_sleep(arg, 60)
        elif op == "fails_to_pickle":
            reply = FailsToPickle(arg)
        elif op == "fails_to_unpickle":
            reply = FailsToUnpickle(arg)
        elif op == "big_killed":
            reply = b"y" * arg
            arm_kill_while_sending()
        elif op == "pid":
            reply = os.getpid()
        else:
            raise ValueError(f"unknown command {op!r}")


# -- queues ---------------------------------------------------------------------------------------


def put_many(q: Any, n: int, progress: Any, every: int = 1) -> None:
    """Put 0..n-1 on ``q``; ``progress`` (a ``Value``) counts the put() calls that
    returned, updated every ``every`` items without its lock (one writer)."""
    raw = progress.get_obj() if hasattr(progress, "get_obj") else progress
    for i in range(n):
        q.put(i)
        if i % every == every - 1:
            raw.value = i + 1
    raw.value = n
    q.close()
    q.join_thread()


def put_around(q: Any, kind: str, bad: str) -> str:
    """Put "first", an object that fails to pickle (``bad="pickle"``) or to unpickle
    (``"unpickle"``), then "last"; close. Returns what the middle put() did."""
    q.put("first")
    obj = FailsToPickle(kind) if bad == "pickle" else FailsToUnpickle(kind)
    try:
        q.put(obj)
        what = "put"
    except BaseException as exc:  # the pickling error is put()'s, in this process
        what = f"raised {type(exc).__name__}"
    q.put("last")
    q.close()
    q.join_thread()
    return what


def get_three(q: Any) -> list[tuple[str, str]]:
    """Get three items; report each as ("ok", item) or ("raised", exception type)."""
    got: list[tuple[str, str]] = []
    for _ in range(3):
        try:
            got.append(("ok", q.get(timeout=30)))
        except BaseException as exc:  # the unpickling error is get()'s, in this process
            got.append(("raised", type(exc).__name__))
    return got


def put_then_wait(q: Any, n: int, close: bool, path: str) -> None:
    """Put 0..n-1, close the queue (and wait until it is all sent) if ``close``, then
    write this pid to ``path`` and wait to be killed."""
    for i in range(n):
        q.put(i)
    if close:
        q.close()
        q.join_thread()
    procs.report_pid_and_sleep(path, 60)
