# ruff: noqa
"""Threads take lambdas; names the checker does not know are not findings."""

import queue
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.dummy import Pool as ThreadPool

import something

pool = ThreadPool(2)
print(pool.map(lambda x: x, range(3)))
with ThreadPoolExecutor() as ex:
    ex.submit(lambda: None)
print(list(map(lambda x: x, range(3))))
something.Process(target=lambda: 0).start()
q = queue.Queue()
q.qsize()


def run(q):
    return q.qsize()  # a parameter: unknown
