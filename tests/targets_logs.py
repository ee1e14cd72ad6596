"""Module-level targets of tests/test_logs.py: spawn and forkserver children import
them by name."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator
from typing import Any, Optional


def log_some(tag: str) -> int:
    """Log at several levels and loggers; return the pid for the test to compare."""
    log = logging.getLogger("compat_test.app")
    log.debug("debug %s", tag)  # below the parent's INFO: never handled
    log.info("info %s from %d", tag, os.getpid())
    logging.getLogger("compat_test.quiet").warning("quiet warning %s", tag)
    logging.getLogger("compat_test.verbose").debug("verbose debug %s", tag)
    logging.getLogger("compat_test.own").info("own info %s", tag)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("failed %s", tag)
    log.info("extra %s", tag, extra={"lock": threading.Lock(), "number": 7})
    return os.getpid()


def log_one(tag: str) -> int:
    logging.getLogger("compat_test.app").info("pool %s", tag)
    return os.getpid()


def log_consumer() -> Generator[Optional[int], Any, None]:
    value = yield None
    while True:
        logging.getLogger("compat_test.app").info("consumer got %s", value)
        value = yield os.getpid()
