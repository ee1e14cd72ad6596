"""spawn_child beside the standard library: start+join of a trivial child.

Run: python bench/bench_child.py [--repeat N]

Prints medians per start method and the ratios the design goals are stated in:
- spawn_child fork path vs raw os.fork + waitpid (goal: within 1.2x);
- spawn_child spawn path vs multiprocessing spawn Process (goal: at most 0.5x);
- `import compat` over a bare interpreter (goal: under 5 ms).
All rows are measured in this one run, interleaved, so load affects them alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compat


def noop() -> None:
    return None


def raw_fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def mp_process(method: str) -> Callable[[], None]:
    ctx = multiprocessing.get_context(method)

    def run() -> None:
        p = ctx.Process(target=noop)
        p.start()
        p.join()

    return run


def compat_child(method: str) -> Callable[[], None]:
    ctx = compat.get_context(method)

    def run() -> None:
        ctx.spawn_child(noop).result()

    return run


def interpreter(code: str) -> Callable[[], None]:
    cmd = [sys.executable, "-c", code]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))

    def run() -> None:
        subprocess.run(cmd, check=True, env=env)

    return run


def measure(cases: dict[str, Callable[[], None]], repeat: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up (forkserver start, imports)
        fn()
    for _ in range(repeat):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) * 1000 for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    opts = parser.parse_args()
    methods = compat.available_start_methods()
    cases: dict[str, Callable[[], None]] = {}
    if "fork" in methods:
        cases["os.fork+waitpid"] = raw_fork
    for m in methods:
        cases[f"mp {m} Process"] = mp_process(m)
        cases[f"compat {m} spawn_child"] = compat_child(m)
    startup = {
        "bare interpreter": interpreter("pass"),
        "import compat": interpreter("import compat"),
        "import multiprocessing": interpreter("import multiprocessing"),
    }
    print(
        f"CPython {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs, "
        f"median of {opts.repeat}"
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("  note: PYTHONDONTWRITEBYTECODE is set: spawned children compile compat from source")
    results = measure(cases, opts.repeat)
    results.update(measure(startup, opts.repeat))
    width = max(map(len, results))
    for name, ms in results.items():
        print(f"  {name:<{width}}  {ms:8.2f} ms")
    print("ratios:")
    if "fork" in methods:
        r = results["compat fork spawn_child"] / results["os.fork+waitpid"]
        print(f"  spawn_child fork / os.fork+waitpid        {r:5.2f}x  (goal <= 1.2x)")
        r = results["compat fork spawn_child"] / results["mp fork Process"]
        print(f"  spawn_child fork / mp fork Process        {r:5.2f}x")
    r = results["compat spawn spawn_child"] / results["mp spawn Process"]
    print(f"  spawn_child spawn / mp spawn Process      {r:5.2f}x  (goal <= 0.5x)")
    if "forkserver" in methods:
        r = results["compat forkserver spawn_child"] / results["mp forkserver Process"]
        print(f"  spawn_child forkserver / mp forkserver    {r:5.2f}x")
    extra = results["import compat"] - results["bare interpreter"]
    print(f"  import compat over a bare interpreter     {extra:+5.2f} ms (goal < 5 ms)")


if __name__ == "__main__":
    main()
