#!/usr/bin/env bash
# SPEC section 8 benchmark cluster-trivial, one JSON line per measure (see BENCHMARKS.md).
# Starts its own redis-server (temp dir; unix socket for Taskdeck, TCP port for BullMQ),
# then:
#   trivial: one `taskdeck worker -j 64` (idle, connected), then `taskdeck submit --repeat
#            N ret1.lua`; wall time from just before the submit to the last task's
#            `finished` (Redis clock, ms); Redis commands per task from INFO commandstats
#            (reset right before the submit, the bench's own polling subtracted).
#   latency: an idle worker, M single submits one after another; per task `started` -
#            `submitted` (both written by the scripts from Redis TIME, ms): the median.
#   bullmq:  node bullmq_bench.mjs N against the same redis-server (needs
#            `npm install bullmq@5` in $BULLMQ_DIR, default /tmp/bq).
# Usage: tests/bench/cluster-bench.sh [BUILD_DIR] [trivial|latency|bullmq|all] [N] [M]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../../build}"
mode="${2:-all}"
n="${3:-20000}"
m="${4:-200}"
taskdeck="$build/taskdeck"
bq="${BULLMQ_DIR:-/tmp/bq}"
shared="$here/../../../shared/bench"

tmp="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
redis-server --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --port "$port" \
    --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" --daemonize no \
    >"$tmp/redis.log" 2>&1 &
redis_pid=$!
worker_pid=""
cleanup() {
    [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cli() { redis-cli -s "$tmp/redis.sock" "$@"; }
for _ in $(seq 100); do cli PING >/dev/null 2>&1 && break; sleep 0.05; done
url="unix://$tmp/redis.sock"
printf 'return 1\n' >"$tmp/ret1.lua"

now_ms() { date +%s%3N; }
# Total calls of every command so far (INFO commandstats).
calls() { cli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }'; }

start_worker() { # ns capacity
    "$taskdeck" worker --redis "$url" --namespace "$1" -j "$2" --name "bench-$1" \
        2>"$tmp/worker-$1.log" &
    worker_pid=$!
    for _ in $(seq 200); do
        [ "$(cli EXISTS "$1:worker:bench-$1")" = 1 ] && return 0
        sleep 0.05
    done
    echo "worker did not start: $(cat "$tmp/worker-$1.log")" >&2
    return 1
}
stop_worker() {
    kill "$worker_pid" 2>/dev/null
    wait "$worker_pid" 2>/dev/null
    worker_pid=""
}

trivial() {
    local ns=trivial polls=0 t0 last end total ended
    start_worker "$ns" 64 || return 1
    sleep 0.3 # idle: let its first claims and beats pass
    cli CONFIG RESETSTAT >/dev/null
    t0=$(now_ms)
    "$taskdeck" submit --redis "$url" --namespace "$ns" --repeat "$n" "$tmp/ret1.lua" \
        --json >/dev/null || return 1
    local submitted_ms=$(($(now_ms) - t0))
    last=$(cli GET "$ns:seq")
    # Done when the last few tasks and everything before have ended: poll cheaply, one
    # EVAL (3 commands: EVAL, ZCARD, HGET) every 20 ms.
    while :; do
        polls=$((polls + 1))
        ended=$(cli EVAL "if redis.call('ZCARD', KEYS[1]) == 0 and
            tonumber(redis.call('HGET', KEYS[2], '*') or '0') == 0 then return 1 end
            return 0" 2 "$ns:ready:default" "$ns:running")
        [ "$ended" = 1 ] && break
        sleep 0.02
    done
    total=$(($(calls) - polls * 3))
    stop_worker
    # The last end and the tasks that did not succeed, from the `task` column (common.lua).
    local bad summary
    summary=$(cli EVAL "local last, bad = 0, 0
        for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
            local t = cjson.decode(v)
            if (t.finished or 0) > last then last = t.finished end
            if t.state ~= 'succeeded' then bad = bad + 1 end
        end
        return {last, bad}" 1 "$ns:task")
    end=$(echo "$summary" | sed -n 1p)
    bad=$(echo "$summary" | sed -n 2p)
    awk -v n="$n" -v t0="$t0" -v end="$end" -v total="$total" -v subms="$submitted_ms" \
        -v bad="$bad" 'BEGIN {
        wall = (end - t0) / 1000
        printf "{\"scenario\": \"cluster-trivial\", \"n\": %d, \"wall_s\": %.3f, " \
               "\"jobs_per_s\": %d, \"submit_s\": %.3f, \"redis_commands\": %d, " \
               "\"commands_per_task\": %.2f, \"not_succeeded\": %d}\n",
               n, wall, n / wall, subms / 1000, total, total / n, bad }'
}

latency() {
    local ns=latency i id ids=()
    start_worker "$ns" 4 || return 1
    sleep 0.3
    for i in $(seq "$m"); do
        id=$("$taskdeck" submit --redis "$url" --namespace "$ns" "$tmp/ret1.lua" --json |
            sed 's/[^0-9]//g')
        ids+=("$id")
        sleep 0.02 # idle again before the next
    done
    sleep 0.5
    stop_worker
    cli EVAL "local out = {}
        for i, v in ipairs(redis.call('HMGET', KEYS[1], unpack(ARGV))) do
            local t = cjson.decode(v)
            out[i] = t.started - t.submitted
        end
        return out" 1 "$ns:task" "${ids[@]}" | sort -n >"$tmp/lat"
    awk -v m="$m" '{ a[NR] = $1 } END {
        printf "{\"scenario\": \"cluster-latency\", \"n\": %d, \"median_ms\": %s, " \
               "\"p90_ms\": %s, \"max_ms\": %s}\n", NR, a[int((NR + 1) / 2)],
               a[int(NR * 0.9)], a[NR] }' "$tmp/lat"
}

bullmq() {
    if [ ! -d "$bq/node_modules/bullmq" ]; then
        echo "{\"peer\": \"bullmq\", \"skipped\": \"no $bq/node_modules/bullmq\"}"
        return 0
    fi
    cp "$shared/bullmq_bench.mjs" "$bq/"
    cli CONFIG RESETSTAT >/dev/null
    local line
    line=$(cd "$bq" && REDIS_PORT="$port" node bullmq_bench.mjs "$n" | tail -1)
    echo "${line%\}}, \"commands_per_job\": $(awk -v c="$(calls)" -v n="$n" \
        'BEGIN { printf "%.2f", c / n }')}"
}

case "$mode" in
trivial) trivial ;;
latency) latency ;;
bullmq) bullmq ;;
all)
    bullmq
    trivial
    latency
    ;;
*)
    echo "usage: $0 [BUILD_DIR] [trivial|latency|bullmq|all] [N] [M]" >&2
    exit 2
    ;;
esac
