# ruff: noqa
"""set_start_method() at import time (MAIN-10) and macOS's missing qsize (IPC-01)."""

import multiprocessing as mp
from multiprocessing import set_start_method

mp.set_start_method("spawn")  # expect: MAIN-10


def configure():
    set_start_method("forkserver", force=True)


configure()  # expect: MAIN-10


class Stats:
    def __init__(self):
        self.queue = mp.Queue()
        self.sem = mp.Semaphore(2)

    def sizes(self):
        return self.queue.qsize(), self.sem.get_value()  # expect: IPC-01 IPC-01


def count():
    q = mp.get_context("spawn").JoinableQueue()
    return q.qsize() + mp.Queue().qsize()  # expect: IPC-01 IPC-01
