# Thread pools: multiprocessing.pool.ThreadPool and multiprocessing.dummy.
import multiprocessing
import multiprocessing.pool
from multiprocessing.dummy import Pool as DummyPool
from multiprocessing.pool import ThreadPool


def f(x):
    return x + 1


if __name__ == "__main__":
    with ThreadPool(3) as pool:
        print(pool.map(f, range(8)))
        print(isinstance(pool.apply_async(f, (1,)), multiprocessing.pool.AsyncResult))
    with DummyPool(2) as pool:
        print(sorted(pool.imap_unordered(f, range(4))))
    with multiprocessing.pool.ThreadPool(2) as pool:
        print(pool.starmap(pow, [(2, 3), (3, 2)]))
