# Queues feeding a collection of worker processes (after the documentation's
# "mp_workers" example), and a JoinableQueue.
from multiprocessing import JoinableQueue, Process, Queue, current_process


def calculate(func, args):
    return f"worker says that {func.__name__}{args} = {func(*args)}"


def mul(a, b):
    return a * b


def plus(a, b):
    return a + b


def worker(input, output):
    for func, args in iter(input.get, "STOP"):
        output.put(calculate(func, args))


def consumer(jq, out):
    while True:
        item = jq.get()
        if item is not None:
            out.put(item * 10)
        jq.task_done()
        if item is None:
            break


if __name__ == "__main__":
    TASKS1 = [(mul, (i, 7)) for i in range(6)] + [(plus, (i, 8)) for i in range(6)]
    task_queue = Queue()
    done_queue = Queue()
    for task in TASKS1:
        task_queue.put(task)
    workers = [Process(target=worker, args=(task_queue, done_queue)) for _ in range(2)]
    for w in workers:
        w.start()
    results = [done_queue.get(timeout=30) for _ in TASKS1]
    for line in sorted(results):
        print(line)
    for _ in range(2):
        task_queue.put("STOP")
    for w in workers:  # a worker may still be starting: its queue must outlive that
        w.join(30)
    jq, out = JoinableQueue(), Queue()
    p = Process(target=consumer, args=(jq, out))
    p.start()
    for i in range(3):
        jq.put(i)
    jq.join()
    print(sorted(out.get(timeout=30) for _ in range(3)))
    jq.put(None)
    p.join(30)
    print(current_process().name)
