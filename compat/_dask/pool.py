"""compat.distributed.Pool: the interface of :class:`compat.Pool` over a Dask cluster."""

from __future__ import annotations

import itertools
import pickle
import threading
from collections.abc import Iterable, Mapping

from .._errors import ChildError
from .._pool.results import ApplyResult, IMapIterator, IMapUnorderedIterator, MapResult
from .._pool.tasks import check_timeout
from .cluster import Connection
from .core import DaskCore
from .remote import APPLY, MAP, STARMAP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["Pool"]

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"


class Pool:
    """``compat.Pool`` on a Dask cluster: see :mod:`compat.distributed`.

    ``client``: a ``distributed.Client`` (never closed by the pool), a scheduler
    address (the pool's own connection, closed with it), or None: a LocalCluster of
    ``processes`` single-threaded process workers (default :func:`compat.cpu_count`),
    closed with the pool. ``processes`` means nothing else: with a given cluster,
    Dask uses all of its workers.
    """

    __module__ = "compat.distributed"

    def __init__(
        self,
        processes: Optional[int] = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: Iterable[Any] = (),
        maxtasksperchild: Optional[int] = None,
        *,
        client: Any = None,
        context: Any = None,
        task_timeout: Optional[float] = None,
        restart_on_timeout: Optional[bool] = None,
    ) -> None:
        from .._policy import Decision

        self._core: Any = None  # no manager thread: results' deadlock guard is off
        self._dask: Optional[DaskCore] = None
        self._cache: dict[int, Any] = {}
        self._state = RUN
        self._task_timeout = check_timeout(task_timeout, "task_timeout")
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None:
            raise ValueError(
                "maxtasksperchild has no Dask equivalent (workers are long-lived; a "
                "nanny restarts one only when it dies or exceeds its memory limit)"
            )
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        del context  # a start method means nothing to Dask workers
        self.backend_decision = Decision("dask", "compat.distributed.Pool", "requested")
        init = None if initializer is None else (initializer, tuple(initargs))
        conn = Connection(client, processes, init, ChildError)
        self._dask = DaskCore(conn, "pool", ChildError, restart_on_timeout)
        self._processes = conn.nthreads()
        self._feeders: list[threading.Thread] = []

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` the pool runs on."""
        assert self._dask is not None
        return self._dask.client

    def _live(self) -> DaskCore:
        if self._state != RUN or self._dask is None:
            raise ValueError("Pool not running")
        return self._dask

    def apply(
        self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: Mapping[str, Any] = {}
    ) -> Any:
        return self.apply_async(func, args, kwds).get()

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: Mapping[str, Any] = {},
        callback: Optional[Callable[[Any], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> ApplyResult[Any]:
        core = self._live()
        limit = check_timeout(timeout, "timeout")
        if limit is None:
            limit = self._task_timeout
        args, kwds = tuple(args), dict(kwds)
        parts = [("func", func)] + [(f"args[{i}]", a) for i, a in enumerate(args)]
        parts += [(f"kwds[{k!r}]", v) for k, v in kwds.items()]
        core.check(parts, "Pool.apply_async")
        result: ApplyResult[Any] = ApplyResult(self, callback, error_callback)
        deliver = lambda ok, value: result._deliver(0, ok, value)  # noqa: E731
        core.submit(func, APPLY, [(args, kwds)], [deliver], "apply_async", limit)
        return result

    def map(self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: Any = None) -> Any:
        return self._map_async(func, iterable, MAP, chunksize, None, None, "map").get()

    def starmap(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: Any = None
    ) -> Any:
        return self._map_async(func, iterable, STARMAP, chunksize, None, None, "starmap").get()

    def map_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        chunksize: Optional[int] = None,
        callback: Optional[Callable[[Any], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
    ) -> MapResult[Any]:
        return self._map_async(func, iterable, MAP, chunksize, callback, error_callback, "map")

    def starmap_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        chunksize: Optional[int] = None,
        callback: Optional[Callable[[Any], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
    ) -> MapResult[Any]:
        return self._map_async(
            func, iterable, STARMAP, chunksize, callback, error_callback, "starmap"
        )

    def _map_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        kind: int,
        chunksize: Optional[int],
        callback: Any,
        error_callback: Any,
        label: str,
    ) -> MapResult[Any]:
        core = self._live()
        items = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), self._processes * 4)
            chunksize += 1 if extra else 0
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        if not items:
            return MapResult(self, 0, 0, callback, error_callback)
        chunks = [tuple(items[i : i + chunksize]) for i in range(0, len(items), chunksize)]
        _check_chunks(core, func, chunks, chunksize, f"Pool.{label}")
        result: MapResult[Any] = MapResult(self, chunksize, len(items), callback, error_callback)
        delivers = [_indexed(result, i) for i in range(len(chunks))]
        core.submit(func, kind, chunks, delivers, label, self._task_timeout)
        return result

    def imap(self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1) -> Any:
        return self._imap(IMapIterator, func, iterable, chunksize, "imap")

    def imap_unordered(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Any:
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize, "imap_unordered")

    def _imap(
        self, cls: Any, func: Any, iterable: Iterable[Any], chunksize: Any, label: str
    ) -> Any:
        core = self._live()
        chunksize = 1 if chunksize is None else chunksize
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        core.check([("func", func)], f"Pool.{label}")
        result = cls(self, flatten=True)  # every Dask task returns a list
        kind = MAP

        def feed() -> None:  # as the standard library: the iterable is read in a thread
            it = iter(iterable)
            count = 0
            try:
                for index in itertools.count():
                    chunk = tuple(itertools.islice(it, chunksize))
                    if not chunk or self._state == TERMINATE:
                        break
                    try:
                        _check_chunks(core, func, [chunk], chunksize, f"Pool.{label}", index)
                    except Exception as exc:
                        result._deliver(index, False, exc)
                    else:
                        deliver = _indexed(result, index)
                        core.submit(func, kind, [chunk], [deliver], label, self._task_timeout)
                    count += 1
            except Exception as exc:  # the iterable raised: as the standard library
                result._deliver(count, False, exc)
                count += 1
            result._set_length(count)

        thread = threading.Thread(target=feed, name=f"compat-dask-{label}-feeder", daemon=True)
        self._feeders.append(thread)
        thread.start()
        return result

    def close(self) -> None:
        """Accept no more tasks; :meth:`join` waits for the submitted ones."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self) -> None:
        """Cancel every unfinished task (each fails with :class:`compat.ChildError`;
        a task already running in a worker runs on there, its result dropped) and
        close the cluster and connection the pool created."""
        self._state = TERMINATE
        core = self._dask
        if core is not None:
            core.cancel_all("the pool was terminated")
            core.close()

    def join(self) -> None:
        """Wait for the submitted tasks; then close what the pool created."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        for thread in self._feeders:
            thread.join()
        core = self._dask
        if core is not None:
            core.wait_idle()
            core.close()

    def __enter__(self) -> Pool:
        self._live()
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        # compat.Pool's rule: wait for the work when the block ends normally.
        if exc_type is None:
            self.close()
            self.join()
        else:
            self.terminate()

    def __repr__(self) -> str:
        return f"<compat.distributed.Pool state={self._state} client={self.client!r}>"


def _indexed(result: Any, index: int) -> Callable[[bool, Any], None]:
    return lambda ok, value: result._deliver(index, ok, value)


def _check_chunks(
    core: DaskCore, func: Any, chunks: list[Any], size: int, what: str, first: int = 0
) -> None:
    """The pre-flight check of a map: the function once, then a quick pickle of each
    chunk; only a chunk plain pickle refuses is checked item by item (naming it)."""
    core.check([("func", func)], what)
    for n, chunk in enumerate(chunks, first):
        try:
            pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)
        except Exception:
            parts = [(f"iterable[{n * size + i}]", v) for i, v in enumerate(chunk)]
            core.check(parts, what)
