"""Children die with their parent: a victim program (tests/faults/victim.py) starts a
Pool, a ProcessPoolExecutor, a spawn_child child, a spawn_consumer consumer or a
Manager, and is SIGKILLed once they are up. Every descendant it had (found by parent
links in /proc) must be gone within 2 s, under each start method, with the Linux
kernel lifeline (F_SETSIG) and with COMPAT_LIFELINE=thread (the watch thread macOS
uses). A child started with ``get_context(die_with_parent=False)`` survives.

The same victims, sent a Ctrl+C (SIGINT to their process group), are in
test_interrupt.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.faults import support
from tests.faults.running import start_and_record, victim
from tests.procs import hard_kill

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
    pytest.mark.skipif(not support.HAVE_PROC, reason=support.NO_PROC_REASON),
]

KINDS = ("pool", "executor", "child", "consumer", "manager")
LIFELINES = ("kernel", "thread")
#: How long a die_with_parent=False child is watched to stay alive.
SURVIVES_FOR = 1.0


@pytest.mark.parametrize("lifeline", LIFELINES)
@pytest.mark.parametrize("kind", KINDS)
def test_children_die_with_a_killed_parent(
    kind: str,
    lifeline: str,
    start_method: str,
    fds: None,
    tmp_path: Path,
    rec: Callable[..., Any],
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    tree: list[int] = []
    try:
        with victim(kind, start_method, lifeline, stderr_path) as proc:
            _, tree = start_and_record(kind, start_method, proc, stderr_path)
            start = time.monotonic()
            hard_kill(proc.pid)
            proc.wait(support.WAIT)
            left, _ = support.wait_gone(tree, support.PARENT_DEATH_BOUND)
            waited = time.monotonic() - start
            rec(
                f"parent SIGKILLed: {kind} ({lifeline} lifeline)",
                waited,
                "gone" if not left else "LEFT",
            )
            assert not left, (
                f"{kind}: {len(left)} of {len(tree)} descendants still running "
                f"{waited:.2f} s after the parent was killed: {left}"
            )
    finally:
        support.kill_quietly(tree)


@pytest.mark.parametrize("lifeline", LIFELINES)
def test_a_child_that_may_outlive_its_parent_survives(
    lifeline: str,
    start_method: str,
    fds: None,
    tmp_path: Path,
    rec: Callable[..., Any],
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    tree: list[int] = []
    try:
        with victim("outlive", start_method, lifeline, stderr_path) as proc:
            info, tree = start_and_record("outlive", start_method, proc, stderr_path)
            start = time.monotonic()
            hard_kill(proc.pid)
            proc.wait(support.WAIT)
            left, _ = support.wait_gone(info["pids"], support.PARENT_DEATH_BOUND)
            waited = time.monotonic() - start
            rec(f"parent SIGKILLed: die_with_parent child ({lifeline} lifeline)", waited, "gone")
            assert not left, f"the die_with_parent child still runs after {waited:.2f} s"
            time.sleep(SURVIVES_FOR)
            survivors = [pid for pid in info["outlive"] if support.running(pid)]
            assert survivors == info["outlive"], "the die_with_parent=False child died"
            # Ours to end; then nothing of the victim's tree may stay (the helpers it
            # kept, a forkserver or a resource tracker, end with their last user).
            support.kill_quietly(info["outlive"])
            left, waited = support.wait_gone(tree, support.BOUND)
            assert not left, f"still running {waited:.1f} s after the survivor was killed: {left}"
    finally:
        support.kill_quietly(tree)
