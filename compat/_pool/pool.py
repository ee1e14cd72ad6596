"""compat.Pool: a drop-in ``multiprocessing.Pool`` that never hangs on a dead worker."""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Iterable, Mapping, Sized
from multiprocessing import pool as _mp_pool

from .._child.main_checks import check_main_guard
from .._context import resolve_context
from .._cpu import resolve_worker_count
from .._dask.backend import BackendSwitch, dask_pool
from .._errors import ChildError
from .._native.threads import background_thread, join_started
from .._stdlib import Finalize
from . import worker as wire
from .feed import feed, make_task
from .manager import RUN, WorkerPool
from .payload import prepare_function
from .procs import method_of
from .progress import ProgressMapResult, make_progress, progress_class
from .results import (
    ApplyResult,
    IMapIterator,
    IMapUnorderedIterator,
    MapResult,
)
from .stdlib_attrs import PoolAttributes
from .tasks import Task, check_timeout, flush_child_logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TypeVar

    _S = TypeVar("_S")
    _T = TypeVar("_T")
    #: ``progress=``: None, True, "always" or a callable(done, total)
    #: (compat._pool.progress)
    Progress = Optional[Any]

__all__ = ["Pool"]


class Pool(BackendSwitch, PoolAttributes, _mp_pool.Pool):
    """A pool of worker processes with the interface of ``multiprocessing.Pool``.

    ``apply``, ``apply_async`` (``callback``, ``error_callback``), ``map``,
    ``map_async``, ``imap``, ``imap_unordered``, ``starmap``, ``starmap_async``,
    ``close``, ``join``, ``terminate`` take the same arguments, return the same
    kinds of results and raise the same exceptions: ``multiprocessing.TimeoutError``
    from ``get(timeout)``, ``multiprocessing.pool.MaybeEncodingError`` for a result
    that cannot be pickled, a task's own exception with a
    ``multiprocessing.pool.RemoteTraceback`` as ``__cause__``, ``ValueError("Pool
    not running")`` after ``close()``/``terminate()``.

    ``processes`` defaults to :func:`compat.cpu_count` (the CPUs this process may
    use: affinity and container quota, not the machine's count). ``context`` is a
    compat ``Context``, a ``multiprocessing`` context, or None for compat's
    default context (the start method its policy chose).

    Different from the standard library, on purpose:

    - A worker that dies while running a task (killed, segfault, ``os._exit``,
      ``sys.exit`` in the task, out of memory) fails exactly that task with
      :class:`compat.ChildError` (``exitcode``, ``signal_name``, ``pid``, ``task``)
      within moments, and a replacement worker starts; the standard library's
      ``get()`` waits forever (cpython#96062). Tasks queued behind it run elsewhere.
    - An exception in ``initializer`` is reported once: every waiting and later task
      fails with ``ChildError`` carrying it, instead of workers being restarted
      forever. Workers that die three times in a row before starting (a spawned
      child that cannot import the main module) break the pool the same way.
    - A task the worker cannot unpickle (a function only defined in an interactive
      ``__main__``) fails that task, with a hint, instead of hanging the pool.
    - ``with Pool() as p:`` waits for submitted work when the block ends normally
      (``close()`` then ``join()``) and terminates the workers only when the block
      raises. The standard library always terminates, so results still pending at
      the end of the block never arrive (POOL-05).
    - After ``terminate()`` every unfinished result fails with ``ChildError``
      instead of never becoming ready; ``join()`` returns within seconds even when
      a worker ignores SIGTERM (it is then killed).
    - ``map(chunksize=0)`` raises ``ValueError`` (the standard library returns a
      list of None).
    - Time limits: ``task_timeout=`` (seconds, for every task) and
      ``apply_async(..., timeout=)`` (one task). A task that runs past its limit
      fails with :class:`compat.ChildTimeout` (a ``TimeoutError``) naming it; the
      worker running it and that worker's process tree are killed and replaced,
      and the other tasks are unaffected. The limit counts from when the task could
      start in its worker, not from submission; a ``map`` chunk is one task. Every
      OS the same (the kill is SIGKILL on POSIX, TerminateProcess on Windows).
    - Workers end as soon as the pool's process ends, however it ends (SIGKILL
      included), on every OS: see :func:`compat.get_context`.
    - Checked in the caller, as for :class:`compat.Process`: a pool started at the
      top level of a script outside ``if __name__ == "__main__":`` raises
      :class:`compat.SpawnError` under spawn and forkserver before any worker starts
      (a :class:`compat.PortabilityWarning` under fork), and so does a function the
      workers cannot get, once per call (see :mod:`compat._pool.payload`). With
      cloudpickle installed, lambdas, closures and local classes (function, initializer
      or arguments) travel by value, on every start method; everything else still
      goes by reference.
    - The private attributes programs read, ``_pool`` (the worker processes),
      ``_cache``, ``_state`` and ``_processes``, are kept in step with the workers
      (:mod:`compat._pool.stdlib_attrs`).

    Linux and macOS: workers start with the context's method (fork, forkserver or
    spawn); a dead worker is noticed through its process sentinel. Windows: spawn
    only; a dead worker is noticed through the end of its pipe, and before CPython
    3.13 a pool has at most 61 workers (``WaitForMultipleObjects`` limit; the
    standard library's Pool hangs above it, gh-89240).
    """

    __module__ = "compat"
    _dask_factory = staticmethod(dask_pool)

    def __init__(
        self,
        processes: Optional[int] = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: Iterable[Any] = (),
        maxtasksperchild: Optional[int] = None,
        *,
        context: Any = None,
        task_timeout: Optional[float] = None,
        _transport: Optional[str] = None,
        backend: Optional[str] = None,  # read by __new__
        address: Optional[str] = None,
    ) -> None:
        self._core: Optional[WorkerPool] = None  # for __del__ if __init__ raises
        #: job id -> the result of every unfinished call (the standard library's)
        self._cache: dict[int, Any] = {}
        self._task_timeout = check_timeout(task_timeout, "task_timeout")
        forward_logs = bool(getattr(context, "forward_logs", True))
        ctx = resolve_context(context, argument="context")
        self._method = method_of(ctx)
        check_main_guard(self._method or "spawn", "a Pool")
        size = resolve_worker_count(processes, executor=False)
        if maxtasksperchild is not None and (
            not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0
        ):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._ctx = ctx
        self._processes = size
        self._initializer = initializer
        if initializer is not None and self._method != "fork":  # fork pickles nothing
            initializer = prepare_function(initializer, self._method, "Pool", eager=False)
        self._initargs = tuple(initargs)
        self._maxtasksperchild = maxtasksperchild
        self._feeder_threads: list[threading.Thread] = []
        core = WorkerPool(
            ctx,
            size,
            initializer,
            self._initargs,
            maxtasksperchild,
            flavour="pool",
            error_type=ChildError,
            process_factory=type(self).Process,
            transport=_transport,
            task_timeout=self._task_timeout,
            forward_logs=forward_logs,
        )
        try:
            core.start_workers()
            # In the try: a Ctrl+C in Thread.start must not leave the thread running,
            # replacing workers as the program exits (EOFError tracebacks on 3.15).
            core.start_thread(f"compat-Pool-{id(self):x}")
        except BaseException:
            core.terminate()
            raise
        self._core = core
        # Like the standard library: terminate when the pool is collected unclosed,
        # and at interpreter exit before multiprocessing reaps daemonic children.
        self._terminate = Finalize(self, core.terminate, exitpriority=15)

    def _check_running(self) -> None:
        if self._core is None or self._core.state != RUN:
            raise ValueError("Pool not running")

    def _live_core(self) -> WorkerPool:
        self._check_running()
        assert self._core is not None
        return self._core

    def apply(
        self, func: Callable[..., _T], args: Iterable[Any] = (), kwds: Mapping[str, Any] = {}
    ) -> _T:
        """Call ``func(*args, **kwds)`` in a worker and return its result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(
        self,
        func: Callable[..., _T],
        args: Iterable[Any] = (),
        kwds: Mapping[str, Any] = {},
        callback: Optional[Callable[[_T], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> ApplyResult[_T]:
        """Start ``func(*args, **kwds)`` in a worker; return an AsyncResult at once.

        ``timeout`` (compat only): seconds the task may run in its worker (default:
        the pool's ``task_timeout``); past it the task fails with
        :class:`compat.ChildTimeout` and its worker is killed and replaced."""
        limit = check_timeout(timeout, "timeout")
        core = self._live_core()
        sent = prepare_function(func, self._method, "Pool.apply_async", eager=False)
        result: ApplyResult[_T] = ApplyResult(self, callback, error_callback)
        try:
            task = make_task(result, 0, wire.APPLY, func, sent, args, kwds, "apply_async")
        except BaseException:  # SpawnError, or a BaseException raised while pickling
            self._cache.pop(result._job, None)  # never submitted
            raise
        if task is not None:
            task.timeout = limit
            core.submit([task])
        return result

    def map(
        self,
        func: Callable[[_S], _T],
        iterable: Iterable[_S],
        chunksize: Optional[int] = None,
        *,
        progress: Progress = None,
    ) -> list[_T]:
        """``list(map(func, iterable))``, run in chunks across the workers.

        ``progress`` (compat only; also on ``starmap``, ``imap``, ``imap_unordered``
        and the ``_async`` forms): ``True`` draws a progress line on stderr (done/total,
        rate, ETA; a tqdm bar when tqdm is installed) if stderr is a terminal, and
        prints nothing otherwise; ``"always"`` draws it even when stderr is not a
        terminal; a callable is called as ``progress(done, total)`` as results arrive
        (``total`` None while unknown), on the pool's thread. Every OS the same
        (Windows consoles included). Results and their order do not change
        (:mod:`compat._pool.progress`)."""
        return self._map_async(
            func, iterable, wire.MAP, chunksize, None, None, "map", progress
        ).get()

    def starmap(
        self,
        func: Callable[..., _T],
        iterable: Iterable[Iterable[Any]],
        chunksize: Optional[int] = None,
        *,
        progress: Progress = None,
    ) -> list[_T]:
        """Like :meth:`map`, with each element unpacked as the arguments."""
        result = self._map_async(
            func, iterable, wire.STARMAP, chunksize, None, None, "starmap", progress
        )
        return result.get()

    def map_async(
        self,
        func: Callable[[_S], _T],
        iterable: Iterable[_S],
        chunksize: Optional[int] = None,
        callback: Optional[Callable[[list[_T]], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
        *,
        progress: Progress = None,
    ) -> MapResult[_T]:
        """Asynchronous :meth:`map`; returns a result whose ``get()`` is the list."""
        return self._map_async(
            func, iterable, wire.MAP, chunksize, callback, error_callback, "map_async", progress
        )

    def starmap_async(
        self,
        func: Callable[..., _T],
        iterable: Iterable[Iterable[Any]],
        chunksize: Optional[int] = None,
        callback: Optional[Callable[[list[_T]], object]] = None,
        error_callback: Optional[Callable[[BaseException], object]] = None,
        *,
        progress: Progress = None,
    ) -> MapResult[_T]:
        """Asynchronous :meth:`starmap`."""
        return self._map_async(
            func,
            iterable,
            wire.STARMAP,
            chunksize,
            callback,
            error_callback,
            "starmap_async",
            progress,
        )

    def _map_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        kind: int,
        chunksize: Optional[int],
        callback: Optional[Callable[[list[Any]], object]],
        error_callback: Optional[Callable[[BaseException], object]],
        label: str,
        progress: Progress = None,
    ) -> MapResult[Any]:
        core = self._live_core()
        items = iterable if hasattr(iterable, "__len__") else list(iterable)
        length = len(items)  # type: ignore[arg-type]
        if chunksize is None:
            chunksize, extra = divmod(length, self._processes * 4)
            if extra:
                chunksize += 1
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        tracker = None if progress is None else make_progress(progress, length, f"Pool.{label}")
        if length == 0:  # ready at once; nothing is sent, so nothing is checked
            return MapResult(self, 0, 0, callback, error_callback)
        sent = prepare_function(func, self._method, f"Pool.{label}", eager=True)
        if tracker is None:
            result: MapResult[Any] = MapResult(self, chunksize, length, callback, error_callback)
        else:
            result = ProgressMapResult(self, chunksize, length, callback, error_callback)
            result.progress = tracker
        it = iter(items)
        batch: list[Task] = []
        try:
            for index in itertools.count():
                chunk = tuple(itertools.islice(it, chunksize))
                if not chunk:
                    break
                task = make_task(
                    result, index, kind, func, sent, chunk, None, label, index * chunksize
                )
                if task is not None:
                    batch.append(task)
                # The first chunk goes out at once, so workers start while the rest is
                # pickled; then in groups, to take the pool's lock less often.
                if index == 0 or len(batch) >= 64:
                    core.submit(batch)
                    batch = []
        except BaseException:  # raised while pickling a chunk: nobody gets this result
            self._cache.pop(result._job, None)
            raise
        if batch:
            core.submit(batch)
        return result

    def imap(
        self,
        func: Callable[[_S], _T],
        iterable: Iterable[_S],
        chunksize: Optional[int] = 1,
        *,
        progress: Progress = None,
    ) -> IMapIterator[_T]:
        """Like :meth:`map`, but an iterator of results in input order, produced while
        ``iterable`` is still being consumed (in a background thread, as in the
        standard library). ``progress``: see :meth:`map`; its total is ``len(iterable)``,
        None for an iterable without ``len``."""
        return self._imap(IMapIterator, func, iterable, chunksize, "imap", progress)

    def imap_unordered(
        self,
        func: Callable[[_S], _T],
        iterable: Iterable[_S],
        chunksize: Optional[int] = 1,
        *,
        progress: Progress = None,
    ) -> IMapIterator[_T]:
        """Like :meth:`imap`, with results in the order they finish."""
        return self._imap(
            IMapUnorderedIterator, func, iterable, chunksize, "imap_unordered", progress
        )

    def _imap(
        self,
        cls: type[IMapIterator[Any]],
        func: Callable[..., Any],
        iterable: Iterable[Any],
        chunksize: Optional[int],
        label: str,
        progress: Progress = None,
    ) -> IMapIterator[Any]:
        core = self._live_core()
        if chunksize is None:
            chunksize = 1
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        sent = prepare_function(func, self._method, f"Pool.{label}", eager=True)
        total = len(iterable) if isinstance(iterable, Sized) else None
        tracker = None if progress is None else make_progress(progress, total, f"Pool.{label}")
        if tracker is not None:
            counted = progress_class(cls)(self, flatten=chunksize > 1)
            counted.progress, counted.chunksize = tracker, chunksize
            result: IMapIterator[Any] = counted
        else:
            result = cls(self, flatten=chunksize > 1)
        core.add_feeder()
        thread = background_thread(
            feed,
            args=(core, result, func, sent, iterable, chunksize, label),
            name=f"compat-Pool-{label}-feeder",
        )
        self._feeder_threads = [t for t in self._feeder_threads if t.is_alive()]
        self._feeder_threads.append(thread)
        try:
            thread.start()
        except BaseException:
            core.remove_feeder()
            raise
        return result

    def close(self) -> None:
        """Accept no more tasks; workers exit when the submitted ones are done."""
        if self._core is not None:
            self._core.close()

    def terminate(self) -> None:
        """Stop the workers now (SIGTERM, then SIGKILL after 2 s; TerminateProcess on
        Windows). Unfinished results fail with :class:`compat.ChildError`."""
        self._terminate()

    def join(self) -> None:
        """Wait for the workers to exit; call :meth:`close` or :meth:`terminate` first.

        When it returns, the pool's own threads have ended too."""
        core = self._core
        if core is None or core.state == RUN:
            raise ValueError("Pool is still running")
        for thread in list(self._feeder_threads):
            join_started(thread)
        core.join()
        flush_child_logs()

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_type is None:
            self.close()
            self.join()
        else:
            self.terminate()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        core = getattr(self, "_core", None)
        if core is not None and core.state == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning, source=self)
