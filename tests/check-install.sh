#!/usr/bin/env bash
# Installs a build (default: build) into a temporary prefix as `cmake --install` does for a
# package, checks that every file a desktop needs is in place, and validates the desktop
# entry and the AppStream metainfo. Usage: tests/check-install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
id=io.github.taskdeck.Taskdeck
for f in bin/taskdeck share/applications/$id.desktop share/metainfo/$id.metainfo.xml \
         share/icons/hicolor/scalable/apps/taskdeck.svg \
         share/icons/hicolor/32x32/apps/taskdeck.png share/icons/hicolor/64x64/apps/taskdeck.png \
         share/icons/hicolor/256x256/apps/taskdeck.png; do
    [ -e "$prefix/$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done
"$prefix/bin/taskdeck" --version >/dev/null
desktop-file-validate "$prefix/share/applications/$id.desktop"
appstreamcli validate --no-net "$prefix/share/metainfo/$id.metainfo.xml"
echo "check-install: installed and valid ($prefix)"
