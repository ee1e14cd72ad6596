"""compat._stdlib: every private standard-library name compat relies on exists on this
CPython (the tox matrix runs this file on every supported version), and a missing one
fails loudly at import of the feature that needs it."""

from __future__ import annotations

import multiprocessing
import os
import sys
import types

import pytest

from compat import _stdlib
from compat._stdlib import PRIVATE_NAMES, PrivateName, StdlibChanged


@pytest.mark.parametrize("alias", sorted(PRIVATE_NAMES))
def test_private_name_exists_on_this_cpython(alias: str) -> None:
    _stdlib.check(alias)


@pytest.mark.parametrize(
    "alias", sorted(a for a, e in PRIVATE_NAMES.items() if e.kind == "attr" and a.isidentifier())
)
def test_attr_names_import_from_the_module(alias: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from compat._stdlib import {alias}", namespace)  # what feature modules do
    assert namespace[alias] is _stdlib.resolve(alias)


def test_missing_name_raises_stdlib_changed_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("compat_test_fake_stdlib")
    fake.Thing = type("Thing", (), {"__init__": lambda self: None})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    entry = PrivateName(fake.__name__, "Thing._gone", "a test feature")
    monkeypatch.setitem(PRIVATE_NAMES, "Gone", entry)
    with pytest.raises(StdlibChanged, match=r"Thing\._gone \(a test feature\)"):
        exec("from compat._stdlib import Gone", {})  # what a feature module's import does
    assert issubclass(StdlibChanged, ImportError)


@pytest.mark.parametrize(
    ("module", "path", "kind"),
    [("subprocess", "Popen.__init__ _no_such_attribute", "code"), ("os", "no such text", "source")],
)
def test_check_fails_for_missing_code_and_source_names(
    monkeypatch: pytest.MonkeyPatch, module: str, path: str, kind: str
) -> None:
    monkeypatch.setitem(PRIVATE_NAMES, "Gone", PrivateName(module, path, "x", kind))
    with pytest.raises(StdlibChanged, match="compat needs"):
        _stdlib.check("Gone")


def test_unknown_alias_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _stdlib.NotAPrivateName  # noqa: B018


def test_connection_frame_layout_matches_send_bytes() -> None:
    # The pool parses and writes Connection frames itself; check the layout against
    # what Connection.send_bytes really writes on this CPython.
    reader, writer = multiprocessing.Pipe(duplex=False)
    try:
        for payload in (b"", b"x", b"y" * 50_000):  # fits the pipe: no reader thread
            writer.send_bytes(payload)
            raw = b""
            while len(raw) < _stdlib.CONNECTION_HEADER.size + len(payload):
                raw += os.read(reader.fileno(), 1 << 20)
            (n,) = _stdlib.CONNECTION_HEADER.unpack_from(raw)
            assert n == len(payload)
            assert raw[_stdlib.CONNECTION_HEADER.size :] == payload
    finally:
        reader.close()
        writer.close()
    assert _stdlib.CONNECTION_LONG_MARKER == -1 and _stdlib.CONNECTION_LONG_HEADER.size == 8


def test_process_call_round_trip() -> None:
    p = multiprocessing.get_context("spawn").Process(target=print, args=(1,), kwargs={"end": ""})
    assert _stdlib.process_call(p) == (print, (1,), {"end": ""})
    assert _stdlib.holds_process_call(p)
    _stdlib.set_process_call(p, len, ("ab",), {})
    assert _stdlib.process_call(p) == (len, ("ab",), {})


def test_semlock_of() -> None:
    lock = multiprocessing.get_context("spawn").Lock()
    assert _stdlib.semlock_of(lock) is not None
    assert _stdlib.semlock_of(object()) is None


def test_inherited_types_are_classes() -> None:
    import multiprocessing.connection  # noqa: F401  (loaded: its classes are listed)

    found = _stdlib.inherited_types()
    assert found and all(isinstance(t, type) for t in found)
    assert _stdlib.resolve("ConnectionBase") in found


def test_importing_stdlib_imports_no_multiprocessing() -> None:
    from tests.helpers import run_python

    code = (
        "import sys; import compat._stdlib; "
        "print(sorted(m for m in sys.modules if m.startswith(('multiprocessing', 'subprocess', "
        "'concurrent'))))"
    )
    out = run_python("-S", "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
