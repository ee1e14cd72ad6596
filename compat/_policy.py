"""The start-method policy: which way to start a child, and why.

A pure function of :class:`~compat._platform.PlatformFacts`, so every branch
(Windows, macOS with threads, Linux 3.14...) is tested on one Linux machine.
"""

from __future__ import annotations

from collections import namedtuple

from ._errors import StartMethodUnavailable
from ._platform import KNOWN_METHODS, START_METHOD_ENV, PlatformFacts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple, Optional

    # The fields, for the type checker; collections.namedtuple makes them at run time
    # (typing.NamedTuple would import typing into every child; see compat._platform).
    class _DecisionFields(NamedTuple):
        method: str
        reason: str
        source: str = "policy"
else:
    _DecisionFields = namedtuple(
        "_DecisionFields", ["method", "reason", "source"], defaults=("policy",)
    )


class Decision(_DecisionFields):
    """A start method and the reason it was chosen.

    ``source`` says who decided: ``"requested"`` (code asked for it),
    ``"environment"`` (``COMPAT_START_METHOD``) or ``"policy"`` (compat chose).
    """

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.method}: {self.reason}"


Decision.__module__ = "compat"


def available_start_methods(*, facts: Optional[PlatformFacts] = None) -> tuple[str, ...]:
    """The start methods this interpreter (or the platform ``facts`` describe) offers.

    Linux and macOS: ``fork``, ``spawn`` and ``forkserver``. Windows: ``spawn`` only.
    """
    if facts is None:
        facts = PlatformFacts.current()
    return facts.start_methods


def validate_method(method: object, facts: PlatformFacts, *, origin: str = "") -> str:
    """Return ``method`` if it is a known start method available under ``facts``.

    Raises :class:`StartMethodUnavailable` (a ``ValueError``) naming what is
    available, or ``TypeError`` for a non-string.
    """
    if not isinstance(method, str):
        raise TypeError(f"start method must be a str such as 'spawn', not {type(method).__name__}")
    where = f" ({origin})" if origin else ""
    available = ", ".join(repr(m) for m in facts.start_methods)
    if method not in KNOWN_METHODS:
        known = ", ".join(repr(m) for m in KNOWN_METHODS)
        raise StartMethodUnavailable(
            f"unknown start method {method!r}{where}; the start methods are {known}, "
            f"and {facts.os_name} offers {available}"
        )
    if method not in facts.start_methods:
        raise StartMethodUnavailable(
            f"start method {method!r}{where} is not available on {facts.os_name} "
            f"({facts.platform}); use one of {available}"
        )
    return method


#: Resident memory (bytes) from which a safe fork costs more than forkserver, so the
#: policy picks forkserver. Fork copies the parent's page tables, so its cost grows
#: with what the parent holds; a forkserver child forks from a small server at a
#: flat cost. Measured on Linux (CPython 3.11, 2 cores, start+join of a trivial
#: ``spawn_child``): fork 2-3 ms + 22 to 36 ms per GiB resident (more on a busy
#: machine), forkserver a flat 12-14 ms, so the lines cross between 0.3 and 0.45
#: GiB; 512 MiB leaves a margin for the server's one-time start (a spawn, ~50 ms)
#: and for what forkserver asks of a program (a picklable target, an importable
#: ``__main__``). ``bench/bench_child.py`` prints both lines and where they cross.
FORK_RSS_LIMIT = 512 << 20

#: The hazard of a macOS process whose thread count the OS did not give.
UNSEEN_THREADS = (
    "macOS did not report how many threads are running (libproc's proc_pidinfo "
    "could not be used), so native threads that Python did not start (Accelerate, BLAS, "
    "libdispatch) may be running unseen, and a fork child inherits any lock they hold"
)


def fork_hazards(facts: PlatformFacts) -> list[str]:
    """Why forking now would be unsafe under ``facts`` (empty when it is safe).

    - other threads alive: only the forking thread survives in the child, so a
      lock another thread held (the allocator's, logging's, a C library's) stays
      locked forever; CPython 3.12+ warns (DeprecationWarning) for this reason.
    - macOS system frameworks initialised (CPython bpo-33725): the child aborts
      when it touches the Objective-C runtime again.
    - macOS without an OS thread count (``facts.os_threads_unknown``): macOS
      libraries start native threads that :mod:`threading` cannot see, so a
      count of 1 from Python proves nothing there (the reason CPython made spawn
      macOS's default, bpo-33725). Linux without ``/proc`` and the BSDs keep
      trusting the Python count, as before.
    """
    hazards = []
    if facts.macos and facts.os_threads_unknown:
        hazards.append(UNSEEN_THREADS)
    if facts.threads > 1:
        others = facts.threads - 1
        names = f" ({', '.join(facts.thread_names)})" if facts.thread_names else ""
        hazards.append(
            f"{others} other thread{'s are' if others > 1 else ' is'} running{names}, "
            "and a fork child inherits any lock they hold"
        )
    if facts.macos and facts.fork_unsafe_modules:
        hazards.append(
            "macOS system frameworks are loaded ("
            + ", ".join(facts.fork_unsafe_modules)
            + "), which abort in a fork child (bpo-33725)"
        )
    return hazards


def choose_start_method(
    requested: Optional[str] = None, *, facts: Optional[PlatformFacts] = None
) -> Decision:
    """Choose how to start a child process, and say why.

    In order:

    1. ``requested`` wins; an unknown or unavailable method raises
       :class:`StartMethodUnavailable` (also a ``ValueError``) listing what exists.
    2. Else the environment variable ``COMPAT_START_METHOD``, validated the same way.
    3. Windows: ``spawn``, the only method (no ``os.fork``).
    4. Linux, macOS and other POSIX: ``fork`` when it is safe: no other threads
       running and, on macOS, no system framework loaded that crashes after fork
       and a thread count from the OS, not only from Python (see
       :func:`fork_hazards`). A frozen executable keeps ``fork`` even then,
       because spawn and forkserver cannot re-run a frozen program on POSIX.
       When fork is unsafe: ``forkserver`` on Linux and other POSIX (its server is
       a fresh single-threaded process, so its forks are safe), ``spawn`` on
       macOS (CPython's own choice there: its long ``TMPDIR`` breaks forkserver's
       AF_UNIX socket paths, and spawn is the platform default since 3.8), and
       ``spawn`` wherever forkserver is missing.
    5. Fork is safe but the process holds :data:`FORK_RSS_LIMIT` (512 MiB) or more
       of resident memory (``facts.rss``): ``forkserver`` where the policy uses it
       (Linux and other POSIX; not macOS, see 4, nor a frozen executable), because
       fork's cost grows with the parent's memory (it copies the page tables,
       20-40 ms per GiB) while forkserver's stays flat. A pool pays this once
       per worker. The reason says how much the process holds. A program that grew
       must not break: ``spawn_child`` forks a child that forkserver cannot start
       (an unpicklable target or argument, a script without a main guard) while
       fork stays safe, and says so in ``child.decision``. Pools and executors
       cannot (their workers start before the tasks exist): their tasks must
       pickle, by reference or, with cloudpickle installed, by value; or pass
       ``compat.get_context("fork")``.

    ``facts`` describes the platform; by default the running interpreter, read now.
    The default context (``compat.get_context()``, ``Pool()`` and
    ``ProcessPoolExecutor()`` without a context, the module-level functions)
    decides once, at its first use, and keeps that method so that every object it
    makes agrees: a program that grows large after its first child keeps fork.
    Pass ``compat.get_context("forkserver")`` for the later children, or call
    ``compat.set_start_method(None, force=True)`` to let the policy decide again.

    This differs from CPython's defaults on purpose: CPython picks ``forkserver`` on
    Linux 3.14+ even when fork would be safe and ``spawn`` on macOS always; compat
    takes the fast path when it is safe and says so.
    """
    if facts is None:
        facts = PlatformFacts.current()
    if requested is not None:
        method = validate_method(requested, facts)
        return Decision(method, f"{method} was requested explicitly", "requested")
    if facts.env_method is not None:
        origin = f"from {START_METHOD_ENV}={facts.env_method}"
        method = validate_method(facts.env_method, facts, origin=origin)
        return Decision(method, f"{START_METHOD_ENV}={method} is set", "environment")
    if facts.windows or "fork" not in facts.start_methods:
        if facts.windows:
            reason = "Windows has no fork; spawn is its only start method"
        else:
            reason = f"{facts.os_name} has no fork; spawn starts a fresh interpreter"
        return Decision(_first_available(("spawn",), facts), reason)
    hazards = fork_hazards(facts)
    if not hazards and _large(facts):
        held = (facts.rss or 0) >> 20
        return Decision(
            "forkserver",
            f"fork is safe here on {facts.os_name}, but this process holds {held} MiB of "
            f"resident memory (from {FORK_RSS_LIMIT >> 20} MiB on) and fork's cost grows "
            "with it (it copies the page tables); forkserver starts each child from a "
            "small server at a flat cost",
        )
    if not hazards:
        return Decision(
            "fork",
            f"fork is the fastest start method and safe here on {facts.os_name}: "
            "no other threads are running"
            + (" and no fork-unsafe macOS framework is loaded" if facts.macos else ""),
        )
    why = "; ".join(hazards)
    # Only unseen threads: a possible hazard, not a seen one; say so.
    verdict = "fork may be unsafe" if hazards == [UNSEEN_THREADS] else "fork is unsafe"
    if facts.frozen:
        return Decision(
            "fork",
            f"{verdict} ({why}) but this is a frozen executable, which spawn and "
            "forkserver cannot re-run on POSIX; fork is the only start method that works",
        )
    if facts.macos or "forkserver" not in facts.start_methods:
        method = _first_available(("spawn",), facts)
        return Decision(method, f"{verdict}: {why}; {method} starts a fresh interpreter")
    return Decision(
        "forkserver",
        f"{verdict}: {why}; forkserver forks from a clean single-threaded server",
    )


def fork_instead(decision: Decision, problem: str, facts: PlatformFacts) -> Optional[Decision]:
    """Fork, for one child that forkserver cannot start, where fork is what the
    program had before it grew; None otherwise.

    Applies when the policy (not the program, nor ``COMPAT_START_METHOD``) chose
    forkserver and fork is safe now (``facts``): rule 5 of
    :func:`choose_start_method`, a large process. ``problem`` is why forkserver
    cannot start the child (an unpicklable target or argument, a script without
    a main guard): such a program worked while it was small, and growing must not
    break it. ``spawn_child`` asks this; pools cannot (their workers start before
    the tasks exist)."""
    if decision.source != "policy" or decision.method != "forkserver":
        return None
    if "fork" not in facts.start_methods or fork_hazards(facts):
        return None
    return Decision(
        "fork",
        f"{decision.reason}; but {problem}, and fork is safe here, so this child forks "
        "(a module-level target under an `if __name__ == '__main__':` guard gets "
        "forkserver's flat start cost)",
    )


def _large(facts: PlatformFacts) -> bool:
    """The process is large enough that forkserver starts children faster than fork,
    and forkserver is a method the policy uses here."""
    return (
        facts.rss is not None
        and facts.rss >= FORK_RSS_LIMIT
        and "forkserver" in facts.start_methods
        and not facts.macos
        and not facts.frozen
    )


def _first_available(preferred: tuple[str, ...], facts: PlatformFacts) -> str:
    for method in preferred:
        if method in facts.start_methods:
            return method
    raise StartMethodUnavailable(
        f"no usable start method on {facts.os_name}: it offers "
        f"{', '.join(facts.start_methods) or 'none'}"
    )
