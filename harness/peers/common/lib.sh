# shellcheck shell=bash
# lib.sh - shell helpers shared by harness/peers/ex01/run.sh and ex02/run.sh.
# Source it after setting NAME (the exercise, for log lines) and W (the
# work folder).  It installs the EXIT/INT/TERM traps that stop every process
# whose pid is in the array `pids`.

pids=()

log() { echo "$NAME: $*" >&2; }

# shellcheck disable=SC2317  # called by the trap
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Starts build/bin/delay-server on a free port (precise timers, so that its
# 100 ms are 100 ms) and sets `port`; exits 1 when it does not start.
start_delay_server() {
    EVENT_PRECISE_TIMER=1 build/bin/delay-server --port 0 --quiet >"$W/delay-server.out" 2>&1 &
    pids+=($!)
    port=
    for _ in $(seq 50); do
        port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/delay-server.out" | head -1)
        [[ -n $port ]] && break
        sleep 0.1
    done
    [[ -n $port ]] || { log "the delay server did not start: $(cat "$W/delay-server.out")"; exit 1; }
    log "delay server on port $port"
}
