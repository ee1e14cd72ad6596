# ruff: noqa
"""compat stands in for multiprocessing: its Queue.qsize() and set_start_method() are
portable, and Process is started under the guard."""

import compat as multiprocessing
from compat import Queue

multiprocessing.set_start_method("spawn")


def work(q):
    q.put(1)


if __name__ == "__main__":
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=work, args=(q,))
    p.start()
    p.join()
    print(q.qsize(), Queue().qsize())
