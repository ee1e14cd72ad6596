"""Where a Dask cluster pays: local compat.Pool vs compat.distributed.Pool vs plain
``client.map``, on one machine, side by side.

Workloads: 200 tasks of 5 ms (time.sleep) and 10,000 tiny tasks (abs). Every
contender has the same number of single-threaded process workers (compat.cpu_count()
by default; --workers N). Cluster and pool start-up is not timed: each contender is
warmed up first. Each cell is the best of --repeat runs.

    python bench/bench_dask.py [--workers N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import compat


def work_5ms(x: int) -> int:
    time.sleep(0.005)
    return x


def tiny(x: int) -> int:
    return -x


WORKLOADS = [("200 x 5 ms", work_5ms, 200), ("10k tiny", tiny, 10_000)]


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import dask
    import distributed

    from compat._dask.cluster import CLUSTER_CONFIG
    from compat.distributed import Pool as DaskPool

    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=compat.cpu_count())
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    rows: list[tuple[str, float, float, float]] = []
    with dask.config.set(CLUSTER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=opts.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        with compat.Pool(opts.workers) as local, DaskPool(client=client) as remote:
            for name, func, n in WORKLOADS:
                items = list(range(n))
                local.map(func, items[:50])  # warm-up
                remote.map(func, items[:50])
                client.gather(client.map(func, items[:50], pure=False))
                t_local = best(lambda f=func, i=items: local.map(f, i), opts.repeat)
                t_dask = best(lambda f=func, i=items: remote.map(f, i), opts.repeat)
                t_plain = best(
                    lambda f=func, i=items: client.gather(client.map(f, i, pure=False)),
                    opts.repeat,
                )
                rows.append((name, t_local, t_dask, t_plain))
    finally:
        client.close()
        cluster.close()
    print(f"{opts.workers} workers, best of {opts.repeat}; ratios: time / local compat.Pool time")
    head = ("workload", "compat.Pool", "Dask backend", "ratio", "client.map", "ratio")
    print("{:<12} {:>12} {:>13} {:>7} {:>11} {:>7}".format(*head))
    for name, t_local, t_dask, t_plain in rows:
        print(
            f"{name:<12} {t_local * 1000:>10.1f}ms {t_dask * 1000:>11.1f}ms "
            f"{t_dask / t_local:>6.1f}x {t_plain * 1000:>9.1f}ms {t_plain / t_local:>6.1f}x"
        )


if __name__ == "__main__":
    main()
