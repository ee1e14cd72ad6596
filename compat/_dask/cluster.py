"""The Dask client a pool runs on: given, connected to by address, or a LocalCluster
of process workers that the pool creates and closes."""

from __future__ import annotations

import os

import dask
import distributed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["CLUSTER_CONFIG", "Connection"]

#: The scheduler settings of a LocalCluster compat creates. allowed-failures: how
#: many workers may die running a task before it fails with KilledWorker (compat
#: fails it on the first death, as its local pools do). worker-saturation 1.0: a
#: worker gets a task only when a thread is free, so killing a worker (a task past
#: its limit) fails no task queued behind it.
CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
}


class Connection:
    """A ``distributed.Client`` and whether this pool owns it (and its cluster)."""

    def __init__(
        self, client: Any, processes: Optional[int], initializer: Any, error_type: Any
    ) -> None:
        self.cluster: Any = None
        self.owned = False
        if isinstance(client, distributed.Client):
            self.client = client
        elif client is None:
            from .._cpu import cpu_count

            workers = processes if processes is not None else cpu_count()
            # allowed-failures is read by the scheduler when it starts; a LocalCluster's
            # scheduler runs in this process, so the setting applies to it alone.
            with dask.config.set(CLUSTER_CONFIG):
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # never the fixed 8787
                )
                self.client = distributed.Client(self.cluster, set_as_default=False)
            self.owned = True
        elif isinstance(client, str):
            self.client = distributed.Client(client, set_as_default=False)
            self.owned = True  # our connection (not the cluster): closed with the pool
        else:
            raise TypeError(
                f"client must be a distributed.Client, an address or None, not {client!r}"
            )
        self.plugin_name: Optional[str] = None
        if initializer is not None:
            try:
                self.plugin_name = _register_initializer(self.client, *initializer)
            except Exception as exc:
                self.close()
                raise error_type(f"the initializer raised on a Dask worker: {exc!r}") from exc
        self._pids: dict[str, int] = {}

    def nthreads(self) -> int:
        """Threads across the cluster's workers now (at least 1)."""
        threads: int = sum(self.client.nthreads().values())
        return max(1, threads)

    def pid_of(self, address: Optional[str]) -> Optional[int]:
        """The process id of the worker at ``address``, if it was seen alive."""
        if address is None:
            return None
        return self._pids.get(address)

    def learn_pids(self) -> None:
        """Ask every worker its process id (one round trip)."""
        try:
            self._pids.update(self.client.run(os.getpid))
        except Exception:
            pass

    def close(self) -> None:
        """Close what this pool created; a Client it was given stays open."""
        if self.plugin_name is not None:
            try:
                self.client.unregister_worker_plugin(self.plugin_name)
            except Exception:
                pass
            self.plugin_name = None
        if not self.owned:
            return
        self.owned = False
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


class _Initializer(distributed.WorkerPlugin):  # type: ignore[misc]
    """Runs a pool's initializer once in every worker, present and future (a worker
    restarted by its nanny runs it again)."""

    def __init__(self, func: Any, args: tuple[Any, ...]) -> None:
        self.func = func
        self.args = args

    def setup(self, worker: Any) -> None:
        self.func(*self.args)


def _register_initializer(client: Any, func: Any, args: tuple[Any, ...]) -> str:
    import uuid

    name = f"compat-initializer-{uuid.uuid4().hex}"
    client.register_plugin(_Initializer(func, args), name=name)
    return name
