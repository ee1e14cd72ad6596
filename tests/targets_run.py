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
    print(*words, flush=True)


def _sleeper(new_session: bool = False) -> subprocess.Popen[bytes]:
    # A Python grandchild that inherits stdout/stderr and sleeps. -S: no site, so
    # no coverage start-up (CI measures subprocesses) and a quick start.
    return subprocess.Popen(
        [sys.executable, "-S", "-c", f"import time; time.sleep({LONG})"],
        start_new_session=new_session,
    )


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
            time.sleep(LONG)
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
        time.sleep(LONG)
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
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
