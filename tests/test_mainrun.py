"""Re-running ``__main__`` in lean spawn children and spares (compat._child.mainrun):
the same module as ``runpy.run_path`` makes, without runpy; the parent's compiled
code (compat._child.leanspawn.main_code) used only when it is the same script and
the same CPython."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from compat._child import mainrun
from compat._child.leanspawn import main_code
from tests.helpers import python_env

SCRIPT = '''\
"""the doc"""
import sys

seen = {
    "argv0": sys.argv[0],
    "in_modules": sys.modules.get(__name__) is not None,
    "name": __name__,
}


def annotated(x: int) -> str:
    return str(x)


class Thing:
    pass
'''


def _describe(globs: dict[str, Any]) -> dict[str, Any]:
    """What can be compared between two runs of the script."""
    return {
        "keys": sorted(globs),
        "dunders": {k: globs[k] for k in globs if k.startswith("__") and k != "__builtins__"},
        "seen": globs["seen"],
        "annotations": globs["annotated"].__annotations__,
        "module_of_thing": globs["Thing"].__module__,
    }


def test_run_path_makes_what_runpy_makes(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    argv = sys.argv[:]
    name = "__compat_test_main__"
    theirs = runpy.run_path(str(script), run_name=name)
    assert sys.argv == argv and name not in sys.modules
    ours = mainrun.run_path(str(script), name)
    assert sys.argv == argv and name not in sys.modules
    assert ours["seen"] == {"argv0": str(script), "in_modules": True, "name": name}
    assert _describe(ours) == _describe(theirs)
    # Not this package's ``from __future__ import annotations``: real classes.
    assert ours["annotated"].__annotations__ == {"x": int, "return": str}


def test_run_path_uses_code_it_is_given(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    code = compile("seen = 'from the parent'", str(script), "exec")
    assert mainrun.run_path(str(script), "__mp_main__", code)["seen"] == "from the parent"


def test_run_path_leaves_other_paths_to_runpy(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (package / "__main__.py").write_text("where = 'a directory'\n")
    assert mainrun.run_path(str(package), "__mp_main__")["where"] == "a directory"


def test_main_code_is_compiled_once_and_again_when_the_script_changes(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text("value = 1\n")
    first = main_code(str(script))
    assert first is not None
    assert main_code(str(script)) is first  # cached
    script.write_text("value = 22\n")
    later = time.time() + 5  # a different modification time, whatever the clock's grain
    os.utime(script, (later, later))
    second = main_code(str(script))
    assert second is not None and second is not first
    code = mainrun.sent_code(second)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    assert namespace["value"] == 22


def test_main_code_declines_what_it_cannot_compile(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert main_code(str(broken)) is None  # the child compiles it and reports the error
    assert main_code(str(tmp_path / "missing.py")) is None
    assert main_code(str(tmp_path)) is None


def test_sent_code_from_another_cpython_is_ignored(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text("value = 1\n")
    sent = main_code(str(script))
    assert sent is not None
    assert mainrun.sent_code((b"\x00\x00\r\n", sent[1])) is None
    assert mainrun.sent_code(None) is None


@pytest.mark.timeout(60)
def test_a_lean_child_runs_the_main_script_as_it_is_now(tmp_path: Path, start_method: str) -> None:
    """End to end: a program whose ``__main__`` defines the target starts lean spawn
    children; between two starts it rewrites its own file (the second child must see
    the new module-level value, as a multiprocessing spawn child would)."""
    if start_method != "spawn":
        pytest.skip("lean spawn serves spawn children only")
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            import compat

            VALUE = "first"

            def value():
                return VALUE

            if __name__ == "__main__":
                ctx = compat.get_context("spawn")
                print(ctx.spawn_child(value).result(timeout=30), flush=True)
                source = open(__file__).read().replace('VALUE = "first"', 'VALUE = "second"')
                with open(__file__, "w") as f:
                    f.write(source)
                later = time.time() + 5
                os.utime(__file__, (later, later))
                print(ctx.spawn_child(value).result(timeout=30), flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env("spawn"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["first", "second"]
