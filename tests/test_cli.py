"""The command line as a new user meets it (issue 11): exit codes, one clear line on
errors, ``--version``, the doctor's answers and ``explain``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from compat import __version__
from compat._cli import main

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
