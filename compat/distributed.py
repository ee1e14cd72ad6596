"""compat's Pool and ProcessPoolExecutor on a Dask cluster (``pip install
spawn-compat[dask]``).

``compat.distributed.Pool`` and ``compat.distributed.Executor`` take the arguments of
:class:`compat.Pool` and :class:`compat.ProcessPoolExecutor` plus ``client=``: a
``distributed.Client`` (used, never closed), a scheduler address (a connection the
pool opens and closes), or None (a ``LocalCluster`` of single-threaded process
workers, ``processes``/``max_workers`` of them, default :func:`compat.cpu_count`,
closed with the pool). Or leave the code alone: ``compat.Pool(..., backend="dask",
address=...)``, or ``COMPAT_BACKEND=dask`` (and ``COMPAT_DASK_ADDRESS``) in the
environment; ``pool.backend_decision`` says which backend was chosen and why.

The same as compat's local pools: results, ordering of ``map``/``imap``/``starmap``
(input order; ``imap_unordered``: completion order), callbacks (run on Dask's
callback thread, one at a time), a task's exception with its remote traceback as
``__cause__``, ``with`` (Pool: waits when the block ends normally, terminates when
it raises; Executor: ``shutdown(wait=True)``), ``ChildTimeout`` past ``task_timeout``
/ ``apply_async(timeout=)`` / ``submit_with_timeout``, and ``compat.SpawnError`` in
the caller for what cannot be pickled (Dask sends with cloudpickle, so lambdas and
closures work).

Different, because Dask is (each in docs/dask.md):

- A worker that dies running a task fails it with :class:`compat.ChildError`
  (executor: ``BrokenProcessPool``) naming the worker's address and pid, from Dask's
  ``KilledWorker``. On a LocalCluster the pool creates, the scheduler's
  ``allowed-failures`` is 0, so the first death fails the task; a given cluster keeps
  its own setting (Dask's default 3: the task is retried on up to 3 more workers,
  each of which it may kill, before it fails). Task ``retries`` are always 0.
- A task past its time limit fails with ``ChildTimeout`` and its Dask future is
  cancelled. Dask cannot interrupt a running task: on a LocalCluster the pool created,
  its worker is restarted by its nanny (which also fails whatever else that worker
  was running); on a given cluster it runs on, result dropped, unless
  ``restart_on_timeout=True``. The limit counts from the worker's start event.
- ``terminate()`` and ``shutdown(cancel_futures=True)`` cancel the Dask futures; a
  task already running finishes in its worker, its result dropped.
- ``initializer`` runs once per worker as a ``WorkerPlugin`` (again in a worker the
  nanny restarts); an exception in it raises from the constructor.
  ``maxtasksperchild``/``max_tasks_per_child`` raise ``ValueError``; ``context``/
  ``mp_context`` are ignored (Dask chooses how its workers start).
- Memory limits and nanny restarts are Dask's (a worker past its memory limit is
  restarted: its task fails like a killed worker's).
"""

from __future__ import annotations

from ._dask.executor import Executor
from ._dask.pool import Pool

__all__ = ["Executor", "Pool"]
