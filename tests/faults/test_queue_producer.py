"""A producer killed mid-stream: a writer process puts 1,000,000 small messages into a
compat.Queue and is SIGKILLed part way; the reader iterating ``for item in q`` gets the
messages in order, without duplicates or gaps (a prefix of what was put), then
compat.ChildError (not a hang).

The kill cannot be lossless: what the writer's put() had handed to its feeder thread
but not yet written dies with it. compat reports either how many items were lost
("up to N items it put were not sent") or that the writer died in the middle of an
item (the stream cannot be read past a partial item). 1M messages take about 2 s per
start method here, so the test uses the full count.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import compat
from tests.faults import targets_faults as tf
from tests.faults.support import BOUND, WAIT, ignores_heap_arenas, outcome
from tests.procs import expected_hard_kill_exitcode, hard_kill, wait_for_pid

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("always::tests.faults.support.CheckSkipped"),
]

MESSAGES = 1_000_000
KILL_AFTER = 300_000  # messages read when the writer is killed


@ignores_heap_arenas
def test_producer_killed_mid_stream(ctx: Any, fds: None, rec: Callable[..., Any]) -> None:
    q = ctx.Queue()
    progress = ctx.Value("q", 0)
    writer = ctx.Process(target=tf.put_many, args=(q, MESSAGES, progress, 1))
    start = time.monotonic()
    writer.start()
    got: list[int] = []
    error: BaseException | None = None
    killed_at = 0.0
    put_at_kill = 0
    try:
        try:
            for item in q:
                got.append(item)
                if len(got) == KILL_AFTER:
                    hard_kill(writer.pid)
                    killed_at = time.monotonic()
                    writer.join(WAIT)
                    put_at_kill = progress.value
        except BaseException as exc:
            error = exc
        ended = time.monotonic()
    finally:
        if writer.is_alive():
            writer.kill()
        writer.join(WAIT)
        q.close()
    assert killed_at, f"the stream ended after {len(got)} messages, before the kill"
    seconds = ended - killed_at
    how = "ended"
    if error is not None:
        lost_count = re.search(r"up to (\d+) item", str(error))
        detail = f"{lost_count.group(1)} lost" if lost_count else "died mid-item"
        how = f"{type(error).__module__}.{type(error).__name__} ({detail})"
    rec("Queue: producer killed mid-stream (1M messages)", seconds, how)
    assert put_at_kill < MESSAGES, "the writer had put everything before the kill"
    assert isinstance(error, compat.ChildError), f"{error!r} after {len(got)} messages"
    assert seconds < BOUND, f"{seconds:.1f} s from the kill to the error"
    # In order, no duplicates, no gaps: a prefix of what was put.
    assert len(got) >= KILL_AFTER
    assert got == list(range(len(got))), "messages out of order, duplicated or missing"
    assert len(got) <= put_at_kill
    assert writer.exitcode == expected_hard_kill_exitcode()
    assert error.pid == writer.pid, (error.pid, writer.pid)
    message = str(error)
    lost = re.search(r"up to (\d+) items? it put (?:was|were) not sent", message)
    if lost:
        assert len(got) + int(lost.group(1)) >= put_at_kill, (len(got), message, put_at_kill)
    elif "Every item it sent was delivered" not in message:
        # (That one: killed between items with nothing waiting in its feeder, which a
        # loaded machine allows; the prefix check above covers what arrived.)
        assert "died in the middle of an item" in message, message
    rec_total = time.monotonic() - start
    assert rec_total < 60, f"{rec_total:.1f} s for the whole stream"


@ignores_heap_arenas
@pytest.mark.parametrize(
    ("phase", "n", "close"),
    [
        ("before any put", 0, False),
        ("after put, unclosed", 1000, False),
        ("after close", 1000, True),
    ],
)
def test_producer_killed_while_idle(
    phase: str, n: int, close: bool, ctx: Any, fds: None, tmp_path: Path, rec: Callable[..., Any]
) -> None:
    """A writer killed before it put anything ends the stream cleanly; one killed after
    it put and closed, too; one killed after it put without closing delivers what its
    feeder thread had sent (every item, unless the kill came first: a busy machine),
    then ChildError saying which, never a hang nor a gap."""
    q = ctx.Queue()
    path = tmp_path / "pid"
    writer = ctx.Process(target=tf.put_then_wait, args=(q, n, close, str(path)))
    writer.start()
    try:
        assert wait_for_pid(path, WAIT) == writer.pid
        start = time.monotonic()
        hard_kill(writer.pid)
        got: list[int] = []
        out = outcome(lambda: got.extend(q), since=start)
    finally:
        if writer.is_alive():
            writer.kill()
        writer.join(WAIT)
        q.close()
    rec(f"Queue: producer killed {phase}", out.seconds, out.error or "ended cleanly")
    assert out.seconds < BOUND, out
    assert got == list(range(len(got))), "not a prefix in order"
    if n and not close:
        assert isinstance(out.error, compat.ChildError), out
        assert out.error.pid == writer.pid
        if len(got) < n:  # put() returned; the feeder thread had not sent them yet
            lost = re.search(r"up to (\d+) items? it put (?:was|were) not sent", str(out.error))
            assert lost and len(got) + int(lost.group(1)) >= n, (len(got), out)
        else:
            assert "ended without closing" in str(out.error)
    else:
        assert got == list(range(n)), f"{len(got)} items"
        assert out.ok, out
