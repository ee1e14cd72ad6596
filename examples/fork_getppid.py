"""The seed's os.fork program, on compat, for every OS.

The original::

    import os
    print('Process (%s) start...' % os.getpid())
    pid = os.fork()          # Linux/macOS only: AttributeError on Windows
    if pid == 0:
        print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
    else:
        print('I (%s) just created a child process (%s).' % (os.getpid(), pid))

``os.fork`` returns twice and does not exist on Windows. ``spawn_child`` runs a
function in the child instead, with whatever start method is safe here, and
``compat.getppid()`` names the real parent even under forkserver (where
``os.getppid()`` names the server).
"""

import os
import sys

import compat


def say(line: str) -> None:
    # Parent and child print at the same moment: one write per line keeps the
    # lines whole even when stdout is unbuffered (PYTHONUNBUFFERED, -u).
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def child() -> None:
    say(f"I am child process ({os.getpid()}) and my parent is {compat.getppid()}.")


if __name__ == "__main__":
    say(f"Process ({os.getpid()}) start...")
    with compat.spawn_child(child) as handle:
        say(f"I ({os.getpid()}) just created a child process ({handle.pid}).")
    handle.result()  # raises compat.ChildError if the child failed
    say(f"(start method: {handle.method}, because {handle.decision.reason})")
