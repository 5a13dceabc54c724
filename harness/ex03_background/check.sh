#!/usr/bin/env bash
# check.sh - exercise 3's extra checks, run by `make check` from the top
# folder: the program build/ref/bin/ex03-server as a real process, driven by
# real third-party HTTP code (Python's urllib as the client, Python's
# http.server as the notification receiver), stopped with real signals.
#
#  0. bad arguments are refused with exit status 2 and a message; --help
#     lists every option;
#  1. POST /users answers 201 at once while the receiver takes 500 ms; the
#     receiver gets the notification with its Idempotency-Key;
#  2. with the receiver gone, a second user is accepted, and SIGTERM stops
#     the server cleanly (exit 0) with that notification pending;
#  3. started again (receiver back, on another port), the server delivers
#     it; SIGINT stops it cleanly with nothing pending.
# The servers run with --max-body 4096 (a bigger body gets 413) and the
# other options of struct ex03_config set.
# Bounded: every wait has a deadline; the whole check takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
server=${EX03_SERVER:-build/ref/bin/ex03-server}
[[ -x $server ]] || { echo "ex03 check: $server is missing (make ref-all)" >&2; exit 1; }
exec timeout 60 /usr/bin/python3 - "$server" <<'PY'
import http.server, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time
import urllib.request, urllib.error

server_bin = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="ex03-check-")
db = os.path.join(tmp, "users.db")
received = []
procs = []

def fail(msg):
    print("ex03 check: FAILED:", msg, file=sys.stderr)
    for p in procs:
        if p.poll() is None:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1)

class Receiver(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so that once the receiver is
    # shut down nothing of it still answers on a kept-alive connection.
    protocol_version = "HTTP/1.0"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received.append((self.headers.get("Idempotency-Key"), json.loads(body)))
        time.sleep(0.5)                      # a slow receiver
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

def start_receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

def start_server(notify_port):
    p = subprocess.Popen([server_bin, "--port", "0", "--db", db, "--notify-url",
                          f"http://127.0.0.1:{notify_port}/notify", "--max-body", "4096",
                          "--retry-base-ms", "100", "--retry-max-ms", "400",
                          "--notify-timeout-ms", "2000", "--max-deliveries", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(p)
    line = p.stdout.readline()
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        fail(f"the server did not say where it listens: {line!r}")
    return p, int(m.group(1))

def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null"), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), time.monotonic() - t0

def wait_for(cond, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    fail(what)

def stop(p, sig, expect_pending):
    p.send_signal(sig)
    try:
        out, _ = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        fail(f"the server did not stop within 5 s of signal {sig}")
    if p.returncode != 0:
        fail(f"the server exited with status {p.returncode} after signal {sig}:\n{out}")
    want = f"{expect_pending} notification{'' if expect_pending == 1 else 's'} pending"
    if want not in out:
        fail(f"after signal {sig} the server should report '{want}'; it said:\n{out}")

# 0. arguments
for args, words in ((["--port", "eighty"], "--port takes a number"),
                    (["--retry-base-ms", "0"], "--retry-base-ms takes 1.."),
                    (["--max-deliveries", "257"], "--max-deliveries takes 1..256"),
                    (["--max-body", "12k"], "--max-body takes a number"),
                    (["--db"], "--db needs a value"),
                    (["--nope"], "unknown option")):
    r = subprocess.run([server_bin, *args], capture_output=True, text=True, timeout=5)
    if r.returncode != 2 or words not in r.stderr:
        fail(f"ex03-server {' '.join(args)}: expected exit status 2 and '{words}'; got "
             f"{r.returncode}: {r.stderr!r}")
r = subprocess.run([server_bin, "--help"], capture_output=True, text=True, timeout=5)
for opt in ("--addr", "--port", "--db", "--notify-url", "--max-body", "--retry-base-ms",
            "--retry-max-ms", "--notify-timeout-ms", "--max-deliveries"):
    if r.returncode != 0 or opt not in r.stdout:
        fail(f"ex03-server --help should exit 0 and list {opt}; got {r.returncode}: {r.stdout!r}")

# 1. reply at once, notify after
recv = start_receiver()
p, port = start_server(recv.server_address[1])
status, _, _ = call(port, "POST", "/users", {"name": "Big", "email": "big@example.org",
                                             "pad": "x" * 5000})
if status != 413:
    fail(f"POST /users with a body over --max-body 4096: expected 413, got {status}")
status, user, secs = call(port, "POST", "/users", {"name": "Ada", "email": "ada@example.org"})
if status != 201 or secs > 0.3:
    fail(f"POST /users: expected 201 in under 0.3 s (receiver takes 0.5 s); got {status} in {secs:.3f} s")
wait_for(lambda: len(received) == 1, 3, "the receiver got no notification within 3 s")
key, note = received[0]
if key != f"user-created-{user['id']}" or note.get("user") != user or note.get("event") != "user.created":
    fail(f"unexpected notification: key {key!r}, body {note!r}, user {user!r}")
status, health, _ = call(port, "GET", "/health")
if status != 200 or health.get("status") != "ok":
    fail(f"GET /health: {status} {health!r}")

# 2. receiver gone: accepted anyway, pending at SIGTERM
recv.shutdown(); recv.server_close()
status, user2, secs = call(port, "POST", "/users", {"name": "Grace", "email": "grace@example.org"})
if status != 201:
    fail(f"POST /users with the receiver down: expected 201, got {status}")
time.sleep(0.3)
stop(p, signal.SIGTERM, 1)

# 3. restart: the pending one is delivered
recv = start_receiver()
p, port = start_server(recv.server_address[1])
wait_for(lambda: any(k == f"user-created-{user2['id']}" for k, _ in received), 3,
         "after a restart, the pending notification was not delivered within 3 s")
wait_for(lambda: call(port, "GET", "/health")[1].get("pending_notifications") == 0, 3,
         "after the delivery, /health still reports pending notifications")
if sum(1 for k, _ in received if k == f"user-created-{user2['id']}") != 1:
    fail(f"the second notification arrived more than once: {received!r}")
stop(p, signal.SIGINT, 0)
recv.shutdown(); recv.server_close()
shutil.rmtree(tmp, ignore_errors=True)
print(f"ex03 check: ok (201 in {secs * 1000:.1f} ms with a 500 ms receiver; "
      f"{len(received)} notifications; clean stop on SIGTERM and SIGINT; resumed after restart)")
PY
