"""spawn_child beside the standard library: start+join of a trivial child.

Run: python bench/bench_child.py [--repeat N] [--big N]

Prints medians per start method and the ratios the design goals are stated in:
- spawn_child fork path vs raw os.fork + waitpid (goal: within 1.2x);
- spawn_child spawn path vs multiprocessing spawn Process (goal: at most 0.5x), and
  a bare ``python -I -S -c pass`` beside it (the floor of any spawn);
- spawn_child spawn with a warm spare interpreter (``compat.set_spares(1)``; goal: at
  most 3 ms), a spare being ready before each start;
- `import compat` over a bare interpreter (issue 14: under 2 ms, and no `typing`;
  `python -S -X importtime -c "import compat"` shows the modules);
- start+join from a parent holding ``--gib`` GiB (default 1): os.fork,
  multiprocessing fork and forkserver, compat forkserver and the method compat's
  policy chooses there (goal: at most 10 ms);
- fork from a parent holding ``--big`` small objects, the child running a full
  collection: the fast path with and without its ``gc.freeze`` beside a bare
  ``os.fork`` running the same target.
All rows are measured in this one run, interleaved, so load affects them alike.

Spawn children re-run this file as ``__mp_main__`` (as in any program), so it imports
only ``os``, ``sys``, ``time`` and compat at the top: both multiprocessing's spawn and
compat's lean spawn then find the same light ``__main__``.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import compat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


def noop() -> None:
    return None


def raw_fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def allocate() -> None:
    """A target that runs a full collection (as any library calling gc.collect() does,
    or enough allocation when the parent was close to one)."""
    import gc

    gc.collect()


def raw_fork_allocating() -> None:
    pid = os.fork()
    if pid == 0:
        allocate()
        os._exit(0)
    os.waitpid(pid, 0)


def mp_process(method: str) -> Callable[[], None]:
    import multiprocessing

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
    import subprocess

    cmd = [sys.executable, "-c", code]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def run() -> None:
        subprocess.run(cmd, check=True, env=env)

    return run


def bare_interpreter() -> Callable[[], None]:
    import subprocess

    cmd = [sys.executable, "-I", "-S", "-c", "pass"]

    def run() -> None:
        subprocess.run(cmd, check=True)

    return run


def warm_spare_row(repeat: int) -> float:
    """Median start+join (ms) of a spawn child handed to a warm spare, a spare being
    ready before each start (the replacement starts in the background meanwhile)."""
    import statistics

    from compat._child import spares

    ctx = compat.get_context("spawn")
    compat.set_spares(1)
    samples = []
    try:
        for i in range(repeat + 1):
            deadline = time.monotonic() + 30
            while not spares._idle and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # let it finish its warm-up imports
            t0 = time.perf_counter()
            ctx.spawn_child(noop).result()
            if i:  # the first one warms up the parent
                samples.append(time.perf_counter() - t0)
    finally:
        compat.set_spares(0)
    return statistics.median(samples) * 1000


def big_parent_rows(objects: int, repeat: int) -> dict[str, float]:
    """Fork start+join of an allocating child from a parent holding ``objects`` small
    containers: bare os.fork, the fast path, and the fast path without gc.freeze."""
    from compat._native import forkproc

    ctx = compat.get_context("fork")
    held = [[i] for i in range(objects)]

    def fast() -> None:
        ctx.spawn_child(allocate).result()

    def unfrozen() -> None:
        forkproc.FREEZE_IN_CHILD = False
        try:
            fast()
        finally:
            forkproc.FREEZE_IN_CHILD = True

    k = f"{objects // 1000}k objects"
    cases = {
        f"{k}: os.fork+waitpid, gc.collect()": raw_fork_allocating,
        f"{k}: spawn_child fork": fast,
        f"{k}: spawn_child fork without gc.freeze": unfrozen,
    }
    results = measure(cases, repeat)
    del held
    return results


def big_memory_rows(gib: float, repeat: int) -> dict[str, float]:
    """Start+join of a trivial child from a parent holding ``gib`` GiB of written memory
    (fork copies its page tables: the cost grows with it; forkserver and spawn stay
    flat): os.fork, multiprocessing fork and forkserver, compat forkserver, and the
    child compat's policy chooses (issue 14: the faster one, at most 10 ms)."""
    held = bytearray(b"\x01") * int(gib * (1 << 30))  # written: resident, not lazily zero
    ctx = compat.get_context()
    k = f"{gib:g} GiB parent"
    cases: dict[str, Callable[[], None]] = {
        f"{k}: os.fork+waitpid": raw_fork,
        f"{k}: mp fork Process": mp_process("fork"),
    }
    if "forkserver" in compat.available_start_methods():
        cases[f"{k}: mp forkserver Process"] = mp_process("forkserver")
        cases[f"{k}: compat forkserver spawn_child"] = compat_child("forkserver")
    cases[f"{k}: compat policy's choice ({ctx.method})"] = lambda: ctx.spawn_child(noop).result()
    results = measure(cases, repeat)
    del held
    return results


def measure(cases: dict[str, Callable[[], None]], repeat: int) -> dict[str, float]:
    import statistics

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
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--big", type=int, default=1_000_000, help="objects the large parent holds (0: skip)"
    )
    parser.add_argument(
        "--gib", type=float, default=1.0, help="GiB the large-memory parent holds (0: skip)"
    )
    opts = parser.parse_args()
    methods = compat.available_start_methods()
    cases: dict[str, Callable[[], None]] = {}
    if "fork" in methods:
        cases["os.fork+waitpid"] = raw_fork
    for m in methods:
        cases[f"mp {m} Process"] = mp_process(m)
        cases[f"compat {m} spawn_child"] = compat_child(m)
    startup = {
        "bare python -I -S -c pass": bare_interpreter(),
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
    results["compat spawn spawn_child, warm spare"] = warm_spare_row(opts.repeat)
    if opts.big and "fork" in methods:
        results.update(big_parent_rows(opts.big, max(5, opts.repeat // 3)))
    if opts.gib and "fork" in methods:
        results.update(big_memory_rows(opts.gib, max(5, opts.repeat // 3)))
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
    r = results["compat spawn spawn_child"] / results["bare python -I -S -c pass"]
    print(f"  spawn_child spawn / bare python -I -S     {r:5.2f}x")
    ms = results["compat spawn spawn_child, warm spare"]
    print(f"  spawn_child spawn with a warm spare       {ms:5.2f} ms (goal <= 3 ms)")
    if "forkserver" in methods:
        r = results["compat forkserver spawn_child"] / results["mp forkserver Process"]
        print(f"  spawn_child forkserver / mp forkserver    {r:5.2f}x")
    chosen = [n for n in results if "policy's choice" in n]
    if chosen:
        ms = results[chosen[0]]
        print(f"  {chosen[0]:<40}  {ms:5.2f} ms (goal <= 10 ms)")
    extra = results["import compat"] - results["bare interpreter"]
    print(f"  import compat over a bare interpreter     {extra:+5.2f} ms (goal < 2 ms)")


if __name__ == "__main__":
    main()
