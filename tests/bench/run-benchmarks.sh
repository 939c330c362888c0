#!/usr/bin/env bash
# Runs every benchmark scenario of SPEC section 6 for Taskdeck and its peers in one
# session, one JSON line each (see BENCHMARKS.md). Usage: tests/bench/run-benchmarks.sh [BUILD_DIR]
# Needs: python3 (asyncio peer); optionally node + `npm install p-queue@8` in $PQUEUE_DIR
# (default /tmp/pq) and GNU parallel.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../build}"
shared="$here/../../../shared/bench"
pq="${PQUEUE_DIR:-/tmp/pq}"
bench="$build/taskdeck-bench"

run() { echo "# $*" >&2; "$@"; }

for s in queue-trivial spawn-trivial spawn-sleepers limited procs; do
    run "$bench" "$s"
done
run "$bench" cpu --workers 1
run "$bench" cpu --workers 2
# The same with a task store attached, as in the dashboard (a fresh one per run).
for s in queue-trivial spawn-trivial spawn-sleepers limited procs cpu; do
    store="$(mktemp -d)"
    run "$bench" "$s" --store "$store"
    rm -rf "$store"
done
for s in trivial sleepers limited cpu procs; do
    run python3 "$shared/asyncio_bench.py" "$s"
done
if [ -d "$pq/node_modules/p-queue" ]; then
    cp "$shared/pqueue_bench.mjs" "$pq/"
    for s in trivial sleepers limited procs; do
        (cd "$pq" && run node pqueue_bench.mjs "$s")
    done
fi
t() { local start end; start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "{\"peer\": \"xargs -P8\", \"scenario\": \"procs\", \"wall_s\": $(t sh -c 'seq 500 | xargs -P8 -n1 /bin/true')}"
if command -v parallel >/dev/null; then
    echo "{\"peer\": \"GNU parallel -j8\", \"scenario\": \"procs\", \"wall_s\": $(t sh -c 'seq 500 | parallel -j8 /bin/true')}"
fi
