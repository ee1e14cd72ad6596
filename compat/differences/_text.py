"""The doctor's readable report: what differs here and what compat does about it,
wrapped to the terminal's width, coloured only on a terminal (``NO_COLOR`` respected),
and ``explain``: one registry entry in full."""

from __future__ import annotations

import os
import textwrap
from typing import IO, Any, Optional

from ._model import AREAS, STATUSES

#: The generated reference, for readers of an installed package: the document is not in
#: the wheel (it is generated from the registry, which ``explain ID`` shows offline).
DOCS_URL = "https://github.com/compat-dev/compat/blob/main/docs/os-differences.md"

#: What each status means here, in the words the text report uses.
LABELS = {
    "supported": "not affected",
    "differs": "AFFECTED",
    "not-applicable": "not testable",
    "error": "PROBE ERROR",
    "timeout": "TIMEOUT",
}
#: Shown by default: the entries that bite here, and probes that failed.
ANSWERS = ("differs", "error", "timeout")
_COLOURS = {"supported": "32", "differs": "33", "error": "31", "timeout": "31"}
_HANDLING = {
    "handles": "handles it",
    "checks": "checks it",
    "chooses": "avoids it (start-method policy)",
    "documents": "documents it",
}


def plural(n: int, word: str, many: Optional[str] = None) -> str:
    """``"1 probe"``, ``"2 probes"``, ``"1 entry"`` with ``many="entries"``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def use_colour(stream: IO[str]) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def _paint(text: str, status: str, colour: bool) -> str:
    code = _COLOURS.get(status)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    text = " ".join(str(text).split())
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [first.rstrip()]


def header_lines(report: dict[str, Any], width: int) -> list[str]:
    p, sm, cpu = report["platform"], report["start_methods"], report["cpu"]
    default = sm["stdlib_default"] or "unknown"
    counts = ", ".join(f"{k} {v}" for k, v in cpu.items() if k != "usable" and v is not None)
    decision = sm["compat"]
    rows = [
        ("executable", str(p.get("executable", ""))),
        ("start methods", f"{', '.join(sm['available'])} (standard library default: {default})"),
        ("compat chooses", f"{decision['method']} ({decision['source']}): {decision['reason']}"),
        ("CPUs", f"{cpu['usable']} usable ({counts})"),
        ("probes use", f"{report['probe_method']}, unless an entry is about another method"),
    ]
    lines = _wrap(
        f"compat doctor {report['compat_version']}: {p['os']} {p['release']} "
        f"{p['machine']}, {p['implementation']} {p['python']}",
        width,
        "",
        "  ",
    )
    for name, value in rows:
        lines += _wrap(value, width, f"  {name:<15} ", " " * 18)
    return lines


def _entry(id: str) -> Any:
    from . import get

    try:
        return get(id)
    except KeyError:  # a report from another compat version
        return None


def format_report(
    report: dict[str, Any], width: int = 80, *, show_all: bool = False, colour: bool = False
) -> str:
    """The readable report. By default only the entries that differ here (and probes
    that failed), each with what compat does about it; ``show_all``: every entry. Lines
    are wrapped, never cut, at ``width`` (at least 60) characters."""
    width = max(60, width)
    results = report["results"]
    shown = [r for r in results if show_all or r["status"] in ANSWERS]
    lines = header_lines(report, width)
    lines += [""]
    affected = sum(r["status"] == "differs" for r in results)
    if show_all:
        lines.append(f"Every entry ({plural(len(results), 'entry', 'entries')}):")
    elif shown:
        lines += _wrap(
            f"What differs here: {plural(affected, 'entry', 'entries')} of {len(results)} "
            "affect this interpreter (--all lists every entry):",
            width,
            "",
            "",
        )
    else:
        lines.append(f"No entry of {len(results)} differs here (--all lists every entry).")
    for area, (title, _modules) in AREAS.items():
        rows = [r for r in shown if r["area"] == area]
        if not rows:
            continue
        lines += ["", f"{area}: {title}"]
        for r in rows:
            lines += _result_lines(r, width, show_all, colour)
    s = report["summary"]
    ran = sum(1 for r in results if r["ran"])
    counts = ", ".join(f"{s[k]} {LABELS[k].lower()}" for k in STATUSES if s[k])
    lines += [""]
    lines += _wrap(
        f"{plural(len(results), 'entry', 'entries')}: {counts}; "
        f"{plural(ran, 'probe')} ran in {report['seconds']:.1f} s",
        width,
        "",
        "",
    )
    lines += _wrap(
        "One entry in full: python -m compat explain ID; all of them: " + DOCS_URL,
        width,
        "",
        "  ",
    )
    return "\n".join(lines) + "\n"


def _result_lines(r: dict[str, Any], width: int, show_all: bool, colour: bool) -> list[str]:
    label = LABELS.get(r["status"], r["status"])
    head = _wrap(r["title"], width, f"  {r['id']:<9} {label:<13} ", " " * 26)
    head[0] = head[0].replace(label, _paint(label, r["status"], colour), 1)
    if show_all and r["status"] not in ANSWERS:
        return head
    lines = head + _wrap(r["detail"], width, " " * 12 + "here: ", " " * 18)
    entry = _entry(r["id"])
    if entry is not None:
        text = entry.compat
        for said in ("Documented; ", "Documented. "):  # "documents it" already says so
            if text.startswith(said):
                text = text[len(said) :]
                if not text.startswith("compat"):  # compat's names stay lower case
                    text = text[0].upper() + text[1:]
        what = f"{_HANDLING.get(entry.handling, entry.handling)}: {text}"
        lines += _wrap(what, width, " " * 12 + "compat ", " " * 19)
    return lines


def explain(id: str, width: int = 80) -> str:
    """One registry entry in full: where it bites, what happens, what compat does, the
    probe and the sources. ``KeyError`` for an unknown id."""
    from . import get
    from ._model import OS_NAMES

    e = get(id)
    width = max(60, width)
    lines = _wrap(f"{e.id}: {e.title}", width, "", "  ")
    rows = [
        ("area", f"{e.area}: {AREAS[e.area][0]}"),
        ("affects", f"{', '.join(OS_NAMES[o] for o in e.oses)}; CPython {e.python}"),
        ("kind", e.kind),
        ("what happens", e.behaviour),
        ("compat", f"{e.handling}: {e.compat}"),
        ("probe", e.probe_summary),
    ]
    for name, value in rows:
        lines += _wrap(value, width, f"  {name:<13} ", " " * 16)
    from ._markdown import _source

    lines.append("  sources")
    for source in e.sources:
        linked = _source(source)  # "[bpo-22393](https://...)" when it has an address
        if linked.startswith("[") and linked.endswith(")"):
            name, _, url = linked[1:-1].partition("](")
            source = f"{name} {url}"
        lines += _wrap(source, width, "    - ", " " * 6)
    lines += _wrap(f"Run its probe here: python -m compat doctor --only {e.id}", width, "", "")
    lines += _wrap(f"Online: {DOCS_URL}#{e.id.lower()}", width, "", "  ")
    return "\n".join(lines) + "\n"
