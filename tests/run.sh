#!/usr/bin/env bash
# Install everything hubsync's tests need, then run ruff, mypy and pytest.
#
# The one test command of the README and of CI (.ci/run). On a fresh Debian/Ubuntu
# machine it installs the system packages the tests use for real (gnome-keyring and
# dbus for a real Secret Service, systemd for `systemd-analyze verify`), makes .venv,
# installs hubsync with its test extras, and runs the suite inside a private D-Bus
# session with an unlocked throwaway keyring, so the user's own keyring is never touched.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k config`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dbus-run-session >/dev/null || missing+=(dbus dbus-daemon)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v systemd-analyze >/dev/null || missing+=(systemd)
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

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec dbus-run-session -- bash tests/with-keyring.sh .venv/bin/python -m pytest "$@"
