"""Print the time-to-error table of a fault-test run.

    COMPAT_FAULTS_TIMINGS=/tmp/faults.jsonl python -m pytest tests/faults
    python -m tests.faults.timings /tmp/faults.jsonl [--markdown]

One row per case, one column per start method: the seconds from the fault to its
outcome and the outcome (the exception type, or what happened). A case recorded more
than once (several runs into one file) shows its last measurement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METHODS = ("fork", "spawn", "forkserver")


def load(paths: list[Path]) -> dict[str, dict[str, tuple[float, str]]]:
    cases: dict[str, dict[str, tuple[float, str]]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                by_method = cases.setdefault(entry["case"], {})
                by_method[entry["method"]] = (float(entry["seconds"]), str(entry["error"]))
    return cases


def render(cases: dict[str, dict[str, tuple[float, str]]], markdown: bool) -> str:
    header = ["case", *METHODS]
    rows = []
    for case in sorted(cases):
        cells = [case]
        for method in METHODS:
            found = cases[case].get(method)
            cells.append("-" if found is None else f"{found[0]:.3f} s {found[1]}")
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(render(load(args.files), args.markdown))


if __name__ == "__main__":
    main()
