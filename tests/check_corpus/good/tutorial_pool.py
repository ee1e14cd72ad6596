# ruff: noqa
"""The tutorial's Pool program and an executor, guarded, with module-level workers."""

import functools
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def long_time_task(name, scale=1):
    return name * scale


def main():
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as p:
        for i in range(5):
            p.apply_async(long_time_task, args=(i,))
        p.map(functools.partial(long_time_task, scale=2), range(3))
        p.starmap(long_time_task, [(1, 2)])
    with ProcessPoolExecutor() as ex:
        ex.submit(long_time_task, 1)
        list(ex.map(long_time_task, range(3)))
    q = ctx.Queue()
    q.put(1)
    print(q.empty())


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
