# The "Using a pool of workers" example of the multiprocessing documentation, and the
# private attributes programs read (_cache, _pool, _state, _processes).
import os
import time
from multiprocessing import Pool, TimeoutError


def f(x):
    return x * x


if __name__ == "__main__":
    with Pool(processes=2) as pool:
        print(pool.map(f, range(10)))
        for i in pool.imap_unordered(f, range(5)):
            print("imap_unordered", i)  # dropin: any order
        res = pool.apply_async(f, (20,))
        print(res.get(timeout=30))
        res = pool.apply_async(os.getpid, ())
        print(res.get(timeout=30) in [p.pid for p in pool._pool])
        multiple_results = [pool.apply_async(os.getpid, ()) for i in range(4)]
        print(len([res.get(timeout=30) for res in multiple_results]))
        res = pool.apply_async(time.sleep, (0.5,))
        try:
            print(res.get(timeout=0.05))
        except TimeoutError:
            print("We lacked patience and got a multiprocessing.TimeoutError")
        res.wait()
        print("For the moment, the pool remains available for more work")
        print("cache", len(pool._cache), "workers", len(pool._pool), pool._processes)
        print("state", pool._state)
        r = pool.map_async(f, range(4))
        print("map_async", r.get(30), len(pool._cache))
    print("Now the pool is closed and no longer available")
