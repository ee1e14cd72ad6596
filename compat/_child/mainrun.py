"""Re-running the parent's ``__main__`` in a lean spawn child or a warm spare as
``__mp_main__``, as ``multiprocessing.spawn.prepare`` does (so that the target and
the classes of its arguments can be found by name), with two savings: a script runs
without importing runpy and pkgutil (:func:`run_path`), and its code can come
compiled from the parent (:func:`sent_code`; see
:func:`compat._child.leanspawn.main_code`) instead of being compiled at every start.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "compile_script",
    "fixup_main_from_name",
    "fixup_main_from_path",
    "pack_code",
    "run_path",
    "sent_code",
]


def compile_script(path: str) -> Any:
    """The code of the script at ``path``, compiled as runpy compiles it."""
    import io

    with io.open_code(os.path.abspath(path)) as f:
        # dont_inherit: not this module's ``from __future__ import annotations``.
        return compile(f.read(), path, "exec", dont_inherit=True)


def pack_code(code: Any) -> tuple[bytes, bytes]:
    """``code`` as the parent sends it: (importlib's magic number, marshal data)."""
    import _frozen_importlib_external as bootstrap
    import marshal

    return bytes(bootstrap.MAGIC_NUMBER), marshal.dumps(code)


def sent_code(sent: Optional[tuple[bytes, bytes]]) -> Any:
    """The ``__main__`` code the parent compiled (:func:`compat._child.leanspawn.main_code`),
    if this interpreter reads its marshal data (same magic number), else None."""
    import _frozen_importlib_external as bootstrap

    if sent is None or sent[0] != bootstrap.MAGIC_NUMBER:
        return None
    import marshal

    # From the parent, through the child's own pipe: trusted as the pickled call is.
    return marshal.loads(sent[1])  # noqa: S302


#: The replaced __main__ modules (kept alive, as multiprocessing.spawn does).
_old_main_modules: list[Any] = []


def fixup_main_from_name(mod_name: str) -> None:
    # As multiprocessing.spawn: a package's __main__ runs its "main only" code
    # unconditionally, so it is not re-run.
    current = sys.modules["__main__"]
    if mod_name == "__main__" or mod_name.endswith(".__main__"):
        return
    if getattr(current.__spec__, "name", None) == mod_name:
        return
    import runpy
    import types

    _old_main_modules.append(current)
    main_module = types.ModuleType("__mp_main__")
    main_module.__dict__.update(runpy.run_module(mod_name, run_name="__mp_main__", alter_sys=True))
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


def fixup_main_from_path(main_path: str, code: Any = None) -> None:
    current = sys.modules["__main__"]
    if os.path.splitext(os.path.basename(main_path))[0] == "ipython":
        return  # no guard in IPython's launch script (ipython/ipython#4698)
    if getattr(current, "__file__", None) == main_path:
        return
    import types

    _old_main_modules.append(current)
    main_module = types.ModuleType("__mp_main__")
    main_module.__dict__.update(run_path(main_path, "__mp_main__", code))
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main_module


def run_path(path: str, run_name: str, code: Any = None) -> dict[str, Any]:
    """``runpy.run_path(path, run_name=run_name)`` for a plain ``.py`` script, without
    importing runpy and pkgutil (on 3.11 pkgutil brings typing and re: about 10 ms of
    a fresh child's start). ``code``: the script compiled by the parent, when it sent
    it (:func:`compat._child.leanspawn.main_code`), else it is compiled here from the
    file, as runpy does. A directory, a zip file or a ``.pyc`` goes to runpy, and so
    does any script when an import hook could claim the path."""
    import types
    import zipimport

    hooks: list[Any] = list(sys.path_hooks)
    standard = (
        len(hooks) == 2
        and hooks[0] is zipimport.zipimporter
        and getattr(hooks[1], "__name__", "") == "path_hook_for_FileFinder"
        and sys.path_importer_cache.get(path) is None
    )
    if not (standard and path.endswith(".py") and os.path.isfile(path)):
        import runpy

        return runpy.run_path(path, run_name=run_name)
    if code is None:
        code = compile_script(path)
    # runpy's _TempModule and _ModifiedArgv0: the script runs as a module named
    # run_name, in sys.modules meanwhile, with sys.argv[0] its path; the caller gets a
    # copy of its globals.
    module = types.ModuleType(run_name)
    saved_module = sys.modules.get(run_name)
    saved_argv0 = sys.argv[0] if sys.argv else None
    sys.modules[run_name] = module
    if sys.argv:
        sys.argv[0] = path
    try:
        run_globals = module.__dict__
        run_globals.update(
            __name__=run_name,
            __file__=path,
            __doc__=None,
            __loader__=None,
            __package__="",
            __spec__=None,
        )
        if sys.version_info < (3, 15):  # 3.15's runpy no longer sets it
            run_globals["__cached__"] = None
        exec(code, run_globals)  # noqa: S102 - the script, as runpy runs it
        return run_globals.copy()
    finally:
        if saved_argv0 is not None:
            sys.argv[0] = saved_argv0
        if saved_module is None:
            del sys.modules[run_name]
        else:
            sys.modules[run_name] = saved_module
