"""compat's pytest plugin: run tests under every start method, with what Linux can
emulate of Windows, and fail tests that leave processes, threads or descriptors behind.

Installed with compat (the ``pytest11`` entry point ``compat``); pytest loads it, and
``import compat`` never does. ``-p no:compat`` switches it off.

- ``--start-methods=all|fork,spawn,...``: a test that takes the ``start_method``
  fixture, or carries ``@pytest.mark.start_methods("spawn", "forkserver")``, runs once
  per method (``test_x[spawn]``); a method this OS lacks is a visible skip naming the
  OS and what it offers. During the test the method is the default of compat
  (``compat.get_context()``, ``compat.Pool()``...), of the standard library
  (``multiprocessing.get_context()``, ``Process``, ``Pool``,
  ``concurrent.futures.ProcessPoolExecutor()``) and ``COMPAT_START_METHOD`` for the
  programs it starts; all three are put back afterwards. Without the option such a
  test runs once, under compat's policy choice for this platform (or the mark's
  methods). A conftest fixture named ``start_method`` overrides the plugin's (and the
  plugin then leaves those tests alone, unless they carry the mark).
- ``--windows-semantics``: see ``WINDOWS_HELP`` below and
  :mod:`compat._testkit.windows`.
- The leak guard (on unless ``--no-process-leak-check``, or per test
  ``@pytest.mark.no_process_leak_check``): see :mod:`compat._testkit.leaks`.
"""

from __future__ import annotations

import pytest

from ._testkit.leaks import Snapshot, capabilities, describe, find_leaks, reap, snapshot
from ._testkit.methods import default_method, method_params, parse_methods, running_under
from ._testkit.windows import emulating_windows

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Optional

__all__ = ["WINDOWS_HELP"]

WINDOWS_HELP = (
    "Emulate what Linux/macOS can of Windows during each test: spawn is the only start "
    "method (fork and forkserver contexts raise, os.fork does not exist), so compat's "
    "main-guard and picklability pre-flight checks refuse instead of warning; POSIX-only "
    "calls by the code under test (os.kill with SIGKILL and other signals Windows lacks, "
    "os.killpg, os.setsid, signal.alarm, subprocess preexec_fn/start_new_session/pass_fds, "
    "import fcntl...) raise compat.PortabilityWarning as an error. NOT emulated: file "
    "locking and sharing (open files cannot be deleted or renamed on Windows), path rules "
    "(case-insensitivity, reserved names, separators, length), console signals "
    "(CTRL_C_EVENT, CTRL_BREAK_EVENT), handle inheritance, the real DLLs and registry, "
    "TerminateProcess exit codes (a killed child still shows -9/-15 here), select() on "
    "pipes, shared-memory lifetime, and programs run in a subprocess (they only get "
    "COMPAT_START_METHOD=spawn)."
)

_STATE = pytest.StashKey["_State"]()
_BEFORE = pytest.StashKey[Snapshot]()
_EMULATION = pytest.StashKey["Any"]()  # the running emulating_windows() context


class _State:
    def __init__(
        self,
        config: pytest.Config,
        selected: Optional[tuple[str, ...]],
        windows: bool,
        leaks: bool,
    ) -> None:
        self.config = config
        self.selected = selected
        self.windows = windows
        self.leak_check = leaks
        self.allowed = Snapshot(frozenset(), frozenset(), frozenset())
        self._default: Optional[str] = None

    @property
    def fds(self) -> bool:
        """Whether the guard checks descriptors (read late: a conftest's
        pytest_configure may set ``config.option.no_fd_leak_check``)."""
        return not self.config.getoption("no_fd_leak_check")

    def default(self) -> str:
        if self._default is None:
            self._default = default_method(self.windows)
        return self._default

    def allow(self, before: Snapshot, after: Snapshot) -> None:
        """What appeared between ``before`` and ``after`` belongs to a fixture broader
        than a test (module, session...): not a leak of the test that set it up."""
        self.allowed = Snapshot(
            self.allowed.processes | (after.processes - before.processes),
            self.allowed.threads | (after.threads - before.threads),
            (self.allowed.fds or frozenset())
            | ((after.fds or frozenset()) - (before.fds or frozenset())),
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compat", "compat: start methods, Windows semantics, leak guard")
    group.addoption(
        "--start-methods",
        default=None,
        metavar="all|fork,spawn,...",
        help="Run every test that takes the start_method fixture (or carries "
        "@pytest.mark.start_methods) once per start method: 'all' or a comma-separated "
        "list; methods this OS lacks are reported as skips. Default: compat's policy "
        "choice for this platform, once.",
    )
    group.addoption("--windows-semantics", action="store_true", help=WINDOWS_HELP)
    group.addoption(
        "--no-fd-leak-check",
        action="store_true",
        help="Keep the leak guard but do not check file descriptors.",
    )
    group.addoption(
        "--no-process-leak-check",
        action="store_true",
        help="Do not fail tests that leave child processes, compat threads or open file "
        "descriptors behind (checked after a 2 s grace; leftover processes are killed).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "start_methods(*methods): run this test once per listed start method (within "
        "--start-methods when given), with that method as the default",
    )
    config.addinivalue_line(
        "markers", "no_process_leak_check: do not check what this test leaves behind"
    )
    value = config.getoption("start_methods")
    try:
        selected = parse_methods(value) if value else None
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_STATE] = _State(
        config,
        selected,
        bool(config.getoption("windows_semantics")),
        not config.getoption("no_process_leak_check"),
    )
    # Import now what the emulation and the guard use, so that no test imports them
    # while os.fork is hidden.
    import multiprocessing.context  # noqa: F401

    from . import _context, _policy  # noqa: F401


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[_STATE]
    if state.selected is not None:
        methods = ", ".join(state.selected)
    else:
        methods = f"{state.default()} (the default; --start-methods=all for every method)"
    guard = f"on: {capabilities(fds=state.fds)}" if state.leak_check else "off"
    return [
        f"compat: start methods: {methods}; windows semantics: "
        f"{'on (emulated)' if state.windows else 'off'}; leak guard: {guard}"
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash[_STATE]
    mark = metafunc.definition.get_closest_marker("start_methods")
    marked: Optional[tuple[str, ...]] = None
    if mark is not None:
        try:
            marked = parse_methods(",".join(mark.args)) if mark.args else None
        except ValueError as exc:
            raise ValueError(f"@pytest.mark.start_methods: {exc}") from None
        if marked is None:
            raise ValueError("@pytest.mark.start_methods needs at least one start method")
    if marked is None and not _plugin_start_method_in_use(metafunc):
        return
    params = [
        pytest.param(
            p.method, id=p.method, marks=[pytest.mark.skip(reason=p.skip)] if p.skip else []
        )
        for p in method_params(
            state.selected, marked, windows=state.windows, default=state.default()
        )
    ]
    metafunc.parametrize("_compat_start_method", params, indirect=True)


def _plugin_start_method_in_use(metafunc: pytest.Metafunc) -> bool:
    """Whether the test's ``start_method`` is the plugin's, directly or through
    overrides that request it (``def start_method(start_method)`` in a conftest).
    pytest 9 puts the plugin fixture's own request in the test's closure; pytest 8
    (the last on CPython 3.9) does not follow an override to the fixture it builds
    on, so the chain of definitions is walked here too."""
    if "_compat_start_method_requested" in metafunc.fixturenames:
        return True
    defs = getattr(metafunc, "_arg2fixturedefs", {}).get("start_method") or ()
    for fixturedef in reversed(defs):
        if getattr(fixturedef.func, "__module__", None) == __name__:
            return True
        if "start_method" not in fixturedef.argnames:
            return False  # an override that does not build on the one before it
    return False


@pytest.fixture(autouse=True)
def _compat_start_method(request: pytest.FixtureRequest) -> Generator[Optional[str], None, None]:
    """The start method the plugin runs this test under (None: not parametrised)."""
    method: Optional[str] = getattr(request, "param", None)
    if method is None:
        yield None
        return
    with running_under(method, f"compat's pytest plugin runs this test under {method}"):
        yield method


@pytest.fixture
def _compat_start_method_requested() -> None:
    """In a test's fixtures exactly when its ``start_method`` is the plugin's."""


@pytest.fixture
def start_method(_compat_start_method: Optional[str], _compat_start_method_requested: None) -> str:
    """The start method this test runs under: one of ``--start-methods``, or compat's
    policy choice for this platform. It is also the default of compat and of
    multiprocessing while the test runs."""
    assert _compat_start_method is not None, "start_method without the plugin's parametrisation"
    return _compat_start_method


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    state = request.config.stash[_STATE]
    if not state.leak_check or fixturedef.scope == "function":
        return (yield)
    before = snapshot(fds=state.fds)
    try:
        return (yield)
    finally:
        state.allow(before, snapshot(fds=state.fds))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    state = item.config.stash[_STATE]
    if state.leak_check and item.get_closest_marker("no_process_leak_check") is None:
        item.stash[_BEFORE] = snapshot(fds=state.fds)
    if state.windows:
        emulation = emulating_windows()
        emulation.__enter__()
        item.stash[_EMULATION] = emulation
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        emulation = item.stash.get(_EMULATION, None)
        if emulation is not None:
            del item.stash[_EMULATION]
            emulation.__exit__(None, None, None)
        before = item.stash.get(_BEFORE, None)
        if before is not None:
            del item.stash[_BEFORE]
            state = item.config.stash[_STATE]
            found = find_leaks(before, state.allowed, fds=state.fds)
            if found:
                reap(found.processes)
                pytest.fail(f"{item.nodeid} left behind:\n{describe(found)}", pytrace=False)
