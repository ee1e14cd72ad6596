"""FILE: files and pipes held open by children, renames, temp files, locks."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from typing import Any

from ._model import (
    Difference,
    Observation,
    ProbeContext,
    ProbeTimeout,
    affected,
    differs,
    supported,
)
from ._probekit import (
    GRACE,
    Reaper,
    python,
    temp_dir,
)

ALL = ("linux", "darwin", "win32")


def _hold_open(path: str, conn: Any) -> None:
    with open(path, "rb"):
        conn.send("open")
        try:
            conn.recv()
        except EOFError:
            pass


def _wait_for_word(conn: Any) -> None:
    try:
        conn.recv()
    except EOFError:
        pass


def _probe_remove_open(ctx: ProbeContext) -> Observation:
    """A child opens a file; the parent tries to delete it."""
    with temp_dir() as d, Reaper() as reaper:
        path = os.path.join(d, "held.txt")
        with open(path, "w") as f:
            f.write("held")
        mine, theirs = ctx.mp.Pipe()
        p = reaper.start(ctx.mp.Process(target=_hold_open, args=(path, theirs), daemon=True))
        theirs.close()
        if not mine.poll(ctx.timeout):
            raise ProbeTimeout(f"the {ctx.method} child did not open the file")
        mine.recv()
        try:
            os.remove(path)
            outcome = "removed"
        except PermissionError:
            outcome = "PermissionError"
        mine.send("done")
        p.join(ctx.timeout)
        mine.close()
    return affected(outcome != "removed", {"remove_while_child_has_it": outcome}, outcome)


def _probe_rename(ctx: ProbeContext) -> Observation:
    """os.rename() and os.replace() onto an existing file."""
    observed = {}
    with temp_dir() as d:
        for name, fn in (("rename", os.rename), ("replace", os.replace)):
            a, b = os.path.join(d, f"{name}-a"), os.path.join(d, f"{name}-b")
            for path in (a, b):
                with open(path, "w") as f:
                    f.write(path)
            try:
                fn(a, b)
                observed[name] = "ok"
            except OSError as exc:
                observed[name] = type(exc).__name__
    return affected(observed["rename"] != "ok", observed, f"onto an existing file: {observed}")


def _probe_temp_cleanup(ctx: ProbeContext) -> Observation:
    """Remove a temp dir that is a running child's cwd; reopen a NamedTemporaryFile."""
    observed = {}
    d = tempfile.mkdtemp(prefix="compat-probe-")
    with Reaper() as reaper:
        p = reaper.popen(python("-c", "import sys; sys.stdin.read()"), cwd=d, stdin=subprocess.PIPE)
        try:
            shutil.rmtree(d)
            observed["rmtree_child_cwd"] = "ok"
        except OSError as exc:
            observed["rmtree_child_cwd"] = type(exc).__name__
        p.stdin.close()
        p.wait(GRACE)
    shutil.rmtree(d, ignore_errors=True)
    with tempfile.NamedTemporaryFile() as f:
        try:
            open(f.name).close()
            observed["reopen_named_temp"] = "ok"
        except OSError as exc:
            observed["reopen_named_temp"] = type(exc).__name__
    failed = any(v != "ok" for v in observed.values())
    return affected(failed, observed, f"temp files: {observed}")


def _probe_locks(ctx: ProbeContext) -> Observation:
    """Look for the fcntl (POSIX) and msvcrt (Windows) locking modules."""
    import importlib.util

    observed = {m: importlib.util.find_spec(m) is not None for m in ("fcntl", "msvcrt")}
    if observed["fcntl"]:
        return supported(observed, "fcntl: advisory flock/lockf")
    return differs(observed, "no fcntl: msvcrt.locking gives mandatory byte-range locks")


def _probe_pipe_eof(ctx: ProbeContext) -> Observation:
    """Close a pipe's write end while a child runs; does the reader see EOF?"""
    r, w = os.pipe()
    mine, theirs = ctx.mp.Pipe()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(os.read(r, 1)), daemon=True)
    with Reaper() as reaper:
        p = reaper.start(ctx.mp.Process(target=_wait_for_word, args=(theirs,), daemon=True))
        theirs.close()
        os.close(w)
        reader.start()
        reader.join(0.5)
        eof = bool(got)
        mine.send("done")
        p.join(ctx.timeout)
        reader.join(GRACE)  # the child is gone: EOF now
        mine.close()
    os.close(r)
    detail = "EOF arrived" if eof else "no EOF while the child lived: it holds the write end"
    return affected(not eof, {"eof_while_child_runs": eof}, f"{ctx.method}: {detail}")


ENTRIES = (
    Difference(
        id="FILE-01",
        area="FILE",
        title="A file open in a child cannot be deleted on Windows",
        oses=("win32",),
        python="all",
        kind="exception",
        behaviour=(
            "os.remove() of a file any process has open raises PermissionError "
            "[WinError 32] on Windows; POSIX removes the name and frees the data when "
            "the last holder closes it. Log rotation and temp cleanup while a child "
            "still holds a file fail only on Windows."
        ),
        compat=(
            "compat cannot change Windows file sharing; a Child used as a context "
            "manager has ended (and closed its files) when the block ends."
        ),
        handling="documents",
        sources=("docs: os.remove",),
        cells=("removed", "removed", "PermissionError"),
        probe=_probe_remove_open,
    ),
    Difference(
        id="FILE-02",
        area="FILE",
        title="os.rename() onto an existing file raises FileExistsError on Windows",
        oses=("win32",),
        python="all",
        kind="exception",
        behaviour=(
            "POSIX rename replaces the target atomically; Windows always raises "
            "FileExistsError. os.replace() overwrites everywhere, but on Windows fails "
            "with PermissionError while the target is open elsewhere."
        ),
        compat="Documented; use os.replace() (with a retry on Windows).",
        handling="documents",
        sources=("docs: os.rename", "docs: os.replace"),
        cells=("replaces", "replaces", "FileExistsError"),
        probe=_probe_rename,
    ),
    Difference(
        id="FILE-03",
        area="FILE",
        title="Temp files and directories in use by a child cannot be cleaned up on Windows",
        oses=("win32",),
        python="3.8-3.14 (delete_on_close 3.12, ignore_cleanup_errors 3.10)",
        kind="exception",
        behaviour=(
            "TemporaryDirectory cleanup fails with PermissionError while a child has a "
            "file open in it or runs with its cwd there, and a NamedTemporaryFile "
            "cannot be reopened by name while open (3.12 adds delete_on_close=False)."
        ),
        compat="Documented; join children before cleanup and pass paths, not open files.",
        handling="documents",
        sources=("docs: tempfile.NamedTemporaryFile", "docs: tempfile.TemporaryDirectory"),
        cells=("cleanup works", "cleanup works", "PermissionError"),
        probe=_probe_temp_cleanup,
    ),
    Difference(
        id="FILE-04",
        area="FILE",
        title="File locks: advisory fcntl on POSIX, mandatory msvcrt.locking on Windows",
        oses=ALL,
        python="all",
        kind="semantics",
        behaviour=(
            "fcntl (flock, lockf) exists only on POSIX and is advisory; importing it on "
            "Windows raises ImportError, where msvcrt.locking gives mandatory byte-range "
            "locks. Fork children share the parent's open files, offsets and flock locks."
        ),
        compat="Documented; use a lock-file library for portable file locks.",
        handling="documents",
        sources=("docs: fcntl", "docs: msvcrt.locking"),
        cells=("fcntl, advisory", "fcntl, advisory", "msvcrt, mandatory"),
        probe=_probe_locks,
    ),
    Difference(
        id="FILE-05",
        area="FILE",
        title="A fork child holds every pipe the parent had open, so readers never see EOF",
        oses=("linux", "darwin"),
        python="3.8-3.14",
        kind="hang",
        behaviour=(
            "fork copies all descriptors, inheritable or not: a child started while the "
            "parent held the write end of a pipe (a subprocess's stdin, a socket) keeps "
            "it open, so the reading side waits for EOF until that child exits. Spawn "
            "and forkserver children hold only what they were given."
        ),
        compat=(
            "Documented; it applies whenever compat's policy allows fork; "
            "get_context('spawn') avoids the copies."
        ),
        handling="documents",
        sources=(
            "docs: os, Inheritance of File Descriptors",
            "docs: multiprocessing, Contexts and start methods",
        ),
        cells=("fork: no EOF", "fork: no EOF", "EOF"),
        probe=_probe_pipe_eof,
    ),
)
