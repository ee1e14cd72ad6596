"""Pre-flight checks: problems a spawned child would hit are raised in the parent."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import compat
import compat._child.main_checks as main_checks
import compat._child.preflight as preflight
from tests import targets
from tests.helpers import SCRIPTS, run_python

TIMEOUT = 60


@pytest.fixture
def no_cloudpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "_cloudpickle", lambda: None)


def spawnish(start_method: str) -> str:
    if start_method == "fork":
        pytest.skip("fork children are not pickled: nothing to check")
    return start_method


def test_lambda_refused_without_cloudpickle(start_method: str, no_cloudpickle: None) -> None:
    method = spawnish(start_method)
    with pytest.raises(compat.SpawnError) as info:
        compat.get_context(method).spawn_child(lambda: 1)
    message = str(info.value)
    assert f"with {method}: target cannot be pickled" in message
    assert "install cloudpickle" in message
    assert compat.get_context(method).active_children() == []


def test_closure_argument_path(start_method: str, no_cloudpickle: None) -> None:
    method = spawnish(start_method)
    counter = 0

    def closure() -> int:
        return counter

    with pytest.raises(compat.SpawnError, match=r"kwargs\['callback'\] cannot be pickled"):
        compat.get_context(method).spawn_child(targets.echo, callback=closure)


def test_nested_unpicklable_argument_is_located(start_method: str) -> None:
    method = spawnish(start_method)
    payload = {"a": [1, 2, {"deep": threading.Lock()}]}
    with pytest.raises(compat.SpawnError) as info:
        compat.get_context(method).spawn_child(targets.echo, "x", payload)
    assert "args[1]['a'][2]['deep'] cannot be pickled" in str(info.value)
    assert "lock" in str(info.value)


class Holder:
    def __init__(self) -> None:
        self.name = "holder"
        self.conn = threading.RLock()


def test_object_attribute_is_located(start_method: str) -> None:
    method = spawnish(start_method)
    with pytest.raises(compat.SpawnError, match=r"args\[0\]\.conn cannot be pickled"):
        compat.get_context(method).spawn_child(targets.echo, Holder())


def test_lambda_and_closure_travel_with_cloudpickle(start_method: str) -> None:
    pytest.importorskip("cloudpickle")
    base = 40
    child = compat.get_context(start_method).spawn_child(lambda x: x + base, 2)
    assert child.result(TIMEOUT) == 42
    child = compat.get_context(start_method).spawn_child(targets.call, lambda y: y * base, 2)
    assert child.result(TIMEOUT) == 80


def test_lambda_result_of_cloudpickled_target(start_method: str) -> None:
    pytest.importorskip("cloudpickle")
    child = compat.get_context(start_method).spawn_child(lambda: [1, 2, 3])
    assert child.result(TIMEOUT) == [1, 2, 3]


def test_a_target_checked_once_is_not_pickled_again_with_plain_arguments(
    monkeypatch: pytest.MonkeyPatch, no_cloudpickle: None
) -> None:
    """spawn_child in a loop: the target's verdict is kept per start method (as the
    pools keep their functions'), and a call whose arguments are all of plain types
    is not pickled to check it again. Other arguments are checked at every start,
    and a refused target is never remembered."""
    monkeypatch.setattr(preflight, "_known", {})
    checked: list[str] = []
    real = preflight._pickle_problem

    def counting(obj: Any, method: str, path: str) -> Any:
        checked.append(path)
        return real(obj, method, path)

    monkeypatch.setattr(preflight, "_pickle_problem", counting)
    check = preflight.check_spawnable
    check("spawn", targets.echo, (1, "x", None), {"k": 2.5})
    assert checked == ["target", "args[0]", "args[1]", "args[2]", "kwargs['k']"]
    del checked[:]
    check("spawn", targets.echo, (2, b"y", True, 0.5), {"k": "v"})
    assert checked == []
    check("forkserver", targets.echo, (), {})
    assert checked == ["target"]  # another start method: checked for it
    del checked[:]
    with pytest.raises(compat.SpawnError, match=r"args\[0\]\[0\] cannot be pickled"):
        check("spawn", targets.echo, ([threading.Lock()],), {})
    assert checked[:2] == ["target", "args[0]"]  # a list: checked, target included
    for _ in range(2):
        with pytest.raises(compat.SpawnError, match="target cannot be pickled"):
            check("spawn", lambda: 1, (), {})
    assert preflight.known_by_reference(targets.echo, "spawn")
    assert not preflight.known_by_reference(targets.echo, "fork")


class LockedProcess(compat.Process):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def run(self) -> None:
        pass


def test_process_subclass_with_unpicklable_attribute(start_method: str) -> None:
    method = spawnish(start_method)
    cls = type("P", (LockedProcess,), {"_compat_method": method})
    # a class made here is not importable either: use the module-level one
    LockedProcess._compat_method = method
    try:
        p = LockedProcess()
        with pytest.raises(compat.SpawnError, match=r"self\.lock cannot be pickled"):
            p.start()
    finally:
        LockedProcess._compat_method = None
    assert cls is not None


def test_checks_pass_through_ipc_objects(start_method: str) -> None:
    ctx = compat.get_context(start_method)
    q, ev, value = ctx.Queue(), ctx.Event(), ctx.Value("i", 5)
    r, w = ctx.Pipe()
    assert preflight.check_spawnable(ctx.method, targets.echo, (q, ev, value, r, w), {})
    for obj in (r, w):
        obj.close()
    q.close()
    q.join_thread()


@pytest.mark.parametrize("script", ["unguarded.py"])
def test_missing_main_guard(start_method: str, script: str) -> None:
    proc = run_python(SCRIPTS / script, method=start_method)
    if start_method == "fork":
        assert proc.returncode == 0, proc.stderr
        assert "result 42" in proc.stdout
        assert "PortabilityWarning" in proc.stderr
        assert "line 5 outside `if __name__ == '__main__':`" in proc.stderr
    else:
        assert proc.returncode == 1
        assert "compat.SpawnError" in proc.stderr or "SpawnError" in proc.stderr
        assert "unguarded.py starts a child running double at line 5 outside" in proc.stderr
        assert "bootstrapping" not in proc.stderr  # refused before any child started
        assert "result" not in proc.stdout


def test_guarded_script_is_quiet(start_method: str) -> None:
    proc = run_python("-W", "error", SCRIPTS / "guarded_ok.py", method=start_method)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["result 2", "process exitcode 0"]


def test_function_defined_under_the_guard(start_method: str) -> None:
    proc = run_python(SCRIPTS / "guard_defined.py", method=start_method)
    if start_method == "fork":
        assert proc.returncode == 0, proc.stderr
        assert "result 2" in proc.stdout
        return
    # with cloudpickle the function travels by value; without, a clear refusal
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        assert proc.returncode == 1
        assert "'inner' is defined inside `if __name__ == '__main__':`" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert "result 2" in proc.stdout


INTERACTIVE = """
import sys
if {block}:
    sys.modules["cloudpickle"] = None  # as if it were not installed
import compat
def f(x):
    return x * 3
try:
    print("result", compat.spawn_child(f, 3).result(30))
except compat.SpawnError as e:
    print("SpawnError", e)
"""


@pytest.mark.parametrize("block", [True, False], ids=["no-cloudpickle", "cloudpickle"])
def test_function_from_python_c(start_method: str, block: bool) -> None:
    if not block:
        pytest.importorskip("cloudpickle")
    proc = run_python("-c", INTERACTIVE.format(block=block), method=start_method)
    assert proc.returncode == 0, proc.stderr
    if start_method == "fork" or not block:
        assert proc.stdout.strip() == "result 9"
    else:
        assert "SpawnError" in proc.stdout
        assert "'f' is defined in an interactive __main__" in proc.stdout
        assert "Can't get attribute" not in proc.stderr


def test_describe_main_kinds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import types

    fake = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", fake)
    assert main_checks.describe_main() == ("interactive", None)
    script = tmp_path / "s.py"
    script.write_text("x = 1\n")
    fake.__file__ = str(script)
    assert main_checks.describe_main() == ("file", str(script))
    fake.__spec__ = types.SimpleNamespace(name="pkg.__main__")  # type: ignore[assignment]
    assert main_checks.describe_main()[0] == "package"

    def g() -> None: ...

    g.__module__ = "__main__"
    g.__qualname__ = "g"  # as if at module level (a local function is named as one)
    assert "package's __main__.py" in (main_checks.main_reference_problem(g) or "")


def test_top_level_name_detection(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(
        "import os, json as j\n"
        "from x import y\n"
        "A = 1\n"
        "def f(): pass\n"
        "class C: pass\n"
        "try:\n    import fast\nexcept ImportError:\n    fast = None\n"
        "if True:\n    def g(): pass\n"
        "if __name__ == '__main__':\n    def hidden(): pass\n    f()\n"
        "else:\n    def other(): pass\n"
    )
    names, guards = main_checks._parse_main(str(script)) or (set(), [])
    assert {"os", "j", "y", "A", "f", "C", "fast", "g", "other"} <= names
    assert "hidden" not in names
    assert guards == [(13, 14)] or guards == [(13, 16)]


def test_broken_main_file_is_not_fatal(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def (:\n")
    assert main_checks._parse_main(str(script)) is None
    assert main_checks._parse_main(str(tmp_path / "missing.py")) is None


def test_forkserver_and_spawn_agree_on_checks() -> None:
    # The check is about pickling, so it is the same for both non-fork methods.
    for method in ("spawn", "forkserver"):
        if method not in compat.available_start_methods():
            continue
        args: Any = (threading.Lock(),)
        with pytest.raises(compat.SpawnError, match=method):
            preflight.check_spawnable(method, targets.echo, args, {})


STDIN_PROGRAM = """
import compat
from tests.targets import double
if __name__ == "__main__":
    print("result", compat.spawn_child(double, 5).result(30))
    p = compat.Process(target=double, args=(1,))
    p.start()
    p.join(30)
    print("exitcode", p.exitcode)
"""


def test_program_from_stdin(start_method: str) -> None:
    # The standard library makes spawn children re-run "<stdin>" and die with
    # FileNotFoundError (research MAIN-04); compat's children skip it.
    proc = run_python("-", input=STDIN_PROGRAM, method=start_method)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["result 10", "exitcode 0"]
    assert "FileNotFoundError" not in proc.stderr


def test_fork_context_lock_inside_a_compat_queue_is_refused() -> None:
    if "fork" not in compat.available_start_methods():
        pytest.skip("needs a fork context")
    q = compat.get_context("fork").Queue()
    try:
        with pytest.raises(compat.SpawnError, match="created by a fork context"):
            preflight.check_spawnable("spawn", targets.put_back, (q, 1), {})
    finally:
        q.close()


# -- pools and executors; the sentences of issue 16 ---------------------------------------

MODULE_LAMBDA = """
import sys
sys.modules["cloudpickle"] = None  # as if it were not installed
import compat
double = lambda x: x * 2
if __name__ == "__main__":
    try:
        print("child", compat.spawn_child(double, 2).result(30))
    except compat.SpawnError as e:
        print("SpawnError", e)
    with compat.Pool(1) as p:
        try:
            print("pool", p.map(double, [1]))
        except compat.SpawnError as e:
            print("SpawnError", e)
"""

_LAMBDA = (
    "is a lambda (`double`), which cannot be sent by reference: define it with def at "
    "module level, or install cloudpickle to send it by value"
)


def test_a_module_level_lambda_is_named_as_a_lambda(start_method: str, tmp_path: Path) -> None:
    script = tmp_path / "module_lambda.py"
    script.write_text(MODULE_LAMBDA)
    proc = run_python(script, method=start_method)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if start_method == "fork":  # a fork child is not pickled
        assert lines[0] == "child 4"
    else:
        assert lines[0] == (
            f"SpawnError cannot start a child running <lambda> with {start_method}: target "
            f"cannot be pickled: it {_LAMBDA}"
        )
    # A pool pickles its tasks under every start method.
    assert lines[1] == (
        f"SpawnError cannot send the function given to Pool.map to the pool's workers: it {_LAMBDA}"
    )
    assert "__main__" not in proc.stdout


def test_a_threading_lock_argument_says_what_to_pass_instead(start_method: str) -> None:
    method = spawnish(start_method)
    with pytest.raises(compat.SpawnError) as info:
        compat.get_context(method).spawn_child(targets.echo, threading.Lock())
    assert str(info.value) == (
        f"cannot start a child running echo with {method}: args[0] cannot be pickled: it is "
        "a threading.Lock, which works only inside one process: pass a compat.Lock() instead "
        "(a child can receive one when it starts), or create the lock in the child"
    )


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("with compat.Pool(2) as p:\n    print(p.map(double, range(3)))\n", "a Pool"),
        (
            "with compat.ProcessPoolExecutor(2) as ex:\n"
            "    print(list(ex.map(double, range(3))))\n",
            "a ProcessPoolExecutor's workers",
        ),
    ],
    ids=["Pool", "ProcessPoolExecutor"],
)
def test_unguarded_pools(start_method: str, tmp_path: Path, code: str, what: str) -> None:
    script = tmp_path / "unguarded_pool.py"
    script.write_text("import compat\nfrom tests.targets import double\n\n" + code)
    proc = run_python(script, method=start_method)
    line = 4 if what == "a Pool" else 5
    sentence = (
        f"unguarded_pool.py starts {what} at line {line} outside `if __name__ == '__main__':`"
    )
    if start_method == "fork":
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "[0, 2, 4]"
        assert "PortabilityWarning" in proc.stderr and sentence in proc.stderr
    else:  # one sentence in the parent, before any worker started
        assert proc.returncode == 1
        assert f"compat.SpawnError: {sentence}" in proc.stderr
        assert "bootstrapping" not in proc.stderr and proc.stdout == ""
        assert proc.stderr.count("Traceback") == 1


GUARD_DEFINED_POOL = """
import sys
if {block}:
    sys.modules["cloudpickle"] = None
import compat

if __name__ == "__main__":
    def inner(x):
        return x + 1

    with compat.Pool(1) as p:
        try:
            print("result", p.map(inner, [1, 2]))
        except compat.SpawnError as e:
            print("SpawnError", e)
"""


@pytest.mark.parametrize("block", [True, False], ids=["no-cloudpickle", "cloudpickle"])
def test_pool_function_defined_under_the_guard(
    start_method: str, tmp_path: Path, block: bool
) -> None:
    if not block:
        pytest.importorskip("cloudpickle")
    script = tmp_path / "guarded_pool.py"
    script.write_text(GUARD_DEFINED_POOL.format(block=block))
    proc = run_python(script, method=start_method)
    assert proc.returncode == 0, proc.stderr
    problem = "function 'inner' is defined inside `if __name__ == '__main__':` in guarded_pool.py"
    if start_method == "fork":  # the forked worker has it; other OSes' workers do not
        assert proc.stdout.strip() == "result [2, 3]"
        assert ("PortabilityWarning" in proc.stderr and problem in proc.stderr) == block
    elif block:
        assert proc.stdout.startswith(
            "SpawnError cannot send the function given to Pool.map to "
            f"{start_method} workers: {problem}"
        )
    else:  # by value
        assert proc.stdout.strip() == "result [2, 3]"
