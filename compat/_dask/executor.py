"""compat.distributed.Executor: the interface of :class:`compat.ProcessPoolExecutor`
(a ``concurrent.futures.Executor``) over a Dask cluster."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor as _Executor
from concurrent.futures import Future

from .._pool.executor import BrokenProcessPool
from .._pool.futures import batched, chain_from_iterable_of_lists, result_or_cancel
from .._pool.tasks import check_timeout
from .cluster import Connection
from .core import DaskCore
from .remote import APPLY, STARMAP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = ["Executor"]


class Executor(_Executor):
    """``compat.ProcessPoolExecutor`` on a Dask cluster: see :mod:`compat.distributed`.

    ``client`` as for :class:`compat.distributed.Pool` (``max_workers`` sizes only a
    LocalCluster the executor creates). A worker that dies running a task fails that
    future with :class:`compat.BrokenProcessPool` (a :class:`compat.ChildError`)
    naming the worker's address; the executor keeps serving.
    """

    __module__ = "compat.distributed"

    def __init__(
        self,
        max_workers: Optional[int] = None,
        mp_context: Any = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: Optional[int] = None,
        task_timeout: Optional[float] = None,
        client: Any = None,
        restart_on_timeout: Optional[bool] = None,
    ) -> None:
        from .._policy import Decision

        self._dask: Optional[DaskCore] = None
        self._task_timeout = check_timeout(task_timeout, "task_timeout")
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_tasks_per_child is not None:
            raise ValueError("max_tasks_per_child has no Dask equivalent")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        del mp_context
        self.backend_decision = Decision("dask", "compat.distributed.Executor", "requested")
        init = None if initializer is None else (initializer, tuple(initargs))
        conn = Connection(client, max_workers, init, BrokenProcessPool)
        self._dask = DaskCore(conn, "executor", BrokenProcessPool, restart_on_timeout)
        self._shutdown = False
        self._lock = threading.Lock()
        self._pending: set[Future[Any]] = set()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` the executor runs on."""
        assert self._dask is not None
        return self._dask.client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._submit(self._task_timeout, fn, args, kwargs)

    def submit_with_timeout(
        self, timeout: Optional[float], fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        """:meth:`submit` with a time limit for this task (None: ``task_timeout``)."""
        limit = check_timeout(timeout, "timeout")
        return self._submit(self._task_timeout if limit is None else limit, fn, args, kwargs)

    def _submit(self, limit: Optional[float], fn: Any, args: Any, kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._shutdown or self._dask is None:
                raise RuntimeError("cannot schedule new futures after shutdown")
            core = self._dask
        parts = [("fn", fn)] + [(f"args[{i}]", a) for i, a in enumerate(args)]
        parts += [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
        core.check(parts, "ProcessPoolExecutor.submit")
        return self._send(core, fn, APPLY, [(args, kwargs)], "submit", limit)[0]

    def _send(
        self, core: DaskCore, fn: Any, kind: int, payloads: list[Any], label: str, limit: Any
    ) -> list[Future[Any]]:
        futures: list[Future[Any]] = [Future() for _ in payloads]
        calls = core.submit(fn, kind, payloads, [_sink(f) for f in futures], label, limit)
        with self._lock:
            self._pending.update(futures)
        for future, call in zip(futures, calls):
            # Cancelled by its owner: the Dask task goes too (a running one finishes
            # in its worker; its result is dropped).
            future.add_done_callback(functools.partial(self._finished, core, call))
        return futures

    def _finished(self, core: DaskCore, call: Any, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)
        if future.cancelled() and not call.settled:
            try:
                core.client.cancel([call.future], force=True)
            except Exception:
                pass
            core.settle(call, False, None)

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
    ) -> Iterator[Any]:
        """As ``ProcessPoolExecutor.map``; every chunk is sent at once (``buffersize``
        is accepted for compatibility and not used)."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end_time = None if timeout is None else timeout + time.monotonic()
        with self._lock:
            if self._shutdown or self._dask is None:
                raise RuntimeError("cannot schedule new futures after shutdown")
            core = self._dask
        chunks = list(batched(zip(*iterables), chunksize))
        from .pool import _check_chunks

        _check_chunks(core, fn, chunks, chunksize, "ProcessPoolExecutor.map")
        fs = self._send(core, fn, STARMAP, chunks, "map", self._task_timeout) if chunks else []

        def result_iterator() -> Iterator[Any]:
            try:
                fs.reverse()
                while fs:
                    if end_time is None:
                        yield result_or_cancel(fs.pop())
                    else:
                        yield result_or_cancel(fs.pop(), end_time - time.monotonic())
            finally:
                for future in fs:
                    future.cancel()

        return chain_from_iterable_of_lists(result_iterator())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more work; ``cancel_futures`` cancels the unfinished futures
        (Dask cannot tell which have started: a running task runs on, its result
        dropped); ``wait`` waits for the rest. Then closes what the executor created."""
        with self._lock:
            self._shutdown = True
        core = self._dask
        if core is None:
            return
        if cancel_futures:
            with self._lock:
                pending = list(self._pending)
            for future in pending:
                future.cancel()
        if wait:
            core.wait_idle()
            core.close()
        else:
            threading.Thread(target=_close_when_idle, args=(core,), daemon=True).start()


def _close_when_idle(core: DaskCore) -> None:
    core.wait_idle()
    core.close()


def _sink(future: Future[Any]) -> Callable[[bool, Any], None]:
    def deliver(ok: bool, value: Any) -> None:
        if future.done() or not future.set_running_or_notify_cancel():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    return deliver
