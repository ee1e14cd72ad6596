"""The leanest process pool one can write in Python with the standard library's shape
(a thread that reads the workers' results, callers that wait for theirs), as a floor
for bench_pool.py's ``burn`` row: what a pool of this shape cannot beat on this
machine, whatever it does in Python.

Not a product: fork only, POSIX only, no error handling, no time limits, no fairness
beyond "two tasks queued per worker", nothing safe against a Ctrl+C. Each result
costs what any such pool pays at least: the worker's write wakes the reading thread,
which wakes the caller's thread; on a machine whose CPUs are all busy running tasks,
each wake-up preempts a worker.

    python bench/bench_pool.py --scenarios burn --contenders floor,compat.Pool,mp.Pool
"""

from __future__ import annotations

import collections
import os
import pickle
import select
import signal
import socket
import struct
import threading
from typing import Any, Callable

_HEAD = struct.Struct("!i")
_QUEUED = 2  # tasks sent to a worker ahead of its results: never idle between tasks


def _worker(sock: socket.socket) -> None:
    read = sock.makefile("rb", buffering=0).read
    while True:
        head = read(4)
        if len(head) < 4:
            os._exit(0)
        (n,) = _HEAD.unpack(head)
        func, args = pickle.loads(read(n))
        data = pickle.dumps(func(*args), pickle.HIGHEST_PROTOCOL)
        sock.sendall(_HEAD.pack(len(data)) + data)


class _Result:
    __slots__ = ("gate", "ready", "value")

    def __init__(self) -> None:
        self.ready, self.gate, self.value = False, None, None

    def get(self) -> Any:
        if not self.ready:
            gate = threading.Lock()
            gate.acquire()
            self.gate = gate
            if not self.ready:  # set before the gate was seen: no wait
                gate.acquire()
        return self.value


class FloorPool:
    """``apply_async(func, args).get()``, ``map``, ``close``/``join``: nothing more."""

    def __init__(self, workers: int) -> None:
        self._pids: list[int] = []
        self._socks: dict[int, socket.socket] = {}
        for _ in range(workers):
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker
                mine.close()
                for other in self._socks.values():
                    other.close()
                _worker(theirs)
            theirs.close()
            self._pids.append(pid)
            self._socks[mine.fileno()] = mine
        self._pending: collections.deque[tuple[_Result, bytes]] = collections.deque()
        self._sent = {fd: collections.deque() for fd in self._socks}  # type: ignore[var-annotated]
        self._bufs = {fd: bytearray() for fd in self._socks}
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._read_results, daemon=True)
        self._thread.start()

    def _dispatch_locked(self) -> None:
        for fd, sent in self._sent.items():
            while len(sent) < _QUEUED and self._pending:
                result, blob = self._pending.popleft()
                sent.append(result)
                os.write(fd, _HEAD.pack(len(blob)) + blob)

    def apply_async(self, func: Callable[..., Any], args: tuple[Any, ...] = ()) -> _Result:
        result = _Result()
        blob = pickle.dumps((func, args), pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._pending.append((result, blob))
            self._dispatch_locked()
        return result

    def map(self, func: Callable[..., Any], items: Any, chunksize: int = 1) -> list[Any]:
        return [r.get() for r in [self.apply_async(func, (x,)) for x in items]]

    def _read_results(self) -> None:
        poll = select.poll()
        for fd in (*self._socks, self._stop_r):
            poll.register(fd, select.POLLIN)
        while True:
            for fd, _ in poll.poll():
                if fd == self._stop_r:
                    return
                buf = self._bufs[fd]
                buf += os.read(fd, 1 << 16)
                while len(buf) >= 4:
                    (n,) = _HEAD.unpack_from(buf)
                    if len(buf) < 4 + n:
                        break
                    value = pickle.loads(bytes(buf[4 : 4 + n]))
                    del buf[: 4 + n]
                    with self._lock:
                        result = self._sent[fd].popleft()
                        self._dispatch_locked()
                    result.value, result.ready = value, True
                    gate = result.gate
                    if gate is not None:
                        gate.release()

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(10)
        for sock in self._socks.values():
            sock.close()  # the workers read EOF and exit
        os.close(self._stop_r)
        os.close(self._stop_w)

    def join(self) -> None:
        for pid in self._pids:
            os.waitpid(pid, 0)

    def terminate(self) -> None:
        for pid in self._pids:
            os.kill(pid, signal.SIGKILL)
