"""The differences between reports of two or more platforms."""

from __future__ import annotations

import json
from typing import Any

WIDTH = 110


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def label(report: dict[str, Any]) -> str:
    """A short name for a report's platform: ``"Linux, CPython 3.11.7, fork"``."""
    p = report["platform"]
    return f"{p['os']}, {p['implementation']} {p['python']}, {report['probe_method']}"


def _observed(r: dict[str, Any]) -> str:
    return json.dumps(r.get("observed"), sort_keys=True)


def diff_reports(
    a: dict[str, Any], b: dict[str, Any], *, show_all: bool = False
) -> tuple[str, int]:
    """Where report ``b`` differs from report ``a``: the text and the number of entries."""
    lines = [f"A = {label(a)}", f"B = {label(b)}", ""]
    for name, get in (
        ("start methods", lambda r: ", ".join(r["start_methods"]["available"])),
        ("stdlib default", lambda r: str(r["start_methods"]["stdlib_default"])),
        ("compat chooses", lambda r: r["start_methods"]["compat"]["method"]),
        ("usable CPUs", lambda r: str(r["cpu"]["usable"])),
    ):
        va, vb = get(a), get(b)
        mark = "  " if va == vb else "* "
        lines.append(f"{mark}{name:<15} A: {va:<28} B: {vb}")
    ra = {r["id"]: r for r in a["results"]}
    rb = {r["id"]: r for r in b["results"]}
    ids = list(ra) + [i for i in rb if i not in ra]
    changed = 0
    rows: list[str] = []
    for i in ids:
        x, y = ra.get(i), rb.get(i)
        sx = x["status"] if x else "(absent)"
        sy = y["status"] if y else "(absent)"
        same_status = sx == sy
        same_seen = x is not None and y is not None and _observed(x) == _observed(y)
        if same_status and same_seen and not show_all:
            continue
        if not (same_status and same_seen):
            changed += 1
        title = (x or y or {}).get("title", "")
        mark = " " if same_status else "*"
        rows.append(f"{mark} {i:<9} A: {sx:<14} B: {sy:<14} {_clip(title, 56)}")
        if x and y and not same_seen:
            rows.append(f"      A saw {_clip(_observed(x), WIDTH - 12)}")
            rows.append(f"      B saw {_clip(_observed(y), WIDTH - 12)}")
    lines += ["", *rows] if rows else ["", "No entry differs."]
    lines += ["", f"{changed} of {len(ids)} entries differ (* = a different status)."]
    return "\n".join(lines) + "\n", changed


def diff_markdown(
    reports: list[tuple[str, dict[str, Any]]], *, show_all: bool = False
) -> tuple[str, int]:
    """A Markdown table of statuses, one column per report, for CI summaries, and the
    number of entries that differ. A ``*`` marks a status whose observed value differs
    from the first report's."""
    results = [{r["id"]: r for r in rep["results"]} for _n, rep in reports]
    ids: list[str] = []
    for res in results:
        ids += [i for i in res if i not in ids]
    lines = [
        "| ID | Difference | " + " | ".join(label(rep) for _n, rep in reports) + " |",
        "|---|---|" + "---|" * len(reports),
    ]
    shown = changed = 0
    for i in ids:
        row = [res.get(i) for res in results]
        statuses = [r["status"] if r else "(absent)" for r in row]
        seen = [_observed(r) if r else None for r in row]
        same = len(set(statuses)) == 1 and len(set(seen)) == 1
        changed += not same
        if same and not show_all:
            continue
        shown += 1
        cells = [s + (" *" if o != seen[0] else "") for s, o in zip(statuses, seen)]
        title = next(r for r in row if r)["title"].replace("|", "\\|")
        lines.append(f"| {i} | {title} | " + " | ".join(cells) + " |")
    files = ", ".join(name for name, _rep in reports)
    if not shown:
        lines = ["No entry differs."]
    lines += ["", f"{shown} of {len(ids)} entries shown, {changed} differ (from {files})."]
    return "\n".join(lines) + "\n", changed
