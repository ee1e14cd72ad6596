"""The seed's coroutine producer/consumer, with the consumer in another process.

``consumer()`` is the seed's generator, unchanged. ``spawn_consumer`` runs it in
a child process and returns a handle that works like the generator object:
``send(n)`` returns what the consumer yielded ('200 OK'), ``close()`` ends it.
If the consumer raised, ``send`` would raise ``compat.ChildError`` with the
consumer's exception, message and traceback.
"""

import os

from compat import spawn_consumer


def consumer():
    r = ""
    while True:
        n = yield r
        if not n:
            return
        print(f"[CONSUMER] Consuming {n}...", flush=True)
        r = "200 OK"


def produce(c):
    c.send(None)
    n = 0
    while n < 5:
        n = n + 1
        print(f"[PRODUCER] Producing {n}...", flush=True)
        r = c.send(n)
        print(f"[PRODUCER] Consumer return: {r}", flush=True)
    c.close()


def whoami():
    yield os.getpid()


if __name__ == "__main__":
    c = spawn_consumer(consumer)
    produce(c)
    with spawn_consumer(whoami) as w:
        print(f"[CONSUMER] ran in process {next(w)}, the producer in {os.getpid()}.")
