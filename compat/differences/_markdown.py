"""Render the registry as ``docs/os-differences.md``.

The output depends only on the registry and the start-method policy (asked with
simulated platforms), never on the machine that renders it, so every OS and CPython
produces the same file and CI can fail when the committed copy is stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._model import (
    AREAS,
    OS_NAMES,
    OSES,
    Difference,
)

HEADER = """\
<!-- Generated from compat/differences by
     `python -m compat differences --markdown --output docs/os-differences.md`.
     Do not edit by hand: tests/test_differences.py fails when this file is stale. -->

# How Linux, macOS and Windows differ for processes, IPC and subprocesses

This is the registry of documented differences in `compat.differences`: what happens on
each OS and CPython version, what `compat` does about it, where it is documented, and how
it is observed. Every entry with a probe is checked live by

    python -m compat doctor              # this interpreter, readable
    python -m compat doctor --json -     # machine-readable (schema: python -m compat schema)
    python -m compat diff a.json b.json  # where two platforms' reports differ

The doctor answers, per entry, "is this interpreter affected?":
**supported** (not affected here), **differs** (affected here), **not-applicable**
(cannot be observed here), **error** (the probe failed), **timeout**.

What compat does is one of: **handles** (behaves the same on every OS), **checks** (raises
a clear error before it bites), **chooses** (the start-method policy avoids it),
**documents** (compat cannot change it; documented here and probed by the doctor).
Texts about `compat.Pool`, `compat.Queue` and `compat.run` state their contract
(`DESIGN.md`). Where an entry states which start method compat picks, the answer is
computed from `compat.choose_start_method()` with simulated platform facts, so it cannot
disagree with the policy.
"""

_LINKS = (
    (re.compile(r"^gh-(\d+)$"), "https://github.com/python/cpython/issues/{0}"),
    (re.compile(r"^bpo-(\d+)$"), "https://bugs.python.org/issue{0}"),
    (re.compile(r"^report: ([\w.-]+/[\w.-]+)#(\d+)$"), "https://github.com/{0}/issues/{1}"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _source(source: str) -> str:
    for pattern, url in _LINKS:
        m = pattern.match(source)
        if m:
            return f"[{source}]({url.format(*m.groups())})"
    if source.startswith("source: Lib/"):
        path = source[len("source: ") :]
        return f"[{path}](https://github.com/python/cpython/blob/main/{path})"
    return source


def _anchor(entry: Difference) -> str:
    return entry.id.lower()


def _oses(entry: Difference) -> str:
    return ", ".join(OS_NAMES[o] for o in OSES if o in entry.oses)


def summary_table(entries: Iterable[Difference]) -> list[str]:
    lines = [
        "| ID | Difference | Linux | macOS | Windows | compat |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        cells = " | ".join(_cell(e.cell(o)) for o in OSES)
        lines.append(f"| [{e.id}](#{_anchor(e)}) | {_cell(e.title)} | {cells} | {e.handling} |")
    return lines


def entry_section(e: Difference) -> list[str]:
    lines = [
        f'<a id="{_anchor(e)}"></a>',
        f"### {e.id}: {e.title}",
        "",
        f"- **Affects:** {_oses(e)}; CPython {e.python}; kind: {e.kind}",
        f"- **What happens:** {e.behaviour}",
        f"- **compat ({e.handling}):** {e.compat}",
    ]
    if e.policy_cases:
        lines.append("- **compat's start method** (`choose_start_method`, simulated facts):")
        lines.append("")
        lines.append("  | Platform | CPython | Situation | compat picks | Reason |")
        lines.append("  |---|---|---|---|---|")
        for case in e.policy_cases:
            d = case.decide()
            version = f"{case.python[0]}.{case.python[1]}"
            lines.append(
                f"  | {OS_NAMES.get(case.platform, case.platform)} | {version} | "
                f"{_cell(case.label)} | {d.method} | {_cell(d.reason)} |"
            )
        lines.append("")
    lines.append(f"- **Sources:** {'; '.join(_source(s) for s in e.sources)}")
    if e.probe is not None:
        lines.append(f"- **Probe:** {e.probe_summary}")
        if e.probe_method:
            lines[-1] += f" (runs with the {e.probe_method} start method)"
    else:
        lines.append(f"- **No probe:** {e.no_probe_reason}")
    lines.append("")
    return lines


def render_markdown(entries: Iterable[Difference]) -> str:
    """The whole document, ending with a newline."""
    entries = tuple(entries)
    counts = ", ".join(f"{area} {sum(e.area == area for e in entries)}" for area in AREAS)
    probes = sum(e.probe is not None for e in entries)
    lines = [
        HEADER,
        f"{len(entries)} differences ({counts}); {probes} have a probe.",
        "",
        "## Summary",
        "",
        *summary_table(entries),
        "",
    ]
    for area, (title, _modules) in AREAS.items():
        members = [e for e in entries if e.area == area]
        if not members:
            continue
        lines += [f"## {area}: {title}", ""]
        for e in members:
            lines += entry_section(e)
    return "\n".join(lines).rstrip("\n") + "\n"
