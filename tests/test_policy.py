"""The start-method policy, over simulated platforms: every OS branch runs here."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

import compat
from compat import _platform
from compat._platform import PlatformFacts, default_start_methods_for
from compat._policy import FORK_RSS_LIMIT, UNSEEN_THREADS, fork_hazards

WIN = PlatformFacts.simulated("win32", (3, 12))
MAC = PlatformFacts.simulated("darwin", (3, 13))
LINUX = PlatformFacts.simulated("linux", (3, 11))
LINUX_314 = PlatformFacts.simulated("linux", (3, 14))
GIB = 1 << 30


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
        # a large parent: fork would copy its page tables, forkserver costs the same
        (LINUX.with_(rss=GIB), "forkserver", "policy"),
        (LINUX_314.with_(rss=FORK_RSS_LIMIT), "forkserver", "policy"),
        (PlatformFacts.simulated("freebsd14", rss=8 * GIB), "forkserver", "policy"),
        (LINUX.with_(rss=FORK_RSS_LIMIT - 1), "fork", "policy"),
        (LINUX.with_(rss=None), "fork", "policy"),
        (LINUX.with_(rss=GIB, threads=2), "forkserver", "policy"),
        #   ... but not where the policy does not use forkserver, nor against a request
        (MAC.with_(rss=8 * GIB), "fork", "policy"),
        (LINUX.with_(rss=GIB, start_methods=("fork", "spawn")), "fork", "policy"),
        (LINUX.with_(rss=GIB, frozen=True), "fork", "policy"),
        (LINUX.with_(rss=GIB, env_method="fork"), "fork", "environment"),
        (WIN.with_(rss=8 * GIB), "spawn", "policy"),
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


def test_a_large_parent_gets_forkserver_and_the_reason_says_why() -> None:
    d = compat.choose_start_method(facts=LINUX.with_(rss=3 * GIB // 2))
    assert d.method == "forkserver" and d.source == "policy"
    assert d.reason.startswith("fork is safe here on Linux, but this process holds 1536 MiB")
    assert f"from {FORK_RSS_LIMIT >> 20} MiB on" in d.reason and "page tables" in d.reason
    assert compat.choose_start_method("fork", facts=LINUX.with_(rss=GIB)).method == "fork"
    # A hazard is still the reason when there is one.
    d = compat.choose_start_method(facts=LINUX.with_(rss=GIB, threads=2))
    assert "1 other thread is running" in d.reason and "MiB" not in d.reason


def test_current_facts_carry_the_resident_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    rss = PlatformFacts.current().rss
    if _platform.LINUX:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        assert rss is not None and rss > 0
        # Read now: within a few MiB of what /proc said a moment ago.
        assert abs(rss - pages * os.sysconf("SC_PAGE_SIZE")) < 64 << 20
    monkeypatch.setattr(_platform, "resident_bytes", lambda: 5 * GIB)
    assert PlatformFacts.current().rss == 5 * GIB
    monkeypatch.setattr(_platform, "resident_bytes", lambda: None)
    assert PlatformFacts.current().rss is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX reads: Windows reads nothing")
def test_resident_bytes_per_os(monkeypatch: pytest.MonkeyPatch) -> None:
    from compat._native import procinfo

    # macOS: libproc's answer, or None (never the rusage peak) when it fails.
    monkeypatch.setattr(_platform, "LINUX", False)
    monkeypatch.setattr(_platform, "MACOS", True)
    monkeypatch.setattr(procinfo, "macos_resident_size", lambda: 7 * GIB)
    assert _platform.resident_bytes() == 7 * GIB
    monkeypatch.setattr(procinfo, "macos_resident_size", lambda: None)
    assert _platform.resident_bytes() is None
    # Other POSIX: getrusage's peak, in KiB there.
    import resource

    monkeypatch.setattr(_platform, "MACOS", False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = _platform.resident_bytes()
    assert got is not None and got >= peak * 1024


def test_macos_resident_size_comes_from_taskinfo() -> None:
    import ctypes

    from compat._native import procinfo

    fields = [1000 + i for i in range(6)] + [-i for i in range(1, 13)]
    fields[1] = 3 * GIB  # pti_resident_size, second of the uint64 fields
    packed = procinfo.TASKINFO.pack(*fields)
    assert procinfo.decode_resident_size(packed) == 3 * GIB
    with pytest.raises(ValueError):
        procinfo.decode_resident_size(packed[:90])

    class Lib:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def proc_pidinfo(self, pid: int, flavor: int, arg: int, buf: Any, size: int) -> int:
            assert (pid, flavor, arg, size) == (os.getpid(), procinfo.PROC_PIDTASKINFO, 0, 96)
            if not self.data:
                ctypes.set_errno(3)
                return 0
            ctypes.memmove(buf, self.data, len(self.data))
            return len(self.data)

    assert procinfo.macos_resident_size(Lib(packed)) == 3 * GIB
    assert procinfo.macos_resident_size(Lib(b"")) is None
    assert procinfo.macos_resident_size(object()) is None


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
    assert facts.os_threads_unknown is False and facts.rss is None
    assert compat.choose_start_method(facts=facts).method == "fork"
    assert PlatformFacts.simulated("darwin", os_threads_unknown=True).os_threads_unknown
    # Every field before rss, positionally, as before it existed.
    methods = ("fork", "spawn", "forkserver")
    facts = PlatformFacts("linux", (3, 12), methods, 1, (), (), False, None, False)
    assert facts.rss is None and compat.choose_start_method(facts=facts).method == "fork"
    assert PlatformFacts.simulated("linux", rss=GIB).rss == GIB


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
    assert default_start_methods_for("win32", (3, 14)) == ("spawn",)
    # multiprocessing.get_all_start_methods()'s order: 3.14 lists the default first.
    assert default_start_methods_for("darwin") == ("spawn", "fork", "forkserver")
    assert default_start_methods_for("darwin", (3, 15)) == ("spawn", "fork", "forkserver")
    assert default_start_methods_for("linux", (3, 13)) == ("fork", "spawn", "forkserver")
    assert default_start_methods_for("linux", (3, 14)) == ("forkserver", "fork", "spawn")
    assert PlatformFacts.simulated("linux", (3, 15)).start_methods[0] == "forkserver"
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


def test_fork_instead_only_for_a_policy_forkserver_where_fork_is_safe() -> None:
    from compat._policy import Decision, fork_instead

    big = Decision("forkserver", "fork is safe here on Linux, but this process holds", "policy")
    d = fork_instead(big, "cannot start a child running f with forkserver: x", LINUX)
    assert d is not None and d.method == "fork" and d.source == "policy"
    assert d.reason.startswith(big.reason + "; but cannot start a child running f")
    assert "fork is safe here, so this child forks" in d.reason
    # Asked for by the program or the environment: the error stands.
    assert fork_instead(big._replace(source="requested"), "x", LINUX) is None
    assert fork_instead(big._replace(source="environment"), "x", LINUX) is None
    # Only a forkserver choice: spawn (macOS, a hazard) is no size decision.
    assert fork_instead(big._replace(method="spawn"), "x", LINUX) is None
    # Fork unsafe now (a thread started since), or missing: no fallback.
    assert fork_instead(big, "x", LINUX.with_(threads=2)) is None
    assert fork_instead(big, "x", WIN) is None
