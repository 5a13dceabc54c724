#!/usr/bin/env bash
# run.sh - exercise 4's side-by-side benchmark for `make bench` (issue 8): the
# WebSocket mini-chat, C reference (ex04-server at -O2) against Node's `ws`,
# Python websockets and FastAPI, all four speaking the chat's JSON protocol
# (skeletons/ex04_websocket/chat.h), driven by one load generator in C on
# libevent (loadgen.c) with the same settings for everyone.
#
#   BENCH_OUT=build/bench [BENCH_QUICK=1] bash harness/peers/ex04/run.sh
#
# Each run starts a fresh server and one load generator that: joins a warm-up
# client and lets it leave; reads the server's VmRSS with 0 clients; joins 100
# clients in batches of 50, reads VmRSS idle, runs a short unmeasured load,
# then the measured window (10 senders, each with at most WINDOW messages in
# flight, for SECONDS s, then drained: every message reaches every client);
# then joins 400 more and measures again with 500.  Runs alternate C, Node,
# websockets, FastAPI, RUNS times; the medians are printed.
#
# Stdout: one JSON line per (case, implementation), in the framework's
# format; progress and the raw runs go to stderr and $BENCH_OUT/ex04/.
# Metrics: deliveries_per_s (chat messages received by all clients per
# second), p50_ms/p99_ms (send to receipt, every receipt), server CPU per
# delivery in µs (utime+stime from /proc/PID/stat over the window),
# mem_per_client_kib ((VmRSS with N idle clients - VmRSS with 0) / N; for 500
# it also holds what the 100-client load left in the heap), peak_rss_kb
# (VmHWM), loadgen_cpu_util (the generator's CPU over the window: under 1 it
# is not the bottleneck), server_cpu_util.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${BENCH_OUT:-build/bench}
QUICK=${BENCH_QUICK:-0}
DIR=$OUT/ex04
RUNS=3
SECONDS_PER_WINDOW=1
WINDOW=4
SENDERS=10
CLIENTS=100,500
if [[ $QUICK == 1 ]]; then
    RUNS=1
    SECONDS_PER_WINDOW=0.5
fi
mkdir -p "$DIR"
log() { echo "ex04: $*" >&2; }

# ---- build ---------------------------------------------------------------
server_c=build/o2/bin/ex04-server
make -s --no-print-directory "$server_c" >&2
loadgen=$OUT/ex04-loadgen
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
gcc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror harness/peers/ex04/loadgen.c -o "$loadgen" \
    $(pkg-config --cflags --libs libevent libcrypto)

node_modules=$OUT/node/node_modules
impls=(c)
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if ! grep -qs '"version": "8.18.0"' "$node_modules/ws/package.json"; then
        log "installing ws@8.18.0 into $OUT/node"
        npm install --prefix "$OUT/node" --no-audit --no-fund ws@8.18.0 >&2 || true
    fi
    if grep -qs '"version": "8.18.0"' "$node_modules/ws/package.json"; then
        impls+=(node)
    else
        log "skipping Node ws: npm could not install ws@8.18.0"
    fi
else
    log "skipping Node ws: node or npm missing"
fi
if /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
    impls+=(websockets)
else
    log "skipping Python websockets: python3-websockets missing"
fi
# uvicorn picks its WebSocket backend among the installed ones: it must find
# python3-websockets (wsproto is the other choice; Debian ships neither by
# default with uvicorn).
if /usr/bin/python3 -c 'import fastapi, uvicorn.protocols.websockets.websockets_impl' 2>/dev/null
then
    impls+=(fastapi)
else
    log "skipping FastAPI: python3-fastapi, python3-uvicorn or python3-websockets missing"
fi

label() {
    case $1 in
        c) echo "C (reference)" ;;
        node) echo "Node ws 8.18.0" ;;
        websockets) echo "Python websockets 10.4" ;;
        fastapi) echo "FastAPI 0.92 + uvicorn (Python)" ;;
    esac
}

# ---- one run -------------------------------------------------------------
pid=
stop_server() {
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

raw=$DIR/raw.jsonl
: >"$raw"

# run_one IMPL ROUND: one server, one load generator; appends to $raw.
run_one() {
    local impl=$1 round=$2 slog=$DIR/server-$1.log port='' out exe
    case $impl in
        c) "$server_c" --port 0 >"$slog" 2>&1 & ;;
        node) NODE_PATH=$node_modules node harness/peers/ex04/chat_node.js 0 >"$slog" 2>&1 & ;;
        websockets) /usr/bin/python3 harness/peers/ex04/chat_websockets.py 0 >"$slog" 2>&1 & ;;
        fastapi) /usr/bin/python3 harness/peers/ex04/chat_fastapi.py 0 >"$slog" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 200); do
        port=$(sed -n 's|^.*listening on \(http://127\.0\.0\.1:\)\{0,1\}\([0-9][0-9]*\)/\{0,1\}$|\2|p' \
               "$slog" | head -n1)
        [[ -n $port ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $port ]]; then
        log "$impl did not start:"
        cat "$slog" >&2
        stop_server
        return 1
    fi
    # The load generator reads /proc/$pid: it must be the server itself.
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    case $impl:$exe in
        c:*/ex04-server | node:*node* | websockets:*python3* | fastapi:*python3*) ;;
        *)
            log "$impl: pid $pid runs '$exe', not the server"
            stop_server
            return 1
            ;;
    esac
    if ! out=$(timeout 60 "$loadgen" --port "$port" --pid "$pid" --clients "$CLIENTS" \
               --senders "$SENDERS" --window "$WINDOW" --seconds "$SECONDS_PER_WINDOW" \
               2>"$DIR/loadgen-$impl.log"); then
        log "run $round of $impl failed:"
        cat "$DIR/loadgen-$impl.log" >&2
        stop_server
        return 1
    fi
    stop_server
    while IFS= read -r line; do
        log "run $round $impl: $line"
        printf '{"impl": "%s", "round": %d, "m": %s}\n' "$impl" "$round" "$line" >>"$raw"
    done <<<"$out"
}

t0=$SECONDS
log "implementations: ${impls[*]}; $RUNS runs each, alternated; clients $CLIENTS"
failed=0
for round in $(seq "$RUNS"); do
    for impl in "${impls[@]}"; do
        # A round takes about 20 s on 2 cores: never start a run that could
        # push the whole script past 75 s (a slow machine gets fewer runs,
        # and "runs" says how many).
        if ((SECONDS - t0 > 58)); then
            log "over 58 s: no more runs (round $round, $impl)"
            break 2
        fi
        run_one "$impl" "$round" || failed=1
    done
done
log "runs took $((SECONDS - t0)) s"

# ---- medians -------------------------------------------------------------
/usr/bin/python3 - "$raw" "$SENDERS" "$WINDOW" "$SECONDS_PER_WINDOW" \
    "$(label c)" "$(label node)" "$(label websockets)" "$(label fastapi)" <<'EOF'
import json, statistics, sys

raw, senders, window, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
labels = dict(zip(["c", "node", "websockets", "fastapi"], sys.argv[5:9]))
runs = {}
for line in open(raw):
    r = json.loads(line)
    runs.setdefault((r["m"]["clients"], r["impl"]), []).append(r["m"])
keys = [("deliveries_per_s", 1), ("p50_ms", 3), ("p99_ms", 3),
        ("server_cpu_us_per_delivery", 3), ("mem_per_client_kib", 2), ("hwm_kb", 0),
        ("server_cpu_util", 3), ("loadgen_cpu_util", 3)]
for clients in sorted({c for c, _ in runs}):
    for impl in labels:
        ms = runs.get((clients, impl))
        if not ms:
            continue
        metrics = {}
        for k, nd in keys:
            v = statistics.median(m[k] for m in ms)
            metrics["peak_rss_kb" if k == "hwm_kb" else k] = round(v, nd) if nd else int(v)
        metrics["lost"] = sum(m["lost"] for m in ms)
        print(json.dumps({
            "exercise": "ex04",
            "case": f"{clients} clients, {senders} senders ({window} in flight each), {secs} s",
            "impl": labels[impl], "primary": "server_cpu_us_per_delivery",
            "higher_is_better": False, "metrics": metrics, "runs": len(ms)}))
EOF
exit $failed
