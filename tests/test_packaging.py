"""The wheel holds what an installed compat needs and nothing else (issue 11 item 7):
the licence, py.typed, the pytest plugin, the console script; no tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources, and a
    # stale build/ from an earlier run could hide a file missing from the package.
    source = out / "src"
    # .coverage*: coverage's data files, which other processes of a run under coverage
    # write and combine meanwhile (one vanished during the copy: shutil.Error in CI).
    skip = shutil.ignore_patterns(
        ".git",
        ".tox",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
        "reports",
        ".coverage*",
    )
    shutil.copytree(ROOT, source, ignore=skip)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("pip wheel took over 240 s (no package index reachable?)")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        if any(s in done.stderr for s in ("No matching distribution", "connection", "Network")):
            pytest.skip(f"cannot build offline (setuptools>=77 is fetched): {' | '.join(tail)}")
        pytest.fail(f"pip wheel failed: {' | '.join(tail)}")
    (found,) = out.glob("*.whl")
    return zipfile.ZipFile(found)


def test_wheel_contents(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    licences = [n for n in names if ".dist-info/" in n and n.endswith("LICENSE")]
    assert licences, names
    assert "Copyright (c)" in wheel.read(licences[0]).decode()
    for needed in ("compat/py.typed", "compat/pytest_plugin.py", "compat/__main__.py"):
        assert needed in names
    assert not [n for n in names if n.startswith("tests/")]


def test_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(meta).decode()
    assert "License-Expression: MIT" in text
    assert "Programming Language :: Python :: 3.9" in text
    assert "Programming Language :: Python :: 3.15" in text
    assert "Project-URL: Homepage, https://github.com/" in text
    assert "Keywords:" in text
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "compat = compat._cli:main" in wheel.read(entry_points).decode()


def test_readme_links_are_absolute() -> None:
    """Relative links break on the package index, which shows the README."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert target.startswith(("https://", "http://", "#")), target


@pytest.mark.skipif(sys.platform == "win32", reason="runs ci/run_tests.sh with bash")
def test_run_tests_sh_installs_tox_itself(tmp_path: Path) -> None:
    """Without tox, ci/run_tests.sh uses (and would first create) a cached venv with tox
    and tox-uv instead of stopping at "No module named tox". The cached venv is a stub
    here, so nothing is installed."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python").symlink_to(sys.executable)
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "tox.py").write_text("raise ImportError('hidden from this test')\n")
    venv = tmp_path / "tox-venv"
    (venv / "bin").mkdir(parents=True)
    stub = venv / "bin" / "tox"
    stub.write_text('#!/bin/sh\necho tox 9.9.9 stub "$@"\n')
    stub.chmod(0o755)
    env = {
        "PATH": f"{tools}{':'}/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path / "hide"),
        "COMPAT_TOX_VENV": str(venv),
        "HOME": str(tmp_path),
    }
    script = str(ROOT / "ci" / "run_tests.sh")
    done = subprocess.run(
        [bash, script, "--setup-only"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"tox is {stub} (tox 9.9.9 stub --version)" in done.stdout
    assert "No module named tox" not in done.stdout + done.stderr
    helped = subprocess.run([bash, script, "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "cached venv" in helped.stdout


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.split("\n## ", 2)[1]
    block = first.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == [
        "python -m pip install -e . && python -m compat doctor",
        "ci/run_tests.sh",
    ]
