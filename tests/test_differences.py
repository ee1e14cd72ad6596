"""compat.differences: the registry, its probes, the generated docs, the doctor and the CLI.

Every probe that can run here runs under every start method (the ``start_method``
fixture); the conftest reaper fails a test that leaves a child behind, and the doctor
tests also look for grandchildren by an environment marker (Linux /proc).
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest

from compat._errors import StartMethodUnavailable
from compat._platform import KNOWN_METHODS, LINUX, PlatformFacts
from compat._policy import choose_start_method
from compat.differences import (
    AREAS,
    HANDLING,
    KINDS,
    OSES,
    STATUSES,
    Difference,
    Observation,
    ProbeResult,
    ProbeTimeout,
    _doctor,
    all_differences,
    get,
    run_probe,
)
from compat.differences._markdown import render_markdown
from compat.differences._schema import SCHEMA, validate
from tests.helpers import run_python
from tests.procs import posix_only

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "os-differences.md"
ENTRIES = all_differences()
PROBED = [e for e in ENTRIES if e.probe is not None]
SOURCE = re.compile(r"^(gh-\d+|bpo-\d+|docs: \S.*|source: Lib/\S+|report: \S.*)$")
# A policy decision written as text instead of asked of the policy ({policy}).
HARD_CODED_CHOICE = re.compile(r"\b(compat|picks|chooses|keeps)\s+(fork|spawn|forkserver)\b")
# Ids published so far: they may gain neighbours, never disappear or change meaning.
PUBLISHED = {"START": 7, "MAIN": 10, "PROC": 12, "POOL": 10, "IPC": 11, "SYNC": 7, "SIG": 10,
             "SUB": 18, "FILE": 5, "ENV": 4}  # fmt: skip

# What the probes see on Linux (CPython 3.9-3.15), per start method: the
# probes must be able to report both answers, so these pin their logic down.
F_ONLY = {"fork": "differs", "spawn": "supported", "forkserver": "supported"}
NOT_F = {"fork": "supported", "spawn": "differs", "forkserver": "differs"}
FS_ONLY = {"fork": "supported", "spawn": "supported", "forkserver": "differs"}
ALWAYS, NEVER = dict.fromkeys(KNOWN_METHODS, "differs"), dict.fromkeys(KNOWN_METHODS, "supported")
# CPython 3.13.8+ and 3.14.1+ import the main module once in the forkserver (gh-126631),
# whose children are forked from it: they re-seed random (PROC-09) as fork children do,
# and do not re-run a module-level set_start_method() (MAIN-10).
FORKSERVER_PRELOADS_MAIN = sys.version_info >= (3, 14, 1) or (
    (3, 13, 8) <= sys.version_info < (3, 14)
)
RESEEDED = {**NOT_F, "forkserver": "supported"}
LINUX_EXPECTED = {
    "START-02": NEVER, "START-03": NEVER, "START-06": FS_ONLY,
    "MAIN-01": NOT_F, "MAIN-02": NOT_F, "MAIN-03": NOT_F, "MAIN-04": NOT_F, "MAIN-05": NOT_F,
    "MAIN-06": ALWAYS, "MAIN-08": NOT_F, "MAIN-09": NOT_F,
    "MAIN-10": RESEEDED if FORKSERVER_PRELOADS_MAIN else NOT_F,
    "PROC-01": NEVER, "PROC-02": NEVER, "PROC-03": ALWAYS, "PROC-04": ALWAYS, "PROC-05": ALWAYS,
    "PROC-06": NEVER, "PROC-07": ALWAYS, "PROC-08": NOT_F,
    "PROC-09": RESEEDED if FORKSERVER_PRELOADS_MAIN else NOT_F, "PROC-12": F_ONLY,
    "POOL-02": NEVER, "POOL-03": NEVER, "POOL-04": ALWAYS, "POOL-05": ALWAYS,
    "IPC-01": NEVER, "IPC-02": NEVER, "IPC-04": ALWAYS, "IPC-05": ALWAYS, "IPC-06": NEVER,
    "IPC-09": ALWAYS, "IPC-11": NEVER,
    "SYNC-04": NEVER, "SYNC-05": ALWAYS, "SYNC-06": NEVER,
    "SIG-01": NEVER, "SIG-02": NEVER, "SIG-03": NEVER, "SIG-04": NEVER, "SIG-05": NEVER,
    "SIG-06": NEVER, "SIG-07": NEVER, "SIG-08": ALWAYS, "SIG-10": ALWAYS,
    "SUB-01": ALWAYS, "SUB-02": ALWAYS, "SUB-03": NEVER, "SUB-04": NEVER, "SUB-05": NEVER,
    "SUB-06": NEVER, "SUB-07": NEVER, "SUB-10": NEVER, "SUB-11": NEVER, "SUB-12": NEVER,
    "SUB-13": NEVER, "SUB-14": ALWAYS, "SUB-15": NEVER, "SUB-18": NEVER,
    "FILE-01": NEVER, "FILE-02": NEVER, "FILE-03": NEVER, "FILE-04": NEVER, "FILE-05": F_ONLY,
    "ENV-02": NEVER, "ENV-03": FS_ONLY,
}  # fmt: skip


def _python_m_compat(
    *args: str, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "compat", *args, env=env, timeout=120)


def _marked_processes(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in env and state != b"Z":
            found.append(int(entry))
    return found


def _wait_unmarked(marker: str, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        left = _marked_processes(marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


# The registry


def test_registry_covers_every_area_with_at_least_60_entries() -> None:
    assert len(ENTRIES) >= 60
    counts = {area: sum(e.area == area for e in ENTRIES) for area in AREAS}
    assert all(n >= 4 for n in counts.values()), counts


def test_ids_are_unique_well_formed_and_stable() -> None:
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert re.match(r"^[A-Z]+-[0-9]{2}$", e.id), e.id
        assert e.id.split("-")[0] == e.area
    published = {f"{a}-{n:02d}" for a, count in PUBLISHED.items() for n in range(1, count + 1)}
    assert published <= set(ids), f"published ids removed: {sorted(published - set(ids))}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_is_complete(entry: Difference) -> None:
    assert (entry.probe is None) != (entry.no_probe_reason is None), "a probe or a reason"
    if entry.probe is None:
        assert len(entry.no_probe_reason or "") > 30
    else:
        assert (entry.probe.__doc__ or "").strip(), "the probe's docstring describes it"
    assert entry.oses and set(entry.oses) <= set(OSES)
    assert entry.kind in KINDS and entry.handling in HANDLING
    assert entry.probe_method in (None, *KNOWN_METHODS)
    assert entry.python and entry.behaviour and entry.compat
    assert len(entry.title) <= 100
    assert entry.sources and all(SOURCE.match(s) for s in entry.sources), entry.sources
    assert all(entry.cell(os) for os in OSES)
    for text in (entry.title, entry.behaviour, entry.compat, *entry.cells, *entry.sources):
        assert text.isascii(), f"non-ASCII text breaks cp1252 consoles: {text!r}"


def test_get_finds_ids_and_explains_unknown_ones() -> None:
    assert get("start-01") is get("START-01")
    with pytest.raises(KeyError, match="START has START-01 to START-07"):
        get("START-99")
    with pytest.raises(KeyError, match="look like 'START-03'"):
        get("nonsense")


# One source of truth for the start-method policy


def test_stated_policy_choices_are_asked_of_the_policy() -> None:
    stated = 0
    for e in ENTRIES:
        for text in (*e.cells, e.compat, e.behaviour):
            assert not HARD_CODED_CHOICE.search(text), f"{e.id} hard-codes a choice: {text!r}"
        for platform in OSES:
            if "{policy}" in e.cells[OSES.index(platform)]:
                case = next(c for c in e.policy_cases if c.platform == platform)
                assert case.decide().method in e.cell(platform)
                stated += 1
    assert stated >= 10
    assert {c.platform for e in ENTRIES for c in e.policy_cases} >= {"win32", "darwin", "linux"}


def test_policy_cases_follow_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    windows = [c.decide() for e in ENTRIES for c in e.policy_cases if c.platform == "win32"]
    assert windows and {d.method for d in windows} == {"spawn"}
    threaded_mac = get("START-04").policy_cases[1]
    assert threaded_mac.platform == "darwin" and threaded_mac.decide().method != "fork"
    # The simulated facts these cases use agree with this machine's real facts.
    here = PlatformFacts.current()
    live = here.with_(threads=1, thread_names=(), env_method=None, fork_unsafe_modules=())
    simulated = PlatformFacts.simulated(here.platform, here.python)
    assert simulated.start_methods == live.start_methods
    assert choose_start_method(facts=simulated) == choose_start_method(facts=live)


# The generated document


def test_committed_document_is_fresh() -> None:
    fresh = render_markdown(ENTRIES)
    committed = DOC.read_text(encoding="utf-8").replace("\r\n", "\n") if DOC.exists() else ""
    assert committed == fresh, (
        "docs/os-differences.md is stale: run "
        "`python -m compat differences --markdown --output docs/os-differences.md`"
    )


def test_document_does_not_depend_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> PlatformFacts:
        raise AssertionError("the document must not read this machine's facts")

    monkeypatch.setattr(PlatformFacts, "current", staticmethod(refuse))
    text = render_markdown(ENTRIES)
    assert "## Summary" in text and "| Linux | macOS | Windows |" in text
    for e in ENTRIES:
        assert f'<a id="{e.id.lower()}"></a>' in text


def test_differences_cli_renders_and_checks_the_document(tmp_path: Path) -> None:
    out = _python_m_compat("differences", "--markdown")
    assert out.returncode == 0, out.stderr
    assert out.stdout == render_markdown(ENTRIES)
    assert _python_m_compat("differences", "--check", str(DOC)).returncode == 0
    stale = tmp_path / "stale.md"
    stale.write_text(out.stdout.replace("START-01", "START-1"), encoding="utf-8")
    check = _python_m_compat("differences", "--check", str(stale))
    assert check.returncode == 1 and "is stale" in check.stderr
    listing = _python_m_compat("differences")
    assert listing.stdout.count("\n") == len(ENTRIES)


# Probes


# A signal handler whose main thread sleeps: the kernel runs SIGTERM's (or SIGINT's)
# C handler in the helper thread, the only one that does not block it, and nothing
# interrupts the main thread's sleep, the same as a signal that comes just before the
# sleep starts. The probe's child must still run its Python handler promptly.
_SIGNAL_IN_ANOTHER_THREAD = (
    "import signal, threading\n"
    "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])\n"
)


@posix_only("Windows has no signal masks; its SIGTERM never reaches a handler (SIG-06)")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("program", ["_HANDLES_TERM", "_INTERRUPTIBLE"])
def test_a_signal_probe_child_handles_a_signal_its_main_thread_slept_through(
    program: str,
) -> None:
    from compat.differences import sig

    code = _SIGNAL_IN_ANOTHER_THREAD + getattr(sig, program)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
        if program == "_HANDLES_TERM":
            p.terminate()
            assert p.wait(5) == 0  # sleep(30) in the child: still running after 5 s
            assert p.stdout.read() == b"handled\n"
        else:
            p.send_signal(signal.SIGINT)
            assert p.wait(5) == 3  # its KeyboardInterrupt exit code
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        if p.stdout is not None:
            p.stdout.close()


@pytest.mark.parametrize("entry", PROBED, ids=lambda e: e.id)
def test_probe_runs_under_every_start_method(entry: Difference, start_method: str) -> None:
    result = run_probe(entry, timeout=60, method=start_method)
    assert isinstance(result, ProbeResult)
    assert result.id == entry.id and result.method == start_method and result.ran
    assert result.status in STATUSES
    assert result.status not in ("error", "timeout"), result.detail
    assert isinstance(result.detail, str) and result.detail
    assert result.seconds >= 0
    json.dumps(result.to_dict())
    expected = LINUX_EXPECTED.get(entry.id, {}).get(start_method)
    if LINUX and expected is not None:
        assert result.status == expected, f"{result.status}: {result.observed} {result.detail}"


@pytest.mark.skipif(not LINUX, reason="finds grandchildren through /proc (Linux)")
@pytest.mark.parametrize("id", ["SIG-08", "SUB-11", "PROC-05", "MAIN-03"])
def test_probes_leave_no_grandchild(
    id: str, start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"COMPAT_TEST_{uuid.uuid4().hex}"
    monkeypatch.setenv(marker, "1")
    result = run_probe(id, timeout=30, method=start_method)
    monkeypatch.delenv(marker)
    assert result.status in ("supported", "differs"), result.detail
    assert _wait_unmarked(marker) == []


def test_run_probe_chooses_the_method_and_accepts_contexts() -> None:
    assert run_probe("IPC-06").method == choose_start_method().method
    forkserver = run_probe("START-06")  # an entry about one start method uses it
    expected = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None
    assert forkserver.method == expected
    spawn = multiprocessing.get_context("spawn")
    assert run_probe("IPC-06", context=spawn).method == "spawn"
    wrapped = types.SimpleNamespace(mp_context=spawn)  # the shape of a compat Context
    assert run_probe("IPC-06", context=wrapped).method == "spawn"


def test_run_probe_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        run_probe("IPC-06", timeout=0)
    with pytest.raises(ValueError, match="positive"):
        run_probe("IPC-06", timeout=float("nan"))
    with pytest.raises(TypeError, match="number of seconds"):
        run_probe("IPC-06", timeout="5")  # type: ignore[arg-type]
    with pytest.raises(StartMethodUnavailable, match="unknown start method 'bogus'"):
        run_probe("IPC-06", method="bogus")
    with pytest.raises(TypeError, match="not both"):
        run_probe("IPC-06", method="spawn", context=multiprocessing.get_context("spawn"))
    with pytest.raises(TypeError, match="multiprocessing context"):
        run_probe("IPC-06", context=object())
    with pytest.raises(TypeError, match="Difference or an id"):
        run_probe(42)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        run_probe("IPC-99")


def test_entry_without_probe_reports_why() -> None:
    result = run_probe("START-07")
    assert result.status == "not-applicable" and not result.ran
    assert result.detail.startswith("no probe: ")


def _fake(probe: Any) -> Difference:
    return Difference(
        id="TEST-01", area="START", title="t", oses=("linux",), python="all", kind="hang",
        behaviour="b", compat="c", handling="documents", sources=("gh-1",),
        cells=("a", "b", "c"), probe=probe,
    )  # fmt: skip


def test_run_probe_reports_errors_and_timeouts_instead_of_raising() -> None:
    def boom(ctx: Any) -> Observation:
        raise OSError("broken probe")

    def waits(ctx: Any) -> Observation:
        raise ProbeTimeout("the child never answered")

    def slow(ctx: Any) -> Observation:
        time.sleep(0.3)
        return Observation("supported")

    def wrong(ctx: Any) -> Any:
        return "supported"

    assert run_probe(_fake(boom)).status == "error"
    assert "OSError: broken probe" in run_probe(_fake(boom)).detail
    assert run_probe(_fake(waits)).status == "timeout"
    assert run_probe(_fake(slow), timeout=0.1).status == "timeout"
    assert run_probe(_fake(wrong)).status == "error"


# The report schema


def _report() -> dict[str, Any]:
    return _doctor.run_doctor(only=["START-01", "IPC-06", "START-07"], method="spawn", jobs=1)


BROKEN: list[tuple[str, Any]] = [
    ("missing", lambda r: r.pop("cpu")),
    ("status", lambda r: r["results"][0].update(status="maybe")),
    ("extra", lambda r: r["platform"].update(kernel="x")),
    ("type", lambda r: r["summary"].update(error="0")),
    ("id", lambda r: r["results"][1].update(id="IPC-6")),
    ("bool", lambda r: r["cpu"].update(usable=True)),
    ("format", lambda r: r.update(format="other/2")),
]


def _broken(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, change in BROKEN:
        bad = copy.deepcopy(report)
        change(bad)
        out.append((name, bad))
    return out


def test_schema_validator_accepts_reports_and_names_what_is_wrong() -> None:
    report = _report()
    assert validate(report) == []
    for name, bad in _broken(report):
        assert validate(bad), f"{name}: the validator accepted a broken report"
    assert validate(_broken(report)[1][1]) == [
        "$.results[0].status: 'maybe' is not one of " + repr(list(STATUSES))
    ]


def test_schema_agrees_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    checker = jsonschema.Draft202012Validator(SCHEMA)
    report = _report()
    checker.validate(report)
    for name, bad in _broken(report):
        assert not checker.is_valid(bad), f"{name}: jsonschema accepts what compat refuses"


def test_doctor_kills_a_probe_that_overruns_its_hard_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_doctor, "HARD_TIMEOUT", 0.3)
    marker = f"COMPAT_TEST_{uuid.uuid4().hex}"
    monkeypatch.setenv(marker, "1")
    report = _doctor.run_doctor(only=["POOL-04", "IPC-06"], method="spawn", jobs=1)
    monkeypatch.delenv(marker)
    status = {r["id"]: r for r in report["results"]}
    assert status["POOL-04"]["status"] == "timeout"
    assert "hard bound" in status["POOL-04"]["detail"]
    assert status["IPC-06"]["status"] == "supported"  # a fresh worker took over
    if LINUX:
        assert _wait_unmarked(marker) == []


# The command line


def _failed_probes(stdout: str) -> str:
    """On failure: each probe that erred or timed out, whole (the table is long)."""
    try:
        results = json.loads(stdout)["results"]
    except (ValueError, KeyError, TypeError):
        return f"no JSON report; stdout ends: {stdout[-1500:]!r}"
    return "\n".join(
        f"{r['id']}: {r['status']} after {r['seconds']} s ({r['method']}): {r['detail']}"
        for r in results
        if r["status"] in ("error", "timeout")
    )


def test_doctor_json_is_valid_and_diff_compares_reports(start_method: str, tmp_path: Path) -> None:
    marker = f"COMPAT_TEST_{uuid.uuid4().hex}"
    out = _python_m_compat(
        "doctor", "--json", "-", "--strict", "--method", start_method, env={marker: "1"}
    )
    assert out.returncode == 0, _failed_probes(out.stdout) + "\n" + out.stderr[-1500:]
    report = json.loads(out.stdout)
    assert validate(report) == []
    assert [r["id"] for r in report["results"]] == [e.id for e in ENTRIES]
    assert report["probe_method"] == start_method
    assert "compat chooses" in out.stderr and "probes ran in" in out.stderr
    if LINUX:
        assert _wait_unmarked(marker) == [], "the doctor left processes behind"

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(out.stdout, encoding="utf-8")
    other = copy.deepcopy(report)
    other["platform"].update(sys_platform="win32", os="Windows")
    other["start_methods"]["available"] = ["spawn"]
    changed = other["results"][10]
    changed["status"] = "differs" if changed["status"] != "differs" else "supported"
    other["results"][20]["observed"] = {"edited": True}
    removed = other["results"].pop(30)
    b.write_text(json.dumps(other), encoding="utf-8")

    diff = _python_m_compat("diff", str(a), str(b))
    assert diff.returncode == 0, diff.stderr
    assert "* start methods" in diff.stdout
    assert f"* {changed['id']}" in diff.stdout
    assert report["results"][20]["id"] in diff.stdout and '"edited": true' in diff.stdout
    assert f"{removed['id']}" in diff.stdout and "(absent)" in diff.stdout
    assert f"3 of {len(ENTRIES)} entries differ" in diff.stdout
    assert _python_m_compat("diff", str(a), str(b), "--exit-code").returncode == 1
    same = _python_m_compat("diff", str(a), str(a), "--exit-code")
    assert same.returncode == 0 and "No entry differs." in same.stdout
    table = _python_m_compat("diff", str(a), str(b), str(a), "--markdown")
    assert table.returncode == 0 and table.stdout.startswith("| ID | Difference |")
    assert f"| {changed['id']} |" in table.stdout
    assert _python_m_compat("validate", str(a), str(b)).returncode == 0


def test_cli_explains_bad_input(tmp_path: Path) -> None:
    bad = _python_m_compat("doctor", "--method", "bogus")
    assert bad.returncode == 2 and "unknown start method 'bogus'" in bad.stderr
    assert "no difference 'NOPE-01'" in _python_m_compat("doctor", "--only", "NOPE-01").stderr
    assert "at least 1" in _python_m_compat("doctor", "--jobs", "0").stderr
    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "x"}', encoding="utf-8")
    diff = _python_m_compat("diff", str(junk), str(junk))
    assert diff.returncode != 0 and "is not a doctor report" in diff.stderr
    missing = _python_m_compat("diff", str(tmp_path / "none.json"), str(junk))
    assert "cannot read" in missing.stderr
    assert _python_m_compat("validate", str(junk)).returncode == 1
    assert json.loads(_python_m_compat("schema").stdout) == SCHEMA


def test_doctor_text_report_for_a_few_entries() -> None:
    only = ("--only", "START-01", "MAIN-05", "SUB-16", "--method", "spawn")
    out = _python_m_compat("doctor", *only, "--all")
    assert out.returncode == 0, out.stderr
    assert "compat chooses" in out.stdout and "CPUs" in out.stdout
    assert re.search(r"MAIN-05 +AFFECTED", out.stdout)
    assert re.search(r"SUB-16 +not testable", out.stdout)
    assert "3 entries:" in out.stdout
    short = _python_m_compat("doctor", *only)
    assert re.search(r"MAIN-05 +AFFECTED", short.stdout) and "SUB-16" not in short.stdout


def test_import_compat_does_not_load_the_registry() -> None:
    code = (
        "import sys, compat; "
        "print([m for m in sys.modules if m.startswith(('compat.differences', 'compat._cli'))])"
    )
    out = run_python("-c", code)
    assert out.stdout.strip() == "[]", out.stderr
