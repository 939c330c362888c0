#!/usr/bin/env bash
# Installs what building and testing Taskdeck needs on Debian 12, skipping what is there.
set -euo pipefail
packages=(
    build-essential cmake ninja-build pkg-config ccache
    qt6-base-dev qt6-base-dev-tools libgl-dev
    libqt6sql6-sqlite        # the task store (Qt Sql's SQLite driver)
    liblua5.4-dev
    python3                  # the asyncio peer benchmark
    xvfb xauth imagemagick   # screenshots of the dashboard
    clang libclang-rt-14-dev # tests/fuzz (libFuzzer's runtime is only recommended by clang)
    clang-format             # tests/check-format.sh (CI checks every C++ file)
    libhiredis-dev           # the cluster's Redis client (RESP parsing and formatting)
    redis-server openssl     # tst_redisclient starts its own server (TLS: certs by openssl)
    iproute2 nftables        # tst_cluster's network partition (a namespace, a drop rule)
    desktop-file-utils appstream # tests/check-install.sh validates what cmake --install puts
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
