"""A module that notes each process that imports it (in the file COMPAT_TEST_IMPORTS
names): tests/test_spares.py checks that a warm spare imports no module of the
program before it is handed a call."""

from __future__ import annotations

import os

_path = os.environ.get("COMPAT_TEST_IMPORTS")
if _path:
    with open(_path, "a") as _f:
        _f.write(f"{os.getpid()}\n")


def whoami() -> int:
    return os.getpid()
