"""A standard-library program whose only change is `import compat as multiprocessing`."""

import compat as multiprocessing


def square(x):
    return x * x


def worker(q, lock, counter, arr, event, barrier, shared):
    with lock:
        counter.value += 1
    arr[0] = 7
    barrier.wait(10)
    event.wait(10)
    shared["child"] = multiprocessing.current_process().name
    q.put(("done", multiprocessing.parent_process() is not None))


if __name__ == "__main__":
    multiprocessing.freeze_support()
    q = multiprocessing.Queue()
    lock = multiprocessing.Lock()
    counter = multiprocessing.Value("i", 0)
    arr = multiprocessing.Array("i", 3)
    event = multiprocessing.Event()
    barrier = multiprocessing.Barrier(2)
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        p = multiprocessing.Process(
            target=worker, args=(q, lock, counter, arr, event, barrier, shared), name="w1"
        )
        p.start()
        barrier.wait(10)
        assert p in multiprocessing.active_children()
        event.set()
        print(q.get(timeout=10))
        p.join(10)
        print(
            "exitcode", p.exitcode, "counter", counter.value, "arr", arr[0], "shared", dict(shared)
        )
    with multiprocessing.Pool(2) as pool:
        print("pool", pool.map(square, range(5)))
    print("cpus>=1", multiprocessing.cpu_count() >= 1)
    print("method", multiprocessing.get_start_method())
    print("main", multiprocessing.current_process().name, multiprocessing.parent_process())
