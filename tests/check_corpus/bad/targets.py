# ruff: noqa
"""Targets that cannot be pickled (MAIN-05) or found by a spawned child (MAIN-03)."""

import functools
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import compat

square = lambda x: x * x


def run():
    def nested(x):
        return x

    class Local:
        def method(self, x):
            return x

    obj = Local()
    proc = mp.Process(target=lambda: None)  # expect: MAIN-05
    proc2 = mp.Process(None, nested)  # expect: MAIN-05
    with mp.Pool(2) as pool:
        pool.map(lambda x: x, range(3))  # expect: MAIN-05
        pool.apply_async(nested, (1,))  # expect: MAIN-05
        pool.starmap(obj.method, [(1,)])  # expect: MAIN-05
        pool.imap(square, range(3))  # expect: MAIN-05
        pool.imap_unordered(functools.partial(nested, 1), range(3))  # expect: MAIN-05
        pool.map(func=Local, iterable=[1])  # expect: MAIN-05
    with ProcessPoolExecutor(initializer=nested) as ex:  # expect: MAIN-05
        ex.submit(nested, 1)  # expect: MAIN-05
        ex.map(lambda x: x, [1])  # expect: MAIN-05
    compat.spawn_child(lambda: 1)  # expect: MAIN-05
    executor = compat.ProcessPoolExecutor()
    executor.submit(Local().method, 1)  # expect: MAIN-05
    return proc, proc2


if __name__ == "__main__":

    def guarded(x):
        return x

    with mp.Pool(2) as pool:
        pool.map(guarded, range(3))  # expect: MAIN-03
    run()
