# Subclassing Process, and what a process knows about itself and its parent.
import multiprocessing
import os
import sys


class Worker(multiprocessing.Process):
    def __init__(self, q, n):
        super().__init__()
        self.q = q
        self.n = n

    def run(self):
        parent = multiprocessing.parent_process()
        self.q.put((self.n, self.n**2, parent is not None and parent.pid == os.getppid()))


def leave(code):
    sys.exit(code)


if __name__ == "__main__":
    q = multiprocessing.Queue()
    workers = [Worker(q, n) for n in range(3)]
    for w in workers:
        w.start()
    print(sorted(q.get(timeout=30)[:2] for _ in workers))
    for w in workers:
        w.join()
    print([w.exitcode for w in workers], [w.is_alive() for w in workers])
    p = multiprocessing.Process(target=leave, args=(3,), daemon=True)
    p.start()
    p.join()
    print("exitcode", p.exitcode, "daemon", p.daemon)
    print(multiprocessing.active_children(), multiprocessing.cpu_count() >= 1)
    print(multiprocessing.current_process().name, multiprocessing.parent_process())
