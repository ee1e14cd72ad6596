"""The seed's ``subprocess.call`` program, on compat.

The original::

    import subprocess
    print('$ nslookup www.python.org')
    r = subprocess.call(['nslookup', 'www.python.org'])
    print('Exit code:', r)

``compat.run`` finds ``nslookup`` the same way on every OS (PATH, and PATHEXT on
Windows), and a missing program raises FileNotFoundError naming the directories
it searched. Arguments, if any, replace the ``nslookup`` command: the tests pass
a stand-in that answers without the network.
"""

import sys

from compat import run


def main(program: list) -> None:
    print("$ nslookup www.python.org", flush=True)  # flush: the child writes to the same stdout
    try:
        r = run([*program, "www.python.org"]).returncode
    except FileNotFoundError as exc:
        print(exc)
        r = 127  # what a shell reports for a missing program
    print("Exit code:", r)


if __name__ == "__main__":
    main(sys.argv[1:] or ["nslookup"])
