"""A program blocked in one of compat's waits, for the Ctrl+C tests: it prints
"ready", waits for its SIGINT, reports how it ended, then proves that a new Pool
still works, and re-raises (exit by KeyboardInterrupt, as an interrupted program does).

    python interrupted.py pool.map|pool.imap|apply_async|executor.map|result|child|run
"""

import faulthandler
import signal
import sys
import time

import compat

# The test sends SIGUSR1 when the program hangs: every thread's stack goes to stderr.
faulthandler.register(signal.SIGUSR1, all_threads=True)


def slow(x):
    time.sleep(60)
    return x


def double(x):
    return 2 * x


def main(what: str) -> None:
    print("ready", flush=True)
    if what == "pool.map":
        with compat.Pool(2) as p:
            p.map(slow, range(4))
    elif what == "pool.imap":
        with compat.Pool(2) as p:
            list(p.imap(slow, range(4)))
    elif what == "apply_async":
        with compat.Pool(2) as p:
            p.apply_async(slow, (1,)).get()
    elif what == "executor.map":
        with compat.ProcessPoolExecutor(2) as ex:
            list(ex.map(slow, range(4)))
    elif what == "result":
        with compat.ProcessPoolExecutor(2) as ex:
            ex.submit(slow, 1).result()
    elif what == "child":
        compat.spawn_child(slow, 1).result()
    elif what == "run":
        # A child that ends by SIGINT without a traceback of its own.
        code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); time.sleep(60)"
        compat.run([sys.executable, "-c", code])


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        with compat.Pool(2) as p:
            print("next pool", p.map(double, range(3)), flush=True)
        raise
    print("not interrupted", flush=True)
