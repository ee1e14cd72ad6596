"""compat.run(['true']) beside subprocess.run and os.posix_spawn, in one run.

    python bench/bench_run.py [--rounds N]

Each round times one call of every contender, in a rotating order, so that drift
in machine load hits all of them alike. Reported: the median wall time per call
and the ratio to subprocess.run (the goal: compat.run within 1.05x).

What each contender does:
- subprocess.run(['true']): the standard library; the child searches PATH.
- compat.run(['true']): resolves 'true' on PATH in the parent, starts the child
  in a new session (so a timeout could kill its whole tree), waits, then sends
  one killpg for leftovers.
- subprocess.run(..., start_new_session=True): the standard library with the
  session compat adds, to separate that cost from compat's own.
- os.posix_spawn + waitpid: the floor (no pipes for errors, no fd closing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compat import run as compat_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    rounds = parser.parse_args().rounds
    true_path = shutil.which("true")
    if true_path is None:
        raise SystemExit("no 'true' program on PATH")

    def spawn_floor() -> None:
        pid = os.posix_spawn(true_path, ["true"], os.environ)
        os.waitpid(pid, 0)

    contenders: dict[str, Callable[[], object]] = {
        "subprocess.run(['true'])": lambda: subprocess.run(["true"]),
        "compat.run(['true'])": lambda: compat_run(["true"]),
        "subprocess.run(['true'], start_new_session=True)": lambda: subprocess.run(
            ["true"], start_new_session=True
        ),
        f"os.posix_spawn({true_path!r}) + waitpid": spawn_floor,
    }
    names = list(contenders)
    for fn in contenders.values():  # warm up imports and caches
        for _ in range(20):
            fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)

    base = statistics.median(times[names[0]])
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {rounds} rounds, median per call")
    width = max(map(len, names))
    for name in names:
        median = statistics.median(times[name])
        print(f"  {name:<{width}}  {median * 1e3:7.3f} ms  {median / base:5.3f}x")
    ratio = statistics.median(times[names[1]]) / base
    verdict = "meets" if ratio <= 1.05 else "MISSES"
    print(f"compat.run / subprocess.run = {ratio:.3f} ({verdict} the 1.05x goal)")


if __name__ == "__main__":
    main()
