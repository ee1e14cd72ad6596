"""IPC-06 to IPC-11: Pipe, Connection, Listener and Manager."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    ProbeTimeout,
    affected,
    differs,
    not_applicable,
)

ALL = ("linux", "darwin", "win32")
BIG_MESSAGE = 40 * 1024 * 1024  # over the "approximately 32 MiB" the docs warn about


def _probe_transport(ctx: ProbeContext) -> Observation:
    """Read multiprocessing.connection's default address family."""
    from multiprocessing import connection

    family = getattr(connection, "default_family", None)
    observed = {"default_family": family, "families": list(getattr(connection, "families", ()))}
    return affected(family == "AF_PIPE", observed, f"Listener and Pipe use {family}")


def _probe_big_message(ctx: ProbeContext) -> Observation:
    """Send a 40 MiB message through a Pipe."""
    reader, writer = ctx.mp.Pipe(duplex=False)
    errors: list[str] = []

    def send() -> None:
        try:
            writer.send_bytes(b"x" * BIG_MESSAGE)
        except Exception as exc:  # reported below
            errors.append(type(exc).__name__)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        if not reader.poll(ctx.timeout):
            raise ProbeTimeout("nothing arrived")
        size = len(reader.recv_bytes())
    finally:
        sender.join(ctx.timeout)
        reader.close()
        writer.close()
    ok = size == BIG_MESSAGE and not errors
    return affected(not ok, {"40MiB": "ok" if ok else errors or size}, f"received {size} bytes")


def _probe_select_pipe(ctx: ProbeContext) -> Observation:
    """select() on an os.pipe() and make it non-blocking."""
    import select

    r, w = os.pipe()
    observed: dict[str, str] = {}
    try:
        try:
            select.select([r], [], [], 0)
            observed["select"] = "ok"
        except OSError as exc:
            observed["select"] = type(exc).__name__
        set_blocking = getattr(os, "set_blocking", None)
        if set_blocking is None:
            observed["set_blocking"] = "missing"
        else:
            try:
                set_blocking(r, False)
                observed["set_blocking"] = "ok"
            except OSError as exc:
                observed["set_blocking"] = type(exc).__name__
    finally:
        os.close(r)
        os.close(w)
    return affected(observed["select"] != "ok", observed, f"pipes: {observed}")


def _probe_timeout_types(ctx: ProbeContext) -> Observation:
    """Check which timeout exceptions are builtin TimeoutError."""
    import concurrent.futures
    import multiprocessing
    import queue
    import subprocess

    kinds = {
        "multiprocessing.TimeoutError": multiprocessing.TimeoutError,
        "concurrent.futures.TimeoutError": concurrent.futures.TimeoutError,
        "subprocess.TimeoutExpired": subprocess.TimeoutExpired,
        "queue.Empty": queue.Empty,
    }
    observed = {k: issubclass(v, TimeoutError) for k, v in kinds.items()}
    others = [k for k, v in observed.items() if not v]
    return affected(bool(others), observed, f"not TimeoutError: {', '.join(others)}")


def _probe_unix_path(ctx: ProbeContext) -> Observation:
    """Bind an AF_UNIX socket where multiprocessing puts its listeners."""
    import socket
    from multiprocessing import connection

    family = getattr(connection, "default_family", None)
    af_unix = getattr(socket, "AF_UNIX", None)
    if family != "AF_UNIX" or af_unix is None:
        return not_applicable(f"multiprocessing uses {family} here")
    d = tempfile.mkdtemp(prefix="pymp-")
    path = os.path.join(d, "listener-abcdefgh")
    sock = socket.socket(af_unix)
    try:
        sock.bind(path)
        bound = "ok"
    except OSError as exc:
        bound = f"OSError: {exc}"
    finally:
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
    observed = {"bind": bound == "ok"}
    return affected(bound != "ok", observed, f"{len(path)}-character socket path: {bound}")


def _probe_manager(ctx: ProbeContext) -> Observation:
    """Start a Manager, round-trip a dict through it, and shut it down."""
    try:
        with ctx.mp.Manager() as manager:
            shared = manager.dict()
            shared["k"] = 1
            value = shared["k"]
    except Exception as exc:
        return differs({"manager": type(exc).__name__}, f"{type(exc).__name__}: {exc}")
    return affected(value != 1, {"manager": "ok"}, f"{ctx.method}: the Manager served a dict")


ENTRIES = (
    Difference(
        id="IPC-06",
        area="IPC",
        title="Pipe and Listener use Unix sockets on POSIX and named pipes on Windows",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "POSIX: Pipe() is a socketpair (duplex) or os.pipe(); Listener defaults to "
            "AF_UNIX. Windows: overlapped message-mode named pipes (AF_PIPE), and "
            "connection.wait() takes handles and Connections, not file descriptors. "
            "An address family the OS lacks raises ValueError."
        ),
        compat="compat.Pipe is the standard library's; let the platform choose the family.",
        handling="documents",
        sources=(
            "docs: multiprocessing.connection, Address Formats",
            "source: Lib/multiprocessing/connection.py",
        ),
        cells=("AF_UNIX", "AF_UNIX", "AF_PIPE"),
        probe=_probe_transport,
    ),
    Difference(
        id="IPC-07",
        area="IPC",
        title="Very large messages: the docs warn about 32 MiB pickles",
        oses=ALL,
        python="3.8-3.14",
        kind="limit",
        behaviour=(
            "Connections carry messages over 2 GiB since 3.8, but the docs still warn "
            "that very large pickles (about 32 MiB+, depending on the OS) may raise "
            "ValueError; Windows reads message-mode pipes in ERROR_MORE_DATA loops."
        ),
        compat="Documented; use shared memory or files for big arrays.",
        handling="documents",
        sources=("docs: multiprocessing.connection.Connection.send",),
        cells=("64 MiB seen working", "unconfirmed", "unconfirmed"),
        probe=_probe_big_message,
    ),
    Difference(
        id="IPC-08",
        area="IPC",
        title="select() works only on sockets on Windows; pipes were always blocking before 3.12",
        oses=("win32",),
        python="3.8-3.14 (os.set_blocking on Windows pipes from 3.12)",
        kind="exception",
        behaviour=(
            "On Windows select.select() on a pipe (Popen.stdout) raises OSError "
            "(WinError 10038) and os.set_blocking() handles pipes only from 3.12; "
            "asyncio's selector loop cannot do pipes or subprocesses there."
        ),
        compat="compat's run handle reads pipes with threads, as communicate() does on Windows.",
        handling="documents",
        sources=("docs: select.select", "docs: os.set_blocking"),
        cells=("works", "works", "OSError"),
        probe=_probe_select_pipe,
    ),
    Difference(
        id="IPC-09",
        area="IPC",
        title="Each API raises its own timeout exception",
        oses=ALL,
        python="3.8-3.14 (concurrent.futures.TimeoutError is TimeoutError from 3.11)",
        kind="exception",
        behaviour=(
            "Queue.get raises queue.Empty, AsyncResult.get multiprocessing.TimeoutError "
            "(not a builtin TimeoutError), Future.result concurrent.futures.TimeoutError "
            "(TimeoutError from 3.11), subprocess TimeoutExpired; Connection.poll returns "
            "False. `except TimeoutError` catches only some of them."
        ),
        compat=(
            "compat keeps each API's standard exception (drop-in); its own waits raise "
            "ChildTimeout, which is a TimeoutError."
        ),
        handling="documents",
        sources=("docs: multiprocessing.TimeoutError", "docs: concurrent.futures.TimeoutError"),
        cells=("mixed types", "mixed types", "mixed types"),
        probe=_probe_timeout_types,
    ),
    Difference(
        id="IPC-10",
        area="IPC",
        title="'AF_UNIX path too long' under a long TMPDIR breaks Manager and forkserver",
        oses=("linux", "darwin"),
        python="3.8-3.13 (mitigated by gh-132124)",
        kind="exception",
        behaviour=(
            "Listener sockets live at $TMPDIR/pymp-XXXX/listener-XXXX; past 104 bytes "
            "(macOS, whose default TMPDIR is long) or 108 (Linux) Manager() fails with a "
            "bare EOFError and forkserver with 'OSError: AF_UNIX path too long'."
        ),
        compat="Documented; the doctor checks the path here. Set a short TMPDIR if it fails.",
        handling="documents",
        sources=("gh-132124", "gh-140734"),
        cells=("long TMPDIR fails", "often fails (long TMPDIR)", "AF_PIPE"),
        probe=_probe_unix_path,
    ),
    Difference(
        id="IPC-11",
        area="IPC",
        title="A Manager is a server process: spawn rules and socket paths apply to it",
        oses=ALL,
        python="3.8-3.14",
        kind="semantics",
        behaviour=(
            "Manager() starts a server process with the current start method (so the "
            "__main__ guard and picklable registrations are needed under spawn), "
            "listens on AF_UNIX or AF_PIPE, ignores SIGINT (bpo-36368), and every proxy "
            "operation is a round trip."
        ),
        compat="compat.Manager is the standard library's, bound to compat's start method.",
        handling="documents",
        sources=("docs: multiprocessing, Managers", "bpo-36368"),
        cells=("works", "TMPDIR may break it", "works"),
        probe=_probe_manager,
    ),
)
