# Pool with an initializer, maxtasksperchild, starmap, callbacks and a failing task.
# Every map passes chunksize: without it the standard library computes
# divmod(len(iterable), len(self._pool) * 4), and with maxtasksperchild its worker
# list is empty for a moment while retired workers are replaced: ZeroDivisionError
# (seen here under load on 3.11; compat's Pool has no such window).
# Every print flushes: the pool forks replacement workers from a background thread,
# and a fork that lands between a print and the flush copies the unflushed line into
# the worker, which writes it again when it exits (the standard library's Pool forks
# from its handler thread the same way; seen with compat under load).
import os
from multiprocessing import Pool

STATE = {}


def init(value):
    STATE["value"] = value


def get_state(_):
    return STATE.get("value")


def add(a, b):
    return a + b


def fail(x):
    raise ValueError(f"bad {x}")


if __name__ == "__main__":
    with Pool(2, initializer=init, initargs=("ready",), maxtasksperchild=2) as pool:
        print(pool.map(get_state, range(6), chunksize=1), flush=True)
        print(pool.starmap(add, [(1, 2), (3, 4)], chunksize=1), flush=True)
        got = []
        r = pool.map_async(abs, [-1, -2], chunksize=1, callback=got.append)
        r.wait(30)
        print(r.get(), got, r.successful(), flush=True)
        errors = []
        r = pool.apply_async(fail, (7,), error_callback=errors.append)
        try:
            r.get(30)
        except ValueError as exc:
            print("raised", exc, [str(e) for e in errors], flush=True)
        try:
            pool.map(fail, [1], chunksize=1)
        except ValueError as exc:
            print("map raised", exc, flush=True)
        print(list(pool.imap(abs, [-3, -4], chunksize=2)), flush=True)
    print("pid", os.getpid() > 0, flush=True)
