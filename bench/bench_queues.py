"""Queue throughput between two processes: compat beside the standard library and peers.

    python bench/bench_queues.py                 # both scenarios, fork, 3 rounds
    python bench/bench_queues.py --method spawn --rounds 5 --small 100000

Scenarios (a producer process and a consumer process, both fresh for every
transfer so that no allocator state carries over from one contender to the next):
- small: ``--small`` messages (default 200,000), alternately an int and a short tuple;
- large: ``--large`` messages (default 500) of 1 MiB ``bytes``.

Contenders: compat.Queue, compat.SimpleQueue, multiprocessing.Queue,
multiprocessing.SimpleQueue, multiprocessing.Pipe (send/recv) and, when it is
installed, faster-fifo (get, and get_many batches). Rounds are interleaved and
medians reported with two ratios to multiprocessing.Queue: wall-clock
throughput, and CPU time per message of the busier process (each side's
``os.times()``, feeder threads included), which other load on the machine moves
less. Compare the ratios of one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

MiB = 1 << 20
NAMES = [
    "compat.Queue",
    "compat.SimpleQueue",
    "mp.Queue",
    "mp.SimpleQueue",
    "mp.Pipe",
    "faster-fifo",
    "faster-fifo get_many",
]


def _payloads(kind: str) -> Callable[[int], Any]:
    if kind == "large":
        blob = b"x" * MiB
        return lambda i: blob
    return lambda i: i if i & 1 else (i, "ab", 2.5)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


class _End:
    """A picklable method of one end of a contender (``put``, ``get``, ``recv``...)."""

    def __init__(self, obj: Any, method: str) -> None:
        self.obj = obj
        self.method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.obj, self.method)(*args, **kwargs)


def _producer(kind: str, put: _End, n: int, go: Any, report: Any) -> None:
    payload = _payloads(kind)
    go.wait()
    start = _cpu()
    for i in range(n):
        put(payload(i))
    obj = put.obj
    if put.method == "put" and hasattr(obj, "join_thread"):
        obj.close()
        obj.join_thread()  # the feeder thread's work counts too
    report.send(_cpu() - start)


def _consumer(get: _End, bulk: bool, n: int, ready: Any, go: Any, report: Any) -> None:
    ready.set()
    go.wait()
    start, t0 = _cpu(), time.perf_counter()
    if bulk:
        got = 0
        while got < n:
            got += len(get(max_messages_to_get=1000, timeout=60))
    else:
        for _ in range(n):
            get()
    report.send((time.perf_counter() - t0, _cpu() - start))


def _make(name: str, ctx: Any, kind: str) -> tuple[Any, _End, _End, bool]:
    """(objects to close, put, get, whether get is get_many)."""
    import compat

    if name == "compat.Queue":
        q: Any = compat.Queue(ctx=ctx)
    elif name == "compat.SimpleQueue":
        q = compat.SimpleQueue(ctx=ctx)
    elif name == "mp.Queue":
        q = ctx.Queue()
    elif name == "mp.SimpleQueue":
        q = ctx.SimpleQueue()
    elif name == "mp.Pipe":
        r, w = ctx.Pipe(duplex=False)
        return (r, w), _End(w, "send"), _End(r, "recv"), False
    elif name.startswith("faster-fifo"):
        import faster_fifo

        q = faster_fifo.Queue(max_size_bytes=64 * MiB if kind == "large" else 8 * MiB)
        bulk = name.endswith("get_many")
        return (q,), _End(q, "put"), _End(q, "get_many" if bulk else "get"), bulk
    else:
        raise ValueError(name)
    return (q,), _End(q, "put"), _End(q, "get"), False


def run_one(name: str, ctx: Any, kind: str, n: int) -> tuple[float, float, float]:
    """(seconds, consumer CPU seconds, producer CPU seconds) for one transfer."""
    keep, put, get, bulk = _make(name, ctx, kind)
    ready, go = ctx.Event(), ctx.Event()
    crep_r, crep_w = ctx.Pipe(duplex=False)
    prep_r, prep_w = ctx.Pipe(duplex=False)
    consumer = ctx.Process(target=_consumer, args=(get, bulk, n, ready, go, crep_w))
    producer = ctx.Process(target=_producer, args=(kind, put, n, go, prep_w))
    consumer.start()
    producer.start()
    try:
        ready.wait(60)
        time.sleep(0.05)
        go.set()
        elapsed, consumer_cpu = crep_r.recv() if crep_r.poll(300) else (float("nan"),) * 2
        producer_cpu = prep_r.recv() if prep_r.poll(60) else float("nan")
    finally:
        for p in (consumer, producer):
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join()
        for end in (*keep, crep_r, crep_w, prep_r, prep_w):
            end.close()
    return elapsed, consumer_cpu, producer_cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", default="fork", choices=["fork", "spawn", "forkserver"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=500)
    parser.add_argument("--only", help="comma-separated contenders")
    args = parser.parse_args()
    ctx = multiprocessing.get_context(args.method)
    names = list(NAMES)
    try:
        import faster_fifo  # noqa: F401
    except ImportError:
        names = [n for n in names if not n.startswith("faster-fifo")]
        print("faster-fifo: not installed (pip install faster-fifo), skipped")
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    print(
        f"Python {sys.version.split()[0]}, {sys.platform}, start method {args.method}, "
        f"{os.cpu_count()} CPUs, {args.rounds} interleaved rounds, medians"
    )
    for kind, n in (("small", args.small), ("large", args.large)):
        if n <= 0:
            continue
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                runs[name].append(run_one(name, ctx, kind, n))

        def median(name: str, i: int, runs: dict[str, Any] = runs) -> float:
            return statistics.median(r[i] for r in runs[name])

        size = MiB if kind == "large" else 0
        base = median("mp.Queue", 0) if "mp.Queue" in runs else None
        base_cpu = max(median("mp.Queue", 1), median("mp.Queue", 2)) if base else None
        label = f"{n} x 1 MiB" if kind == "large" else f"{n} small messages (ints, short tuples)"
        print(f"\n{label}")
        print(
            f"  {'contender':22s} {'msgs/s':>10s} {'MB/s':>7s} {'vs mp.Queue':>11s}"
            f"   {'CPU us/msg: consumer':>20s} {'producer':>9s} {'vs mp.Queue':>11s}"
        )
        for name in names:
            t, cc, pc = median(name, 0), median(name, 1), median(name, 2)
            mbs = f"{n * size / t / 1e6:7.0f}" if size else f"{'':>7s}"
            ratio = f"{base / t:.2f}x" if base else ""
            busiest = max(cc, pc)
            cpu_ratio = f"{base_cpu / busiest:.2f}x" if base_cpu and busiest else ""
            print(
                f"  {name:22s} {n / t:10,.0f} {mbs} {ratio:>11s}"
                f"   {cc / n * 1e6:20.2f} {pc / n * 1e6:9.2f} {cpu_ratio:>11s}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
