"""Ctrl+C: workers exit quietly on SIGINT.

- A terminal's Ctrl+C reaches every process of the foreground group: a victim program
  (tests/faults/victim.py) busy in ``pool.apply_async(...).get()`` or
  ``future.result()`` gets SIGINT sent to its whole process group. The program sees
  one KeyboardInterrupt, the workers end without a traceback each, the program exits
  soon, and none of its processes is left.
- SIGINT to one worker alone: the task it was running fails with compat.ChildError
  (exit code -2, SIGINT), and the pool goes on with a replacement.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import compat
from tests.faults import support
from tests.faults import targets_faults as tf
from tests.faults.running import read_line, start_and_record, victim
from tests.faults.support import BOUND, WAIT, outcome
from tests.procs import posix_only, wait_for_pid

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
    posix_only("Ctrl+C is a console event on Windows, not SIGINT to a process group"),
]


@pytest.mark.skipif(not support.HAVE_PROC, reason=support.NO_PROC_REASON)
@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_ctrl_c_to_the_process_group(
    kind: str, start_method: str, fds: None, tmp_path: Path, rec: Callable[..., Any]
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    tree: list[int] = []
    try:
        with victim(f"interrupt-{kind}", start_method, "kernel", stderr_path) as proc:
            _, tree = start_and_record(kind, start_method, proc, stderr_path)
            time.sleep(0.2)  # the workers are inside their tasks
            start = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            said = read_line(proc, BOUND, stderr_path).strip()
            code = proc.wait(BOUND)
            seconds = time.monotonic() - start
            left, _ = support.wait_gone(tree, support.PARENT_DEATH_BOUND)
            rec(f"Ctrl+C to the group: {kind}", seconds, "KeyboardInterrupt")
            stderr = stderr_path.read_text()
            assert said == "INTERRUPTED", (said, stderr)
            assert code == 0, (code, stderr)
            assert seconds < BOUND
            assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
            assert not left, f"still running after the program ended: {left}"
    finally:
        support.kill_quietly(tree)


def test_sigint_to_one_worker(
    make_pool: Callable[..., Any], start_method: str, tmp_path: Path, rec: Callable[..., Any]
) -> None:
    pool = make_pool(2)
    assert pool.map(tf.square, range(4)) == [0, 1, 4, 9]
    path = tmp_path / "pid"
    victim_task = pool.apply_async(tf.report_and_sleep, (str(path), 60))
    pid = wait_for_pid(path, WAIT)
    start = time.monotonic()
    os.kill(pid, signal.SIGINT)
    out = outcome(lambda: victim_task.get(WAIT), since=start)
    rec("SIGINT to one pool worker", out.seconds, out.error)
    assert isinstance(out.error, compat.ChildError), out
    assert out.error.exitcode == -signal.SIGINT and out.error.signal_name == "SIGINT"
    assert out.seconds < BOUND
    assert pool.map(tf.square, range(4)) == [0, 1, 4, 9]
