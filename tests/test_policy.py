"""The start-method policy, over simulated platforms: every OS branch runs here."""

from __future__ import annotations

import pytest

import compat
from compat import _platform
from compat._platform import PlatformFacts, default_start_methods_for
from compat._policy import UNSEEN_THREADS, fork_hazards

WIN = PlatformFacts.simulated("win32", (3, 12))
MAC = PlatformFacts.simulated("darwin", (3, 13))
LINUX = PlatformFacts.simulated("linux", (3, 11))
LINUX_314 = PlatformFacts.simulated("linux", (3, 14))


@pytest.mark.parametrize(
    ("facts", "method", "source"),
    [
        (WIN, "spawn", "policy"),
        (PlatformFacts.simulated("win32", (3, 9)), "spawn", "policy"),
        (MAC, "fork", "policy"),
        (LINUX, "fork", "policy"),
        (LINUX_314, "fork", "policy"),
        # threads alive: fork is unsafe
        (LINUX.with_(threads=3, thread_names=("worker",)), "forkserver", "policy"),
        (MAC.with_(threads=2), "spawn", "policy"),
        (LINUX_314.with_(threads=2), "forkserver", "policy"),
        # macOS frameworks loaded
        (MAC.with_(fork_unsafe_modules=("_scproxy",)), "spawn", "policy"),
        # macOS without an OS thread count: native threads may run unseen
        (MAC.with_(os_threads_unknown=True), "spawn", "policy"),
        (MAC.with_(os_threads_unknown=True, frozen=True), "fork", "policy"),
        # Linux keeps trusting the Python count when /proc cannot be read
        (LINUX.with_(os_threads_unknown=True), "fork", "policy"),
        # the same modules on Linux are harmless
        (LINUX.with_(fork_unsafe_modules=("_tkinter",)), "fork", "policy"),
        # POSIX without fd passing: no forkserver, so spawn
        (LINUX.with_(threads=2, start_methods=("fork", "spawn")), "spawn", "policy"),
        # frozen executable: spawn/forkserver cannot re-run it
        (LINUX.with_(threads=2, frozen=True), "fork", "policy"),
        # a POSIX without fork
        (PlatformFacts.simulated("emscripten", start_methods=("spawn",)), "spawn", "policy"),
        # the environment variable
        (LINUX.with_(env_method="spawn"), "spawn", "environment"),
        (WIN.with_(env_method="spawn"), "spawn", "environment"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_policy_table(facts: PlatformFacts, method: str, source: str) -> None:
    decision = compat.choose_start_method(facts=facts)
    assert (decision.method, decision.source) == (method, source)
    assert method in decision.reason
    assert str(decision).startswith(method)


def test_reasons_name_the_hazard() -> None:
    d = compat.choose_start_method(facts=LINUX.with_(threads=3, thread_names=("a", "b")))
    assert "2 other threads are running (a, b)" in d.reason
    d = compat.choose_start_method(facts=MAC.with_(fork_unsafe_modules=("objc", "AppKit")))
    assert "objc, AppKit" in d.reason and "bpo-33725" in d.reason
    d = compat.choose_start_method(facts=WIN)
    assert "Windows" in d.reason


def test_unknown_macos_thread_count_means_spawn_and_says_why() -> None:
    d = compat.choose_start_method(facts=MAC.with_(os_threads_unknown=True))
    assert d.method == "spawn"
    assert d.reason.startswith("fork may be unsafe: macOS did not report how many threads")
    assert "libproc" in d.reason and "spawn starts a fresh interpreter" in d.reason
    # A count the OS gave (1: only this thread) keeps the fast path.
    d = compat.choose_start_method(facts=MAC.with_(threads=1, os_threads_unknown=False))
    assert d.method == "fork"
    # A hazard that was seen still reads as one.
    d = compat.choose_start_method(facts=MAC.with_(os_threads_unknown=True, threads=2))
    assert d.method == "spawn" and d.reason.startswith("fork is unsafe: macOS did not report")
    assert "1 other thread is running" in d.reason


def test_facts_constructor_stays_backward_compatible() -> None:
    facts = PlatformFacts("darwin", (3, 13), ("fork", "spawn", "forkserver"), 1, (), (), False)
    assert facts.os_threads_unknown is False
    assert compat.choose_start_method(facts=facts).method == "fork"
    assert PlatformFacts.simulated("darwin", os_threads_unknown=True).os_threads_unknown


def test_current_facts_flag_an_unknown_os_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PlatformFacts.current().os_threads_unknown is (_platform._os_thread_count() is None)
    monkeypatch.setattr(_platform, "_os_thread_count", lambda: None)
    assert PlatformFacts.current().os_threads_unknown
    monkeypatch.setattr(_platform, "_os_thread_count", lambda: 12)
    facts = PlatformFacts.current()
    assert not facts.os_threads_unknown and facts.threads >= 12


def test_macos_thread_count_comes_from_libproc(monkeypatch: pytest.MonkeyPatch) -> None:
    # The macOS branch of the census, on any OS: libproc's answer (see
    # tests/test_liveness.py for the call and the struct it decodes).
    from compat._native import procinfo

    monkeypatch.setattr(_platform, "LINUX", False)
    monkeypatch.setattr(_platform, "MACOS", True)
    monkeypatch.setattr(procinfo, "macos_thread_count", lambda: 9)
    assert _platform._os_thread_count() == 9
    monkeypatch.setattr(procinfo, "macos_thread_count", lambda: None)
    assert _platform._os_thread_count() is None
    monkeypatch.setattr(_platform, "MACOS", False)  # Windows, the BSDs: not asked
    assert _platform._os_thread_count() is None


def test_request_wins_over_environment_and_policy() -> None:
    facts = LINUX.with_(env_method="spawn", threads=5)
    d = compat.choose_start_method("fork", facts=facts)
    assert (d.method, d.source) == ("fork", "requested")


@pytest.mark.parametrize("facts", [WIN, PlatformFacts.simulated("win32", (3, 13))])
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_unavailable_method_on_windows(facts: PlatformFacts, method: str) -> None:
    with pytest.raises(compat.StartMethodUnavailable) as info:
        compat.choose_start_method(method, facts=facts)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"{method!r} is not available on Windows" in message
    assert "'spawn'" in message


def test_unknown_method_lists_known_and_available() -> None:
    with pytest.raises(
        ValueError, match=r"unknown start method 'forx'.*'fork', 'forkserver', 'spawn'"
    ):
        compat.choose_start_method("forx", facts=LINUX)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(compat.StartMethodUnavailable, match="COMPAT_START_METHOD=fork"):
        compat.choose_start_method(facts=WIN.with_(env_method="fork"))


def test_non_string_method() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        compat.choose_start_method(3, facts=LINUX)  # type: ignore[arg-type]


def test_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_START_METHOD", "spawn")
    assert PlatformFacts.current().env_method == "spawn"
    assert compat.choose_start_method().method == "spawn"
    monkeypatch.setenv("COMPAT_START_METHOD", "  ")
    assert PlatformFacts.current().env_method is None


def test_fork_hazards_safe_and_unsafe() -> None:
    assert fork_hazards(LINUX) == []
    assert len(fork_hazards(MAC.with_(threads=2, fork_unsafe_modules=("objc",)))) == 2
    assert fork_hazards(MAC.with_(os_threads_unknown=True)) == [UNSEEN_THREADS]
    assert fork_hazards(LINUX.with_(os_threads_unknown=True)) == []


def test_simulated_start_methods() -> None:
    assert default_start_methods_for("win32") == ("spawn",)
    assert set(default_start_methods_for("darwin")) == {"fork", "spawn", "forkserver"}
    assert compat.available_start_methods(facts=WIN) == ("spawn",)


def test_current_facts_describe_this_interpreter() -> None:
    import multiprocessing
    import sys
    import threading

    facts = PlatformFacts.current()
    assert facts.platform == sys.platform
    assert facts.python == sys.version_info[:2]
    assert facts.start_methods == tuple(multiprocessing.get_all_start_methods())
    assert compat.available_start_methods() == facts.start_methods
    before = facts.threads
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="census-probe")
    t.start()
    try:
        during = PlatformFacts.current()
        assert during.threads >= before + 1
        assert "census-probe" in during.thread_names
        assert compat.choose_start_method(facts=during.with_(env_method=None)).method != "fork"
    finally:
        stop.set()
        t.join(5)


def test_os_names() -> None:
    assert (WIN.os_name, MAC.os_name, LINUX.os_name) == ("Windows", "macOS", "Linux")
    assert PlatformFacts.simulated("freebsd14").os_name == "freebsd14"
