"""The seed's Process start/join program: only the import changed.

The original imported ``from multiprocessing import Process``. compat's Process
is a drop-in that follows compat's start-method policy and checks, before a
spawn child starts, that the target and arguments can reach it.
"""

import os

from compat import Process


def run_proc(name: str) -> None:
    print(f"Run child process {name} ({os.getpid()})...", flush=True)


if __name__ == "__main__":
    print(f"Parent process {os.getpid()}.", flush=True)
    p = Process(target=run_proc, args=("test",))
    print("Child process will start.", flush=True)
    p.start()
    p.join()
    print("Child process end.", flush=True)
