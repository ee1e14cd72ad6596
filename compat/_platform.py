"""Platform facts, computed in one place.

Nothing else in ``compat`` reads ``sys.platform`` or ``os.name`` (``compat._native``
spells ``sys.platform`` only as type-checker guards; ``tests/test_architecture.py``
enforces both): code branches on the flags below, and policies take a
:class:`PlatformFacts` so that the Windows and macOS branches of every decision can
be exercised on any machine (``PlatformFacts.simulated("win32", (3, 12))``).

This module imports nothing from ``compat`` at import time and nothing heavy:
``import compat`` must stay cheap because every spawned child pays for it. (The
thread census on macOS calls :mod:`compat._native.procinfo`, which loads ctypes,
when the facts are first read.)
"""

from __future__ import annotations

import os
import sys
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

#: ``sys.platform`` and CPython ``(major, minor)`` of the running interpreter.
PLATFORM = sys.platform
PYTHON = (sys.version_info[0], sys.version_info[1])

WINDOWS = sys.platform == "win32"
MACOS = sys.platform == "darwin"
LINUX = sys.platform.startswith("linux")
POSIX = os.name == "posix"
HAS_FORK = hasattr(os, "fork")

#: The start methods compat knows, in the order it prefers them.
KNOWN_METHODS = ("fork", "forkserver", "spawn")

#: Environment variable that selects the start method when no code does.
START_METHOD_ENV = "COMPAT_START_METHOD"

#: Modules whose presence means a macOS system framework (Objective-C runtime,
#: CoreFoundation, Cocoa) has been initialised in this process. Running Python
#: code in a fork child after that can abort with "objc[...]: +[... initialize]
#: may have been in progress in another thread when fork() was called"
#: (CPython bpo-33725, the reason macOS defaults to spawn since 3.8).
#: ``_scproxy`` is loaded by ``urllib.request.getproxies()`` and is the classic
#: trigger; the rest load AppKit/Foundation directly.
MACOS_FORK_UNSAFE_MODULES = (
    "_scproxy",
    "objc",
    "Foundation",
    "AppKit",
    "CoreFoundation",
    "Quartz",
    "_tkinter",
    "PyQt5.QtCore",
    "PyQt6.QtCore",
    "PySide2.QtCore",
    "PySide6.QtCore",
    "wx",
    "matplotlib.backends._macosx",
)


# typing.NamedTuple costs an import of typing (~10 ms) in every spawned child: the type
# checker reads the fields from a NamedTuple, the interpreter builds the same fields
# with collections.namedtuple; PlatformFacts adds the methods to either.
# tests/test_import_cost.py checks that both lists of fields and defaults agree.
if TYPE_CHECKING:
    from typing import NamedTuple

    class _PlatformFactsFields(NamedTuple):
        platform: str
        """``sys.platform`` of the platform: ``"linux"``, ``"darwin"``, ``"win32"``..."""
        python: tuple[int, int]
        """CPython ``(major, minor)``."""
        start_methods: tuple[str, ...]
        """The start methods multiprocessing offers there."""
        threads: int = 1
        """Threads alive in the process, counted by the OS where it can be read (Linux
        ``/proc``, macOS libproc), else by :mod:`threading`. 1 means only the calling
        thread."""
        thread_names: tuple[str, ...] = ()
        """Names of the other Python-level threads, for readable reasons."""
        fork_unsafe_modules: tuple[str, ...] = ()
        """Loaded modules that make fork unsafe on this platform (macOS frameworks)."""
        frozen: bool = False
        """A frozen executable (PyInstaller, cx_Freeze): spawn and forkserver cannot
        re-run it on POSIX."""
        env_method: Optional[str] = None
        """The value of ``COMPAT_START_METHOD``, if set and not empty."""
        os_threads_unknown: bool = False
        """The OS did not say how many threads run (no ``/proc``, libproc failed, or an
        OS compat cannot ask): ``threads`` then counts only Python's threads, and
        native ones (BLAS, Accelerate, libdispatch) may be running unseen. On macOS the
        policy then does not choose fork."""
        rss: Optional[int] = None
        """The process's resident memory in bytes, or None where it is not known
        (Windows, which has no fork, and a failed read). Linux: ``/proc/self/statm``;
        macOS: libproc's ``pti_resident_size``; other POSIX: ``getrusage``'s
        ``ru_maxrss``, a peak. Forking costs more the more the parent holds (see
        :data:`compat._policy.FORK_RSS_LIMIT`). New fields go last, so positional
        construction still works."""
else:
    _PlatformFactsFields = namedtuple(
        "_PlatformFactsFields",
        [
            "platform",
            "python",
            "start_methods",
            "threads",
            "thread_names",
            "fork_unsafe_modules",
            "frozen",
            "env_method",
            "os_threads_unknown",
            "rss",
        ],
        defaults=(1, (), (), False, None, False, None),
    )


class PlatformFacts(_PlatformFactsFields):
    """What the start-method policy needs to know about a platform.

    ``PlatformFacts.current()`` reads the running interpreter;
    ``PlatformFacts.simulated(...)`` describes another platform so that tests and
    ``python -m compat`` can ask what compat would do there.
    """

    __slots__ = ()

    @property
    def windows(self) -> bool:
        return self.platform == "win32"

    @property
    def macos(self) -> bool:
        return self.platform == "darwin"

    @property
    def os_name(self) -> str:
        """A human name for the platform: Linux, macOS, Windows or the raw value."""
        if self.windows:
            return "Windows"
        if self.macos:
            return "macOS"
        if self.platform.startswith("linux"):
            return "Linux"
        return self.platform

    @classmethod
    def current(cls) -> PlatformFacts:
        """Facts about the running interpreter, read now (threads change over time)."""
        threads, names, os_unknown = _thread_census()
        modules = sys.modules
        unsafe: tuple[str, ...] = ()
        if MACOS:
            unsafe = tuple(m for m in MACOS_FORK_UNSAFE_MODULES if m in modules)
        env = os.environ.get(START_METHOD_ENV, "").strip() or None
        return cls(
            platform=PLATFORM,
            python=PYTHON,
            start_methods=_live_start_methods(),
            threads=threads,
            thread_names=names,
            fork_unsafe_modules=unsafe,
            frozen=bool(getattr(sys, "frozen", False)),
            env_method=env,
            os_threads_unknown=os_unknown,
            rss=resident_bytes(),
        )

    @classmethod
    def simulated(
        cls,
        platform: str,
        python: tuple[int, int] = (3, 12),
        *,
        threads: int = 1,
        thread_names: tuple[str, ...] = (),
        fork_unsafe_modules: tuple[str, ...] = (),
        frozen: bool = False,
        env_method: Optional[str] = None,
        start_methods: Optional[tuple[str, ...]] = None,
        os_threads_unknown: bool = False,
        rss: Optional[int] = None,
    ) -> PlatformFacts:
        """Facts for another platform, with the start methods CPython offers there."""
        if start_methods is None:
            start_methods = default_start_methods_for(platform, python)
        return cls(
            platform=platform,
            python=python,
            start_methods=start_methods,
            threads=threads,
            thread_names=thread_names,
            fork_unsafe_modules=fork_unsafe_modules,
            frozen=frozen,
            env_method=env_method,
            os_threads_unknown=os_threads_unknown,
            rss=rss,
        )

    def with_(self, **changes: Any) -> PlatformFacts:
        """A copy with some facts changed."""
        return self._replace(**changes)


PlatformFacts.__module__ = "compat"


def default_start_methods_for(platform: str, python: tuple[int, int] = (3, 12)) -> tuple[str, ...]:
    """The start methods CPython ``python`` offers on ``platform``, in its order
    (``multiprocessing.get_all_start_methods()``).

    Windows has spawn only (no ``os.fork``). POSIX platforms with file-descriptor
    passing (Linux, macOS, the BSDs) have all three. The order changed in 3.14,
    which lists the default first and the rest as its context table does: Linux
    and the BSDs ``forkserver, fork, spawn`` (forkserver became their default),
    macOS ``spawn, fork, forkserver``. Before: ``fork, spawn, forkserver``, macOS
    ``spawn, fork, forkserver`` (spawn is its default since 3.8).
    """
    if platform == "win32":
        return ("spawn",)
    if platform == "darwin":
        return ("spawn", "fork", "forkserver")
    if python >= (3, 14):
        return ("forkserver", "fork", "spawn")
    return ("fork", "spawn", "forkserver")


def _live_start_methods() -> tuple[str, ...]:
    # multiprocessing is imported only when a decision is needed: creating a
    # child needs it anyway, and `import compat` stays cheap.
    import multiprocessing

    return tuple(multiprocessing.get_all_start_methods())


def _thread_census() -> tuple[int, tuple[str, ...], bool]:
    """Count threads like CPython 3.12's fork warning does: ask the OS first.

    The OS count also sees threads that Python did not start (BLAS pools, gRPC,
    execnet's IO thread, Accelerate and libdispatch on macOS), which are just as
    dangerous to fork with. Returns the count, the names of the other Python
    threads, and whether the OS count was unknown (the count is then Python's).
    """
    names: tuple[str, ...] = ()
    py_count = 1
    threading = sys.modules.get("threading")
    if threading is not None:
        current = threading.current_thread()
        others = [t for t in threading.enumerate() if t is not current]
        names = tuple(t.name for t in others)
        py_count = 1 + len(others)
    os_count = _os_thread_count()
    return max(py_count, os_count or 0), names, os_count is None


def _os_thread_count() -> Optional[int]:
    """Threads in this process as the OS counts them, or None where it cannot tell.

    Linux: field 20 of ``/proc/self/stat``. macOS: ``pti_threadnum`` from libproc's
    ``proc_pidinfo(PROC_PIDTASKINFO)``. Windows and the BSDs: None.
    """
    if LINUX:
        return _linux_thread_count()
    if MACOS:
        # Imported here: it is the only OS that needs it, and the census runs
        # only when facts are read (not at `import compat`); procinfo loads ctypes.
        from ._native.procinfo import macos_thread_count

        return macos_thread_count()
    return None


def _linux_thread_count() -> Optional[int]:
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # Field 20 (num_threads); the command name in field 2 may contain spaces
        # and parentheses, so count from the last ")".
        fields = stat[stat.rindex(b")") + 2 :].split()
        return int(fields[17])
    except (OSError, ValueError, IndexError):
        return None


def resident_bytes() -> Optional[int]:
    """This process's resident memory in bytes, read cheaply, or None.

    Linux: field 2 of ``/proc/self/statm`` (pages), one small read. macOS:
    ``pti_resident_size`` from libproc (:mod:`compat._native.procinfo`); None if
    libproc fails. Other POSIX, and Linux without ``/proc``: ``ru_maxrss`` of
    ``getrusage``, the peak rather than the current size (the only cheap figure
    there). Windows: None, without reading anything (no fork, so no use for it).
    """
    if MACOS:
        from ._native.procinfo import macos_resident_size

        return macos_resident_size()
    return _posix_resident_bytes()


if sys.platform == "win32":  # also the type checker's guard: no resource, no sysconf

    def _posix_resident_bytes() -> Optional[int]:
        return None

else:

    def _posix_resident_bytes() -> Optional[int]:
        if LINUX:
            try:
                with open("/proc/self/statm", "rb") as f:
                    pages = int(f.read().split()[1])
                return pages * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                pass
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        except (ImportError, OSError, ValueError):
            return None
        # Kilobytes on Linux and the BSDs (macOS counts bytes, but is read above).
        return peak * 1024 if peak > 0 else None
