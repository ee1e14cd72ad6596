"""Running tests/faults/victim.py from a test: start it in a process group of its
own, read what it reports, record its process tree, and clean up whatever is left
even when the test fails."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.faults import support
from tests.helpers import ROOT, python_env


@contextmanager
def victim(
    kind: str, method: str, lifeline: str, stderr_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run tests/faults/victim.py; on the way out kill whatever is left of its
    process group, and reap it."""
    env = python_env(method, {"COMPAT_LIFELINE": "thread" if lifeline == "thread" else ""})
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.victim", kind, method],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,  # a group of its own, to clean up after a failure
        )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()
        proc.wait(support.WAIT)
        assert proc.stdout is not None
        proc.stdout.close()


def read_line(proc: subprocess.Popen[bytes], timeout: float, stderr_path: Path) -> str:
    """The victim's next line of output, within ``timeout`` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            raise AssertionError(
                f"the victim said {data!r} and then nothing within {timeout} s "
                f"(exit code {proc.poll()}); stderr:\n{stderr_path.read_text()}"
            )
        data += chunk
    return data.decode()


def start_and_record(
    kind: str, method: str, proc: subprocess.Popen[bytes], stderr_path: Path
) -> tuple[dict[str, list[int]], list[int]]:
    """Wait until the victim's children are up; return what it reported and every
    descendant it has."""
    info = json.loads(read_line(proc, support.WAIT, stderr_path))
    tree = support.descendants(proc.pid)
    reported = info["pids"] + info.get("outlive", [])
    assert set(reported) <= set(tree), f"{kind}: reported {reported}, /proc shows {tree}"
    return info, tree
