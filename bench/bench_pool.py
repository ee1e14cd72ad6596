"""Process pools side by side: compat.Pool / compat.ProcessPoolExecutor beside
multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor under every start
method, and billiard, loky and mpire when they are installed.

    python bench/bench_pool.py                         # every scenario, 3 rounds
    python bench/bench_pool.py --rounds 5 --only spawn --scenarios burn,fresh
    python bench/bench_pool.py --contenders compat.Pool,mp.Pool --scenarios apply,burn

Scenarios (each contender has ``--workers`` workers, default 2, the issue's figures):

- start: make the pool, run one trivial task, close and join it (executors start
  workers on demand, so the one task makes the comparison fair);
- map: ``map`` of a trivial function over 100,000 ints with the default chunksize
  (Pools: about len/(4*workers); executors, whose default is 1, are given the Pool's
  chunksize; mpire chooses its own);
- apply: 10,000 ``apply_async`` (executors: ``submit``) of a trivial function, then
  every result;
- burn: 200 ``apply_async``/``submit`` of a task burning 5 ms of CPU on a warm pool;
  the speedup is the serial time of the same 200 calls in this process (measured in
  the same round) divided by the pool's time (issue 14: >= 1.95 with 2 workers);
- (the ``floor`` contender, burn only: the leanest pool of the standard library's shape,
  bench/floor_pool.py: what no pool of that shape beats on this machine);
- fresh: a fresh pool's ``map`` of four ``--sleep`` second sleeps (default 1) with
  chunksize 1, timed from the pool's construction; the tasks each worker ran are
  shown (issue 14: 2.0 s, 2 and 2 tasks, as the standard library).

Rounds are interleaved and medians reported; garbage is collected before each
timed section (as timeit disables collection), so no contender pays for another's.
The ratio column compares each contender with the standard library's Pool of the
same start method (loky: spawn), higher is faster. Other work on the machine moves
the absolute numbers (the load average is printed); compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import collections
import gc
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # floor_pool

MAP_N = 100_000
APPLY_N = 10_000
BURN_N = 200
BURN_SECONDS = 0.005
SCENARIOS = ("start", "map", "apply", "burn", "fresh")


def tiny(x: Any) -> Any:
    return x


def burn(seconds: float) -> int:
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def sleep_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


class Contender:
    """One pool implementation: how to make it, feed it and stop it."""

    def __init__(
        self,
        name: str,
        family: str,
        method: str,
        make: Callable[[int], Any],
        scenarios: Optional[set[str]] = None,
    ) -> None:
        self.name = name
        self.family = family  # "pool", "executor" or "mpire"
        self.method = method
        self.make = make
        self.pool: Any = None
        #: the scenarios it runs (None: all)
        self.scenarios = scenarios

    def start(self, workers: int) -> None:
        self.pool = self.make(workers)

    def stop(self) -> None:
        p, self.pool = self.pool, None
        if self.family == "executor":
            p.shutdown(wait=True)
        elif self.family == "mpire":
            p.stop_and_join()
        else:
            p.close()
            p.join()

    def restart(self, workers: int, *, warm_map: bool) -> None:
        self.stop()
        self.start(workers)
        if warm_map:
            self.map(tiny, range(workers * 4), 1)
        else:
            self.many(tiny, range(workers * 4))

    def one(self) -> None:
        if self.family == "executor":
            self.pool.submit(tiny, 0).result()
        else:
            self.pool.apply_async(tiny, (0,)).get()

    def map(self, func: Callable[..., Any], items: Iterable[Any], chunksize: int) -> list[Any]:
        if self.family == "executor":
            return list(self.pool.map(func, items, chunksize=chunksize))
        if self.family == "mpire":
            return list(self.pool.map(func, items, chunk_size=chunksize))
        return list(self.pool.map(func, items, chunksize))

    def many(self, func: Callable[..., Any], args: Iterable[Any]) -> list[Any]:
        if self.family == "executor":
            futures = [self.pool.submit(func, a) for a in args]
            return [f.result() for f in futures]
        results = [self.pool.apply_async(func, (a,)) for a in args]
        return [r.get() for r in results]


def contenders(only: Optional[str]) -> list[Contender]:
    import concurrent.futures as cf

    from compat import Pool, ProcessPoolExecutor

    try:
        import billiard
    except ImportError:
        billiard = None
        print("(billiard is not installed: skipped)")
    found: list[Contender] = []
    for method in ("fork", "forkserver", "spawn"):
        if method not in multiprocessing.get_all_start_methods() or only not in (None, method):
            continue
        ctx = multiprocessing.get_context(method)
        found += [
            Contender(f"compat.Pool {method}", "pool", method, lambda n, c=ctx: Pool(n, context=c)),
            Contender(f"mp.Pool {method}", "pool", method, lambda n, c=ctx: c.Pool(n)),
            Contender(
                f"compat.PPExecutor {method}",
                "executor",
                method,
                lambda n, c=ctx: ProcessPoolExecutor(n, mp_context=c),
            ),
            Contender(
                f"cf.PPExecutor {method}",
                "executor",
                method,
                lambda n, c=ctx: cf.ProcessPoolExecutor(n, mp_context=c),
            ),
        ]
        if billiard is not None:
            bctx = billiard.get_context(method)
            found.append(
                Contender(f"billiard.Pool {method}", "pool", method, lambda n, c=bctx: c.Pool(n))
            )
    if only in (None, "loky"):
        try:
            import loky
        except ImportError:
            print("(loky is not installed: skipped)")
        else:
            found.append(Contender("loky", "executor", "spawn", loky.ProcessPoolExecutor))
    if only in (None, "fork") and hasattr(os, "fork"):
        from floor_pool import FloorPool

        # The floor of the burn row: see bench/floor_pool.py.
        found.append(Contender("floor fork (leanest pool)", "pool", "fork", FloorPool, {"burn"}))
    if only in (None, "fork"):
        try:
            from mpire import WorkerPool
        except ImportError:
            print("(mpire is not installed: skipped)")
        else:
            found.append(
                Contender(
                    "mpire fork",
                    "mpire",
                    "fork",
                    lambda n: WorkerPool(n_jobs=n, start_method="fork", keep_alive=True),
                )
            )
    return found


def timed(fn: Callable[[], Any]) -> float:
    # Collect first: garbage left by earlier contenders (and by importing peers)
    # would otherwise come due inside whichever contender allocates next.
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Results:
    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        self.shares: dict[str, list[list[int]]] = collections.defaultdict(list)
        self.serial: list[float] = []

    def median(self, name: str, scenario: str) -> Optional[float]:
        got = self.times.get((name, scenario))
        return statistics.median(got) if got else None


def one_round(cs: list[Contender], args: argparse.Namespace, res: Results) -> None:
    workers = args.workers
    chunksize = -(-MAP_N // (4 * workers))
    wanted = args.scenarios
    if "burn" in wanted:
        res.serial.append(timed(lambda: [burn(BURN_SECONDS) for _ in range(BURN_N)]))
    for c in cs:
        wanted = [s for s in args.scenarios if c.scenarios is None or s in c.scenarios]
        if "start" in wanted:

            def start_stop(c: Contender = c) -> None:
                c.start(workers)
                c.one()
                c.stop()

            res.times[c.name, "start"].append(timed(start_stop))
        if "fresh" in wanted:
            pids: list[int] = []

            def fresh(c: Contender = c, pids: list[int] = pids) -> None:
                c.start(workers)
                pids.extend(c.map(sleep_pid, [args.sleep] * 4, 1))

            try:
                res.times[c.name, "fresh"].append(timed(fresh))
            finally:
                c.stop()
            res.shares[c.name].append(sorted(collections.Counter(pids).values()))
        if not {"map", "apply", "burn"} & set(wanted):
            continue
        c.start(workers)
        try:
            c.one()  # warm: workers up
            c.many(tiny, range(workers * 4))
            if "map" in wanted:
                if c.family == "mpire":  # mpire cannot map on a pool that applied
                    c.restart(workers, warm_map=True)
                got: list[Any] = []
                res.times[c.name, "map"].append(
                    timed(lambda c=c, got=got: got.extend(c.map(tiny, range(MAP_N), chunksize)))
                )
                assert got == list(range(MAP_N)), c.name
                if c.family == "mpire":
                    c.restart(workers, warm_map=False)
            if "apply" in wanted:
                res.times[c.name, "apply"].append(timed(lambda c=c: c.many(tiny, range(APPLY_N))))
            if "burn" in wanted:
                res.times[c.name, "burn"].append(
                    timed(lambda c=c: c.many(burn, [BURN_SECONDS] * BURN_N))
                )
        finally:
            c.stop()


TITLES = {
    "start": "start+shutdown (one trivial task)",
    "map": f"map of {MAP_N:,} trivial tasks",
    "apply": f"apply_async/submit of {APPLY_N:,} trivial tasks",
    "burn": f"{BURN_N} tasks of {BURN_SECONDS * 1e3:g} ms of CPU: speedup over serial",
    "fresh": "fresh pool, map(sleep {sleep:g} s, range(4), chunksize=1), from construction",
}


def report(cs: list[Contender], args: argparse.Namespace, res: Results) -> None:
    from compat import cpu_count

    serial = statistics.median(res.serial) if res.serial else None
    print(
        f"\nPython {sys.version.split()[0]}, {args.workers} workers, compat.cpu_count()="
        f"{cpu_count()}, os.cpu_count()={os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.2f}, {args.rounds} rounds (medians)"
        + (f"; serial {BURN_N} x {BURN_SECONDS * 1e3:g} ms = {serial:.3f} s" if serial else "")
    )
    for scenario in args.scenarios:
        print("\n" + TITLES[scenario].format(sleep=args.sleep))
        for c in cs:
            t = res.median(c.name, scenario)
            if t is None:
                continue
            base_name = f"mp.Pool {c.method}"
            base = res.median(base_name, scenario)
            if scenario == "burn":
                assert serial is not None
                extra = f"speedup {serial / t:5.2f}x"
                if base:
                    extra += f" (mp {serial / base:4.2f}x)"
            elif scenario == "map":
                extra = f"{t / MAP_N * 1e6:8.3f} us/task"
            elif scenario == "apply":
                extra = f"{t / APPLY_N * 1e6:8.2f} us/task"
            elif scenario == "fresh":
                counts = collections.Counter(map(str, res.shares[c.name]))
                extra = "tasks per worker " + ", ".join(f"{k} x{n}" for k, n in counts.items())
            else:
                extra = f"{t * 1e3:8.1f} ms"
            ratio = f"{base / t:6.2f}x vs {base_name}" if base else ""
            print(f"  {c.name:28s} {t:8.4f} s  {extra:36s} {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per 'fresh' task")
    parser.add_argument(
        "--only",
        choices=["fork", "forkserver", "spawn", "loky"],
        help="run the contenders of one start method (or loky only)",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda s: [x for x in s.split(",") if x],
        default=list(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--contenders",
        type=lambda s: [x for x in s.split(",") if x],
        default=[],
        help="comma-separated name parts: run only the contenders whose name has one",
    )
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    cs = contenders(args.only)
    if args.contenders:
        cs = [c for c in cs if any(part in c.name for part in args.contenders)]
    res = Results()
    for round_no in range(args.rounds):
        one_round(cs, args, res)
        print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    report(cs, args, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
