#!/usr/bin/env bash
# Run a command with an unlocked gnome-keyring in this D-Bus session and a throwaway HOME
# for the keyring's files. Used by tests/run.sh inside `dbus-run-session`.
set -euo pipefail
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
export XDG_DATA_HOME="$keyring_home/data"
mkdir -p "$XDG_DATA_HOME"
# --unlock reads the new login keyring's password from stdin; any throwaway one will do.
eval "$(printf 'hubsync-tests' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
export HUBSYNC_TEST_SECRET_SERVICE=1
"$@"
