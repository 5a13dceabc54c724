#!/usr/bin/env bash
# test-browser.sh - `make test-browser`: the chat page of exercise 4 in a
# real browser (harness/ex04_websocket/browser_test.cjs: headless Chromium
# driven by playwright-core), against the reference's ex04-server, or
# SERVER=path/to/ex04-server.  make check runs it.  Chromium comes from
# Debian (chromium), playwright-core from the npm registry (scripts/tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

server=${SERVER:-build/ref/bin/ex04-server}
[[ -x $server ]] || make -s --no-print-directory "$server"
tools=$(scripts/tools.sh playwright-core)
log=$(mktemp)
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
node harness/ex04_websocket/browser_test.cjs "$tools" "http://127.0.0.1:$port/"
