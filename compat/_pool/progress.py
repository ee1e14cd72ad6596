"""``progress=`` of ``Pool.map`` / ``imap`` / ``imap_unordered`` / ``starmap`` (and
their ``_async`` forms) and ``ProcessPoolExecutor.map``.

``progress`` is one of:

- ``None`` / ``False`` (the default): nothing, and nothing costs anything: the
  results are the plain classes, no counting happens;
- ``True``: a progress line on stderr (done/total, percent, rate, ETA) *when stderr
  is a terminal*; with tqdm installed it is a tqdm bar. When stderr is not a
  terminal (a log file, CI, a pipe) nothing is printed;
- ``"always"``: the same line (or bar) even when stderr is not a terminal;
- a callable: called as ``progress(done, total)`` each time results arrive (a map
  chunk, an imap item, an executor chunk), ``total`` None while it is unknown (an
  ``imap`` of a generator without ``len``). It runs on the pool's manager thread
  (the executor: wherever the future completes), so it should be quick; one that
  raises is reported once on stderr and not called again.

Counts are of input items, and count failed ones too: ``done == total`` once every
item has a result or an error. The results themselves, and their order, are the
same with or without ``progress``.
"""

from __future__ import annotations

import sys
import time

from .._native.locks import shared_lock
from .results import IMapIterator, IMapUnorderedIterator, MapResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TextIO

__all__ = [
    "Progress",
    "ProgressIMapIterator",
    "ProgressIMapUnorderedIterator",
    "ProgressMapResult",
    "make_progress",
    "progress_class",
]

#: Seconds between two redraws of the built-in line (the last one always shows).
REDRAW = 0.1


def make_progress(progress: Any, total: Optional[int], label: str) -> Optional[Progress]:
    """The tracker ``progress=`` asks for, or None for no progress at all."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return Progress(progress, total, None)
    if progress is True or progress == "always":
        stream = sys.stderr
        if stream is None:
            return None
        if progress is True and not _isatty(stream):
            return None
        return Progress(None, total, _display(stream, total, label))
    raise ValueError(
        f"progress must be None, True, 'always' or a callable(done, total), not {progress!r}"
    )


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _display(stream: Any, total: Optional[int], label: str) -> Any:
    import importlib

    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except (ImportError, AttributeError):
        return Line(stream, total, label)
    return _Tqdm(tqdm(total=total, desc=label, file=stream, unit="item", dynamic_ncols=True))


class Progress:
    """Counts done items and tells a callable or a display; thread-safe."""

    def __init__(
        self,
        sink: Optional[Callable[[int, Optional[int]], object]],
        total: Optional[int],
        display: Any,
    ) -> None:
        self._sink = sink
        self._display = display
        self._lock = shared_lock()  # see compat._native.locks
        self.total = total
        self.done = 0
        self.closed = False
        if display is not None:
            display.update(0, total)
        if total == 0:
            self.advance(0)

    def advance(self, count: int) -> None:
        with self._lock:  # held while telling, so the calls see done in order
            if self.closed:
                return
            self.done += count
            if self.total is not None and self.done > self.total:
                self.done = self.total
            finished = self.total is not None and self.done >= self.total
            self._tell()
            if finished:
                self._close_locked()

    def set_total(self, total: int) -> None:
        """The total became known (an imap's iterable ran out)."""
        with self._lock:
            if self.closed or self.total is not None:
                return
            self.total = total
            if self.done >= total:
                self._tell()
                self._close_locked()

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def counter(self, count: int) -> Callable[[object], None]:
        """A future's done-callback that counts ``count`` items."""
        return lambda _future: self.advance(count)

    def _tell(self) -> None:
        if self._sink is not None:
            try:
                self._sink(self.done, self.total)
            except Exception:
                import traceback

                self._sink = None
                print("compat: a progress callable raised (not called again):", file=sys.stderr)
                traceback.print_exc()
        if self._display is not None:
            self._display.update(self.done, self.total)

    def _close_locked(self) -> None:
        if not self.closed:
            self.closed = True
            if self._display is not None:
                self._display.close()


class Line:
    """The built-in progress line: ``label  37/100  37%  412.3/s  ETA 0:00:02``,
    redrawn in place (``\\r``) at most every :data:`REDRAW` seconds."""

    def __init__(self, stream: TextIO, total: Optional[int], label: str) -> None:
        self._stream = stream
        self._label = label
        self._start = time.monotonic()
        self._drawn = 0.0
        self._width = 0
        self._last: tuple[int, Optional[int]] = (0, total)
        self._shown: Optional[tuple[int, Optional[int]]] = None

    def update(self, done: int, total: Optional[int]) -> None:
        self._last = (done, total)
        now = time.monotonic()
        if now - self._drawn >= REDRAW or (total is not None and done >= total):
            self._drawn = now
            self._draw(done, total, now)

    def close(self) -> None:
        if self._shown != self._last:
            self._draw(*self._last, time.monotonic())
        self._write("\n")

    def _draw(self, done: int, total: Optional[int], now: float) -> None:
        self._shown = (done, total)
        self._write("\r" + self.text(done, total, now - self._start))

    def text(self, done: int, total: Optional[int], elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [self._label]
        if total is None:
            parts.append(f"{done}")
        else:
            percent = 100 * done // total if total else 100
            parts.append(f"{done}/{total} {percent:3d}%")
        parts.append(f"{rate:.1f}/s" if rate < 100 else f"{rate:.0f}/s")
        if total is not None and done < total and rate > 0:
            parts.append(f"ETA {_clock((total - done) / rate)}")
        elif total is not None and done >= total:
            parts.append(f"in {_clock(elapsed)}")
        text = "  ".join(parts)
        padded = text.ljust(self._width)  # blank what a longer previous line left
        self._width = len(text)
        return padded

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _Tqdm:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._shown = 0

    def update(self, done: int, total: Optional[int]) -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
            self._bar.refresh()
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done

    def close(self) -> None:
        self._bar.close()


# The results of calls with progress: the plain classes count nothing. ---------


if TYPE_CHECKING:
    _MapBase = MapResult[Any]
    _IMapBase = IMapIterator[Any]
    _UnorderedBase = IMapUnorderedIterator[Any]
else:  # no typing at run time
    _MapBase, _IMapBase, _UnorderedBase = MapResult, IMapIterator, IMapUnorderedIterator


class ProgressMapResult(_MapBase):
    """A :class:`MapResult` that counts each chunk's items before delivering it."""

    progress: Progress

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        size = self._chunksize
        self.progress.advance(min(size, len(self._value) - index * size))
        super()._deliver(index, ok, value)


class ProgressIMapIterator(_IMapBase):
    """An :class:`IMapIterator` that counts each item (or chunk) as it arrives."""

    progress: Progress
    chunksize = 1

    def _deliver(self, index: int, ok: bool, value: Any) -> None:
        self.progress.advance(len(value) if ok and self._flatten else self.chunksize)
        super()._deliver(index, ok, value)
        self._total_known()

    def _set_length(self, length: int) -> None:
        super()._set_length(length)
        if self.chunksize == 1:
            self.progress.set_total(length)
        self._total_known()

    def _total_known(self) -> None:
        # Chunks of an iterable without len: the item count is exact once every
        # chunk is in (the last one may be short).
        length = self._length
        if self.progress.total is None and length is not None and self._index >= length:
            self.progress.set_total(self.progress.done)


class ProgressIMapUnorderedIterator(ProgressIMapIterator, _UnorderedBase):
    """:class:`IMapUnorderedIterator` with counting (its ``_deliver`` comes after
    :class:`ProgressIMapIterator`'s in the method order)."""


def progress_class(cls: type[IMapIterator[Any]]) -> type[ProgressIMapIterator]:
    """The counting class of an imap iterator class."""
    if issubclass(cls, IMapUnorderedIterator):
        return ProgressIMapUnorderedIterator
    return ProgressIMapIterator
