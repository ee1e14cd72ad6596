"""A program for the fault tests to SIGKILL: it starts children of one kind, prints
their pids as one JSON line, then waits to be killed.

Run: python -m tests.faults.victim KIND METHOD

KIND: ``pool``, ``executor``, ``child``, ``consumer``, ``manager`` (children that must
die with this process: "pids"), ``outlive`` (one child that must die and one started
with ``die_with_parent=False`` that must survive: "outlive"), ``interrupt-pool`` and
``interrupt-executor`` (a pool busy with a long task, for a Ctrl+C to the process
group: prints "INTERRUPTED" when the KeyboardInterrupt reaches it, and exits 0).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tests.faults import targets_faults as tf

LINGER = 60.0


def _start(kind: str, method: str, keep: list[Any]) -> dict[str, list[int]]:
    import compat

    ctx = compat.get_context(method)
    if kind == "pool":
        pool = compat.Pool(2, context=ctx)
        keep.append(pool)
        assert pool.map(tf.square, range(8)) == [x * x for x in range(8)]
        keep.append(pool.apply_async(tf.sleep_then, (None, LINGER)))  # one worker busy
        return {"pids": sorted(p.pid for p in pool._pool)}
    if kind == "executor":
        ex = compat.ProcessPoolExecutor(2, mp_context=ctx)
        keep.append(ex)
        busy = [ex.submit(tf.sleep_then, None, LINGER) for _ in range(2)]
        keep.append(busy)
        deadline = time.monotonic() + 30
        while len(ex._processes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"pids": sorted(ex._processes)}
    if kind == "child":
        child = ctx.spawn_child(tf.sleep_forever)
        keep.append(child)
        return {"pids": [child.pid]}
    if kind == "consumer":
        consumer = ctx.spawn_consumer(tf.command_consumer)
        keep.append(consumer)
        assert consumer.send(None) == "ready"
        return {"pids": [consumer.pid]}
    if kind == "manager":
        manager = ctx.Manager()
        keep.append(manager)
        shared = manager.dict()
        shared["up"] = True
        keep.append(shared)
        return {"pids": [manager._process.pid]}
    if kind == "outlive":
        dies = ctx.spawn_child(tf.sleep_forever)
        outlives = compat.get_context(method, die_with_parent=False).spawn_child(tf.sleep_forever)
        keep.extend([dies, outlives])
        return {"pids": [dies.pid], "outlive": [outlives.pid]}
    raise SystemExit(f"unknown kind {kind!r}")


def _interrupted(kind: str, method: str) -> None:
    import compat

    ctx = compat.get_context(method)
    try:
        if kind == "interrupt-pool":
            with compat.Pool(2, context=ctx) as pool:
                pool.map(tf.square, range(4))
                pids = sorted(p.pid for p in pool._pool)
                result = pool.apply_async(tf.sleep_then, (None, LINGER))
                print(json.dumps({"pids": pids}), flush=True)
                result.get(LINGER)
        else:
            with compat.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                futures = [ex.submit(tf.sleep_then, None, LINGER) for _ in range(2)]
                deadline = time.monotonic() + 30
                while len(ex._processes) < 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                print(json.dumps({"pids": sorted(ex._processes)}), flush=True)
                for f in futures:
                    f.result(LINGER)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        return
    print("NOT INTERRUPTED", flush=True)


def main() -> None:
    kind, method = sys.argv[1], sys.argv[2]
    if kind.startswith("interrupt-"):
        _interrupted(kind, method)
        return
    keep: list[Any] = []
    print(json.dumps(_start(kind, method, keep)), flush=True)
    time.sleep(LINGER)


if __name__ == "__main__":
    main()
