"""The seed's Pool program: five long_time_task's through apply_async.

The original imported ``from multiprocessing import Pool``. compat's Pool is a
drop-in whose start method follows compat's policy (``COMPAT_START_METHOD``
chooses one), and a worker that dies fails its task with ``compat.ChildError``
instead of hanging ``join()``.

    python examples/pool_apply_async.py [MAX_SECONDS]

MAX_SECONDS (default 3, as in the seed) bounds each task's random sleep.
"""

import os
import random
import sys
import time

import compat
from compat import Pool


def long_time_task(name: int, max_seconds: float = 3.0) -> None:
    print(f"Run task {name} ({os.getpid()})...", flush=True)
    start = time.time()
    time.sleep(random.random() * max_seconds)
    end = time.time()
    print(f"Task {name} runs {end - start:0.2f} seconds.", flush=True)


if __name__ == "__main__":
    max_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    print(f"Parent process {os.getpid()}.", flush=True)
    print(f"start method: {compat.get_context().method}", flush=True)
    p = Pool(4)
    for i in range(5):
        p.apply_async(long_time_task, args=(i, max_seconds))
    print("Waiting for all subprocesses done...", flush=True)
    p.close()
    p.join()
    print("All subprocesses done.", flush=True)
