# A server process manager (the documentation's example), with more proxies.
from multiprocessing import Manager, Process


def f(d, lst, ns, q):
    d[1] = "1"
    d["2"] = 2
    d[0.25] = None
    lst.reverse()
    ns.x = ns.x + 1
    q.put("from the child")


if __name__ == "__main__":
    with Manager() as manager:
        d = manager.dict()
        lst = manager.list(range(10))
        ns = manager.Namespace()
        ns.x = 41
        q = manager.Queue()
        p = Process(target=f, args=(d, lst, ns, q))
        p.start()
        p.join()
        print(d)
        print(lst)
        print(ns.x, q.get(timeout=30))
        lock = manager.Lock()
        with lock:
            print("manager lock held")
