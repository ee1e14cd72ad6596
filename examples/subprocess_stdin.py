"""The seed's program that feeds a child's stdin, on compat.

The original::

    import subprocess
    print('$ nslookup')
    p = subprocess.Popen(['nslookup'], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output, _err = p.communicate(b'set q=mx\\npython.org\\nexit\\n')
    print(output.decode('utf-8'))
    print('Exit code:', p.returncode)

``compat.Popen`` is a ``subprocess.Popen``; used in a ``with`` block it never
leaves the program (or anything it started) running, and the timeout keeps a
stuck ``nslookup`` from hanging the script. Arguments, if any, replace the
``nslookup`` command: the tests pass a stand-in that answers without the network.
"""

import subprocess
import sys

from compat import Popen


def main(program: list) -> None:
    print("$ nslookup")
    with Popen(program, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        output, _err = p.communicate(b"set q=mx\npython.org\nexit\n", timeout=30)
    print(output.decode("utf-8"))
    print("Exit code:", p.returncode)


if __name__ == "__main__":
    main(sys.argv[1:] or ["nslookup"])
