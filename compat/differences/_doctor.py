"""``python -m compat doctor``: run every probe that applies here and report.

Probes run in a few worker processes, several at a time. Each worker runs its probes
one by one in its main thread (signal handlers need it, and fork is safe in a
single-threaded process). A probe bounds its own waits; the doctor adds a hard bound:
a worker that overruns it is killed, with its session on POSIX (its resource tracker
stays outside it to clean up), the probe is reported as ``timeout``, and a fresh
worker takes the remaining probes. The doctor
itself only starts workers (subprocess), so its own threads are harmless.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from .._platform import PlatformFacts
    from .._policy import Decision
    from ._model import Difference

#: Seconds a probe may take by its own measure, and with the doctor's hard bound.
PROBE_TIMEOUT = 15.0
HARD_TIMEOUT = 25.0
#: Both grow with the machine's load (see load_scale).


def load_scale() -> float:
    """How much slower than idle this machine runs now: the 1-minute load average per
    CPU, from 1 (idle or unknown: Windows has no load average) up to 4.

    A probe measures wall time, and on a loaded machine its children start late: on
    the 2-core CI machine at load 10, with coverage in every child, one probe of 87
    overran the fixed 15 s bound and ``doctor --strict`` failed. A slow machine is
    not a finding, so the bounds stretch with the load instead."""
    if sys.platform == "win32":
        load = 0.0
    else:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
    return max(1.0, min(4.0, load / (os.cpu_count() or 1)))


#: How long a worker interpreter may take to start and import the registry.
STARTUP_TIMEOUT = 60.0

#: Probes that wait on purpose (for a hang, a timeout or an orphan) go first, so the
#: slowest do not finish last.
_SLOW_FIRST = (
    "MAIN-03",
    "POOL-04",
    "SUB-11",
    "IPC-05",
    "SIG-08",
    "PROC-05",
    "PROC-06",
    "FILE-05",
    "IPC-04",
)


def cpu_info() -> dict[str, Any]:
    """CPU counts for the report header; "usable" is compat.cpu_count() (affinity,
    container CPU quota), which Pool() uses."""
    total = os.cpu_count()
    affinity_fn = getattr(os, "sched_getaffinity", None)
    affinity = len(affinity_fn(0)) if affinity_fn is not None else None
    pcc_fn = getattr(os, "process_cpu_count", None)
    pcc = pcc_fn() if pcc_fn is not None else None
    from .._cpu import cpu_count

    return {
        "os_cpu_count": total,
        "affinity": affinity,
        "process_cpu_count": pcc,
        "usable": cpu_count(),
    }


def platform_info() -> dict[str, Any]:
    import platform

    from .._platform import PlatformFacts

    facts = PlatformFacts.current()
    return {
        "sys_platform": facts.platform,
        "os": facts.os_name,
        "release": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def _import_root() -> tuple[str, str]:
    """The sys.path entry that holds this copy of compat, and compat's dotted name (it
    may be vendored inside another package)."""
    package = __name__.rpartition(".")[0]
    top = sys.modules[package.split(".")[0]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(str(top.__file__))))
    return root, package


class _Worker:
    """One worker process and the thread that reads its answers."""

    def __init__(self) -> None:
        root, package = _import_root()
        code = (
            f"import sys; sys.path.insert(0, {root!r}); "
            f"from {package}._doctor import worker_main; worker_main()"
        )
        # Closed in close(): it outlives this method.
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.answers: queue.Queue[Optional[bytes]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        # The hard bound is for probes, not for interpreter start-up, which a loaded
        # machine can stretch: wait for the worker's "ready" line first.
        try:
            self.ready = self.answers.get(timeout=STARTUP_TIMEOUT) is not None
        except queue.Empty:
            self.ready = False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def ask(self, request: dict[str, Any], timeout: float) -> Optional[dict[str, Any]]:
        """Send one probe request; the answer, or None when the worker died or overran."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            line = self.answers.get(timeout=timeout)
        except (OSError, queue.Empty):
            return None
        return None if line is None else dict(json.loads(line))

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-2:])

    def close(self, *, kill: bool = False) -> None:
        if not kill and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill or self.proc.poll() is None:
            killpg = getattr(os, "killpg", None)
            if killpg is not None:
                try:
                    killpg(self.proc.pid, 9)  # SIGKILL to the worker's whole session
                except OSError:
                    pass
            self.proc.kill()
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.stderr.close()


def worker_main() -> None:
    """The loop of a worker process: one JSON request per line in, one result out."""
    # Answers go through a private copy of stdout; fd 1 becomes stderr so that nothing a
    # probe or its children print can corrupt them.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    setsid = getattr(os, "setsid", None)
    if setsid is not None:
        # A hard kill takes this worker's whole session (the probe's children with
        # it). The resource tracker is started first, outside that session, so that it
        # survives and unlinks the semaphores the killed processes leave behind.
        from .._stdlib import ensure_resource_tracker

        ensure_resource_tracker()
        setsid()
    from . import get, run_probe

    answers.write('{"ready": true}\n')
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = run_probe(
                get(request["id"]), request["timeout"], method=request["method"]
            ).to_dict()
        except Exception as exc:  # a bug outside the probe: report it, keep serving
            result = _result(request["id"], "error", f"{type(exc).__name__}: {exc}")
        answers.write(json.dumps(result) + "\n")
        answers.flush()


def _result(id: str, status: str, detail: str, method: Optional[str] = None) -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "observed": None,
        "detail": detail,
        "seconds": 0.0,
        "method": method,
        "ran": False,
    }


def _run_slot(todo: queue.Queue[dict[str, Any]], done: dict[str, dict[str, Any]]) -> None:
    worker: Optional[_Worker] = None
    try:
        while True:
            try:
                request = todo.get_nowait()
            except queue.Empty:
                return
            if worker is None:
                worker = _Worker()
            start = time.perf_counter()
            hard = HARD_TIMEOUT * load_scale()
            answer = worker.ask(request, hard)
            if answer is None:
                died = worker.proc.poll() is not None
                tail = worker.stderr_tail()
                worker.close(kill=True)
                worker = None
                if died:
                    answer = _result(request["id"], "error", f"the worker died: {tail}")
                else:
                    answer = _result(
                        request["id"], "timeout", f"killed after {hard:.0f} s (hard bound)"
                    )
                answer.update(method=request["method"], ran=True)
                answer["seconds"] = round(time.perf_counter() - start, 3)
            done[request["id"]] = answer
    finally:
        if worker is not None:
            worker.close()


def _progress(
    total: int, done: dict[str, Any], start: float, out: IO[str]
) -> Callable[[bool], None]:
    """Progress on ``out``: a line redrawn in place on a terminal once the run takes
    more than a second; elsewhere (CI logs) a line after 2 s and every 5 s."""
    tty = out.isatty()
    next_line = [2.0]

    def show(final: bool) -> None:
        elapsed = time.monotonic() - start
        if tty:
            if elapsed > 1.0:
                end = "\n" if final else ""
                out.write(f"\rcompat doctor: {len(done)}/{total} probes, {elapsed:.0f} s{end}")
                out.flush()
        elif elapsed >= next_line[0] or (final and next_line[0] > 2.0):
            next_line[0] = elapsed + 5.0
            out.write(f"compat doctor: {len(done)}/{total} probes after {elapsed:.0f} s\n")
            out.flush()

    return show


def select(only: list[str]) -> list[Difference]:
    """The entries named by ids (``POOL-04``) or area prefixes (``POOL``), in the order
    given, each once; ``KeyError`` for an unknown one."""
    from . import AREAS, all_differences, get

    chosen: list[Difference] = []
    for name in only:
        key = name.strip().upper()
        found = [e for e in all_differences() if e.area == key] if key in AREAS else [get(name)]
        chosen += [e for e in found if e.id not in {c.id for c in chosen}]
    return chosen


def run_doctor(
    *,
    method: Optional[str] = None,
    jobs: Optional[int] = None,
    only: Optional[list[str]] = None,
    progress: Optional[IO[str]] = None,
) -> dict[str, Any]:
    """Run the probes that apply here and return the report (see ``report_schema``).

    ``method``: the start method for probes that are not about one (default: compat's
    policy choice). ``jobs``: worker processes (default: usable CPUs + 1, 2 to 4).
    ``only``: ids or areas (``POOL``) to run. ``progress``: a stream for progress
    lines (stderr in the CLI).
    """
    from .._platform import PlatformFacts
    from .._policy import choose_start_method, validate_method
    from . import all_differences

    started = time.monotonic()
    # Decide before any thread of ours exists: the policy counts threads.
    decision = choose_start_method()
    facts = PlatformFacts.current()
    probe_method = validate_method(method, facts) if method is not None else decision.method
    entries = select(only) if only else list(all_differences())
    cpu = cpu_info()
    if jobs is None:
        jobs = max(2, min(4, cpu["usable"] + 1))
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")

    todo, done = _plan_probes(entries, facts, probe_method)
    show = _progress(len(entries), done, started, progress) if progress else None
    _run_workers(todo, done, jobs, show)
    results = _collect_results(entries, done)
    return _build_report(results, decision, facts, cpu, probe_method, started)


def _plan_probes(
    entries: list[Difference], facts: PlatformFacts, probe_method: str
) -> tuple[queue.Queue[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The requests for the workers, slowest first, and the results already known
    without a worker: entries with no probe, or whose start method is missing here."""
    done: dict[str, dict[str, Any]] = {}
    todo: queue.Queue[dict[str, Any]] = queue.Queue()
    bound = PROBE_TIMEOUT * load_scale()
    order = sorted(entries, key=lambda e: _SLOW_FIRST.index(e.id) if e.id in _SLOW_FIRST else 99)
    for e in order:
        if e.probe is None:
            done[e.id] = _result(e.id, "not-applicable", f"no probe: {e.no_probe_reason}")
        elif e.probe_method is not None and e.probe_method not in facts.start_methods:
            detail = f"start method {e.probe_method!r} is not available here"
            done[e.id] = _result(e.id, "not-applicable", detail)
        else:
            m = e.probe_method or probe_method
            todo.put({"id": e.id, "method": m, "timeout": bound})
    return todo, done


def _run_workers(
    todo: queue.Queue[dict[str, Any]],
    done: dict[str, dict[str, Any]],
    jobs: int,
    show: Optional[Callable[[bool], None]],
) -> None:
    """Run the queued probes in up to ``jobs`` slots, each driving one worker at a time,
    and wait for them all, showing progress."""
    slots = [
        threading.Thread(target=_run_slot, args=(todo, done), daemon=True)
        for _ in range(min(jobs, max(1, todo.qsize())))
    ]
    for t in slots:
        t.start()
    for t in slots:
        # Short joins, not one long one: the progress line is redrawn between them.
        while t.is_alive():
            t.join(0.25)
            if show:
                show(False)
    if show:
        show(True)


def _collect_results(
    entries: list[Difference], done: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One result per entry, in the order asked for, with the entry's area and title."""
    return [{**done[e.id], "area": e.area, "title": e.title} for e in entries]


def _build_report(
    results: list[dict[str, Any]],
    decision: Decision,
    facts: PlatformFacts,
    cpu: dict[str, Any],
    probe_method: str,
    started: float,
) -> dict[str, Any]:
    """The report (``report_schema``): this platform, its start methods, the results
    and how many ended with each status."""
    from .. import __version__
    from ._schema import REPORT_FORMAT

    # The standard library's default start method, as START-01's probe saw it.
    stdlib_default = next(
        (
            r["observed"].get("stdlib_default")
            for r in results
            if r["id"] == "START-01" and isinstance(r["observed"], dict)
        ),
        None,
    )
    summary = {
        s: sum(r["status"] == s for r in results)
        for s in ("supported", "differs", "not-applicable", "error", "timeout")
    }
    return {
        "format": REPORT_FORMAT,
        "compat_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform_info(),
        "start_methods": {
            "available": list(facts.start_methods),
            "stdlib_default": stdlib_default,
            "compat": {
                "method": decision.method,
                "reason": decision.reason,
                "source": decision.source,
            },
        },
        "cpu": cpu,
        "probe_method": probe_method,
        "results": results,
        "summary": summary,
        "seconds": round(time.monotonic() - started, 2),
    }
