"""The seed's Queue writer/reader, on compat: the reader ends on its own.

The original reader looped on ``q.get(True)`` forever and the parent had to
``terminate()`` it. A compat reader iterates: ``for value in q`` stops once
the queue is empty and no other process can still put (the writer finished),
so nothing is lost and nothing is killed. Runs the same under every start
method (``COMPAT_START_METHOD=spawn python examples/queue_writer_reader.py``).
"""

import random
import time

from compat import Process, Queue


def write(q):
    for value in ["A", "B", "C"]:
        print(f"Put {value} to queue...", flush=True)
        q.put(value)
        time.sleep(random.random())


def read(q):
    for value in q:
        print(f"Get {value} from queue.", flush=True)
    print("Reader finished on its own.", flush=True)


if __name__ == "__main__":
    q = Queue()
    pw = Process(target=write, args=(q,))
    pr = Process(target=read, args=(q,))
    pw.start()
    pr.start()
    pw.join()
    pr.join()  # was pr.terminate(): the reader ends when the writer is done
