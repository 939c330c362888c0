#!/usr/bin/env bash
# Builds the libFuzzer harnesses in build-fuzz (clang++, AddressSanitizer) and runs each
# for SECONDS (default 20) on its seed corpus (tests/fuzz/corpus/<harness>, read only:
# what a run finds new goes to build-fuzz/corpus/<harness>). Exits non-zero when a
# harness crashes, leaks or hangs; the input that did is saved in build-fuzz/findings/.
#   tests/fuzz/run.sh          a short run (CI: tests/fuzz/run.sh 10)
#   tests/fuzz/run.sh 600      a longer one
set -euo pipefail
seconds="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${TASKDECK_FUZZ_BUILD:-$root/build-fuzz}"
jobs="${TASKDECK_JOBS:-2}"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTASKDECK_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_scriptloader fuzz_protocol fuzz_store

export QT_QPA_PLATFORM=offscreen
# The store harness writes a database per input: in memory when it can (5x the runs).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
# Qt and Lua keep a few allocations for the life of the process.
export LSAN_OPTIONS="suppressions=$root/tests/support/lsan.supp:print_suppressions=0"
mkdir -p "$build/findings"
status=0
for harness in scriptloader protocol store; do
    mkdir -p "$build/corpus/$harness"
    echo "== fuzz_$harness: ${seconds}s"
    if ! "$build/tests/fuzz/fuzz_$harness" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/findings/$harness-" \
        "$build/corpus/$harness" "$here/corpus/$harness" 2>"$build/fuzz_$harness.log"; then
        tail -n 40 "$build/fuzz_$harness.log" >&2
        echo "fuzz_$harness FAILED: see $build/fuzz_$harness.log and $build/findings/" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$build/fuzz_$harness.log" |
            tail -n 1
    fi
done
exit "$status"
