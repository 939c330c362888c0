#!/usr/bin/env bash
# Issue 15: every SPEC section 6 scenario as a user runs it — `taskdeck run` as a whole
# process, startup and exit included — beside its peers in the same rounds (asyncio via
# python3; p-queue via node when `npm install p-queue@8` was done in $PQUEUE_DIR, default
# /tmp/pq; xargs -P8 for procs), and `taskdeck-bench` in-process for queue-trivial.
# Rounds alternate Taskdeck and the peers so that the machine's drift hits all alike.
# Prints per scenario and runner: median wall (s) and median CPU (user+sys, s) of the
# whole process, and max RSS (KiB); then the ratios.
# With BEFORE=OTHER_BUILD_DIR, that build's taskdeck runs in the same rounds too ("before").
# Usage: [BEFORE=DIR] tests/bench/whole-process.sh [BUILD_DIR] [ROUNDS=5] [SCENARIO...]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-$here/../../build}" && pwd)"
rounds="${2:-5}"
shift $(($# < 2 ? $# : 2))
scenarios=("$@")
((${#scenarios[@]})) ||
    scenarios=(one-line limited spawn-trivial spawn-sleepers queue-trivial procs)
shared="$here/../../../shared/bench"
pq="${PQUEUE_DIR:-/tmp/pq}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/one.lua" <<'EOF'
return 1
EOF
cat >"$work/limited.lua" <<'EOF'
local sem = Semaphore(50)
local function job() sem:acquire() sleep(0.01) sem:release() end
local hs = {}
for i = 1, 1000 do hs[i] = spawn(job) end
gather(hs)
EOF
cat >"$work/spawn-trivial.lua" <<'EOF'
local sem = Semaphore(64)
local function job(i) sem:acquire() sem:release() return i end
local hs = {}
for i = 1, 100000 do hs[i] = spawn(job, i) end
local r = gather(hs)
assert(#r == 100000 and r[100000] == 100000)
EOF
cat >"$work/spawn-sleepers.lua" <<'EOF'
local hs = {}
for i = 1, 100000 do hs[i] = spawn(sleep, 1) end
gather(hs)
EOF
# The same sleepers, each a function of its own that sleeps (no thread-less shortcut).
cat >"$work/spawn-sleepers-fn.lua" <<'EOF'
local hs = {}
local function nap() sleep(1) end
for i = 1, 100000 do hs[i] = spawn(nap) end
gather(hs)
EOF
cat >"$work/one.py" <<'EOF'
import asyncio
async def main():
    return 1
asyncio.run(main())
EOF
cp "$shared/pqueue_bench.mjs" "$pq/" 2>/dev/null

# measure NAME COMMAND...: one line "NAME wall cpu maxrss" for one whole-process run.
measure() {
    local name="$1"
    shift
    python3 - "$name" "$@" <<'EOF'
import os, subprocess, sys, time
name, cmd = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, u = os.wait4(p.pid, 0)  # this child's own usage
wall = time.perf_counter() - t
print(name, "%.4f" % wall, "%.4f" % (u.ru_utime + u.ru_stime), u.ru_maxrss,
      os.waitstatus_to_exitcode(status))
EOF
}
inproc() { # NAME SCENARIO: taskdeck-bench's own wall_s
    "$build/taskdeck-bench" "$2" 2>/dev/null | python3 -c 'import json, sys
print(sys.argv[1], "%.4f" % json.loads(sys.stdin.read())["wall_s"], 0, 0, 0)' "$1"
}

td="$build/taskdeck"
pqueue() { # SCENARIO: p-queue's, when installed
    [ -d "$pq/node_modules/p-queue" ] && (cd "$pq" && measure p-queue node pqueue_bench.mjs "$1")
}
# tdrun NAME ARGS...: this build's `taskdeck run ARGS`, and BEFORE's after it if given.
tdrun() {
    local name="$1"
    shift
    measure "$name" "$td" run "$@"
    if [ -n "${BEFORE:-}" ]; then measure "before${name#taskdeck}" "$BEFORE/taskdeck" run "$@"; fi
}
for s in "${scenarios[@]}"; do
    out="$work/$s.txt"
    for ((i = 0; i < rounds; i++)); do
        case "$s" in
        one-line)
            tdrun taskdeck "$work/one.lua"
            measure asyncio python3 "$work/one.py"
            ;;
        limited)
            tdrun taskdeck "$work/limited.lua"
            measure asyncio python3 "$shared/asyncio_bench.py" limited
            pqueue limited
            ;;
        spawn-trivial)
            tdrun taskdeck "$work/spawn-trivial.lua"
            measure asyncio python3 "$shared/asyncio_bench.py" trivial
            ;;
        spawn-sleepers)
            tdrun taskdeck "$work/spawn-sleepers.lua"
            tdrun taskdeck-fn "$work/spawn-sleepers-fn.lua"
            measure asyncio python3 "$shared/asyncio_bench.py" sleepers
            pqueue sleepers
            ;;
        queue-trivial)
            tdrun taskdeck --repeat 100000 -j 64 "$work/one.lua"
            inproc in-process queue-trivial
            measure asyncio python3 "$shared/asyncio_bench.py" trivial
            pqueue trivial
            ;;
        procs)
            tdrun taskdeck --repeat 500 -j 8 /bin/true
            measure xargs sh -c 'seq 500 | xargs -P8 -n1 /bin/true'
            measure asyncio python3 "$shared/asyncio_bench.py" procs
            ;;
        esac
    done >"$out"
    python3 - "$s" "$out" <<'EOF'
import collections, statistics, sys
s, path = sys.argv[1], sys.argv[2]
runs = collections.OrderedDict()
for line in open(path):
    name, wall, cpu, rss, rc = line.split()
    runs.setdefault(name, []).append((float(wall), float(cpu), int(rss), int(rc)))
med = {n: statistics.median(w for w, _, _, _ in r) for n, r in runs.items()}
for n, r in runs.items():
    walls = sorted(w for w, _, _, _ in r)
    bad = sum(1 for *_, rc in r if rc != 0)
    print("%-15s %-12s wall median %.3f s (%.3f-%.3f)  cpu median %.3f s  max rss %d KiB%s" % (
        s, n, med[n], walls[0], walls[-1], statistics.median(c for _, c, _, _ in r),
        max(x for _, _, x, _ in r), "  FAILED %d" % bad if bad else ""))
base = med.get("taskdeck")
for n in med:
    if n != "taskdeck" and base:
        print("%-15s %-12s / taskdeck = %.2fx" % (s, n, med[n] / base))
EOF
done
