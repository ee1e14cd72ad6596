"""``progress=`` on Pool.map / starmap / imap / imap_unordered / the ``_async`` forms
and ProcessPoolExecutor.map (issue 11 item 5)."""

from __future__ import annotations

import io
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import compat
from compat._pool.progress import Line, Progress, make_progress
from tests import targets_pool as tp

WAIT = 60.0
Calls = list[tuple[int, Optional[int]]]


def recorder() -> tuple[Calls, Any]:
    calls: Calls = []
    lock = threading.Lock()

    def progress(done: int, total: Optional[int]) -> None:
        with lock:
            calls.append((done, total))

    return calls, progress


def check_calls(calls: Calls, total: int) -> None:
    assert calls, "the progress callable was never called"
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)  # never goes back
    assert calls[-1] == (total, total)
    assert all(t in (None, total) for _, t in calls)


def gen(n: int) -> Iterator[int]:
    yield from range(n)


@pytest.mark.timeout(WAIT)
def test_pool_progress_callable(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    with ctx.Pool(2) as pool:
        expected = [x * x for x in range(37)]
        for chunksize in (None, 1, 5):
            calls, progress = recorder()
            assert pool.map(tp.square, range(37), chunksize, progress=progress) == expected
            check_calls(calls, 37)
        calls, progress = recorder()
        pairs = [(i, 1) for i in range(23)]
        assert pool.starmap(tp.add, pairs, progress=progress) == [i + 1 for i in range(23)]
        check_calls(calls, 23)
        calls, progress = recorder()
        result = pool.map_async(tp.square, range(10), progress=progress)
        assert result.get(WAIT) == expected[:10]
        check_calls(calls, 10)
        calls, progress = recorder()
        assert pool.starmap_async(tp.add, pairs, 4, progress=progress).get(WAIT)[-1] == 23
        check_calls(calls, 23)
        calls, progress = recorder()
        assert list(pool.imap(tp.square, range(20), progress=progress)) == expected[:20]
        check_calls(calls, 20)
        calls, progress = recorder()
        got = sorted(pool.imap_unordered(tp.square, range(20), 3, progress=progress))
        assert got == expected[:20]
        check_calls(calls, 20)


@pytest.mark.timeout(WAIT)
def test_imap_of_a_generator_learns_its_total(start_method: str) -> None:
    with compat.Pool(2, context=compat.get_context(start_method)) as pool:
        for chunksize in (1, 4):
            calls, progress = recorder()
            it = pool.imap(tp.square, gen(21), chunksize, progress=progress)
            assert list(it) == [x * x for x in range(21)]
            pool_calls = list(calls)
            assert pool_calls[-1] == (21, 21)
            if chunksize == 4:  # the feeder's end is seen only once all chunks are in
                assert pool_calls[0][1] is None


@pytest.mark.timeout(WAIT)
def test_failed_items_count(start_method: str) -> None:
    with compat.Pool(2, context=compat.get_context(start_method)) as pool:
        calls, progress = recorder()
        with pytest.raises(KeyError):
            pool.starmap(tp.fail_on, [(x, 5) for x in range(12)], 3, progress=progress)
        check_calls(calls, 12)


@pytest.mark.timeout(WAIT)
def test_executor_map_progress(start_method: str) -> None:
    with compat.ProcessPoolExecutor(2, mp_context=compat.get_context(start_method)) as ex:
        calls, progress = recorder()
        got = list(ex.map(tp.square, range(30), chunksize=4, progress=progress))
        assert got == [x * x for x in range(30)]
        check_calls(calls, 30)
        calls, progress = recorder()
        got = list(ex.map(tp.add, range(9), range(100), progress=progress))  # shortest: 9
        assert got == [2 * i for i in range(9)]
        check_calls(calls, 9)
        calls, progress = recorder()
        assert list(ex.map(tp.square, gen(5), progress=progress)) == [0, 1, 4, 9, 16]
        assert calls[-1] == (5, None)  # a generator: the total stays unknown


@pytest.mark.timeout(WAIT)
def test_nothing_printed_without_a_terminal(
    start_method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not sys.stderr.isatty()
    with compat.Pool(2, context=compat.get_context(start_method)) as pool:
        assert pool.map(tp.square, range(8), progress=True) == [x * x for x in range(8)]
        assert list(pool.imap(tp.square, range(3), progress=True)) == [0, 1, 4]
    with compat.ProcessPoolExecutor(1, mp_context=compat.get_context(start_method)) as ex:
        assert list(ex.map(tp.square, range(3), progress=True)) == [0, 1, 4]
    assert capsys.readouterr().err == ""


@pytest.mark.timeout(WAIT)
def test_always_draws_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    with compat.Pool(2) as pool:
        assert pool.map(tp.square, range(8), progress="always") == [x * x for x in range(8)]
    err = capsys.readouterr().err
    assert err.startswith("\rPool.map  0/8   0%")
    assert "\rPool.map  8/8 100%" in err and err.endswith("\n")
    assert err.count("\n") == 1


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_true_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = FakeTty()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed
    tracker = make_progress(True, 4, "Pool.map")
    assert tracker is not None
    for _ in range(4):
        tracker.advance(1)
    assert "Pool.map  4/4 100%" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


def test_uses_tqdm_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class FakeBar:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs, self.total, self.n, self.closed = kwargs, kwargs["total"], 0, False
            made.append(self)

        def update(self, n: int) -> None:
            self.n += n

        def refresh(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    monkeypatch.setattr(sys, "stderr", FakeTty())
    tracker = make_progress(True, None, "Pool.imap")
    assert tracker is not None
    tracker.advance(3)
    tracker.advance(2)
    tracker.set_total(5)
    (bar,) = made
    assert (bar.n, bar.total, bar.closed) == (5, 5, True)
    assert bar.kwargs["desc"] == "Pool.imap" and bar.kwargs["file"] is sys.stderr


def test_line_text() -> None:
    line = Line(io.StringIO(), 100, "Pool.map")
    assert line.text(25, 100, 5.0) == "Pool.map  25/100  25%  5.0/s  ETA 0:00:15"
    assert line.text(100, 100, 3725.0).strip() == "Pool.map  100/100 100%  0.0/s  in 1:02:05"
    assert line.text(7, None, 2.0).strip() == "Pool.map  7  3.5/s"


def test_bad_values_and_raising_callables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="progress must be"):
        make_progress("yes", 3, "Pool.map")
    assert make_progress(None, 3, "x") is None and make_progress(False, 3, "x") is None

    def boom(done: int, total: Optional[int]) -> None:
        raise RuntimeError("boom")

    tracker = Progress(boom, 2, None)
    tracker.advance(1)
    tracker.advance(1)  # not called again
    assert tracker.closed and tracker.done == 2
    assert capsys.readouterr().err.count("a progress callable raised") == 1
