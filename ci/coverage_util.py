"""Small coverage chores for tox.ini that a tox command line cannot do without a shell.

python ci/coverage_util.py prune DATA_FILE
    After ``coverage combine``: delete the per-process files ``DATA_FILE.*`` it
    left behind. combine keeps a file it cannot read (a child killed while saving
    its data, which tests that kill processes cause now and then); left in place
    it would only warn again in every later report, on every OS's artifact.
python ci/coverage_util.py markdown OUT
    Write the combined report as Markdown to OUT and, on GitHub Actions, append it
    to the job summary ($GITHUB_STEP_SUMMARY). It never judges the total: the floor
    is ``coverage report --fail-under`` in tox.ini, the one place it is set.
"""

from __future__ import annotations

import glob
import io
import os
import sys
from pathlib import Path


def prune(data_file: str) -> int:
    for leftover in sorted(glob.glob(glob.escape(data_file) + ".*")):
        print(f"coverage_util: removing unreadable data file {leftover}")
        os.remove(leftover)
    return 0


def markdown(out: Path) -> int:
    import coverage

    cov = coverage.Coverage()
    cov.load()
    buf = io.StringIO()
    cov.report(file=buf, output_format="markdown")
    text = "## Coverage (all envs and OSes combined)\n\n" + buf.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(f"coverage_util: Markdown report written to {out}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "prune":
        return prune(argv[1])
    if len(argv) == 2 and argv[0] == "markdown":
        return markdown(Path(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
