#!/usr/bin/env bash
# demo.sh - `make demo EX=exNN`: runs the reference's program of an
# exercise (built from solutions/, or from the prebuilt objects of a
# handout's reference/), so that you see what you are about to build.
#
#   make demo EX=ex01   10 URLs of 200 ms, one after another, then all at once
#   make demo EX=ex02   8 URLs through a limiter: a timeline of the starts
#   make demo EX=ex03   the server on http://127.0.0.1:8000/, with a receiver
#                       for its notifications; curl commands to try
#   make demo EX=ex04   the chat on http://127.0.0.1:8001/: open it in a browser
# PORT=N changes the port of ex03 and ex04.
set -euo pipefail
cd "$(dirname "$0")/.."

ex=${1:-}
case $ex in
    ex01|ex02|ex03|ex04) ;;
    *) echo "usage: make demo EX=ex01 (or ex02, ex03, ex04): the reference's program" >&2; exit 2 ;;
esac
progs=$(make -s --no-print-directory print-progs EXERCISE="$ex")
# shellcheck disable=SC2046
make -s --no-print-directory $(for p in $progs; do echo "build/ref/bin/$p"; done) build/bin/delay-server
echo "== the reference's program of $ex (yours is in build/bin/ once you have written it) =="

case $ex in
ex01)
    exec build/ref/bin/ex01 --demo ;;
ex02)
    exec build/ref/bin/ex02 --max 3 --rate 10 --burst 2 --demo 8 100 ;;
ex03)
    port=${PORT:-8000}
    mkdir -p build/demo
    rm -f build/demo/ex03.db build/demo/ex03.db-wal build/demo/ex03.db-shm
    build/bin/delay-server --port 0 >build/demo/receiver.log 2>&1 &
    receiver=$!
    trap 'kill $receiver 2>/dev/null' EXIT
    for _ in $(seq 50); do
        rport=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' build/demo/receiver.log | head -n1)
        [[ -n $rport ]] && break
        sleep 0.1
    done
    cat <<EOT
Try, in another terminal:
  curl -i -d '{"name":"Ada","email":"ada@example.org"}' http://127.0.0.1:$port/users
  curl -i http://127.0.0.1:$port/users/1
  curl -i 'http://127.0.0.1:$port/async?ms=500'     # the loop serves others meanwhile
  curl -i 'http://127.0.0.1:$port/sync?ms=500'      # the anti-pattern: blocks the loop
The notifications go to a test receiver that answers after 200 ms (its log:
build/demo/receiver.log).  Ctrl-C stops the server.
EOT
    build/ref/bin/ex03-server --port "$port" --db build/demo/ex03.db \
        --notify-url "http://127.0.0.1:$rport/delay?ms=200" ;;
ex04)
    port=${PORT:-8001}
    echo "Open http://127.0.0.1:$port/ in two browser windows and chat.  Ctrl-C stops the server."
    exec build/ref/bin/ex04-server --port "$port" ;;
esac
