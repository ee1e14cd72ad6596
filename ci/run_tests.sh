#!/usr/bin/env bash
# The one command that runs the test matrix, for developers, GitHub Actions and .ci/run.
#
#   ci/run_tests.sh                 every tox test env (3.9-3.14 x fork/spawn/forkserver);
#                                   a Python missing here is skipped, envs whose start
#                                   method this OS lacks are skipped by tox.ini's `platform`
#   ci/run_tests.sh 3.12 [3.13...]  only those Pythons' envs (tox run -f 3.12 -f 3.13);
#                                   a named Python that is missing FAILS the run
#   ci/run_tests.sh 3.12 -- -n 0 -k pool    arguments after -- go to pytest
#
# It prints the machine's facts (ci/sysinfo.py) first, then runs tox, whose output
# ends with pytest's summary line for each env. Any failure fails the script: tox
# exits non-zero when a command does, including pytest's exit code 5 ("no tests
# collected"), and nothing here masks an exit code.
# Needs tox >= 4.42 (tox-uv recommended) on PATH or importable by `python`.
# Each env leaves .coverage.<env>-<RUNNER_OS|local>; `tox run -e coverage` combines them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v python >/dev/null 2>&1; then
    PYTHON=python
else
    PYTHON=python3
fi
if command -v tox >/dev/null 2>&1; then
    TOX=(tox)
else
    TOX=("$PYTHON" -m tox)
fi

select=()
while (($#)); do
    case "$1" in
        --)
            shift
            break
            ;;
        3.[0-9] | 3.[1-9][0-9])
            select+=(-f "$1")
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d'
            exit 0
            ;;
        *)
            echo "ci/run_tests.sh: expected a Python version such as 3.12, got '$1'" >&2
            exit 2
            ;;
    esac
done

if ((${#select[@]})); then
    # Python named explicitly (one CI cell): its absence is an error, not a skip.
    select+=(--skip-missing-interpreters=false)
else
    select=(-m test)
fi

"$PYTHON" ci/sysinfo.py

echo "+ ${TOX[*]} run ${select[*]}${*:+ -- $*}"
"${TOX[@]}" run "${select[@]}" ${1+-- "$@"}
