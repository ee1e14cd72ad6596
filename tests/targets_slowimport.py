"""A target whose module is slow to import in a child (tests/test_leanspawn.py): it
says so in the file ``COMPAT_TEST_IMPORTING`` names, then sleeps, so that a signal
can reach the child while it prepares the call, before the target runs."""

from __future__ import annotations

import os
import time

_marker = os.environ.get("COMPAT_TEST_IMPORTING")
if _marker and os.environ.get("COMPAT_TEST_PARENT") != str(os.getpid()):
    with open(_marker, "w", encoding="ascii") as f:
        f.write(str(os.getpid()))
    time.sleep(3)


def ran() -> str:
    return "the target ran"
