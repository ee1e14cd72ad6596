# Exchanging objects between processes through a Queue (the documentation's example).
from multiprocessing import Process, Queue


def f(q):
    q.put([42, None, "hello"])


def produce(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


if __name__ == "__main__":
    q = Queue()
    p = Process(target=f, args=(q,))
    p.start()
    print(q.get())  # prints "[42, None, 'hello']"
    p.join()
    print("exitcode", p.exitcode)
    p = Process(target=produce, args=(q, 1000))
    p.start()
    total = 0
    while True:
        item = q.get(timeout=30)
        if item is None:
            break
        total += item
    p.join()
    print("total", total, "empty", q.empty(), "qsize", q.qsize())
    q.close()
    q.join_thread()
