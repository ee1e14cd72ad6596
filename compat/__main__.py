"""``python -m compat``: the doctor, report diffs and the OS-differences document."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
