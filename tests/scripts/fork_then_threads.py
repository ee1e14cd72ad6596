"""compat's default context picks fork while safe; forking after threads start warns."""

import threading
import warnings

import compat
from tests.targets import double

if __name__ == "__main__":
    print("first", compat.spawn_child(double, 1).result(30), compat.get_start_method())
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="late-thread")
    t.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print("second", compat.spawn_child(double, 2).result(30))
        for w in caught:
            print("warning", w.category.__name__, w.filename.endswith("fork_then_threads.py"))
            print("text", w.message)
        print("explicit", compat.get_context("forkserver").spawn_child(double, 3).result(30))
    finally:
        stop.set()
        t.join(5)
