# Synchronization between processes with a Lock (the documentation's example).
from multiprocessing import Lock, Process


def f(lock, i):
    lock.acquire()
    try:
        print("hello world", i, flush=True)  # dropin: any order
    finally:
        lock.release()


if __name__ == "__main__":
    lock = Lock()
    procs = [Process(target=f, args=(lock, num)) for num in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print("exitcodes", [p.exitcode for p in procs])
