"""compat.ProcessPoolExecutor: ``concurrent.futures.ProcessPoolExecutor`` on compat's
worker machinery, which replaces a dead worker instead of breaking for good."""

from __future__ import annotations

import atexit
import itertools
import sys
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import Future
from concurrent.futures import process as _cf_process

from .._child.main_checks import check_main_guard
from .._context import resolve_context
from .._cpu import resolve_worker_count
from .._dask.backend import BackendSwitch, dask_executor
from .._errors import ChildError
from .._native.locks import shared_lock
from . import worker as wire
from .futures import (
    SignalAwareFuture,
    batched,
    cancel,
    chain_from_iterable_of_lists,
    make_task,
    result_or_cancel,
)
from .manager import RUN, WorkerPool
from .payload import prepare_function
from .procs import method_of
from .stdlib_attrs import ExecutorAttributes
from .tasks import check_timeout, flush_child_logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, TypeVar

    _T = TypeVar("_T")

__all__ = ["BrokenProcessPool", "ProcessPoolExecutor"]


class BrokenProcessPool(ChildError, _cf_process.BrokenProcessPool):
    """A worker of a :class:`compat.ProcessPoolExecutor` died while running a task.

    A subclass of both ``concurrent.futures.process.BrokenProcessPool`` (existing
    ``except`` clauses keep working) and :class:`compat.ChildError`, so it carries
    ``exitcode`` (negative signal number when killed, on every OS), ``signal_name``,
    ``pid``, ``name``, ``method`` and ``task``. Unlike the standard library, only the
    futures of the dead worker's running task fail; the executor starts a replacement
    and keeps serving. It is raised by ``submit()`` only when the executor really is
    broken: its initializer raised, or workers kept dying before they could start.
    """

    __module__ = "compat"


_live: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_atexit_registered = False


def _python_exit() -> None:
    # As the standard library's executor does at exit: let submitted work finish;
    # unless the program is ending on Ctrl+C (an uncaught KeyboardInterrupt), which
    # must not wait for tasks: stop the workers.
    interrupted = isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
    for core in list(_live):
        if interrupted:
            core.terminate()
        else:
            core.close()
    for core in list(_live):
        core.join()


class ProcessPoolExecutor(BackendSwitch, ExecutorAttributes, _cf_process.ProcessPoolExecutor):
    """A drop-in ``concurrent.futures.ProcessPoolExecutor``.

    ``submit``, ``map`` (``timeout``, ``chunksize``, and ``buffersize`` on every
    CPython version), ``shutdown(wait, cancel_futures)``, the context manager,
    ``concurrent.futures.wait`` / ``as_completed`` on its futures, and 3.14's
    ``terminate_workers()`` / ``kill_workers()`` behave as in the standard library,
    with the same argument checks and messages. ``mp_context`` is a multiprocessing
    context or a compat ``Context``; None means compat's default context (its
    start-method policy), except that ``max_tasks_per_child`` never uses fork
    (cpython#90622), as in the standard library.

    Different on purpose: a worker that dies (killed, segfault, ``os._exit``, out of
    memory) fails only the future it was running, with :class:`compat.BrokenProcessPool`
    (a ``concurrent.futures.process.BrokenProcessPool`` carrying ``exitcode`` and
    ``signal_name``); futures queued behind it run on other workers, a replacement
    starts, and the executor keeps serving. The standard library fails every pending
    future and refuses all later work.

    ``task_timeout=`` (compat only; seconds) limits how long each task may run in
    its worker, :meth:`submit_with_timeout` one task's: past it the future fails
    with :class:`compat.ChildTimeout` (a ``TimeoutError``) and the worker and its
    process tree are killed and replaced, on every OS. Workers end as soon as the
    executor's process ends, however it ends (SIGKILL included).

    Checked in the caller, as for :class:`compat.Pool`: the first ``submit()`` or
    ``map()`` from the top level of a script outside ``if __name__ == "__main__":``
    raises :class:`compat.SpawnError` under spawn and forkserver before any worker
    starts (a :class:`compat.PortabilityWarning` under fork); a function the workers
    cannot get raises it too, once per ``map``. With cloudpickle installed, lambdas,
    closures and local classes travel by value, on every start method. The private
    attributes ``_processes``, ``_max_workers`` and ``_broken`` are kept in step
    (:mod:`compat._pool.stdlib_attrs`).

    Windows: at most 61 workers (``max_workers must be <= 61``), like the standard
    library (POOL-02). Linux/macOS: workers start on demand, except under fork,
    where all start at the first ``submit()`` (before the manager thread exists).
    """

    __module__ = "compat"

    _dask_factory = staticmethod(dask_executor)

    def __init__(
        self,
        max_workers: Optional[int] = None,
        mp_context: Any = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: Optional[int] = None,
        task_timeout: Optional[float] = None,
        _transport: Optional[str] = None,
        backend: Optional[str] = None,  # read by __new__
        address: Optional[str] = None,
    ) -> None:
        self._core: Optional[WorkerPool] = None
        limit = check_timeout(task_timeout, "task_timeout")
        self._max_workers = resolve_worker_count(max_workers, executor=True)
        forward_logs = bool(getattr(mp_context, "forward_logs", True))
        if mp_context is None:
            ctx = _default_context(avoid_fork=max_tasks_per_child is not None)
        else:
            ctx = resolve_context(mp_context, argument="mp_context")
        self._mp_context = ctx
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._initializer = initializer  # type: ignore[assignment]
        self._initargs = tuple(initargs)
        method = method_of(ctx)
        if initializer is not None and method != "fork":  # fork pickles nothing
            initializer = prepare_function(initializer, method, "ProcessPoolExecutor", eager=False)
        core = WorkerPool(
            ctx,
            self._max_workers,
            initializer,
            self._initargs,
            max_tasks_per_child,
            flavour="executor",
            error_type=BrokenProcessPool,
            transport=_transport,
            task_timeout=limit,
            forward_logs=forward_logs,
        )
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
            if core.method == "fork":
                raise ValueError(
                    "max_tasks_per_child is incompatible with the 'fork' "
                    "multiprocessing start method; supply a different mp_context."
                )
        self._max_tasks_per_child = max_tasks_per_child
        # cpython#90622: forking once the manager thread runs risks deadlocks in the
        # child, so fork pools start every worker up front, as the standard library's.
        core.lazy = core.method != "fork"
        self._shutdown_lock = shared_lock()  # see compat._native.locks
        self._shutdown_thread = False
        self._core = core
        self._started = False
        _live.add(core)
        global _atexit_registered
        if not _atexit_registered:
            atexit.register(_python_exit)
            _atexit_registered = True
        # Collected without shutdown(): finish the submitted work, then stop.
        weakref.finalize(self, core.close)

    def _live_core(self) -> WorkerPool:
        core = self._core
        assert core is not None
        if core.broken is not None:
            raise BrokenProcessPool(
                str(core.broken),
                exitcode=getattr(core.broken, "exitcode", None),
                method=core.method,
            ) from core.broken
        if self._shutdown_thread or core.state != RUN:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if sys.is_finalizing():
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if not self._started:
            check_main_guard(core.method or "spawn", "a ProcessPoolExecutor's workers")
            if not core.lazy:
                core.start_workers()
            core.start_thread(f"compat-ProcessPoolExecutor-{id(self):x}")
            self._started = True
        return core

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """Schedule ``fn(*args, **kwargs)``; return a ``concurrent.futures.Future``."""
        return self._submit(None, fn, args, kwargs)

    def submit_with_timeout(
        self, timeout: Optional[float], fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> Future[_T]:
        """:meth:`submit` with a time limit for this task (compat only; ``None``: the
        executor's ``task_timeout``). Past ``timeout`` seconds of running in its
        worker, the future fails with :class:`compat.ChildTimeout` and the worker
        and its process tree are killed and replaced; other futures are unaffected.
        (A separate method, so that ``submit(fn, /, *args, **kwargs)`` passes every
        keyword to ``fn``, ``timeout`` included.)"""
        return self._submit(check_timeout(timeout, "timeout"), fn, args, kwargs)

    def _submit(
        self, limit: Optional[float], fn: Callable[..., _T], args: Any, kwargs: Any
    ) -> Future[_T]:
        with self._shutdown_lock:
            core = self._live_core()
            sent = prepare_function(fn, core.method, "ProcessPoolExecutor.submit", eager=False)
            future: Future[_T] = SignalAwareFuture()
            task = make_task(future, wire.APPLY, fn, sent, args, kwargs, "submit")
            if task is not None:
                task.timeout = limit
                core.submit([task], lazy=core.lazy)
            return future

    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        progress: Any = None,
    ) -> Iterator[_T]:
        """Like ``map(fn, *iterables)``, run in the workers, ``chunksize`` calls per
        task. ``buffersize`` (CPython 3.14's argument, available on every version)
        bounds how many chunks are submitted ahead of the consumer.

        ``progress`` (compat only): ``True`` draws a progress line on stderr
        (done/total, rate, ETA; a tqdm bar when tqdm is installed) if stderr is a
        terminal and prints nothing otherwise; ``"always"`` draws it anyway; a
        callable is called as ``progress(done, total)`` as chunks finish, where they
        finish (the executor's thread); ``total`` is the shortest ``len`` of the
        iterables, None if one has no ``len``. The same on every OS; results and
        their order do not change (:mod:`compat._pool.progress`)."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if buffersize is not None and not isinstance(buffersize, int):
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        end_time = None if timeout is None else timeout + time.monotonic()
        assert self._core is not None
        # Once per map, not per item (and, as in the standard library, nothing starts
        # before the first chunk is submitted).
        sent = prepare_function(fn, self._core.method, "ProcessPoolExecutor.map", eager=True)
        chunks = batched(zip(*iterables), chunksize)
        numbers = itertools.count()
        tracker = None
        if progress is not None:
            from .progress import make_progress

            sized = all(isinstance(it, Sized) for it in iterables)
            total = min((len(it) for it in iterables), default=0) if sized else None  # type: ignore[arg-type]
            tracker = make_progress(progress, total, "ProcessPoolExecutor.map")

        def submit_chunk(chunk: tuple[Any, ...]) -> Future[list[_T]]:
            with self._shutdown_lock:
                core = self._live_core()
                future: Future[list[_T]] = SignalAwareFuture()
                index = next(numbers)
                task = make_task(
                    future, wire.STARMAP, fn, sent, chunk, None, "map", index, index * chunksize
                )
                if tracker is not None:
                    future.add_done_callback(tracker.counter(len(chunk)))
                if task is not None:
                    core.submit([task], lazy=core.lazy)
                return future

        if buffersize:
            fs = deque(submit_chunk(c) for c in itertools.islice(chunks, buffersize))
        else:
            fs = deque(submit_chunk(c) for c in chunks)
        owner = weakref.ref(self)

        def result_iterator() -> Iterator[list[_T]]:
            try:
                fs.reverse()
                while fs:
                    if buffersize and owner() is not None:
                        chunk = next(chunks, None)
                        if chunk is not None:
                            fs.appendleft(submit_chunk(chunk))
                    if end_time is None:
                        yield result_or_cancel(fs.pop())
                    else:
                        yield result_or_cancel(fs.pop(), end_time - time.monotonic())
            finally:
                for future in fs:
                    future.cancel()
                if tracker is not None:
                    tracker.close()

        return chain_from_iterable_of_lists(result_iterator())

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        """As the standard library (``shutdown(wait=True)``), except on Ctrl+C
        (KeyboardInterrupt): the futures not started are cancelled and the workers
        stopped at once, rather than waiting for the running tasks to finish."""
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.terminate_workers()
        else:
            self.shutdown(wait=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more work; with ``cancel_futures`` cancel the futures not yet
        handed to a worker; with ``wait`` return when the workers have exited."""
        core = self._core
        if core is None:
            return
        with self._shutdown_lock:
            self._shutdown_thread = True
        if cancel_futures:
            cancel(core.take_pending())
        core.close()
        if wait:
            core.join()
            flush_child_logs()

    def terminate_workers(self) -> None:
        """Stop every worker now (SIGTERM; TerminateProcess on Windows), cancel the
        futures not started, fail the running ones; as CPython 3.14, on every version."""
        self._force_shutdown(kill=False)

    def kill_workers(self) -> None:
        """Like :meth:`terminate_workers` with SIGKILL (TerminateProcess on Windows)."""
        self._force_shutdown(kill=True)

    def _force_shutdown(self, *, kill: bool) -> None:
        core = self._core
        if core is None:
            return
        with self._shutdown_lock:
            self._shutdown_thread = True
        cancel(core.take_pending())
        core.terminate(kill=kill)
        core.join()


def _default_context(*, avoid_fork: bool) -> Any:
    ctx = resolve_context(None)
    # As the standard library: workers that exit after max_tasks_per_child tasks are
    # replaced from the manager thread, and fork from a threaded process is unsafe.
    if avoid_fork and method_of(ctx) == "fork":
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ctx
