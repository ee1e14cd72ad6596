"""The seed tutorial's programs, rewritten on compat, run unchanged under every start method."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 60


def run_example(name: str, method: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env=dict(os.environ, COMPAT_START_METHOD=method, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout.splitlines()


def test_fork_getppid(start_method: str) -> None:
    lines = run_example("fork_getppid.py", start_method)
    assert len(lines) == 4, lines
    parent = re.fullmatch(r"Process \((\d+)\) start\.\.\.", lines[0])
    assert parent is not None
    ppid = parent.group(1)
    # The parent's and the child's lines race; both must be there.
    created = [
        m
        for m in map(
            re.compile(rf"I \({ppid}\) just created a child process \((\d+)\)\.").fullmatch, lines
        )
        if m
    ]
    child = [
        m
        for m in map(
            re.compile(r"I am child process \((\d+)\) and my parent is (\d+)\.").fullmatch, lines
        )
        if m
    ]
    assert len(created) == 1 and len(child) == 1, lines
    assert child[0].group(1) == created[0].group(1) != ppid
    assert child[0].group(2) == ppid  # the real parent, under forkserver too
    assert lines[3].startswith(f"(start method: {start_method}, because")


def test_process_start_join(start_method: str) -> None:
    lines = run_example("process_start_join.py", start_method)
    assert len(lines) == 4, lines
    parent = re.fullmatch(r"Parent process (\d+)\.", lines[0])
    assert parent is not None
    assert lines[1] == "Child process will start."
    child = re.fullmatch(r"Run child process test \((\d+)\)\.\.\.", lines[2])
    assert child is not None and child.group(1) != parent.group(1)
    assert lines[3] == "Child process end."
