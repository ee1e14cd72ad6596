"""The seed tutorial's programs, rewritten on compat, run unchanged under every start method."""

from __future__ import annotations

import re

from tests.helpers import clean_lines, run_example


def test_fork_getppid(start_method: str) -> None:
    lines = clean_lines(run_example("fork_getppid.py", method=start_method))
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
    lines = clean_lines(run_example("process_start_join.py", method=start_method))
    assert len(lines) == 4, lines
    parent = re.fullmatch(r"Parent process (\d+)\.", lines[0])
    assert parent is not None
    assert lines[1] == "Child process will start."
    child = re.fullmatch(r"Run child process test \((\d+)\)\.\.\.", lines[2])
    assert child is not None and child.group(1) != parent.group(1)
    assert lines[3] == "Child process end."
