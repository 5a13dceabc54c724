#!/usr/bin/env bash
# harness/peers/ex03/run.sh - exercise 3 side by side: POST /users on our
# reference server (build/o2/bin/ex03-server) against the FastAPI
# original (app.py here, on uvicorn), with the delivery of the user.created
# notifications measured as well as the replies.
#
#   BENCH_OUT=build/bench [BENCH_QUICK=1] bash harness/peers/ex03/run.sh
#
# Called by `make bench` from the repository root.  One run (ex03_load.c):
# a fresh SQLite database (in /dev/shm when it exists), the server started
# with its notifications going to a C receiver, 50 kept-alive connections
# sending POST /users (distinct emails) one request at a time each for
# DURATION seconds, then up to DRAIN_MAX seconds for the notifications still
# queued, then the users table against the keys received.  Runs alternate
# (C, FastAPI, C, ...); RUNS of each (1 with BENCH_QUICK=1).  The issue asks
# for 10 s of load; 5 s keeps the whole script under 75 s and is long enough
# for the backlog of notifications to show.
#
# Stdout: one line of JSON per implementation (the framework's format), the
# median of the runs for every metric except "lost", "duplicates", "errors"
# and "malformed", which are the worst run's:
#   req_per_s, p50_ms, p99_ms     POST /users replies (201 only) during the load
#   drain_ms                      last notification's arrival - last reply
#   notified_rows_per_s           rows notified / (load time + drain time)
#   pending_at_load_end           rows not yet notified when the load stopped
#   delivered_per_s_during_load   notifications received during the load
#   notify_lag_p50_ms, _p99_ms    a row's reply to its notification's arrival
#   lost, duplicates              rows never notified (by the end of the
#                                 drain), notifications received twice
#   outbox_pending_after_stop     ours only: outbox rows still pending once stopped
#   peak_rss_kb                   the server's VmHWM at the end of the run
#   server_cpu_pct, server_cpu_us_per_req, loadgen_cpu_pct  (during the load)
# Progress and the raw runs go to stderr; the servers' output to
# $BENCH_OUT/ex03/*.log.
set -euo pipefail

out=${BENCH_OUT:-build/bench}
runs=3 duration=5 drain_max=8
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    runs=1 duration=2
fi
conns=50
case_name="POST /users, $conns connections, $duration s"
here=harness/peers/ex03
work=$out/ex03
dbdir=$work
[[ -d /dev/shm && -w /dev/shm ]] && dbdir=/dev/shm
db=$dbdir/ex03-bench-$$.db
load_pid=

cleanup() {
    if [[ -n $load_pid ]]; then
        kill "$load_pid" 2>/dev/null || true     # it takes its server with it
        wait "$load_pid" 2>/dev/null || true
    fi
    rm -f "$db" "$db-wal" "$db-shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"
echo "ex03: building the reference server and the load generator..." >&2
make -s build/o2/bin/ex03-server >&2
# shellcheck disable=SC2046
gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -o "$out/ex03-load" "$here/ex03_load.c" \
    $(pkg-config --cflags --libs libevent libevent_pthreads sqlite3) -lpthread
/usr/bin/python3 -c 'import fastapi, uvicorn, aiohttp' 2>/dev/null || {
    echo "ex03: FastAPI, uvicorn or aiohttp is missing (scripts/ensure-deps.sh --bench)" >&2
    exit 1
}

impl_c="C (reference)"
impl_py="FastAPI 0.92 + uvicorn (Python)"
results=$work/runs.jsonl
: >"$results"

# one_run IMPL SERVER-COMMAND...: one measurement, appended to $results.
one_run() {
    local impl=$1 line
    shift
    rm -f "$db" "$db-wal" "$db-shm"
    "$out/ex03-load" --conns "$conns" --duration "$duration" --drain-max "$drain_max" \
        --db "$db" --log "$work/$([[ $impl == C* ]] && echo c || echo fastapi).log" \
        -- "$@" >"$work/last.json" &
    load_pid=$!
    if ! wait "$load_pid"; then
        load_pid=
        echo "ex03: a run of $impl failed" >&2
        return 1
    fi
    load_pid=
    line=$(<"$work/last.json")
    echo "ex03: $impl: $line" >&2
    printf '{"impl": "%s", "metrics": %s}\n' "$impl" "$line" >>"$results"
}

for ((i = 1; i <= runs; i++)); do
    echo "ex03: run $i/$runs" >&2
    one_run "$impl_c" build/o2/bin/ex03-server --port '{PORT}' --db "$db" \
        --notify-url '{NOTIFY}'
    one_run "$impl_py" /usr/bin/python3 "$here/app.py" --port '{PORT}' --db "$db" \
        --notify-url '{NOTIFY}'
done

/usr/bin/python3 - "$results" "$case_name" "$impl_c" "$impl_py" <<'EOF'
import json, statistics, sys

path, case, *impls = sys.argv[1:]
rows = [json.loads(line) for line in open(path)]
worst = {"lost", "duplicates", "errors", "malformed"}
for impl in impls:
    runs = [r["metrics"] for r in rows if r["impl"] == impl]
    metrics = {}
    for k in runs[0]:
        values = [m[k] for m in runs]
        if k == "outbox_pending_after_stop" and max(values) < 0:
            continue                  # -1: no outbox table (the FastAPI peer)
        v = max(values) if k in worst else statistics.median(values)
        metrics[k] = round(v, 3) if isinstance(v, float) else v
    print(json.dumps({"exercise": "ex03", "case": case, "impl": impl, "primary": "req_per_s",
                      "higher_is_better": True, "metrics": metrics, "runs": len(runs)}))
EOF
