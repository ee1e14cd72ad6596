"""Process pools side by side: compat.Pool / compat.ProcessPoolExecutor beside
multiprocessing.Pool, concurrent.futures.ProcessPoolExecutor, and loky and mpire when
they are installed.

    python bench/bench_pool.py                       # every scenario, 3 rounds
    python bench/bench_pool.py --rounds 5 --workers 2 --only fork

Scenarios (each contender has ``--workers`` workers, default compat.cpu_count()):

- start+shutdown: make the pool, run one trivial task, close and join it (executors
  start workers on demand, so the one task makes the comparison fair);
- map 100k: ``map`` of a trivial function over 100,000 ints with the default
  chunksize (Pools: about len/(4*workers); executors, whose default is 1, are given
  the Pool's chunksize; mpire chooses its own);
- apply_async 10k: 10,000 ``apply_async`` (executors: ``submit``) of a trivial
  function, then every result;
- 5 ms x 200: 200 ``apply_async``/``submit`` of a task burning 5 ms of CPU; the
  speedup is the serial time of the same 200 calls in this process (measured in the
  same round) divided by the pool's time.

Rounds are interleaved and medians reported; garbage is collected before each
timed section (as timeit disables collection), so no contender pays for another's.
The ratio column compares each contender with multiprocessing.Pool of the same start
method (higher is faster; for 5 ms it is the speedup over serial). Other work on the
machine moves the absolute numbers; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

MAP_N = 100_000
APPLY_N = 10_000
BURN_N = 200
BURN_SECONDS = 0.005


def tiny(x: Any) -> Any:
    return x


def burn(seconds: float) -> int:
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


class Contender:
    """One pool implementation: how to make it, feed it and stop it."""

    def __init__(self, name: str, family: str, method: str) -> None:
        self.name = name
        self.family = family  # "pool", "executor" or "mpire"
        self.method = method
        self.pool: Any = None
        self.make: Callable[[int], Any] = lambda n: None

    def start(self, workers: int) -> None:
        self.pool = self.make(workers)

    def stop(self) -> None:
        p = self.pool
        if self.family == "executor":
            p.shutdown(wait=True)
        elif self.family == "mpire":
            p.stop_and_join()
        else:
            p.close()
            p.join()
        self.pool = None

    def restart(self, workers: int, *, warm_map: bool) -> None:
        self.stop()
        self.start(workers)
        if warm_map:
            self.map(range(workers * 4), 1)
        else:
            self.many(tiny, range(workers * 4))

    def one(self) -> None:
        if self.family == "executor":
            self.pool.submit(tiny, 0).result()
        else:
            self.pool.apply_async(tiny, (0,)).get()

    def map(self, items: range, chunksize: int) -> list[Any]:
        if self.family == "executor":
            return list(self.pool.map(tiny, items, chunksize=chunksize))
        if self.family == "mpire":
            return list(self.pool.map(tiny, items))
        return list(self.pool.map(tiny, items))

    def many(self, func: Callable[..., Any], args: Iterable[Any]) -> list[Any]:
        if self.family == "executor":
            futures = [self.pool.submit(func, a) for a in args]
            return [f.result() for f in futures]
        results = [self.pool.apply_async(func, (a,)) for a in args]
        return [r.get() for r in results]


def contenders(only: Optional[str]) -> list[Contender]:
    import concurrent.futures as cf

    from compat import Pool, ProcessPoolExecutor

    found: list[Contender] = []
    methods = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]
    for method in methods:
        if only and method != only:
            continue
        ctx = multiprocessing.get_context(method)
        found += [
            contender(f"compat.Pool {method}", "pool", method, lambda n, c=ctx: Pool(n, context=c)),
            contender(f"mp.Pool {method}", "pool", method, lambda n, c=ctx: c.Pool(n)),
            contender(
                f"compat.PPExecutor {method}",
                "executor",
                method,
                lambda n, c=ctx: ProcessPoolExecutor(n, mp_context=c),
            ),
            contender(
                f"cf.PPExecutor {method}",
                "executor",
                method,
                lambda n, c=ctx: cf.ProcessPoolExecutor(n, mp_context=c),
            ),
        ]
    if not only or only == "loky":
        try:
            import loky
        except ImportError:
            print("(loky is not installed: skipped)")
        else:
            found.append(
                contender("loky", "executor", "loky", lambda n: loky.ProcessPoolExecutor(n))
            )
    if not only or only == "fork":
        try:
            from mpire import WorkerPool
        except ImportError:
            print("(mpire is not installed: skipped)")
        else:
            found.append(
                contender(
                    "mpire fork",
                    "mpire",
                    "fork",
                    lambda n: WorkerPool(n_jobs=n, start_method="fork", keep_alive=True),
                )
            )
    return found


def contender(name: str, family: str, method: str, make: Callable[[int], Any]) -> Contender:
    c = Contender(name, family, method)
    c.make = make
    return c


def timed(fn: Callable[[], Any]) -> float:
    # Collect first: garbage left by earlier contenders (and by importing peers)
    # would otherwise come due inside whichever contender allocates next.
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    workers = args.workers
    chunksize = -(-MAP_N // (4 * workers))
    cs = contenders(args.only)
    results: dict[str, dict[str, list[float]]] = {c.name: {} for c in cs}
    serial: list[float] = []
    expected_map = list(range(MAP_N))
    for round_no in range(args.rounds):
        serial.append(timed(lambda: [burn(BURN_SECONDS) for _ in range(BURN_N)]))
        for c in cs:
            r = results[c.name]

            def start_stop(c: Contender = c) -> None:
                c.start(workers)
                c.one()
                c.stop()

            r.setdefault("start+shutdown", []).append(timed(start_stop))
            c.start(workers)
            try:
                c.one()  # warm: workers up
                c.many(tiny, range(workers * 4))
                got: list[Any] = []
                if c.family == "mpire":  # mpire cannot map on a pool that applied
                    c.restart(workers, warm_map=True)
                r.setdefault("map 100k", []).append(
                    timed(lambda c=c, got=got: got.extend(c.map(range(MAP_N), chunksize)))
                )
                assert got == expected_map, c.name
                if c.family == "mpire":
                    c.restart(workers, warm_map=False)
                r.setdefault("apply_async 10k", []).append(
                    timed(lambda c=c: c.many(tiny, range(APPLY_N)))
                )
                r.setdefault("5 ms x 200", []).append(
                    timed(lambda c=c: c.many(burn, [BURN_SECONDS] * BURN_N))
                )
            finally:
                c.stop()
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    serial_median = statistics.median(serial)
    from compat import cpu_count

    print(
        f"\nPython {sys.version.split()[0]}, {workers} workers, compat.cpu_count()={cpu_count()}, "
        f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
        f"{args.rounds} rounds (medians); serial 5 ms x 200 = {serial_median:.3f} s"
    )
    scenarios = ["start+shutdown", "map 100k", "apply_async 10k", "5 ms x 200"]
    for scenario in scenarios:
        print(f"\n{scenario}")
        for c in cs:
            t = statistics.median(results[c.name][scenario])
            base_name = f"mp.Pool {c.method}"
            base = results.get(base_name, {}).get(scenario)
            if scenario == "5 ms x 200":
                extra = f"speedup {serial_median / t:5.2f}x over serial"
            elif scenario == "map 100k":
                extra = f"{t / MAP_N * 1e6:8.3f} us/task"
            elif scenario == "apply_async 10k":
                extra = f"{t / APPLY_N * 1e6:8.2f} us/task"
            else:
                extra = f"{t * 1e3:8.1f} ms"
            ratio = f"{statistics.median(base) / t:6.2f}x vs {base_name}" if base else ""
            print(f"  {c.name:24s} {t:9.4f} s  {extra:28s} {ratio}")
    return 0


def main() -> int:
    from compat import cpu_count

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=cpu_count())
    parser.add_argument(
        "--only", choices=["fork", "spawn", "loky"], help="run the contenders of one kind"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
