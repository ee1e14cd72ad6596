"""Turning :class:`compat.Pool` calls into tasks: :func:`make_task` pickles one call
or one chunk of a map (through :mod:`compat._pool.payload`), :func:`feed` is the
thread that makes the tasks of an ``imap`` while its iterable is consumed."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from .._errors import SpawnError
from . import worker as wire
from .manager import TERMINATE, WorkerPool
from .payload import encode
from .results import IMapIterator
from .tasks import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["feed", "make_task"]

#: Tasks an imap feeder keeps queued per worker before it waits for room: enough for
#: full batches, bounded so that an endless generator does not fill the memory (the
#: standard library gets the same bound from its full task pipe).
_FEED_AHEAD = 1024


def make_task(
    sink: Any,
    index: int,
    kind: int,
    func: Any,
    sent: Any,
    args: Any,
    kwds: Any,
    label: str,
    first: int = 0,
) -> Optional[Task]:
    """A task with its pickled payload (``sent``: what :func:`prepare_function` says
    to send for ``func``), or None after failing ``sink`` with the pickling error of
    an argument (the standard library also reports it through the result). A function
    that cannot be sent raises :class:`compat.SpawnError`."""
    layout = "apply" if label == "apply_async" else "map"
    try:
        blob = encode(kind, sent, args, kwds, what=f"Pool.{label}", layout=layout, first=first)
    except SpawnError:
        raise
    except Exception as exc:
        sink._deliver(index, False, exc)
        return None
    return Task(sink, index, kind, func, args, label, blob)


def feed(
    core: WorkerPool,
    result: IMapIterator[Any],
    func: Callable[..., Any],
    sent: Any,
    iterable: Iterable[Any],
    chunksize: int,
    label: str,
) -> None:
    kind = wire.APPLY if chunksize == 1 else wire.MAP
    count = 0
    limit = _FEED_AHEAD * core.size
    try:
        it: Iterator[Any] = iter(iterable)
        while core.state != TERMINATE:
            try:
                if chunksize == 1:
                    args: Any = (next(it),)
                else:
                    args = tuple(itertools.islice(it, chunksize))
                    if not args:
                        break
            except StopIteration:
                break
            except Exception as exc:
                # The standard library's rule: the error takes the next position.
                result._deliver(count, False, exc)
                count += 1
                break
            kwds: Optional[dict[str, Any]] = {} if kind == wire.APPLY else None
            try:
                task = make_task(
                    result, count, kind, func, sent, args, kwds, label, count * chunksize
                )
            except SpawnError as exc:  # no caller to raise it to: it fails this item
                result._deliver(count, False, exc)
                task = None
            count += 1
            if task is not None:
                core.submit([task])
                core.wait_for_room(limit)
    finally:
        result._set_length(count)
        core.remove_feeder()
