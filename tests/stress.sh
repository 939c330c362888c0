#!/usr/bin/env bash
# Runs every suite (or those matching REGEX) again and again while CPU hogs hold every
# core, to bring out tests and code that depend on the order of two things nothing
# orders: a reply read after its socket closed, a timer against a thread, a signal against
# a write. Run it before resolving anything that touches threads, sockets or timers.
#
#   tests/stress.sh [-n REPEATS] [-b BUILD_DIR] [-R REGEX]
#
# Defaults: 10 repeats of each suite, build/ (configured and built if needed). Stops at
# a suite's first failure and prints its output; exit status is ctest's.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=10
build=build
regex=""
while getopts "n:b:R:h" opt; do
    case $opt in
    n) repeats=$OPTARG ;;
    b) build=$OPTARG ;;
    R) regex=$OPTARG ;;
    *) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done

[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja
cmake --build "$build" -j2

# One busy loop per core, at normal priority, for as long as the tests run.
hogs=()
cleanup() { ((${#hogs[@]})) && kill "${hogs[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq "$(nproc)"); do
    bash -c 'while :; do :; done' &
    hogs+=($!)
done
echo "stress: ${#hogs[@]} CPU hogs; each suite up to $repeats times${regex:+ (matching $regex)}"

args=(--test-dir "$build" --output-on-failure -j2 --repeat "until-fail:$repeats")
[ -n "$regex" ] && args+=(-R "$regex")
ctest "${args[@]}"
