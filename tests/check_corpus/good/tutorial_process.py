# ruff: noqa
"""The tutorial's Process program, guarded: nothing to report."""

import os
from multiprocessing import Process


def run_proc(name):
    print(f"Run child process {name} ({os.getpid()})...")


if __name__ == "__main__":
    p = Process(target=run_proc, args=("test",))
    p.start()
    p.join()
