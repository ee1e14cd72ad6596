# Event, Condition, Semaphore and Barrier shared with child processes.
from multiprocessing import Barrier, Condition, Event, Process, Queue, Semaphore


def wait_for_event(e, q):
    q.put(("event", e.wait(30)))


def guarded(sem, q, i):
    with sem:
        q.put(("sem", i))


def party(b, q):
    q.put(("barrier", b.wait(30) >= 0))


def notify(cond, q):
    with cond:
        cond.notify_all()
    q.put(("notified", True))


if __name__ == "__main__":
    q = Queue()
    e = Event()
    p = Process(target=wait_for_event, args=(e, q))
    p.start()
    e.set()
    print(q.get(timeout=30))
    p.join()
    sem = Semaphore(2)
    ps = [Process(target=guarded, args=(sem, q, i)) for i in range(3)]
    for p in ps:
        p.start()
    print(sorted(q.get(timeout=30) for _ in ps))
    for p in ps:
        p.join()
    b = Barrier(3)
    ps = [Process(target=party, args=(b, q)) for _ in range(2)]
    for p in ps:
        p.start()
    print("main at barrier", b.wait(30) >= 0)
    print(sorted(q.get(timeout=30) for _ in ps))
    for p in ps:
        p.join()
    cond = Condition()
    p = Process(target=notify, args=(cond, q))
    p.start()
    print(q.get(timeout=30))
    p.join()
