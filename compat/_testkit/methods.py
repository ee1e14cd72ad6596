"""Which start methods a test runs under, and running a test under one.

Used by :mod:`compat.pytest_plugin`; imports neither pytest nor anything heavy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NamedTuple, Optional

from .._platform import KNOWN_METHODS, START_METHOD_ENV, PlatformFacts

__all__ = ["MethodParam", "default_method", "method_params", "parse_methods", "running_under"]


class MethodParam(NamedTuple):
    """One run of a test: its start method, and why it is skipped (None: it runs)."""

    method: str
    skip: Optional[str]


def parse_methods(value: str) -> tuple[str, ...]:
    """``"all"`` or a comma-separated list (``"fork,spawn"``) -> the start methods, in
    the given order. Raises ValueError naming an unknown method."""
    if value.strip() == "all":
        return KNOWN_METHODS
    methods: list[str] = []
    for part in value.split(","):
        method = part.strip()
        if not method:
            continue
        if method not in KNOWN_METHODS:
            raise ValueError(
                f"unknown start method {method!r} in --start-methods={value}; use 'all' "
                f"or a comma-separated list of {', '.join(KNOWN_METHODS)}"
            )
        if method not in methods:
            methods.append(method)
    if not methods:
        raise ValueError(f"--start-methods={value} names no start method")
    return tuple(methods)


def default_method(windows: bool) -> str:
    """The method a test runs under without ``--start-methods``: compat's policy choice
    for this platform (``COMPAT_START_METHOD`` counts), spawn under --windows-semantics."""
    if windows:
        return "spawn"
    from .._policy import choose_start_method

    return choose_start_method().method


def method_params(
    selected: Optional[tuple[str, ...]],
    marked: Optional[tuple[str, ...]],
    *,
    windows: bool,
    default: str,
    facts: Optional[PlatformFacts] = None,
) -> list[MethodParam]:
    """The runs of one test. ``selected``: the ``--start-methods`` list (None: not
    given); ``marked``: the methods of its ``@pytest.mark.start_methods`` (None: no
    mark). Every method that cannot run is kept, as a skip with the reason."""
    if facts is None:
        facts = PlatformFacts.current()
    if selected is not None:
        candidates = selected
    elif marked:
        candidates = marked
    else:
        candidates = (default,)
    params = []
    for method in candidates:
        skip = None
        if marked is not None and method not in marked:
            skip = (
                f"start method {method!r} is not among this test's "
                f"@pytest.mark.start_methods({', '.join(repr(m) for m in marked)})"
            )
        elif windows and method != "spawn":
            skip = (
                f"start method {method!r} does not exist on Windows, which offers only "
                "'spawn' (--windows-semantics)"
            )
        elif method not in facts.start_methods:
            skip = (
                f"start method {method!r} is not available on {facts.os_name} "
                f"({facts.platform}), which offers {', '.join(facts.start_methods)}"
            )
        params.append(MethodParam(method, skip))
    return params


_contexts: dict[str, object] = {}


@contextlib.contextmanager
def running_under(method: str, why: str) -> Iterator[None]:
    """Make ``method`` the default of compat (``compat.get_context()``, ``Pool()``...)
    and of the standard library (``multiprocessing.get_context()``, ``Process``,
    ``Pool``, ``ProcessPoolExecutor()``), and ``COMPAT_START_METHOD`` for the programs
    started meanwhile; put all three back afterwards."""
    import multiprocessing

    from .._context import Context, replace_default
    from .._policy import Decision

    ctx = _contexts.get(method)
    if ctx is None:
        ctx = _contexts[method] = Context(Decision(method, why, "requested"))
    assert isinstance(ctx, Context)
    stdlib_before = multiprocessing.get_start_method(allow_none=True)
    env_before = os.environ.get(START_METHOD_ENV)
    multiprocessing.set_start_method(method, force=True)
    compat_before = replace_default(ctx)
    os.environ[START_METHOD_ENV] = method
    try:
        yield
    finally:
        if env_before is None:
            os.environ.pop(START_METHOD_ENV, None)
        else:
            os.environ[START_METHOD_ENV] = env_before
        replace_default(compat_before)
        multiprocessing.set_start_method(stdlib_before, force=True)
