# ruff: noqa
"""Processes started at import time (MAIN-01), directly and through functions."""

import multiprocessing
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import Pool, Process

import compat


def work(x=0):
    return x


class Worker(mp.Process):
    def run(self):
        pass


pool = Pool(2)  # expect: MAIN-01
Process(target=work).start()  # expect: MAIN-01
p = multiprocessing.Process(target=work)
p.start()  # expect: MAIN-01
ctx = mp.get_context("spawn")
ctx.Process(target=work).start()  # expect: MAIN-01
executor = ProcessPoolExecutor()  # expect: MAIN-01
child = compat.spawn_child(work)  # expect: MAIN-01
Worker().start()  # expect: MAIN-01
manager = mp.Manager()  # expect: MAIN-01
with compat.Pool() as cpool:  # expect: MAIN-01
    cpool.map(work, [1])


def starter():
    q = mp.Process(target=work)
    q.start()


def helper():
    starter()


def harmless():
    return 1


helper()  # expect: MAIN-01
harmless()

if __name__ != "__main__":
    starter()  # expect: MAIN-01
else:
    starter()

if __name__ == "__main__":
    starter()
