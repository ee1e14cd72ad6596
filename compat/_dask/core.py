"""What a Dask-backed pool or executor shares: sending calls to the cluster, turning
each outcome into compat's (result, task exception with its remote traceback,
ChildError for a dead worker, ChildTimeout), cancelling, and closing."""

from __future__ import annotations

import threading
import uuid

from .._child.preflight import _unpicklable as unpicklable
from .._child.preflight import cloudpickle_or_none
from .._errors import ChildError, ChildTimeout
from .cluster import Connection
from .deadlines import Deadlines
from .remote import START_TOPIC, hard_exit, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    Deliver = Callable[[bool, Any], None]

__all__ = ["Call", "DaskCore"]


class Call:
    """One Dask task (a call or a chunk) and where its outcome goes, exactly once."""

    __slots__ = ("deliver", "future", "id", "label", "settled")

    def __init__(self, deliver: Deliver, label: str) -> None:
        self.deliver = deliver
        self.label = label
        self.id = uuid.uuid4().hex
        self.future: Any = None
        self.settled = False


class DaskCore:
    """A pool's or executor's state on the cluster: live calls, limits, shutdown."""

    def __init__(
        self,
        conn: Connection,
        flavour: str,
        error_type: type[ChildError],
        restart_on_timeout: Optional[bool],
    ) -> None:
        self.conn = conn
        self.client = conn.client
        self.flavour = flavour
        self.error_type = error_type
        # Restarting a worker also fails what else it runs: only on our own cluster,
        # unless asked (see docs/dask.md, "Time limits").
        self.restart = (
            conn.cluster is not None if restart_on_timeout is None else restart_on_timeout
        )
        self.lock = threading.Lock()
        self.calls: dict[str, Call] = {}
        self.idle = threading.Condition(self.lock)
        self.deadlines: Optional[Deadlines] = None
        self.topic = f"{START_TOPIC}-{uuid.uuid4().hex}"
        conn.learn_pids()

    # -- sending ---------------------------------------------------------------

    def check(self, parts: list[tuple[str, Any]], what: str) -> None:
        """The pre-flight check: raise compat.SpawnError in the caller, with the
        message of compat's local pools, for what Dask cannot send. Dask pickles with
        cloudpickle, so lambdas and closures pass; nothing is inherited by a Dask
        worker, so locks, queues and pipes fail."""
        cloudpickle = cloudpickle_or_none()
        for path, value in parts:
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                raise unpicklable(
                    f"{what} on the Dask cluster", "dask", path, value, exc, cloudpickle
                ) from exc

    def submit(
        self,
        func: Any,
        kind: int,
        payloads: list[Any],
        delivers: list[Deliver],
        label: str,
        limit: Optional[float] = None,
    ) -> list[Call]:
        calls = [Call(d, label) for d in delivers]
        timed: list[Optional[tuple[str, str]]] = [None] * len(calls)
        if limit is not None:
            deadlines = self._deadlines()
            for i, call in enumerate(calls):
                deadlines.expect(call.id, call, limit)
                timed[i] = (self.topic, call.id)
        with self.lock:
            for call in calls:
                self.calls[call.id] = call
        futures = self.client.map(
            run,
            [func] * len(calls),
            [kind] * len(calls),
            payloads,
            [self.flavour] * len(calls),
            timed,
            key=[f"compat-{label}-{c.id}" for c in calls],
            pure=False,
            retries=0,
        )
        for call, future in zip(calls, futures):
            call.future = future
            future.add_done_callback(lambda f, c=call: self._done(c, f))
        return calls

    def _deadlines(self) -> Deadlines:
        with self.lock:
            if self.deadlines is None:
                self.deadlines = Deadlines(self._expire)
                self.client.subscribe_topic(self.topic, self.deadlines.started)
            return self.deadlines

    # -- outcomes ----------------------------------------------------------------

    def settle(self, call: Call, ok: bool, value: Any) -> None:
        with self.lock:
            if call.settled:
                return
            call.settled = True
            self.calls.pop(call.id, None)
            if not self.calls:
                self.idle.notify_all()
        if self.deadlines is not None:
            self.deadlines.forget(call.id)
        try:
            call.deliver(ok, value)
        except Exception:
            pass  # a callback's error must not stop the others (as compat's pools)

    def _done(self, call: Call, future: Any) -> None:
        status = future.status
        if status == "finished":
            try:
                ok, value = future.result()
            except BaseException as exc:  # could not be fetched or deserialised
                ok, value = False, exc
            self.settle(call, ok, value)
        elif status == "cancelled":
            self.settle(call, False, self.error_type(f"{call.label}: the task was cancelled"))
        else:
            self.settle(call, False, self._failure(call, future))

    def _failure(self, call: Call, future: Any) -> BaseException:
        try:
            exc = future.exception()
        except BaseException as problem:
            exc = problem
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            address = getattr(exc.last_worker, "address", None)
            pid = self.conn.pid_of(address)
            error = self.error_type(
                f"{call.label}: the Dask worker {address} (pid {pid}) died while running "
                f"the task (it ran on {exc.allowed_failures + 1} worker(s); "
                "none survived it)",
                name=address,
                pid=pid,
                task=call.label,
            )
            error.__cause__ = exc
            return error
        return exc if isinstance(exc, BaseException) else RuntimeError(repr(exc))

    def _expire(self, call: Call, worker: str, pid: Optional[int]) -> None:
        """A task ran past its limit: fail it, cancel its Dask future, and (see
        ``restart``) restart the worker, which is the only way to stop it."""
        if call.settled:
            return
        limit_text = f"{call.label}: the task ran past its time limit on Dask worker {worker}"
        error = ChildTimeout(
            limit_text + (" (worker restarted)" if self.restart else " (left running)"),
            task=call.label,
            pid=pid,
            name=worker,
        )
        self.settle(call, False, error)
        self.client.cancel([call.future], force=True)
        if self.restart:
            # client.run on the worker's event loop: os._exit ends it at once, and its
            # nanny starts a new one (restart_workers waits seconds for a graceful close).
            self.client.run(hard_exit, workers=[worker], wait=False)

    # -- shutdown ------------------------------------------------------------------

    def cancel_all(self, reason: str) -> None:
        """Cancel every live call; each fails with ``error_type(reason)``."""
        with self.lock:
            calls = list(self.calls.values())
        for call in calls:  # before the cancel, whose callbacks would say "cancelled"
            self.settle(call, False, self.error_type(f"{call.label}: {reason}"))
        futures = [c.future for c in calls if c.future is not None]
        if futures:
            try:
                self.client.cancel(futures, force=True)
            except Exception:
                pass

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        with self.lock:
            return self.idle.wait_for(lambda: not self.calls, timeout)

    def close(self) -> None:
        if self.deadlines is not None:
            try:
                self.client.unsubscribe_topic(self.topic)
            except Exception:
                pass
            self.deadlines.close()
        self.conn.close()
