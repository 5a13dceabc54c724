#!/usr/bin/env bash
# check.sh - exercise 4's extra check for `make check` (run from the top
# folder): the reference ex04-server against a real third-party client,
# python3-websockets (Debian's, through /usr/bin/python3), see interop.py.
# Bounded in time; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

server=build/ref/bin/ex04-server
out=build/check/ex04
mkdir -p "$out"
[[ -x $server ]] || make -s --no-print-directory "$server"
if ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
    echo "ex04 check: python3-websockets is missing (apt-get install python3-websockets)" >&2
    exit 1
fi

# Bad arguments: a message and exit status 2, before anything is started.
for bad in "--port x" "--port 70000" "--max-output 0" "--close-timeout" "--bogus 1"; do
    set +e
    # shellcheck disable=SC2086  # $bad is several words on purpose
    "$server" $bad >"$out/args.log" 2>&1
    st=$?
    set -e
    if [[ $st -ne 2 || ! -s $out/args.log ]]; then
        echo "ex04 check: ex04-server $bad should print a message and exit 2, got status $st:"
        cat "$out/args.log"
        exit 1
    fi
done

log=$out/server.log
"$server" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
port=
for _ in $(seq 50); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log" | head -n1)
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "ex04 check: the server did not start:"; cat "$log"; exit 1; }

rc=0
timeout 90 /usr/bin/python3 harness/ex04_websocket/interop.py "$port" || rc=$?
kill -TERM "$pid"
wait "$pid" || { echo "ex04 check: ex04-server did not exit 0 on SIGTERM:"; cat "$log"; rc=1; }
trap - EXIT
grep -q 'stopped with 0 users' "$log" || { echo "ex04 check: users left behind:"; cat "$log"; rc=1; }
[[ $rc -eq 0 ]] || { echo "ex04 check: FAILED (server log: $log)"; cat "$log"; }
exit $rc
