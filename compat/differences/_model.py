"""The registry's data model: a documented difference, what a probe saw, and the result.

Statuses answer one question, "is this interpreter affected by the difference?":

- ``supported``: not affected here; the portable behaviour holds.
- ``differs``: affected here; this interpreter shows the behaviour the entry describes.
- ``not-applicable``: cannot be observed here (start method or API missing, no probe).
- ``error``: the probe itself failed (a bug in the probe, reported, never hidden).
- ``timeout``: the probe did not finish within its time bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .._platform import PlatformFacts
from .._policy import Decision, choose_start_method

#: The platforms the registry describes, as ``sys.platform`` spells them.
OSES = ("linux", "darwin", "win32")
OS_NAMES = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}

#: Area prefix -> (title, modules holding its entries, in id order). A large area
#: spans two modules to keep each small.
AREAS = {
    "START": ("Start methods", ("start",)),
    "MAIN": ("The main module, re-import and pickling", ("main", "main_pickle")),
    "PROC": ("Process lifecycle, exit codes and inheritance", ("proc", "proc_inherit")),
    "POOL": ("Pool and ProcessPoolExecutor", ("pool",)),
    "IPC": ("Queue, Pipe, Connection and Manager", ("ipc", "ipc_conn")),
    "SYNC": ("Semaphores and shared memory", ("sync",)),
    "SIG": ("Signals, Ctrl+C and process groups", ("sig", "sig_tree")),
    "SUB": ("subprocess", ("sub", "sub_io")),
    "FILE": ("Files held open by children", ("file",)),
    "ENV": ("Interpreter, executable and environment", ("env",)),
}

STATUSES = ("supported", "differs", "not-applicable", "error", "timeout")

#: What happens when the difference bites.
KINDS = (
    "exception",  # an exception type the other OS does not raise
    "exit-code",  # a different exit or return code
    "hang",  # a wait that never ends
    "silent",  # wrong or lost data, no error
    "warning",  # a warning, behaviour unchanged
    "crash",  # the child dies (signal, abort)
    "limit",  # a size or count limit
    "semantics",  # the same call means something else
)

#: What compat does about it.
HANDLING = (
    "handles",  # compat behaves the same on every OS
    "checks",  # compat detects it and raises a clear error before it bites
    "chooses",  # the start-method policy avoids it
    "documents",  # compat cannot change it: documented here and probed by the doctor
)

ID_PATTERN = re.compile(r"^[A-Z]+-[0-9]{2}$")


class ProbeTimeout(Exception):
    """A wait inside a probe that should have ended did not (status ``timeout``)."""


@dataclass(frozen=True)
class Observation:
    """What a probe saw: a status, a JSON-serialisable value, and a sentence."""

    status: str
    observed: Any = None
    detail: str = ""


def supported(observed: Any = None, detail: str = "") -> Observation:
    """Not affected here: the portable behaviour holds."""
    return Observation("supported", observed, detail)


def differs(observed: Any = None, detail: str = "") -> Observation:
    """Affected here: this interpreter shows the documented behaviour."""
    return Observation("differs", observed, detail)


def not_applicable(detail: str, observed: Any = None) -> Observation:
    """The difference cannot be observed on this interpreter."""
    return Observation("not-applicable", observed, detail)


def affected(flag: bool, observed: Any = None, detail: str = "") -> Observation:
    """``differs`` when ``flag`` is true, else ``supported``."""
    return Observation("differs" if flag else "supported", observed, detail)


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may use: the start method to start children with, its standard
    library context (``mp``), and the bound (seconds) for any wait that should end."""

    method: str
    mp: Any
    timeout: float


Probe = Callable[[ProbeContext], Observation]


@dataclass(frozen=True)
class ProbeResult:
    """The result of running one probe on this interpreter."""

    id: str
    status: str
    observed: Any
    detail: str
    seconds: float
    method: Optional[str] = None
    ran: bool = True
    """False when no probe ran (the entry has none, or its start method is missing)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "observed": self.observed,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "method": self.method,
            "ran": self.ran,
        }


@dataclass(frozen=True)
class PolicyCase:
    """A platform situation whose start method an entry states.

    The method is never written in the entry: it is asked of
    :func:`compat._policy.choose_start_method` with simulated platform facts, so the
    docs and the policy cannot disagree.
    """

    platform: str
    python: tuple[int, int]
    label: str
    threads: int = 1
    fork_unsafe_modules: tuple[str, ...] = ()
    frozen: bool = False

    def facts(self) -> PlatformFacts:
        return PlatformFacts.simulated(
            self.platform,
            self.python,
            threads=self.threads,
            thread_names=tuple(f"worker-{i}" for i in range(1, self.threads)),
            fork_unsafe_modules=self.fork_unsafe_modules,
            frozen=self.frozen,
        )

    def decide(self) -> Decision:
        return choose_start_method(facts=self.facts())


@dataclass(frozen=True)
class Difference:
    """One documented difference between OSes or CPython versions.

    ``cells`` are short texts for the Linux, macOS and Windows columns of the summary
    table; ``{policy}`` in a cell stands for the start method compat's policy picks in
    the first of ``policy_cases`` on that platform.
    """

    id: str
    area: str
    title: str
    oses: tuple[str, ...]
    """Where the difference bites (``sys.platform`` values)."""
    python: str
    """CPython versions affected, e.g. ``"3.8-3.14"``, ``"3.12+"``, ``"<3.13"``."""
    kind: str
    behaviour: str
    """What happens: the exception type, exit code or hang, and where."""
    compat: str
    """What compat does about it, or that it cannot."""
    handling: str
    sources: tuple[str, ...]
    """CPython doc sections (``docs: ...``), issues (``gh-N``, ``bpo-N``), source files
    (``source: Lib/...``) and third-party reports (``report: ...``)."""
    cells: tuple[str, str, str]
    probe: Optional[Probe] = None
    no_probe_reason: Optional[str] = None
    probe_method: Optional[str] = None
    """The start method the doctor runs the probe with (None: the policy's choice)."""
    policy_cases: tuple[PolicyCase, ...] = ()

    def cell(self, os: str) -> str:
        """The summary-table text for ``os`` (``"linux"``, ``"darwin"``, ``"win32"``)."""
        text = self.cells[OSES.index(os)]
        if "{policy}" in text:
            case = next((c for c in self.policy_cases if c.platform == os), None)
            if case is None:
                raise ValueError(f"{self.id}: cell for {os} says {{policy}} but no case is {os}")
            text = text.replace("{policy}", case.decide().method)
        return text

    @property
    def probe_summary(self) -> str:
        """The first line of the probe's docstring, or why there is no probe."""
        if self.probe is None:
            return f"none: {self.no_probe_reason}"
        doc = (self.probe.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": self.area,
            "title": self.title,
            "oses": list(self.oses),
            "python": self.python,
            "kind": self.kind,
            "behaviour": self.behaviour,
            "compat": self.compat,
            "handling": self.handling,
            "sources": list(self.sources),
            "cells": {os: self.cell(os) for os in OSES},
            "probe": self.probe_summary if self.probe is not None else None,
            "no_probe_reason": self.no_probe_reason,
        }
