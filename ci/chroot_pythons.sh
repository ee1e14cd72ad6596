#!/usr/bin/env bash
# CPython 3.14 and 3.15 for real: the test suite and the doctor in a Debian sid chroot.
#
#   ci/chroot_pythons.sh                    3.14 and 3.15 x {fork, spawn, forkserver}
#   ci/chroot_pythons.sh 3.15               one version
#   ci/chroot_pythons.sh 3.14 -- -n 0 -k pool   arguments after -- replace pytest's defaults
#
# pyenv has no 3.14/3.15 here, Debian's archive does. Linux only, as root (debootstrap,
# chroot and mounts need it). What it does:
#   1. A chroot: `debootstrap --variant=minbase --include=python3.X,python3.X-venv,...,procps
#      sid` from the Debian mirror this machine's apt sources use (apt-get installs
#      debootstrap if missing). It is cached under $COMPAT_CHROOT_CACHE (default
#      /var/cache/compat-chroot), keyed by a stamp (this script's CHROOT_FORMAT, the
#      suite, the mirror, the packages) and rebuilt when older than
#      $COMPAT_CHROOT_MAX_AGE_DAYS (default 7: sid moves) or when COMPAT_CHROOT_REBUILD=1.
#      A lock lets concurrent runs share it; only a (re)build is exclusive.
#   2. Per run, in a private mount namespace (unshare; the mounts vanish with the script,
#      even when it is killed) and unmounted by a trap besides: /proc, /dev, /dev/pts, a
#      fresh tmpfs on /dev/shm and /tmp, /sys, a run directory on /build and the host's
#      reports/ on /build/reports. The host's CA bundle and resolv.conf are copied in so
#      pip reaches PyPI. The cached root file system is not otherwise written to.
#   3. The checkout as CI sees it (git's tracked and untracked-but-not-ignored files of
#      the working tree) copied to /build/src; per version a venv with `.[test]` and
#      cloudpickle (pip, from PyPI; the pip cache is kept next to the chroot).
#   4. Per version, the command tox's `3.X-all-nocov` env runs: the whole suite under
#      every start method in one pytest run, without coverage:
#        python -m pytest -n 4 --dist worksteal --junitxml=reports/junit-3.X-all.xml
#      (COMPAT_CHROOT_METHODS="fork spawn" runs one pytest per method instead, with
#      COMPAT_START_METHOD set), and the doctor envs' commands once per start method
#      (the doctor's probes follow the method):
#        python -m compat doctor --strict --json reports/doctor-3.X-<m>-chroot.json
#        python -m compat validate reports/doctor-3.X-<m>-chroot.json
#      Every one runs; any failure makes the script exit 1. It ends with a table of
#      per-version/per-method pass/fail counts and its own duration.
#
# Environment: COMPAT_CHROOT_CACHE, COMPAT_CHROOT_MIRROR (default: from apt's sources),
# COMPAT_CHROOT_SUITE (sid), COMPAT_CHROOT_METHODS ("all"),
# COMPAT_CHROOT_MAX_AGE_DAYS, COMPAT_CHROOT_REBUILD, COMPAT_CHROOT_SESSION_TIMEOUT
# (seconds per pytest or doctor run, default 1200).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
script="$repo/ci/chroot_pythons.sh"

# Bump to rebuild every cached chroot (a change in how it is built).
CHROOT_FORMAT=1

say() { echo "chroot_pythons: $*"; }
die() {
    echo "chroot_pythons: $*" >&2
    exit 1
}

versions=()
while (($#)); do
    case "$1" in
        --)
            shift
            break
            ;;
        3.[0-9] | 3.[1-9][0-9])
            versions+=("$1")
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$script" | sed '$d'
            exit 0
            ;;
        *) die "expected a Python version such as 3.15, got '$1'" ;;
    esac
done
((${#versions[@]})) || versions=(3.14 3.15)
pytest_args=("$@")
read -r -a methods <<<"${COMPAT_CHROOT_METHODS:-all}"
suite=${COMPAT_CHROOT_SUITE:-sid}
cache=${COMPAT_CHROOT_CACHE:-/var/cache/compat-chroot}
max_age_days=${COMPAT_CHROOT_MAX_AGE_DAYS:-7}
session_timeout=${COMPAT_CHROOT_SESSION_TIMEOUT:-1200}

[[ $(uname -s) == Linux ]] || die "needs Linux (debootstrap, chroot), this is $(uname -s)"
((EUID == 0)) || die "needs root (debootstrap, chroot and mounts); run it with sudo"

# A private mount namespace: nothing mounted below is visible outside this script, and
# the kernel drops it all when the script ends, however it ends.
if [[ -z ${COMPAT_CHROOT_NAMESPACE:-} ]] && command -v unshare >/dev/null 2>&1 &&
    unshare --mount --propagation private true 2>/dev/null; then
    export COMPAT_CHROOT_NAMESPACE=1
    exec unshare --mount --propagation private bash "$script" "${versions[@]}" ${1+-- "$@"}
fi

started=$SECONDS

# --- mounts and cleanup -------------------------------------------------------------

# Mount points at or below $1, deepest first (from /proc/self/mountinfo; octal escapes
# such as \040 are left as they are, which only matters for paths with spaces).
mounts_under() {
    local dir=${1%/}
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_under() {
    local m
    while read -r m; do
        [[ -n $m ]] || continue
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done < <(mounts_under "$1")
}

# rm -rf, but never through a mount point (a bind of /dev or /proc would be emptied).
remove_tree() {
    local dir=$1
    [[ -e $dir ]] || return 0
    unmount_under "$dir"
    if [[ -n $(mounts_under "$dir") ]]; then
        echo "chroot_pythons: not removing $dir: still mounted: $(mounts_under "$dir" | paste -sd' ' -)" >&2
        return 1
    fi
    rm -rf --one-file-system "$dir"
}

# SIGKILL what still runs in the chroot in this run's mount namespace (a test's
# grandchild in a session of its own, when a step was interrupted): never another
# run's processes, which share the chroot but not the namespace.
kill_leftovers() {
    local p ns n=0
    [[ -n ${COMPAT_CHROOT_NAMESPACE:-} && -n $root ]] || return 0
    ns=$(readlink /proc/self/ns/mnt)
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] || continue
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]] || continue
        kill -KILL "${p#/proc/}" 2>/dev/null && n=$((n + 1))
    done
    ((n == 0)) || { echo; say "killed $n process(es) still running in the chroot"; }
}

cleanup_dirs=()
root=
current= # the running step's process group (timeout's pid), if any
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $current ]]; then
        # Interrupted during a step: end its whole process group first (timeout
        # passes the signal on, and kills after 30 s what ignores it).
        kill -TERM -- "-$current" 2>/dev/null || true
        wait "$current" 2>/dev/null || true
    fi
    if [[ -n $root ]]; then
        kill_leftovers
        unmount_under "$root"
    fi
    for d in "${cleanup_dirs[@]}"; do
        remove_tree "$d" || status=1
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the cached chroot --------------------------------------------------------------

# The Debian mirror the host's apt already uses (its main archive, not security).
mirror() {
    if [[ -n ${COMPAT_CHROOT_MIRROR:-} ]]; then
        echo "$COMPAT_CHROOT_MIRROR"
        return
    fi
    local uri
    # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
    uri=$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Identifier: Packages' \
        2>/dev/null | head -n1 || true)
    if [[ -z $uri ]]; then
        # No downloaded lists: read the sources (one-line and deb822 formats).
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' |
            grep -v -- '-security' | head -n1 || true)
    fi
    if [[ -z $uri ]]; then
        uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk '/^URIs:/ { print $2 }' | grep -v -- '-security' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian/}"
}

# One chroot for every version this script knows plus any asked for, so that running
# one version does not replace the cached chroot the full run uses.
chroot_versions=(3.14 3.15)
for v in "${versions[@]}"; do
    [[ " ${chroot_versions[*]} " == *" $v "* ]] || chroot_versions+=("$v")
done
packages=procps
for v in "${chroot_versions[@]}"; do
    packages+=",python$v,python$v-venv"
done
mirror_uri=$(mirror)
stamp="format=$CHROOT_FORMAT suite=$suite arch=$(dpkg --print-architecture 2>/dev/null || uname -m) mirror=$mirror_uri include=$packages"
key=$(printf '%s' "$stamp" | sha256sum | cut -c1-12)
chroot_dir="$cache/$suite-$key"
root="$chroot_dir/rootfs"

mkdir -p "$cache"
exec {lock}>"$cache/.lock"

chroot_is_fresh() {
    [[ -f $chroot_dir/stamp ]] || return 1
    local v
    for v in "${chroot_versions[@]}"; do
        [[ -x $root/usr/bin/python$v ]] || return 1
    done
    [[ $(head -n1 "$chroot_dir/stamp") == "$stamp" ]] || return 1
    [[ ${COMPAT_CHROOT_REBUILD:-} != 1 ]] || return 1
    [[ -z $(find "$chroot_dir/stamp" -mtime "+$((max_age_days - 1))" 2>/dev/null) ]]
}

build_chroot() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap"
        apt-get install -y -q debootstrap >/dev/null ||
            { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
    fi
    local build t0=$SECONDS
    build=$(mktemp -d "$cache/.build-XXXXXX")
    cleanup_dirs+=("$build")
    say "creating the $suite chroot ($packages) from $mirror_uri"
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$build/rootfs" \
        "$mirror_uri" >"$build/debootstrap.log" 2>&1; then
        tail -n 30 "$build/debootstrap.log" >&2
        [[ -f $build/rootfs/debootstrap/debootstrap.log ]] &&
            tail -n 30 "$build/rootfs/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    unmount_under "$build/rootfs"
    rm -rf "$build/rootfs/var/cache/apt/archives/"*.deb "$build/rootfs/var/lib/apt/lists/"*_Packages
    {
        echo "$stamp"
        echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - t0)) s"
        # shellcheck disable=SC2016 # dpkg-query's ${Field} syntax
        chroot "$build/rootfs" dpkg-query -W -f '${Package} ${Version}\n' \
            "python3.*-minimal" procps 2>/dev/null || true
    } >"$build/stamp"
    # Replace the old chroot (if any), then drop chroots of other stamps.
    if [[ -e $chroot_dir ]]; then
        mv "$chroot_dir" "$build.old"
        cleanup_dirs+=("$build.old")
    fi
    mv "$build" "$chroot_dir"
    local other
    for other in "$cache"/*/; do
        other=${other%/}
        [[ $other == "$chroot_dir" || ! -f $other/stamp ]] || remove_tree "$other" || true
    done
    chroot_note="created in $((SECONDS - t0)) s"
}

chroot_note=
flock -x "$lock"
if chroot_is_fresh; then
    chroot_note="cached, $(sed -n 2p "$chroot_dir/stamp")"
else
    build_chroot
fi
flock -s "$lock" # others may use it too; a rebuild waits for them
say "chroot $root ($chroot_note)"
sed -n '3,$p' "$chroot_dir/stamp" | sed 's/^/    /'

# --- this run's mounts --------------------------------------------------------------

run=$(mktemp -d "${TMPDIR:-/tmp}/compat-chroot-run-XXXXXX")
cleanup_dirs+=("$run")
mkdir -p "$run/src" "$run/reports" "$repo/reports" "$cache/pip-cache"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
mkdir -p "$root/build" "$root/var/cache/pip"
mount --bind "$run" "$root/build"
mount --bind "$repo/reports" "$root/build/reports"
mount --bind "$cache/pip-cache" "$root/var/cache/pip"

# What pip needs to reach PyPI. (Written to the cached root: the same files each run.)
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
[[ -f /etc/hosts ]] && cp -L /etc/hosts "$root/etc/hosts"
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f $ca ]] || ca=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$root/etc/ssl/certs"
cp -L "$ca" "$root/etc/ssl/certs/ca-certificates.crt"

# The checkout as a fresh clone's working tree has it (no .tox, build/, caches).
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$run/src"
else
    tar --exclude=.tox --exclude=reports --exclude=build --exclude=.git \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$run/src"
fi

# The command prefix that runs something inside, with a clean environment and the
# venv $1 first on PATH: sets the array IN.
inside() {
    IN=(chroot "$root" /usr/bin/env -i -C /build/src
        HOME=/root LANG=C.UTF-8 TMPDIR=/tmp
        PATH="$1/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
        SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt
        PIP_CACHE_DIR=/var/cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1
        PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-60}")
    local name
    for name in PIP_INDEX_URL http_proxy https_proxy no_proxy CI FORCE_COLOR; do
        [[ -z ${!name:-} ]] || IN+=("$name=${!name}")
    done
}

# --- the runs -----------------------------------------------------------------------

results=() # "version method what status seconds junit"
failures=0
record() { # version method what rc seconds [junit]
    local status=passed
    (($4 == 0)) || {
        status="FAILED (exit $4)"
        failures=$((failures + 1))
    }
    results+=("$1|$2|$3|$status|$5|${6:-}")
}

timed() { # name-for-the-log, then the command; sets $rc and $took
    local t0=$SECONDS
    echo
    echo "=== chroot_pythons: $1"
    shift
    rc=0
    # In the background, so that a signal to this script is handled at once (bash
    # runs traps only between foreground commands). timeout is the leader of a
    # process group of its own and gives the command default SIGINT handling.
    timeout -k 30 "$session_timeout" "$@" &
    current=$!
    wait "$current" || rc=$?
    current=
    took=$((SECONDS - t0))
    ((rc != 124)) || echo "chroot_pythons: killed after ${session_timeout} s (COMPAT_CHROOT_SESSION_TIMEOUT)"
}

for v in "${versions[@]}"; do
    venv=/build/venv-$v
    inside "$venv"
    timed "$v: venv, pip install .[test] cloudpickle" "${IN[@]}" sh -c \
        "python$v -m venv $venv && python -m pip install -q '.[test]' cloudpickle"
    record "$v" - install "$rc" "$took"
    ((rc == 0)) || continue
    "${IN[@]}" python -VV
    args=("${pytest_args[@]}")
    ((${#args[@]})) || args=(-n 4 --dist worksteal)
    for m in "${methods[@]}"; do
        junit=reports/junit-$v-$m.xml
        method_env=(COMPAT_START_METHOD="$m")
        [[ $m != all ]] || method_env=()
        timed "$v-$m: python -m pytest ${args[*]}" \
            "${IN[@]}" "${method_env[@]}" python -m pytest "${args[@]}" \
            --junitxml="/build/$junit" -o junit_suite_name="chroot-$v-$m"
        record "$v" "$m" pytest "$rc" "$took" "$junit"
    done
    for m in fork spawn forkserver; do
        report=reports/doctor-$v-$m-chroot.json
        timed "$v-$m: python -m compat doctor --strict" \
            "${IN[@]}" COMPAT_START_METHOD="$m" sh -c \
            "python -m compat doctor --strict --json /build/$report && python -m compat validate /build/$report"
        record "$v" "$m" doctor "$rc" "$took"
    done
done

# --- summary ------------------------------------------------------------------------

echo
echo "=== chroot_pythons: summary (chroot: $chroot_note)"
summary=$(for r in "${results[@]}"; do echo "$r"; done)
SUMMARY=$summary python3 - <<'PY' || {
import os
import xml.etree.ElementTree as ET

rows = [line.split("|") for line in os.environ["SUMMARY"].splitlines() if line]
print(f"{'python':<7} {'method':<11} {'step':<8} {'passed':>6} {'failed':>6} {'skipped':>7} {'s':>5}  status")
per_version: dict[str, list[int]] = {}
for version, method, step, status, seconds, junit in rows:
    counts = ["", "", ""]
    if junit and os.path.exists(junit):
        t = f = s = 0
        for suite in ET.parse(junit).getroot().iter("testsuite"):
            t += int(suite.get("tests", 0))
            f += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            s += int(suite.get("skipped", 0))
        counts = [str(t - f - s), str(f), str(s)]
        tot = per_version.setdefault(version, [0, 0, 0])
        for i, n in enumerate((t - f - s, f, s)):
            tot[i] += n
    print(f"{version:<7} {method:<11} {step:<8} {counts[0]:>6} {counts[1]:>6} {counts[2]:>7} {seconds:>5}  {status}")
for version, (p, f, s) in per_version.items():
    print(f"{version}: {p} passed, {f} failed, {s} skipped")
PY
    echo "chroot_pythons: the JUnit reports could not be read"
}
say "total $((SECONDS - started)) s (chroot $chroot_note)"
if ((failures)); then
    say "FAILED: $failures step(s)"
    exit 1
fi
say "all passed"
