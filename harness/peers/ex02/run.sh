#!/usr/bin/env bash
# harness/peers/ex02/run.sh - exercise 2's benchmark for `make bench`: the
# reference's ex02_fetch_with_limit (fetch_limit_c.c) against the course's
# fetch_with_limit in asyncio (fetch_with_limit.py: a Semaphore plus a token
# bucket with the same rules), on the same delay server.
#
#   BENCH_OUT=build/bench [BENCH_QUICK=1] harness/peers/ex02/run.sh
#
# Run from the repository root.  Prints one JSON line per (case,
# implementation) on stdout (medians of runs alternated C, Python, C, ...);
# progress goes to stderr.  The primary metric is the wall time; wall_x_ideal
# is the wall time over the ideal one: when the last job would end if every
# job started the instant the limits allow and took exactly its delay
# (fetch_with_limit.py --ideal computes it).
#
# Cases (200 jobs, at most 10 in flight, 5 ms between starts: rate 200/s,
# burst 1):
#   jobs of 20 ms:  the rate binds; ideal = 199 x 5 ms + 20 ms = 1015 ms
#                   (never more than 4 or 5 in flight);
#   jobs of 100 ms: the 10 slots bind; job i starts at 100 x (i / 10) +
#                   5 x (i % 10) ms, ideal = 1945 + 100 = 2045 ms.
# The C driver makes its loop as the workbook's tests do, with
# EVENT_BASE_FLAG_PRECISE_TIMER; one more row shows the reference on a plain
# event_base_new(), whose coarse clock (one 4 ms kernel tick) delays every
# token's timer.  The delay server runs with EVENT_PRECISE_TIMER=1.
set -euo pipefail

OUT=${BENCH_OUT:-build/bench}
W=$OUT/ex02
PY=/usr/bin/python3
REPORT=scripts/bench_report.py
PEER_PY=harness/peers/ex02/fetch_with_limit.py
QUICK=${BENCH_QUICK:-0}
NAME=ex02
# shellcheck source=harness/peers/common/lib.sh
source harness/peers/common/lib.sh

[[ -f harness/peers/ex02/run.sh ]] || { log "run me from the repository root"; exit 2; }
mkdir -p "$W"

log "building the reference at -O2 and the delay server"
make -s build/o2/bin/ex02 build/bin/delay-server >&2
# shellcheck disable=SC2046
gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Wpedantic -Werror \
    -Iskeletons/ex02_rate_limiter harness/peers/ex02/fetch_limit_c.c \
    "build/o2/obj/todo/bench/ex02_rate_limiter/ex02.o" "build/obj/bench/skeletons/ex02_rate_limiter/ex02_http.o" \
    $(pkg-config --cflags --libs libevent) -lm -o "$W/fetch-limit-c"

start_delay_server

failed=0
# measure CASE N MS MAX RATE BURST RUNS IMPL::COMMAND... : alternates the
# implementations, RUNS rounds, then prints one aggregated line per
# implementation.
measure() {
    local case=$1 n=$2 ms=$3 max=$4 rate=$5 burst=$6 runs=$7; shift 7
    local names=() cmds=() i r f ideal
    for spec in "$@"; do names+=("${spec%%::*}"); cmds+=("${spec#*::}"); done
    (( QUICK )) && runs=1
    ideal=$($PY "$PEER_PY" --ideal --n "$n" --ms "$ms" --max "$max" --rate "$rate" --burst "$burst")
    log "$case: ideal wall time $ideal ms"
    for i in "${!names[@]}"; do : >"$W/runs.$i"; done
    for r in $(seq "$runs"); do
        for i in "${!names[@]}"; do
            # shellcheck disable=SC2086
            if ! timeout 30 ${cmds[$i]} --port "$port" --n "$n" --ms "$ms" --max "$max" \
                    --rate "$rate" --burst "$burst" >>"$W/runs.$i" 2>"$W/err"; then
                log "$case / ${names[$i]}: run $r failed: $(head -c 300 "$W/err")"
                failed=1
            fi
            sleep 0.2
        done
        log "$case: round $r/$runs done"
    done
    for i in "${!names[@]}"; do
        f=$W/runs.$i
        grep -F "\"ok\": $n," "$f" >"$f.ok" || true
        [[ -s $f.ok ]] || { log "$case / ${names[$i]}: no successful run"; continue; }
        $PY "$REPORT" aggregate --exercise ex02 --case "$case" --impl "${names[$i]}" \
            --primary wall_ms --set "ideal_ms=$ideal" --derive "wall_x_ideal=wall_ms/$ideal" \
            --metrics wall_ms,ideal_ms,wall_x_ideal,max_in_flight,cpu_ms,peak_rss_kb <"$f.ok"
    done
}

C="$W/fetch-limit-c"
PEER="$PY $PEER_PY"
measure "200 jobs x 20 ms, max 10, 200/s" 200 20 10 200 1 5 \
    "C (reference)::$C" "asyncio + aiohttp::$PEER" \
    "C (reference), default event_base::$C --timer default"
measure "200 jobs x 100 ms, max 10, 200/s" 200 100 10 200 1 3 \
    "C (reference)::$C" "asyncio + aiohttp::$PEER"
exit "$failed"
