"""Child programs for tests/test_run.py: ``python tests/targets_run.py MODE [ARGS...]``.

Plain scripts (not multiprocessing targets): compat.run starts them as programs.
Every mode that waits does so for a bounded time, so a test that fails to stop
one never leaves it running for long.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

LONG = 60.0  # seconds any waiting mode lives at most

# A stand-in for nslookup: fixed answers, no network.
ANSWERS = {
    ("a", "www.python.org"): ["www.python.org\tcanonical name = dualstack.python.map.fastly.net."],
    ("a", "python.org"): ["Name:\tpython.org", "Address: 151.101.0.223"],
    ("mx", "python.org"): ["python.org\tmail exchanger = 50 mail.python.org."],
}


def nslookup(args: list[str]) -> int:
    """``nslookup NAME`` answers once; ``nslookup`` alone reads commands from stdin."""
    print("Server:\t\t127.0.0.53")
    print("Address:\t127.0.0.53#53")
    print()
    if args:
        return _answer("a", args[0])
    qtype = "a"
    status = 0
    for line in sys.stdin:
        command = line.strip()
        print(f"> {command}")
        if command == "exit":
            break
        if command.startswith("set q="):
            qtype = command[len("set q=") :].lower()
            continue
        if command:
            status = _answer(qtype, command)
    return status


def _answer(qtype: str, name: str) -> int:
    lines = ANSWERS.get((qtype, name))
    if lines is None:
        print(f"** server can't find {name}: NXDOMAIN")
        return 1
    print("Non-authoritative answer:")
    for line in lines:
        print(line)
    return 0


def _say(*words: object) -> None:
    # One write per line: a victim and its children share one stdout pipe.
    sys.stdout.write(" ".join(map(str, words)) + "\n")
    sys.stdout.flush()


def _sleeper(new_session: bool = False) -> subprocess.Popen[bytes]:
    # A Python grandchild that inherits stdout/stderr and sleeps. -S: no site, so
    # no coverage start-up (CI measures subprocesses) and a quick start.
    return subprocess.Popen(
        [sys.executable, "-S", "-c", f"import time; time.sleep({LONG})"],
        start_new_session=new_session,
    )


def victim(scenario: str, die_with_parent: bool) -> int:
    """A parent that starts compat.Popen/run trees and waits to be killed. Says
    "guardian PID" for each guardian it had (POSIX, die_with_parent), "ready"
    once its trees are started; its children say "child"/"grandchild PID", "up"."""
    import threading

    import compat
    from compat._native.guardian import GUARDIAN

    family = [sys.executable, __file__, "family"]
    keep = []  # the Popen objects stay referenced (unreaped children stay registered)
    shell_family = 'sleep 60 & echo "grandchild $!"; echo "child $$"; echo up'
    if scenario == "run-thread":  # compat.run from another thread, as a thread pool would
        threading.Thread(
            target=compat.run, args=(family,), kwargs={"die_with_parent": die_with_parent}
        ).start()
        deadline = time.monotonic() + LONG
        while die_with_parent and os.name == "posix" and GUARDIAN.pid is None:
            assert time.monotonic() < deadline, "no guardian started"
            time.sleep(0.01)
    elif scenario == "shell":  # sh with a background grandchild, both in the group
        keep.append(
            compat.Popen(["sh", "-c", shell_family + "; wait"], die_with_parent=die_with_parent)
        )
    elif scenario == "lingering":  # sh exits and is reaped; its grandchild stays
        compat.Popen(["sh", "-c", shell_family], die_with_parent=die_with_parent).wait()
    elif scenario == "restart":  # the guardian is killed between two trees
        keep.append(compat.Popen(family, die_with_parent=die_with_parent))
        first = GUARDIAN.pid
        if first is not None:
            _say("guardian", first)
            os.kill(first, signal.SIGKILL)
            os.waitpid(first, 0)
        keep.append(compat.Popen(family, die_with_parent=die_with_parent))
    elif scenario == "exit":  # a tree, then a normal exit when stdin says so
        keep.append(compat.Popen(family, die_with_parent=die_with_parent))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    if GUARDIAN.pid is not None:
        _say("guardian", GUARDIAN.pid)
    _say("ready")
    if scenario == "exit":
        sys.stdin.readline()  # the test has seen every pid: exit normally now
    else:
        time.sleep(LONG)
    return 0


def _sleep_for_a_handler(seconds: float) -> None:
    """Sleep in 50 ms steps: a signal whose C handler runs just before one long sleep
    starts leaves its Python handler (KeyboardInterrupt, a SIGTERM handler) pending
    until that sleep returns (compat.differences.sig's probe children do the same)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "nslookup":
        return nslookup(args)
    if mode == "exit":
        return int(args[0])
    if mode == "echo":  # stdin to stdout, bytes
        sys.stdout.buffer.write(sys.stdin.buffer.read())
        return 0
    if mode == "write":  # raw bytes given as hex
        sys.stdout.buffer.write(bytes.fromhex(args[0]))
        return 0
    if mode == "env":
        _say(repr(os.environ.get(args[0])))
        return 0
    if mode == "deaf":  # never reads stdin, never exits on its own (within LONG)
        time.sleep(LONG)
        return 0
    if mode == "partial":  # some output, then hang
        _say("partial")
        time.sleep(LONG)
        return 0
    if mode == "sigint":  # KeyboardInterrupt handler; optional marker file
        try:
            if args:
                open(args[0] + ".ready", "w").close()
            _say("ready")
            _sleep_for_a_handler(LONG)
        except KeyboardInterrupt:
            if args:
                with open(args[0], "w") as f:
                    f.write("interrupted")
            _say("interrupted")
            return 3
        return 0
    if mode == "sigterm":  # a SIGTERM handler, and one grandchild
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(4))
        child = _sleeper()
        _say(child.pid)
        _say("ready")
        _sleep_for_a_handler(LONG)
        return 0
    if mode == "tree":  # N grandchildren in the group, M that left it (setsid)
        kids = [_sleeper() for _ in range(int(args[0]))]
        kids += [_sleeper(new_session=True) for _ in range(int(args[1]))]
        for kid in kids:
            _say(kid.pid)
        _say("ready")
        time.sleep(LONG)
        return 0
    if mode == "orphan":  # a grandchild outside the tree holds stdout; we exit at once
        kid = _sleeper(new_session=True)
        _say(kid.pid)
        return 0
    if mode == "family":  # one grandchild; says "child PID", "grandchild PID", "up"
        _say("child", os.getpid())
        _say("grandchild", _sleeper().pid)
        _say("up")
        time.sleep(LONG)
        return 0
    if mode == "victim":  # SCENARIO DIE_WITH_PARENT(0/1): see tests/test_guardian.py
        return victim(args[0], args[1] == "1")
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
