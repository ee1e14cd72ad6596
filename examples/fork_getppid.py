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

import compat


def child() -> None:
    print(f"I am child process ({os.getpid()}) and my parent is {compat.getppid()}.", flush=True)


if __name__ == "__main__":
    print(f"Process ({os.getpid()}) start...", flush=True)
    with compat.spawn_child(child) as handle:
        print(f"I ({os.getpid()}) just created a child process ({handle.pid}).", flush=True)
    handle.result()  # raises compat.ChildError if the child failed
    print(f"(start method: {handle.method}, because {handle.decision.reason})")
