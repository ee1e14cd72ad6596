"""The seed's Pool program on a Dask cluster: five long_time_task's through apply_async.

The same code as examples/pool_apply_async.py with ``backend="dask"``: compat starts
a LocalCluster of process workers (compat.cpu_count() of them) and closes it when the
pool ends. Pass a scheduler address to use a running cluster instead (or leave the
code alone and set COMPAT_BACKEND=dask, COMPAT_DASK_ADDRESS=tcp://host:8786). Needs
``pip install spawn-compat[dask]``.

    python examples/dask_pool.py [MAX_SECONDS] [SCHEDULER_ADDRESS]
"""

import os
import random
import sys
import time

import compat


def long_time_task(name: int, max_seconds: float = 3.0) -> None:
    print(f"Run task {name} ({os.getpid()})...", flush=True)
    start = time.time()
    time.sleep(random.random() * max_seconds)
    end = time.time()
    print(f"Task {name} runs {end - start:0.2f} seconds.", flush=True)


if __name__ == "__main__":
    max_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    address = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"Parent process {os.getpid()}.")
    p = compat.Pool(4, backend="dask", address=address)
    print(f"Backend: {p.backend_decision}")
    for i in range(5):
        p.apply_async(long_time_task, args=(i, max_seconds))
    print("Waiting for all subprocesses done...")
    p.close()
    p.join()
    print("All subprocesses done.")
