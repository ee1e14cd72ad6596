"""The command line: ``python -m compat doctor | diff | differences | schema | validate |
check``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, Optional

USAGE_EXAMPLES = """\
examples:
  python -m compat doctor                      what differs on this interpreter
  python -m compat doctor --all --only POOL    every POOL entry, affected or not
  python -m compat explain POOL-04             one entry in full
  python -m compat doctor --json report.json   also write the machine-readable report
  python -m compat diff linux.json windows.json
  python -m compat differences --markdown --output docs/os-differences.md
  python -m compat check src/ scripts/run.py   find code that breaks on another OS
"""


class UsageError(Exception):
    """A usage or input error: one line on stderr, exit status 2, no traceback."""


def _plural(n: int, word: str, plural: Optional[str] = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _load(path: str) -> dict[str, Any]:
    from .differences._schema import validate

    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    errors = validate(report)
    if errors:
        raise UsageError(
            f"{path} is not a doctor report ({_plural(len(errors), 'problem')}, first: "
            f"{errors[0]}); make one with `python -m compat doctor --json {path}`"
        )
    return dict(report)


def _check_output(output: Optional[str]) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    if output is None or output == "-":
        return
    import os

    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise UsageError(f"cannot write {output}: it is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {output}: no such directory {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {output}: {folder} is not writable")


def _write(text: str, output: Optional[str]) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def cmd_doctor(args: argparse.Namespace) -> int:
    from .differences._doctor import run_doctor
    from .differences._schema import validate
    from .differences._text import format_report, use_colour

    _check_output(args.json)
    report = run_doctor(method=args.method, jobs=args.jobs, only=args.only, progress=sys.stderr)
    errors = validate(report)
    if errors:  # a bug in compat, not in the user's setup
        sys.stderr.write("compat: the report breaks its own schema:\n  " + "\n  ".join(errors))
        return 2
    out = sys.stderr if args.json == "-" else sys.stdout
    text = format_report(report, _width(), show_all=args.all, colour=use_colour(out))
    if args.json == "-":
        sys.stderr.write(text)
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(text)
        if args.json:
            _write(json.dumps(report, indent=2) + "\n", args.json)
            sys.stdout.write(f"report written to {args.json}\n")
    broken = report["summary"]["error"] + report["summary"]["timeout"]
    if args.strict and broken:
        return 1
    return 1 if args.exit_code and report["summary"]["differs"] else 0


def _width() -> int:
    """The terminal's width (``COLUMNS`` wins), 80 when there is none, at most 120."""
    import shutil

    return min(120, shutil.get_terminal_size((80, 24)).columns)


def cmd_explain(args: argparse.Namespace) -> int:
    from .differences._text import explain

    for i, id in enumerate(args.ids):
        sys.stdout.write(("\n" if i else "") + explain(id, _width()))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .differences._report import diff_markdown, diff_reports

    if len(args.reports) < 2:
        raise UsageError("diff needs at least two reports (doctor --json FILE writes one)")
    if len(args.reports) > 2 and not args.markdown:
        raise UsageError("diff compares two reports (use --markdown for more)")
    _check_output(args.output)
    reports = [(path, _load(path)) for path in args.reports]
    if args.markdown:
        text, changed = diff_markdown(reports, show_all=args.all)
    else:
        text, changed = diff_reports(reports[0][1], reports[1][1], show_all=args.all)
    _write(text, args.output)
    return 1 if args.exit_code and changed else 0


def cmd_differences(args: argparse.Namespace) -> int:
    from .differences import all_differences
    from .differences._markdown import render_markdown

    _check_output(args.output)
    entries = all_differences()
    if args.markdown or args.check:
        text = render_markdown(entries)
    elif args.json:
        text = json.dumps([e.to_dict() for e in entries], indent=2) + "\n"
    else:
        text = "".join(f"{e.id:<9} {e.handling:<10} {e.title}\n" for e in entries)
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                current = f.read()
        except OSError as exc:
            raise UsageError(f"cannot read {args.check}: {exc.strerror or exc}") from None
        if current.replace("\r\n", "\n") != text:
            sys.stderr.write(
                f"compat: {args.check} is stale; regenerate it with `python -m compat "
                f"differences --markdown --output {args.check}`\n"
            )
            return 1
        return 0
    _write(text, args.output)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .differences._schema import SCHEMA

    _check_output(args.output)
    _write(json.dumps(SCHEMA, indent=2) + "\n", args.output)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .differences._schema import validate

    status = 0
    for path in args.reports:
        try:
            with open(path, encoding="utf-8") as f:
                errors = validate(json.load(f))
        except (OSError, ValueError) as exc:
            errors = [f"cannot read: {exc}"]
        if errors:
            status = 1
            found = _plural(len(errors), "problem")
            sys.stdout.write(f"{path}: {found}\n  " + "\n  ".join(errors) + "\n")
        else:
            sys.stdout.write(f"{path}: valid\n")
    return status


def cmd_check(args: argparse.Namespace) -> int:
    from ._check.runner import run_check

    return run_check(args.paths, args.format)


def _prog() -> str:
    """``compat`` for the console script, ``python -m compat`` otherwise."""
    import os

    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "compat" if name in ("compat", "compat.exe", "compat-script.py") else "python -m compat"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="compat: portable processes; what differs between Linux, macOS and Windows.",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"compat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("doctor", help="run every probe that applies here and report")
    p.add_argument(
        "--json", metavar="FILE", help="also write the JSON report to FILE (- for stdout)"
    )
    p.add_argument(
        "--method", help="start method for probes not about one (default: compat's choice)"
    )
    p.add_argument("--jobs", type=int, help="worker processes (default: usable CPUs + 1, 2 to 4)")
    p.add_argument(
        "--only", nargs="+", metavar="ID", help="run only these entries or areas (POOL-04, POOL)"
    )
    p.add_argument(
        "--all", action="store_true", help="list every entry, not only what differs here"
    )
    p.add_argument("--strict", action="store_true", help="exit 1 if a probe errors or times out")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when an entry differs here")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("explain", help="show one entry in full: sources, probe, what compat does")
    p.add_argument("ids", nargs="+", metavar="ID", help="a difference id, e.g. POOL-04")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("diff", help="show where two platforms' doctor reports differ")
    p.add_argument("reports", nargs="+", metavar="REPORT.json")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (2 or more reports)")
    p.add_argument("--all", action="store_true", help="show every entry, not only differences")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the reports differ")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("differences", help="list the registry, or render docs/os-differences.md")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the whole Markdown document")
    fmt.add_argument("--json", action="store_true", help="every entry as JSON")
    fmt.add_argument("--check", metavar="FILE", help="exit 1 if FILE is not the current Markdown")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_differences)

    p = sub.add_parser("schema", help="print the JSON schema of a doctor report")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("validate", help="check doctor reports against the schema")
    p.add_argument("reports", nargs="+", metavar="REPORT.json")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "check",
        help="find code that breaks on Windows, macOS or under spawn (static, no imports)",
        description="Report process, signal and subprocess code that breaks on another OS "
        "or start method, each finding with its registry id. Exit 0: clean; 1: findings; "
        "2: a path does not exist or a file does not parse. Silence a line with "
        "`# compat: ignore[ID]` (or `# compat: ignore` for every id).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or directories to walk")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``compat`` console script and ``python -m compat``. Exit status: 0 ok, 1 a
    finding or difference (``check``; ``diff``/``doctor`` with ``--exit-code``), 2 a usage
    or input error, always with one line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        sys.stderr.write(f"compat: {exc}\n")
        return 2
    except KeyError as exc:  # an unknown difference id in --only
        sys.stderr.write(f"compat: {exc.args[0]}\n")
        return 2
    except ValueError as exc:  # an unknown start method, a bad --jobs
        sys.stderr.write(f"compat: {exc}\n")
        return 2
