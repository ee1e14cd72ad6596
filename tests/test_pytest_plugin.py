"""compat's pytest plugin (compat.pytest_plugin), run in a fresh pytest with pytester:
--start-methods and the start_method fixture and mark, --windows-semantics, and the
leak guard. Every inner run is a subprocess bounded by --timeout and a run timeout."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
from pathlib import Path

import pytest

from compat._platform import LINUX, PlatformFacts
from compat._testkit.methods import method_params, parse_methods
from tests.procs import pid_exists

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _needs_the_entry_point(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The inner runs load the plugin through its pytest11 entry point: skip (visibly)
    where this interpreter has compat without it (an older editable install). Asked
    from a neutral directory: a checkout's egg-info would answer for the checkout."""
    import subprocess

    code = (
        "from importlib.metadata import entry_points as e\n"
        "print(any(p.value == 'compat.pytest_plugin' for p in e(group='pytest11')))"
        if sys.version_info >= (3, 10)
        else "from importlib.metadata import entry_points as e\n"
        "print(any(p.value == 'compat.pytest_plugin' for p in e().get('pytest11', [])))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path_factory.mktemp("neutral"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    if found.stdout.strip() != "True":
        pytest.skip(
            f"{sys.executable} has compat without its pytest11 entry point "
            "(reinstall: pip install -e .)"
        )


AVAILABLE = tuple(multiprocessing.get_all_start_methods())
RUN_TIMEOUT = 120  # seconds for one inner pytest run
LEAKS_SEEN = LINUX  # every descendant and /proc/self/fd (elsewhere: psutil, no fds)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--timeout=60", "-v", "-rs", *args, timeout=RUN_TIMEOUT
    )


@pytest.fixture(autouse=True)
def _no_method_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tox factor selects the outer run's method; the inner runs choose their own.
    monkeypatch.delenv("COMPAT_START_METHOD", raising=False)


SWITCHING = """
import multiprocessing, os
import pytest
import compat


def double(x):
    return 2 * x


def test_runs_under(start_method):
    assert compat.get_context().method == start_method
    assert compat.get_start_method() == start_method
    assert multiprocessing.get_context().get_start_method() == start_method
    assert multiprocessing.get_start_method() == start_method
    assert os.environ["COMPAT_START_METHOD"] == start_method
    with multiprocessing.Pool(1) as pool:  # the stdlib's default Pool uses it
        assert pool.map(double, [21]) == [42]
    p = multiprocessing.Process(target=double, args=(1,))
    p.start()
    p.join(30)
    assert p.exitcode == 0


def test_z_defaults_are_put_back():
    assert multiprocessing.get_start_method(allow_none=True) is None
    assert compat.get_start_method(allow_none=True) is None
    assert "COMPAT_START_METHOD" not in os.environ
"""


def test_start_methods_all_runs_every_method_and_switches_defaults(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=SWITCHING)
    result = run(pytester, "--start-methods=all")
    missing = [m for m in ("fork", "forkserver", "spawn") if m not in AVAILABLE]
    result.assert_outcomes(passed=len(AVAILABLE) + 1, skipped=len(missing))
    for method in AVAILABLE:
        result.stdout.fnmatch_lines([f"*test_runs_under?{method}? PASSED*"])
    for method in missing:
        result.stdout.fnmatch_lines([f"*SKIPPED*{method!r} is not available on *which offers*"])
    result.stdout.fnmatch_lines(["compat: start methods: fork, forkserver, spawn;*"])


def test_without_the_option_start_method_is_the_policy_choice_once(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_inner=SWITCHING)
    result = run(pytester)
    result.assert_outcomes(passed=2)
    ran = re.findall(r"test_runs_under\[(\w+)\] PASSED", result.stdout.str())
    assert len(ran) == 1 and ran[0] in AVAILABLE
    result.stdout.fnmatch_lines([f"compat: start methods: {ran[0]} (the default;*"])


def test_an_explicit_list_and_the_mark(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import multiprocessing
        import pytest

        @pytest.mark.start_methods("spawn", "forkserver")
        def test_marked():
            assert multiprocessing.get_start_method() in ("spawn", "forkserver")

        def test_fixture(start_method):
            assert start_method in ("fork", "spawn")
        """
    )
    result = run(pytester)  # the mark's methods, without the option
    result.stdout.fnmatch_lines(["*test_marked?spawn? PASSED*"])
    result = run(pytester, "--start-methods=fork,spawn")
    result.stdout.fnmatch_lines(
        [
            "*test_marked?spawn? PASSED*",
            "*test_fixture?spawn? PASSED*",
            "*SKIPPED*'fork' is not among this test's @pytest.mark.start_methods('spawn', "
            "'forkserver')*",
        ]
    )
    assert "test_marked[forkserver]" not in result.stdout.str()


def test_an_unknown_method_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_x(start_method): pass\n")
    result = run(pytester, "--start-methods=fork,sapwn")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown start method 'sapwn'*"])


def test_skip_reasons_name_the_os_and_what_it_offers() -> None:
    assert parse_methods("all") == ("fork", "forkserver", "spawn")
    windows = PlatformFacts.simulated("win32")
    params = method_params(("fork", "spawn"), None, windows=False, default="spawn", facts=windows)
    assert [p.method for p in params] == ["fork", "spawn"]
    assert params[0].skip == (
        "start method 'fork' is not available on Windows (win32), which offers spawn"
    )
    assert params[1].skip is None


def test_a_conftest_start_method_fixture_overrides_the_plugins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(params=["mine-a", "mine-b"])
        def start_method(request):
            return request.param
        """
    )
    pytester.makepyfile(test_inner="def test_x(start_method): assert start_method[:5] == 'mine-'\n")
    result = run(pytester, "--start-methods=all")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_x?mine-a? PASSED*", "*test_x?mine-b? PASSED*"])


def test_a_conftest_fixture_can_build_on_the_plugins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def start_method(start_method):  # the plugin's, one level up
            return "via-" + start_method
        """
    )
    pytester.makepyfile(test_inner="def test_x(start_method): assert start_method == 'via-spawn'\n")
    run(pytester, "--start-methods=spawn").assert_outcomes(passed=1)


LEAKY = """
import os, subprocess, sys, threading
import multiprocessing

PID_FILE = {pid_file!r}
_keep = []


def test_clean():
    p = multiprocessing.Process(target=os.getpid)
    p.start()
    p.join(30)
    r, w = os.pipe()
    os.close(r)
    os.close(w)


def test_leaks_a_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(PID_FILE, "w") as f:
        f.write(str(child.pid))
    _keep.append(child)


def test_leaks_a_compat_thread():
    from compat._native.threads import background_thread

    stop = threading.Event()
    background_thread(stop.wait, name="compat-leaked-by-test").start()
    _keep.append(stop)


def test_leaks_a_descriptor():
    _keep.append(os.pipe())


def test_z_the_next_test_is_not_blamed():
    pass


def test_zz_stop_the_thread():
    for obj in _keep:
        if isinstance(obj, threading.Event):
            obj.set()
"""


@pytest.mark.skipif(not LEAKS_SEEN, reason="needs /proc (Linux) for descendants and descriptors")
def test_the_leak_guard(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    pytester.makepyfile(test_inner=LEAKY.format(pid_file=str(pid_file)))
    result = run(pytester)
    result.assert_outcomes(passed=6, errors=3)
    out = result.stdout.str()
    child = int(pid_file.read_text())
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_child*",
            "test_inner.py::test_leaks_a_child left behind:",
            "1 process(es) still running (killed now):",
            f"  pid {child}: * -c import time; time.sleep(120)",
            "*ERROR at teardown of test_leaks_a_compat_thread*",
            "1 compat thread(s) still running:",
            "  compat-leaked-by-test",
            "*ERROR at teardown of test_leaks_a_descriptor*",
            "2 file descriptor(s) still open:",
            "  fd * -> pipe:[[]*[]]",
        ]
    )
    assert "test_clean PASSED" in out and "test_z_the_next_test_is_not_blamed PASSED" in out
    assert not pid_exists(child)  # killed (and reaped) by the guard
    result.stdout.fnmatch_lines(["*leak guard: on: processes (every descendant)*"])
    # Off: the same tests pass (the child is left to the inner session's end).
    result = run(pytester, "--no-process-leak-check", "-k", "not leaks_a_child")
    result.assert_outcomes(passed=5)
    result = run(pytester, "--no-fd-leak-check", "-k", "descriptor or clean")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*not file descriptors (--no-fd-leak-check)*"])


WINDOWS = """
import multiprocessing, os, signal, subprocess, sys, time
import pytest
import compat


def test_spawn_only():
    assert not hasattr(os, "fork")
    with pytest.raises(AttributeError, match="Windows has no fork"):
        os.fork()
    with pytest.raises(ValueError, match="cannot find context for 'fork'.*windows-semantics"):
        multiprocessing.get_context("fork")
    with pytest.raises(ValueError, match="forkserver"):
        multiprocessing.set_start_method("forkserver", force=True)
    with pytest.raises(compat.StartMethodUnavailable, match="not available on Windows.*emulates"):
        compat.get_context("fork")
    assert multiprocessing.get_all_start_methods() == ["spawn"]
    assert multiprocessing.get_start_method() == "spawn"
    assert compat.get_context().method == "spawn"


def test_killpg_is_flagged():
    with pytest.raises(compat.PortabilityWarning, match="os.killpg.*Windows"):
        os.killpg(os.getpid() + 10**6, signal.SIGTERM)


def test_sigkill_is_flagged():
    with pytest.raises(compat.PortabilityWarning, match="SIGKILL"):
        os.kill(os.getpid() + 10**6, signal.SIGKILL)


def test_preexec_fn_and_fcntl_are_flagged():
    with pytest.raises(compat.PortabilityWarning, match="preexec_fn"):
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=os.getpid)
    with pytest.raises(compat.PortabilityWarning, match="fcntl"):
        import fcntl  # noqa: F401


def test_the_standard_librarys_own_kill_is_not_flagged():
    p = multiprocessing.Process(target=time.sleep, args=(30,))
    p.start()
    p.kill()  # os.kill(pid, SIGKILL) inside multiprocessing: its portable kill()
    p.join(30)
    assert p.exitcode is not None


def test_fork_tests_are_skipped(start_method):
    assert start_method == "spawn"
"""

AFTER_SESSION = """
import json, multiprocessing, os, subprocess, builtins

def pytest_sessionfinish(session):
    with open({path!r}, "w") as f:
        json.dump({{
            "fork": hasattr(os, "fork"),
            "methods": multiprocessing.get_all_start_methods(),
            "popen": subprocess.Popen.__init__.__module__,
            "import": builtins.__import__.__module__,
        }}, f)
"""


def test_windows_semantics(pytester: pytest.Pytester, tmp_path: Path) -> None:
    after = tmp_path / "after.json"
    pytester.makeconftest(AFTER_SESSION.format(path=str(after)))
    pytester.makepyfile(test_inner=WINDOWS)
    result = run(pytester, "--windows-semantics", "--start-methods=all")
    result.assert_outcomes(passed=6, skipped=2)
    result.stdout.fnmatch_lines(["*windows semantics: on (emulated)*"])
    result.stdout.fnmatch_lines(
        ["*SKIPPED*start method 'fork' does not exist on Windows, which offers only 'spawn'*"]
    )
    state = json.loads(after.read_text())
    assert state == {
        "fork": hasattr(os, "fork"),
        "methods": list(AVAILABLE),
        "popen": "subprocess",
        "import": "builtins",
    }


def test_the_help_says_what_is_not_emulated(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help", timeout=RUN_TIMEOUT)
    out = " ".join(result.stdout.str().split())
    for words in ("--windows-semantics", "NOT emulated: file locking", "CTRL_C_EVENT"):
        assert words in out
    assert "--start-methods=all|fork,spawn,..." in out
    assert "--no-process-leak-check" in out


def test_import_compat_does_not_load_the_plugin() -> None:
    import subprocess

    code = "import compat, sys; compat.get_context(); print('compat.pytest_plugin' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
