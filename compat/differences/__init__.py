"""The registry of documented differences between Linux, macOS and Windows (and CPython
versions) in process creation, IPC and subprocess handling, with a live probe for each.

    >>> from compat import differences
    >>> entry = differences.get("START-01")
    >>> differences.run_probe(entry, timeout=20).status      # doctest: +SKIP
    'supported'

Each :class:`Difference` has a stable id (``AREA-NN``), the OSes and CPython versions it
affects, what happens (exception type, exit code, hang), what compat does about it,
its sources, and a probe that observes the behaviour on the running interpreter, or a
``no_probe_reason``. ``python -m compat doctor`` runs every probe; ``python -m compat
differences --markdown`` writes ``docs/os-differences.md``.

Importing this package is cheap; the area modules load on first use.
"""

from __future__ import annotations

import importlib
import math
import time
from typing import Any, Optional, Union

from ._model import (
    AREAS,
    HANDLING,
    ID_PATTERN,
    KINDS,
    OS_NAMES,
    OSES,
    STATUSES,
    Difference,
    Observation,
    PolicyCase,
    ProbeContext,
    ProbeResult,
    ProbeTimeout,
)

__all__ = [
    "AREAS",
    "HANDLING",
    "KINDS",
    "OSES",
    "OS_NAMES",
    "STATUSES",
    "Difference",
    "Observation",
    "PolicyCase",
    "ProbeContext",
    "ProbeResult",
    "ProbeTimeout",
    "all_differences",
    "by_area",
    "get",
    "probe_method",
    "run_probe",
]

_registry: Optional[dict[str, Difference]] = None


def _load() -> dict[str, Difference]:
    global _registry
    if _registry is None:
        found: dict[str, Difference] = {}
        for area, (_title, module_names) in AREAS.items():
            for module_name in module_names:
                module = importlib.import_module(f".{module_name}", __name__)
                for entry in module.ENTRIES:
                    if entry.id in found:
                        raise RuntimeError(f"duplicate difference id {entry.id}")
                    if entry.area != area:
                        raise RuntimeError(f"{entry.id} is in {module_name}, a {area} module")
                    found[entry.id] = entry
        _registry = found
    return _registry


def all_differences() -> tuple[Difference, ...]:
    """Every documented difference, in area order then id order."""
    return tuple(_load().values())


def by_area() -> dict[str, tuple[Difference, ...]]:
    """The differences grouped by area prefix, in the order of :data:`AREAS`."""
    entries = all_differences()
    return {area: tuple(e for e in entries if e.area == area) for area in AREAS}


def get(id: str) -> Difference:
    """The difference with this id (``"START-03"``); ``KeyError`` naming close ids."""
    registry = _load()
    key = id.strip().upper() if isinstance(id, str) else id
    if key in registry:
        return registry[key]
    if not isinstance(id, str) or not ID_PATTERN.match(key):
        raise KeyError(f"{id!r} is not a difference id; ids look like 'START-03'")
    prefix = key.split("-")[0]
    near = [k for k in registry if k.startswith(prefix + "-")]
    hint = f"; {prefix} has {near[0]} to {near[-1]}" if near else f"; areas: {', '.join(AREAS)}"
    raise KeyError(f"no difference {key!r}{hint}")


def _context_method(context: Any) -> tuple[str, Any]:
    mp_context = getattr(context, "mp_context", context)  # a compat Context wraps one
    get_method = getattr(mp_context, "get_start_method", None)
    if get_method is None:
        raise TypeError(
            "context must be a compat Context or a multiprocessing context "
            f"(multiprocessing.get_context('spawn')), not {type(context).__name__}"
        )
    return str(get_method()), mp_context


def probe_method(entry: Difference) -> Optional[str]:
    """The start method the doctor uses for ``entry`` here: the entry's own when it is
    about one method and that method exists, else compat's policy choice. None when the
    entry's method does not exist on this interpreter."""
    from .._policy import available_start_methods, choose_start_method

    if entry.probe_method is not None:
        return entry.probe_method if entry.probe_method in available_start_methods() else None
    return choose_start_method().method


def run_probe(
    entry: Union[Difference, str],
    timeout: float = 30.0,
    *,
    method: Optional[str] = None,
    context: Any = None,
) -> ProbeResult:
    """Run ``entry``'s probe on this interpreter and return what it saw.

    ``method`` (or ``context``, a compat or standard-library multiprocessing context)
    is the start method children are started with; by default the entry's own method
    when it is about one, else the one compat's policy chooses. ``timeout`` bounds every
    wait inside the probe that should end; a probe that overruns it reports
    ``timeout``. An exception inside the probe is reported as ``error``, never raised.

    Raises ``KeyError`` for an unknown id, ``StartMethodUnavailable`` (a ``ValueError``)
    for an unknown or unavailable ``method``, ``ValueError`` for a bad ``timeout``.
    """
    from .._platform import PlatformFacts
    from .._policy import validate_method

    if isinstance(entry, str):
        entry = get(entry)
    if not isinstance(entry, Difference):
        raise TypeError(f"entry must be a Difference or an id, not {type(entry).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if method is not None and context is not None:
        raise TypeError("pass method or context, not both")

    if entry.probe is None:
        detail = f"no probe: {entry.no_probe_reason}"
        return ProbeResult(entry.id, "not-applicable", None, detail, 0.0, None, ran=False)
    if context is not None:
        chosen, mp_context = _context_method(context)
    else:
        import multiprocessing

        if method is not None:
            chosen = validate_method(method, PlatformFacts.current())
        else:
            found = probe_method(entry)
            if found is None:
                detail = f"start method {entry.probe_method!r} is not available here"
                return ProbeResult(entry.id, "not-applicable", None, detail, 0.0, None, ran=False)
            chosen = found
        mp_context = multiprocessing.get_context(chosen)

    ctx = ProbeContext(method=chosen, mp=mp_context, timeout=float(timeout))
    start = time.perf_counter()
    try:
        seen = entry.probe(ctx)
        if not isinstance(seen, Observation) or seen.status not in STATUSES:
            raise TypeError(f"probe returned {seen!r}, not an Observation")
    except ProbeTimeout as exc:
        seen = Observation("timeout", None, str(exc))
    except Exception as exc:
        seen = Observation("error", None, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    if seconds > timeout and seen.status not in ("timeout", "error"):
        seen = Observation(
            "timeout", seen.observed, f"took {seconds:.1f} s, over {timeout:g} s; {seen.detail}"
        )
    return ProbeResult(
        entry.id, seen.status, _jsonable(seen.observed), seen.detail, seconds, chosen
    )


def _jsonable(value: Any) -> Any:
    """``value`` with everything JSON cannot carry turned into its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
