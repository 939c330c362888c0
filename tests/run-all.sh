#!/usr/bin/env bash
# Builds Taskdeck and runs every test: once as built, once under AddressSanitizer and
# UndefinedBehaviorSanitizer (a second build directory).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
jobs=2

# Every C++ file as clang-format makes it (.clang-format), before any time is spent building.
tests/check-format.sh

cmake -S . -B build -G Ninja
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
# What `cmake --install` puts in place, in a temporary prefix: present and valid.
tests/check-install.sh build

cmake -S . -B build-sanitize -G Ninja -DTASKDECK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
LSAN_OPTIONS=suppressions=$PWD/tests/support/lsan.supp:print_suppressions=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-sanitize --output-on-failure -j"$jobs"

# A short bounded fuzz run of the script loader, the socket protocol and the store's
# recovery (libFuzzer; the longer run is in the README's Testing section).
tests/fuzz/run.sh 10
