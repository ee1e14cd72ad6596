#!/usr/bin/env bash
# The one command that runs the test matrix, for developers, GitHub Actions and .ci/run.
#
#   ci/run_tests.sh                 every tox test env (3.9-3.14 x fork/spawn/forkserver);
#                                   a Python missing here is skipped, envs whose start
#                                   method this OS lacks are skipped by tox.ini's `platform`
#   ci/run_tests.sh 3.12 [3.13...]  only those Pythons' envs (tox run -f 3.12 -f 3.13);
#                                   a named Python that is missing FAILS the run
#   ci/run_tests.sh 3.12 -- -n 0 -k pool    arguments after -- go to pytest
#   ci/run_tests.sh --envs 3.13-all,3.9-spawn   exactly those tox envs, one after the
#                                   other (what .ci/run does); a missing Python FAILS
#
# Every tox run is bounded by COMPAT_ENV_TIMEOUT seconds (default: 900 per env with
# --envs, 2400 for the whole run otherwise; 0 = no bound):
# a hang (a crashed xdist worker has left pytest waiting forever) fails the run with a
# message instead of eating the CI job's whole time limit.
#
# It prints the machine's facts (ci/sysinfo.py) first, then runs tox, whose output
# ends with pytest's summary line for each env. Any failure fails the script: tox
# exits non-zero when a command does, including pytest's exit code 5 ("no tests
# collected"), and nothing here masks an exit code.
# Uses tox (>= 4.42) from PATH or importable by `python`; without one, it installs tox and
# tox-uv once into a cached venv, COMPAT_TOX_VENV (default: ~/.cache/compat/tox-venv, or
# under XDG_CACHE_HOME), and uses that. `ci/run_tests.sh --setup-only` does only that.
# Each env leaves .coverage.<env>-<RUNNER_OS|local>; `tox run -e coverage` combines them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v python >/dev/null 2>&1; then
    PYTHON=python
else
    PYTHON=python3
fi
select=()
envs=()
setup_only=0
while (($#)); do
    case "$1" in
        --)
            shift
            break
            ;;
        --envs)
            IFS=, read -r -a envs <<<"${2:?--envs needs a comma-separated list of tox envs}"
            shift 2
            ;;
        3.[0-9] | 3.[1-9][0-9])
            select+=(-f "$1")
            shift
            ;;
        --setup-only)
            setup_only=1
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

# tox: on PATH, importable, or installed once (with tox-uv) into a cached venv.
if command -v tox >/dev/null 2>&1; then
    TOX=(tox)
elif "$PYTHON" -c "import tox" >/dev/null 2>&1; then
    TOX=("$PYTHON" -m tox)
else
    venv=${COMPAT_TOX_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/compat/tox-venv}
    bin=$venv/bin
    [[ -d $venv/Scripts ]] && bin=$venv/Scripts # Windows (Git Bash)
    if ! [[ -x $bin/tox || -x $bin/tox.exe ]]; then
        echo "ci/run_tests.sh: tox not found; installing tox and tox-uv into $venv (once)" >&2
        "$PYTHON" -m venv "$venv"
        [[ -d $venv/Scripts ]] && bin=$venv/Scripts
        "$bin/python" -m pip install -q --disable-pip-version-check "tox>=4.42" tox-uv
    fi
    TOX=("$bin/tox")
fi
if ((setup_only)); then
    echo "ci/run_tests.sh: tox is ${TOX[*]} ($("${TOX[@]}" --version | head -n 1))"
    exit 0
fi

if ((${#envs[@]})); then
    limit=${COMPAT_ENV_TIMEOUT:-900}
else
    limit=${COMPAT_ENV_TIMEOUT:-2400}
fi
bounded() {
    # `timeout` is in coreutils (Linux, Git Bash on Windows); macOS runners lack it.
    if [[ $limit != 0 ]] && command -v timeout >/dev/null 2>&1; then
        local status=0
        timeout --kill-after=30 "$limit" "$@" || status=$?
        if ((status == 124 || status == 137)); then
            echo "ci/run_tests.sh: '$*' did not finish within COMPAT_ENV_TIMEOUT=$limit s: killed" >&2
        fi
        return "$status"
    fi
    "$@"
}

"$PYTHON" ci/sysinfo.py

if ((${#envs[@]})); then
    if ((${#select[@]})); then
        echo "ci/run_tests.sh: give Python versions or --envs, not both" >&2
        exit 2
    fi
    failed=()
    for env in "${envs[@]}"; do
        started=$SECONDS
        echo "+ ${TOX[*]} run -e $env --skip-missing-interpreters=false${*:+ -- $*}"
        if bounded "${TOX[@]}" run -e "$env" --skip-missing-interpreters=false ${1+-- "$@"}; then
            echo "ci/run_tests.sh: $env passed in $((SECONDS - started)) s"
        else
            echo "ci/run_tests.sh: $env FAILED after $((SECONDS - started)) s"
            failed+=("$env")
        fi
    done
    if ((${#failed[@]})); then
        echo "ci/run_tests.sh: failed: ${failed[*]}"
        exit 1
    fi
    exit 0
fi

if ((${#select[@]})); then
    # Python named explicitly (one CI cell): its absence is an error, not a skip.
    select+=(--skip-missing-interpreters=false)
else
    select=(-m test)
fi

echo "+ ${TOX[*]} run ${select[*]}${*:+ -- $*}"
bounded "${TOX[@]}" run "${select[@]}" ${1+-- "$@"}
