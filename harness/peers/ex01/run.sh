#!/usr/bin/env bash
# harness/peers/ex01/run.sh - exercise 1's benchmark for `make bench`: the
# reference's ex01_fetch_concurrent / ex01_fetch_sequential (fetch_c.c) against
# the course's aiohttp original (fetch.py), on the same delay server.
#
#   BENCH_OUT=build/bench [BENCH_QUICK=1] harness/peers/ex01/run.sh
#
# Run from the repository root.  Prints one JSON line per (case,
# implementation) on stdout (medians of runs alternated C, Python, C, ...);
# progress goes to stderr.  Cases: 10 and 1000 URLs of 100 ms fetched
# concurrently (wall time against the 100 ms limit), and 10 URLs of 100 ms one
# after another.  The delay server (build/bin/delay-server) is one process
# shared by both sides, started with EVENT_PRECISE_TIMER=1 so that its 100 ms
# are 100 ms and not "100 ms, rounded up to the next 4 ms kernel tick".
set -euo pipefail

OUT=${BENCH_OUT:-build/bench}
W=$OUT/ex01
PY=/usr/bin/python3
REPORT=scripts/bench_report.py
QUICK=${BENCH_QUICK:-0}
MS=100
NAME=ex01
# shellcheck source=harness/peers/common/lib.sh
source harness/peers/common/lib.sh

[[ -f harness/peers/ex01/run.sh ]] || { log "run me from the repository root"; exit 2; }
mkdir -p "$W"
# 1000 connections at once on each side (and the server's 1000).
if (( $(ulimit -n) < 4096 )); then ulimit -n 4096; fi

log "building the reference at -O2 and the delay server"
make -s build/o2/bin/ex01 build/bin/delay-server >&2
# shellcheck disable=SC2046
gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Wpedantic -Werror \
    -Iskeletons/ex01_comparison harness/peers/ex01/fetch_c.c \
    "build/o2/obj/todo/bench/ex01_comparison/ex01.o" "build/obj/bench/skeletons/ex01_comparison/ex01_util.o" \
    $(pkg-config --cflags --libs libevent) -o "$W/fetch-c"

start_delay_server

failed=0
# measure CASE N MODE RUNS IMPL::COMMAND... : alternates the implementations,
# RUNS rounds, then prints one aggregated line per implementation.
measure() {
    local case=$1 n=$2 mode=$3 runs=$4; shift 4
    local names=() cmds=() i r f
    for spec in "$@"; do names+=("${spec%%::*}"); cmds+=("${spec#*::}"); done
    (( QUICK )) && runs=1
    for i in "${!names[@]}"; do : >"$W/runs.$i"; done
    for r in $(seq "$runs"); do
        for i in "${!names[@]}"; do
            # shellcheck disable=SC2086
            if ! timeout 30 ${cmds[$i]} --port "$port" --n "$n" --ms "$MS" "$mode" \
                    >>"$W/runs.$i" 2>"$W/err"; then
                log "$case / ${names[$i]}: run $r failed: $(head -c 300 "$W/err")"
                failed=1
            fi
            sleep 0.2
        done
        log "$case: round $r/$runs done"
    done
    for i in "${!names[@]}"; do
        f=$W/runs.$i
        # A failed run printed a line with ok < n, or nothing: keep the good runs.
        grep -F "\"ok\": $n," "$f" >"$f.ok" || true
        [[ -s $f.ok ]] || { log "$case / ${names[$i]}: no successful run"; continue; }
        $PY "$REPORT" aggregate --exercise ex01 --case "$case" --impl "${names[$i]}" \
            --primary wall_ms --metrics wall_ms,wall_x_limit,cpu_ms,peak_rss_kb \
            --derive "wall_x_limit=wall_ms/$MS" <"$f.ok"
    done
}

C="$W/fetch-c"
PEER="$PY harness/peers/ex01/fetch.py"
# aiohttp's ClientSession opens at most 100 connections at once by default:
# 1000 URLs are measured with that default and with no limit (the C
# reference opens one connection per URL).
measure "10 URLs x 100 ms, concurrent" 10 concurrent 5 \
    "C (reference)::$C" "aiohttp::$PEER"
measure "1000 URLs x 100 ms, concurrent" 1000 concurrent 5 \
    "C (reference)::$C" "aiohttp, no connection limit::$PEER --limit 0" \
    "aiohttp, default limit (100)::$PEER"
measure "10 URLs x 100 ms, sequential" 10 sequential 3 \
    "C (reference)::$C" "aiohttp::$PEER"
exit "$failed"
