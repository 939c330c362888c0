#!/usr/bin/env bash
# A/B: every taskdeck-bench scenario, with and without a task store, from two builds run
# alternately in one sitting (A then B, ROUNDS times), so that the machine's drift hits
# both alike. Prints one line per scenario: both medians of wall_s and B/A.
# Usage: tests/bench/ab.sh BUILD_A BUILD_B [ROUNDS=7] [SCENARIO...]
set -uo pipefail
a="$1/taskdeck-bench"
b="$2/taskdeck-bench"
rounds="${3:-7}"
shift $(( $# < 3 ? $# : 3 ))
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(queue-trivial spawn-trivial spawn-sleepers limited procs cpu)

wall() { # bench scenario [--store]
    local bench="$1" scenario="$2" store="" out
    if [ "${3:-}" = --store ]; then
        store="$(mktemp -d)"
        out="$("$bench" "$scenario" --store "$store" 2>/dev/null | tail -1)"
        rm -rf "$store"
    else
        out="$("$bench" "$scenario" 2>/dev/null | tail -1)"
    fi
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["wall_s"])' "$out"
}
median() { python3 -c 'import statistics,sys; print("%.4f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

for s in "${scenarios[@]}"; do
    for store in "" --store; do
        as=() bs=()
        for ((i = 0; i < rounds; i++)); do
            as+=("$(wall "$a" "$s" $store)")
            bs+=("$(wall "$b" "$s" $store)")
        done
        ma="$(median "${as[@]}")"
        mb="$(median "${bs[@]}")"
        printf '%-16s %-8s A %s s  B %s s  B/A %s\n' "$s" "${store:-nostore}" "$ma" "$mb" \
            "$(python3 -c "print('%.3f' % ($mb / $ma))")"
    done
done
