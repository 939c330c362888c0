#!/usr/bin/env bash
# Runs one test executable with a home of its own: HOME, the XDG directories and TMPDIR
# point into a fresh temporary directory that is removed afterwards, so that no suite
# reads the user's settings, data or sockets, or what another suite left behind.
set -u
root=$(mktemp -d "${TMPDIR:-/tmp}/taskdeck-test.XXXXXX") || exit 1
trap 'rm -rf "$root"' EXIT
for d in home config data cache runtime tmp; do
    mkdir -m 700 "$root/$d"
done
export HOME="$root/home" XDG_CONFIG_HOME="$root/config" XDG_DATA_HOME="$root/data" \
       XDG_CACHE_HOME="$root/cache" XDG_RUNTIME_DIR="$root/runtime" TMPDIR="$root/tmp"
"$@" &
child=$!
# CTest stops a test that overruns its time with SIGTERM/SIGKILL to this script: pass it on.
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
status=$?
# A signal interrupts the first wait; the second returns the child's own status.
if kill -0 "$child" 2>/dev/null; then
    wait "$child"
    status=$?
fi
exit "$status"
