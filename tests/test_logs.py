"""Log records from children reach the parent's handlers (issue 11 item 4).

Every test configures the parent the way a program would (a handler on the root
logger, levels on named loggers) and checks what the parent's handlers received:
records from ``spawn_child``, Pool and executor workers and ``spawn_consumer``,
under every start method, with the child's pid and process name, the parent's
levels and per-logger handlers applied, and nothing at all with
``forward_logs=False``.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import compat
from compat._child import logs as child_logs
from tests import targets_logs as tl
from tests.procs import posix_only

WAIT = 60.0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(processName)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def parent_logging() -> Iterator[tuple[Collect, Collect]]:
    """The parent's configuration: root at INFO with a collecting handler (what
    ``basicConfig(level=INFO)`` gives), ``compat_test.quiet`` at ERROR,
    ``compat_test.verbose`` at DEBUG, ``compat_test.own`` with its own handler and
    no propagation. Restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    names = ("compat_test.quiet", "compat_test.verbose", "compat_test.own")
    saved_named = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    handler, own = Collect(), Collect()
    for h in list(root.handlers):  # pytest's capture handlers: not part of the program
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("compat_test.quiet").setLevel(logging.ERROR)
    logging.getLogger("compat_test.verbose").setLevel(logging.DEBUG)
    logging.getLogger("compat_test.own").propagate = False
    logging.getLogger("compat_test.own").addHandler(own)
    try:
        yield handler, own
    finally:
        logging.getLogger("compat_test.own").removeHandler(own)
        for n, (level, propagate) in saved_named.items():
            logging.getLogger(n).setLevel(level)
            logging.getLogger(n).propagate = propagate
        root.removeHandler(handler)
        for h in saved[1]:
            root.addHandler(h)
        root.setLevel(saved[0])


def check_child_records(handler: Collect, own: Collect, pid: int, name: str, tag: str) -> None:
    mine = [r for r in handler.records if tag in r.getMessage()]
    messages = [r.getMessage() for r in mine]
    assert f"info {tag} from {pid}" in messages
    assert f"verbose debug {tag}" in messages  # the parent's DEBUG on that logger
    assert f"debug {tag}" not in messages  # the parent's root level: INFO
    assert f"quiet warning {tag}" not in messages  # compat_test.quiet is at ERROR
    assert f"own info {tag}" not in messages  # does not propagate in the parent
    assert [r.getMessage() for r in own.records] == [f"own info {tag}"]
    for record in mine:
        assert record.process == pid
        assert record.processName == name
        assert record.args is None or record.args == ()
        assert record.exc_info is None
    failed = next(r for r in mine if r.getMessage() == f"failed {tag}")
    assert failed.exc_text is not None and "ZeroDivisionError" in failed.exc_text
    text = next(line for line in handler.lines if line.startswith(f"ERROR {name}: failed {tag}"))
    assert "Traceback (most recent call last)" in text  # the parent's formatter shows it
    extra = next(r for r in mine if r.getMessage() == f"extra {tag}")
    assert extra.number == 7  # type: ignore[attr-defined]
    assert "lock" in extra.lock  # type: ignore[attr-defined]  # travelled as its repr


@pytest.mark.timeout(WAIT)
def test_spawn_child(start_method: str, parent_logging: tuple[Collect, Collect]) -> None:
    handler, own = parent_logging
    ctx = compat.get_context(start_method)
    child = ctx.spawn_child(tl.log_some, "child")
    pid = child.result(WAIT)
    assert pid == child.pid and pid is not None
    # result() returned: the child has ended and its records were handled.
    check_child_records(handler, own, pid, child.name, "child")


@pytest.mark.timeout(WAIT)
def test_pool_workers(start_method: str, parent_logging: tuple[Collect, Collect]) -> None:
    handler, _ = parent_logging
    with compat.Pool(2, context=compat.get_context(start_method)) as pool:
        pids = pool.map(tl.log_one, ["a", "b", "c"], chunksize=1)
        workers = {p.pid: p.name for p in pool._pool}
    # join() returned: every worker's records were handled.
    got = {r.getMessage(): (r.process, r.processName) for r in handler.records}
    for tag, pid in zip("abc", pids):
        assert got[f"pool {tag}"] == (pid, workers[pid])
        assert "PoolWorker" in workers[pid]


@pytest.mark.timeout(WAIT)
def test_executor_workers(start_method: str, parent_logging: tuple[Collect, Collect]) -> None:
    handler, own = parent_logging
    with compat.ProcessPoolExecutor(1, mp_context=compat.get_context(start_method)) as ex:
        pid = ex.submit(tl.log_some, "executor").result(WAIT)
        name = ex._processes[pid].name
    check_child_records(handler, own, pid, name, "executor")


@pytest.mark.timeout(WAIT)
def test_consumer(start_method: str, parent_logging: tuple[Collect, Collect]) -> None:
    handler, _ = parent_logging
    consumer = compat.get_context(start_method).spawn_consumer(tl.log_consumer)
    consumer.send(None)
    pid = consumer.send(5)
    consumer.close()  # ends the child; its records are handled before close() returns
    record = next(r for r in handler.records if r.getMessage() == "consumer got 5")
    assert (record.process, record.processName) == (pid, consumer.name)


@pytest.mark.timeout(WAIT)
def test_opt_out(start_method: str, parent_logging: tuple[Collect, Collect]) -> None:
    handler, own = parent_logging
    ctx = compat.get_context(start_method, forward_logs=False)
    assert not ctx.forward_logs and "not forwarded" in repr(ctx)
    assert ctx.get_context().forward_logs is False  # a derived context keeps it
    assert compat.get_context(start_method).forward_logs is True
    ctx.spawn_child(tl.log_some, "off").result(WAIT)
    with ctx.Pool(1) as pool:
        pool.apply(tl.log_one, ("off-pool",))
    with compat.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        ex.submit(tl.log_one, "off-executor").result(WAIT)
    child_logs.flush()
    # fork: the child wrote to its inherited copy of the handler, not the parent's;
    # spawn/forkserver: the child's logging was never configured.
    assert not [m for m in handler.messages() if "off" in m]
    assert not own.records


@pytest.mark.timeout(WAIT)
def test_listener_ends_with_its_children(
    start_method: str, parent_logging: tuple[Collect, Collect]
) -> None:
    ctx = compat.get_context(start_method)
    ctx.spawn_child(tl.log_one, "x").result(WAIT)
    with ctx.Pool(2) as pool:
        pool.map(tl.log_one, "yz")
    # Every child is gone: the listener thread ends by itself, closing its pipes.
    deadline = time.monotonic() + WAIT
    while any(t.name == "compat-child-logs" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the log listener thread did not end"
        time.sleep(0.01)
    assert child_logs._listener._readers == []
    assert child_logs._listener._wake is None
    assert child_logs.flush(0) is True  # nothing running: returns at once


def test_prepare_makes_records_picklable() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        import sys

        record = logging.LogRecord(
            "n", logging.ERROR, __file__, 1, "a %s %d", ("b", 3), sys.exc_info()
        )
    state = child_logs._prepare(record)
    assert state["msg"] == "a b 3" and state["args"] is None and state["exc_info"] is None
    assert "KeyError" in state["exc_text"]
    rebuilt = logging.makeLogRecord(pickle.loads(child_logs._dumps(state)))
    assert rebuilt.getMessage() == "a b 3"
    assert record.args == ("b", 3)  # the original record is untouched


def test_nothing_without_logging_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "logging")
    assert child_logs.open_child_logs(object()) is None


@posix_only("forks")
def test_a_fork_while_the_listener_ends_keeps_the_childs_descriptors() -> None:
    """The listener's thread ends (no child left) by closing its wake-up pipe. A fork
    by another thread in the middle of that close once gave the child a reference to
    the closed descriptor, whose number the parent had meanwhile reused for the
    child's own pipe; the child's at-fork reset closed it (a fork child's pipe gone:
    EBADF, 'died (exit code 1) before answering'). Here the fork happens exactly
    there: just after the descriptor is closed, with its number reused."""
    import os
    from multiprocessing.connection import Connection

    listener = child_logs._Listener()
    seen: list[int] = []

    class ClosingForks(Connection):
        def _close(self, _close: Any = os.close) -> None:
            super()._close()
            r, w = os.pipe()  # the lowest free number: the one just closed
            pid = os.fork()
            if pid == 0:  # pragma: no cover - reports through its exit code
                code = 1
                try:
                    listener.reset_after_fork()
                    os.fstat(r)
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            seen.append(os.waitstatus_to_exitcode(status))
            os.close(r)
            os.close(w)

    r, w = os.pipe()
    listener._wake = (ClosingForks(r, writable=False), Connection(w, readable=False))
    listener._thread = threading.current_thread()
    listener._run()  # nothing to read, no flush: it ends, closing the wake-up pipe
    assert listener._wake is None
    assert seen == [0], "the fork child's pipe was closed by the listener's reset"
