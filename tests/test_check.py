"""``python -m compat check``: the rules over a corpus of small programs, the three
output formats, exit codes, suppression comments, directory walking and the CLI."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from compat._check.runner import check_file, python_files, run_check
from compat._check.shell import posix_only_syntax
from tests.helpers import run_python

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "check_corpus"
BAD = sorted((CORPUS / "bad").glob("*.py"))
GOOD = sorted((CORPUS / "good").rglob("*.py"))
EXPECT = re.compile(r"expect: ([A-Z0-9 -]+)$")
TEXT_LINE = re.compile(
    r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<id>[A-Z]+-\d\d) .+\. \(fix: .+\)$"
)


def expected(path: Path) -> Counter[tuple[int, str]]:
    """(line, id) -> count, from the ``# expect: ID [ID...]`` comments."""
    found: Counter[tuple[int, str]] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            found.update((number, rid) for rid in match.group(1).split())
    return found


def check(paths: list[str], fmt: str = "text") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_check(paths, fmt, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_programs_give_exactly_the_expected_findings(path: Path) -> None:
    want = expected(path)
    assert want, f"{path.name} announces no finding"
    got = Counter((f.line, f.id) for f in check_file(str(path)))
    assert got == want


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_good_programs_give_no_finding(path: Path) -> None:
    assert check_file(str(path)) == []


def test_the_repository_examples_are_clean() -> None:
    status, out, err = check([str(ROOT / "examples")])
    assert (status, out) == (0, ""), out
    examples = len(list((ROOT / "examples").rglob("*.py")))
    assert f"0 finding(s) in 0 of {examples} file(s)" in err


def test_text_format_and_exit_status() -> None:
    path = str(CORPUS / "bad" / "import_time.py")
    status, out, err = check([path])
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == sum(expected(Path(path)).values())
    for line in lines:
        match = TEXT_LINE.match(line)
        assert match is not None, line
        assert match["path"] == path
    assert lines[0] == (
        f"{path}:7:1: MAIN-10 multiprocessing.set_start_method() runs at import time: "
        "spawned children re-import this module and raise RuntimeError ('context has "
        "already been set'). (fix: call set_start_method() under `if __name__ == "
        '"__main__":`, or use multiprocessing.get_context(method) (or compat.get_context) '
        "instead of the global)"
    )
    assert f"{len(lines)} finding(s) in 1 of 1 file(s)" in err


def test_json_format() -> None:
    path = str(CORPUS / "bad" / "subprocess_args.py")
    status, out, _ = check([path], "json")
    assert status == 1
    findings = json.loads(out)
    assert isinstance(findings, list) and findings
    for f in findings:
        assert set(f) == {"id", "path", "line", "col", "message", "fix"}
        assert f["path"] == path and isinstance(f["line"], int) and f["col"] >= 1
    first = findings[0]
    assert (first["id"], first["line"], first["col"]) == ("SUB-06", 7, 37)
    assert first["message"] == "preexec_fn= is POSIX-only: Popen raises ValueError on Windows."
    assert json.loads(check([str(CORPUS / "good")], "json")[1]) == []


def test_github_format_escapes_and_names_the_id(tmp_path: Path) -> None:
    path = tmp_path / "a,b.py"
    path.write_text("import os\nos.fork()\n", encoding="utf-8")
    status, out, _ = check([str(path)], "github")
    assert status == 1
    escaped = str(path).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert out == (
        f"::warning file={escaped},line=2,col=1,title=compat START-02::os.fork() does not "
        "exist on Windows (AttributeError). Fix: start children with multiprocessing or "
        "compat.spawn_child, or guard the call with hasattr(os, 'fork')\n"
    )


def test_clean_input_exits_0(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("print('hello')\n", encoding="utf-8")
    assert check([str(tmp_path)])[:2] == (0, "")


def test_usage_and_parse_errors_exit_2(tmp_path: Path) -> None:
    status, out, err = check([str(tmp_path / "missing.py")])
    assert (status, out) == (2, "")
    assert "no such file or directory" in err
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    (tmp_path / "forks.py").write_text("import os\nos.fork()\n", encoding="utf-8")
    status, out, err = check([str(tmp_path)])
    assert status == 2  # the other files are still checked and reported
    assert "forks.py:2:1: START-02" in out
    assert re.search(r"broken\.py:1:\d+: error: SyntaxError: ", err), err


def test_suppression_comments(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text(
        "import os, signal\n"
        "os.killpg(0, signal.SIGKILL)\n"
        "os.killpg(0, signal.SIGKILL)  # compat: ignore\n"
        "os.killpg(0, signal.SIGKILL)  # compat: ignore[SIG-07]\n"
        "os.killpg(0, signal.SIGKILL)  # compat:ignore[SIG-01,SIG-07]\n"
        "os.killpg(0, signal.SIGKILL)  # compat: ignore[MAIN-01]\n",
        encoding="utf-8",
    )
    got = Counter((f.line, f.id) for f in check_file(str(path)))
    assert got == Counter(
        {(2, "SIG-07"): 1, (2, "SIG-01"): 1, (4, "SIG-01"): 1, (6, "SIG-07"): 1, (6, "SIG-01"): 1}
    )


def test_directories_are_walked_for_python_files(tmp_path: Path) -> None:
    for rel in [
        "top.py", "sub/inner.py", "sub/notes.txt", ".git/hook.py", ".tox/py39/x.py",
        "__pycache__/c.py", "venv/lib/v.py", "myenv/lib/site.py", "node_modules/n.py",
    ]:  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("import os\nos.fork()\n", encoding="utf-8")
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    found = [Path(p).relative_to(tmp_path).as_posix() for p in python_files(str(tmp_path))]
    assert found == ["top.py", "sub/inner.py"]
    status, out, _ = check([str(tmp_path)])
    assert status == 1 and len(out.splitlines()) == 2
    # A file named on the command line is checked whatever its name.
    assert check([str(tmp_path / "sub" / "notes.txt")])[0] == 1


@pytest.mark.parametrize(
    ("command", "found"),
    [
        ("echo $HOME", ["$VAR"]),
        ("echo ${HOME}", ["$VAR"]),
        ('echo "$(date)"', ["$(...)"]),
        ("echo `date`", ["backticks"]),
        ("a; b", ["';' between commands"]),
        ("export A=1 && b", ["export"]),
        ("grep 'a|b' f", ["single quotes"]),
        ("cat ~/x", ["~/"]),
        ("echo '$HOME'", ["single quotes"]),
        ("a && b || c | d > e 2>&1", []),
        ('python -c "import x; x.f()"', []),
        ("find . -exec rm {} \\;", []),
        ("echo it's", []),
        ("echo 100% done", []),
    ],
)
def test_shell_syntax_cmd_exe_does_not_understand(command: str, found: list[str]) -> None:
    assert posix_only_syntax(command) == found


def test_python_m_compat_check_in_a_subprocess() -> None:
    bad = CORPUS / "bad" / "posix_only.py"
    out = run_python("-m", "compat", "check", "--format", "json", str(bad), timeout=60)
    assert out.returncode == 1, out.stderr
    assert {f["id"] for f in json.loads(out.stdout)} == {"START-02", "SIG-01", "SIG-07"}
    out = run_python("-m", "compat", "check", str(CORPUS / "good"), timeout=60)
    assert (out.returncode, out.stdout) == (0, ""), out.stderr
    out = run_python("-m", "compat", "check", "--format", "xml", str(bad), timeout=60)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_import_compat_does_not_load_the_checker() -> None:
    code = "import sys, compat; print([m for m in sys.modules if m.startswith('compat._check')])"
    out = run_python("-c", code, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_pre_commit_hook_definition() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    for line in (
        "- id: compat-check",
        "  entry: python -m compat check",
        "  language: python",
        "  types: [python]",
    ):
        assert line in text.splitlines(), line
