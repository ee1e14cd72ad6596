"""The command line as a new user meets it (issue 11): exit codes, one clear line on
errors, ``--version``, the doctor's answers and ``explain``."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest

from compat import __version__
from compat._cli import main
from compat.differences import get
from compat.differences._doctor import select
from compat.differences._text import DOCS_URL, format_report, use_colour

from .helpers import run_python


def compat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "compat", *args, env=env, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real doctor report."""
    path = tmp_path_factory.mktemp("cli") / "r.json"
    only = ("--only", "START-01", "MAIN-05")
    out = compat("doctor", *only, "--method", "spawn", "--json", str(path))
    assert out.returncode == 0, out.stderr
    return path


def _one_clear_line(out: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("compat: "), out.stderr
    return lines[0]


def test_version() -> None:
    out = compat("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"compat {__version__}"


def test_doctor_refuses_an_unwritable_report_path_before_the_probes() -> None:
    out = compat("doctor", "--json", "/nonexistent/dir/r.json")
    assert out.returncode == 2
    assert "/nonexistent/dir" in _one_clear_line(out)
    assert "probes" not in out.stdout + out.stderr  # nothing ran


def test_diff_output_path_is_checked(report: Path) -> None:
    out = compat("diff", str(report), str(report), "--output", "/nonexistent/dir/d.md")
    assert out.returncode == 2 and "cannot write" in _one_clear_line(out)


def test_diff_missing_file_is_an_input_error_not_a_difference(report: Path, tmp_path: Path) -> None:
    out = compat("diff", str(tmp_path / "none.json"), str(report))
    assert out.returncode == 2 and "cannot read" in _one_clear_line(out)
    out = compat("diff", "--exit-code", str(tmp_path / "none.json"), str(report))
    assert out.returncode == 2


def test_diff_exit_code_only_for_differing_reports(report: Path, tmp_path: Path) -> None:
    assert compat("diff", str(report), str(report), "--exit-code").returncode == 0
    same = compat("diff", "--markdown", "--exit-code", str(report), str(report))
    assert same.returncode == 0, same.stderr
    assert "No entry differs." in same.stdout and "| ID |" not in same.stdout
    other = json.loads(report.read_text(encoding="utf-8"))
    first = other["results"][0]
    first["status"] = "differs" if first["status"] != "differs" else "supported"
    changed = tmp_path / "other.json"
    changed.write_text(json.dumps(other), encoding="utf-8")
    assert compat("diff", str(report), str(changed)).returncode == 0
    assert compat("diff", "--exit-code", str(report), str(changed)).returncode == 1
    table = compat("diff", "--markdown", "--exit-code", str(report), str(changed))
    assert table.returncode == 1 and f"| {first['id']} |" in table.stdout


def test_diff_with_one_report_is_a_usage_error(report: Path) -> None:
    for args in (("--markdown", str(report)), (str(report),)):
        out = compat("diff", *args)
        assert out.returncode == 2 and "two reports" in _one_clear_line(out)


def test_console_script_is_declared() -> None:
    root = Path(__file__).resolve().parent.parent
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.scripts]\ncompat = "compat._cli:main"' in text
    assert callable(main)


# The doctor answers (issue 11 item 2)


def _fits(text: str, width: int) -> None:
    for line in text.splitlines():
        # wrapped, never cut: only a single unbreakable word (a path, a URL) may overrun
        assert len(line) <= width or " " not in line.strip(), line


def test_doctor_shows_what_differs_and_what_compat_does(report: Path) -> None:
    only = ("--only", "MAIN-05", "START-02", "--method", "spawn")
    out = compat("doctor", *only, env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "MAIN-05" in text and "AFFECTED" in text
    assert "START-02" not in text.split("What differs here")[1]  # not affected: not shown
    assert re.search(r"compat (handles|checks|avoids|documents) it", text)
    assert "1 entry of 2" in text
    assert "2 entries:" in text and "2 probes ran" in text
    assert "\x1b[" not in text  # not a terminal: no colour
    _fits(text, 80)
    every = compat("doctor", *only, "--all")
    assert "START-02" in every.stdout and "not affected" in every.stdout


def test_doctor_plurals_and_link(report: Path) -> None:
    data = json.loads(report.read_text(encoding="utf-8"))
    one = {**data, "results": data["results"][:1]}
    one["summary"] = {k: sum(r["status"] == k for r in one["results"]) for k in data["summary"]}
    text = format_report(one, 80, show_all=True)
    assert "1 entry:" in text and "1 probe ran" in text
    assert "differences:" not in text and "probes ran" not in text
    assert f"{DOCS_URL}" in text and "details: docs/os-differences.md" not in text


def test_doctor_wraps_to_80_columns(report: Path) -> None:
    data = json.loads(report.read_text(encoding="utf-8"))
    data["start_methods"]["compat"]["reason"] = "a very long reason " * 10
    data["results"][0].update(status="differs", detail="observed " * 30)
    text = format_report(data, 80)
    _fits(text, 80)
    words = " ".join(text.split())  # nothing cut: every word is there
    assert words.count("a very long reason") == 10 and words.count("observed") == 30


def test_colour_only_on_a_terminal_and_never_with_no_color(
    report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())
    data = json.loads(report.read_text(encoding="utf-8"))
    assert "\x1b[" in format_report(data, 80, show_all=True, colour=True)


def test_only_accepts_an_area() -> None:
    ids = [e.id for e in select(["POOL", "START-01", "POOL-04"])]
    assert ids[0] == "POOL-01" and "START-01" in ids and ids.count("POOL-04") == 1
    assert all(i.startswith("POOL-") for i in ids if i != "START-01")
    with pytest.raises(KeyError):
        select(["NOPE"])


def test_explain_shows_one_entry_in_full() -> None:
    out = compat("explain", "POOL-04", env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    entry = get("POOL-04")
    for needle in ("POOL-04", "sources", "probe", "compat", entry.sources[0][:20]):
        assert needle in out.stdout
    assert f"{DOCS_URL}#pool-04" in out.stdout
    assert "https://bugs.python.org/issue22393" in out.stdout  # sources with their address
    _fits(out.stdout, 80)
    bad = compat("explain", "POOL-99")
    assert bad.returncode == 2 and "no difference 'POOL-99'" in _one_clear_line(bad)
