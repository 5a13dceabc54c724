#!/usr/bin/python3
"""interop.py - exercise 4 against a WebSocket client nobody here wrote.

    /usr/bin/python3 harness/ex04_websocket/interop.py PORT

Talks to a running ex04-server on 127.0.0.1:PORT with Debian's
python3-websockets (10.4, asyncio API): two users join, chat, ping, send a
fragmented message and a 1 MiB message, a taken name is refused, a bad
message gets an error, the chat page is served, and both users close
cleanly.  Prints one line per step; exits 1 at the first failure.
"""
import asyncio
import json
import sys
import urllib.request

import websockets

PORT = int(sys.argv[1])
URI = f"ws://127.0.0.1:{PORT}/ws?name="
STEP_TIMEOUT = 10


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


def ok(msg):
    print(f"interop: ok: {msg}", flush=True)


async def recv_json(ws, what):
    try:
        raw = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"{what}: nothing received within {STEP_TIMEOUT} s")
    except websockets.ConnectionClosed as e:
        fail(f"{what}: the connection closed ({e.code} {e.reason!r})")
    if not isinstance(raw, str):
        fail(f"{what}: expected a text frame, got {type(raw).__name__}")
    return json.loads(raw)


async def expect(ws, want, what):
    got = await recv_json(ws, what)
    if got != want:
        shown = {k: (v[:60] + "...") if isinstance(v, str) and len(v) > 60 else v
                 for k, v in got.items()}
        fail(f"{what}: expected {want if len(str(want)) < 200 else '(large)'}, got {shown}")


async def connect(name):
    return await websockets.connect(URI + name, max_size=8 << 20, open_timeout=STEP_TIMEOUT,
                                    close_timeout=STEP_TIMEOUT, ping_interval=None)


async def main():
    ann = await connect("ann")
    await expect(ann, {"type": "users", "users": ["ann"]}, "ann's user list")
    bob = await connect("bob")
    await expect(bob, {"type": "users", "users": ["ann", "bob"]}, "bob's user list")
    await expect(ann, {"type": "join", "user": "bob"}, "ann sees bob join")
    ok("two users joined, user list and join event")

    await ann.send(json.dumps({"type": "message", "text": "salut bob, ça va ?"}))
    want = {"type": "message", "from": "ann", "text": "salut bob, ça va ?"}
    await expect(ann, want, "ann's message back to ann")
    await expect(bob, want, "ann's message to bob")
    ok("a message reaches both users, with its sender")

    pong = await bob.ping(b"interop")
    try:
        await asyncio.wait_for(pong, STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail("no pong for bob's ping")
    ok("ping answered with a pong")

    # A fragmented message: websockets sends an iterable as fragments.
    await bob.send(['{"type":"mess', 'age","text":"in three', ' fragments"}'])
    want = {"type": "message", "from": "bob", "text": "in three fragments"}
    await expect(ann, want, "bob's fragmented message to ann")
    await expect(bob, want, "bob's fragmented message back to bob")
    ok("a fragmented message is reassembled")

    # Exactly 1 MiB of UTF-8 (CHAT_MAX_TEXT), multi-byte characters included.
    big = ("0123456789abcdéf€" * 65536).encode()[: 1 << 20].decode(errors="ignore")
    big += "x" * ((1 << 20) - len(big.encode()))
    await ann.send(json.dumps({"type": "message", "text": big}, ensure_ascii=False))
    want = {"type": "message", "from": "ann", "text": big}
    await expect(bob, want, "ann's 1 MiB message to bob")
    await expect(ann, want, "ann's 1 MiB message back to ann")
    ok(f"a large message ({len(big.encode())} bytes of UTF-8) arrives intact")

    await ann.send(json.dumps({"type": "message", "text": big + "!"}, ensure_ascii=False))
    got = await recv_json(ann, "the error for a text over 1 MiB")
    if got.get("type") != "error":
        fail(f"a text over CHAT_MAX_TEXT should get an error event, got {str(got)[:100]}")
    ok(f"a text over 1 MiB gets an error: {got['reason']!r}")

    await bob.send("this is not JSON")
    got = await recv_json(bob, "the error for a bad message")
    if got.get("type") != "error" or not isinstance(got.get("reason"), str):
        fail(f"a bad message should get an error event, got {got}")
    ok(f"a bad message gets an error: {got['reason']!r}")

    dup = await connect("ann")
    got = await recv_json(dup, "the refusal of a taken name")
    if got.get("type") != "error" or "taken" not in got.get("reason", ""):
        fail(f"a taken name should get an error event, got {got}")
    try:
        await asyncio.wait_for(dup.recv(), STEP_TIMEOUT)
        fail("the refused connection stayed open")
    except websockets.ConnectionClosed:
        pass
    await dup.wait_closed()
    if dup.close_code != 1008:
        fail(f"a taken name should be closed with 1008, got {dup.close_code}")
    ok(f"a taken name is refused: {got['reason']!r}, close {dup.close_code}")

    page = await asyncio.get_running_loop().run_in_executor(
        None, lambda: urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=STEP_TIMEOUT))
    body = page.read().decode()
    if page.status != 200 or "new WebSocket(" not in body:
        fail(f"GET / should serve the chat page, got {page.status}")
    ok("GET / serves the chat page")

    await bob.close(1000, "bye")
    if bob.close_code != 1000:
        fail(f"bob's clean close: the server answered code {bob.close_code}")
    await expect(ann, {"type": "leave", "user": "bob"}, "ann sees bob leave")
    ok("bob closed cleanly (1000), ann saw him leave")
    await ann.close()
    if ann.close_code != 1000:
        fail(f"ann's clean close: the server answered code {ann.close_code}")
    ok("ann closed cleanly")


try:
    asyncio.run(asyncio.wait_for(main(), 60))
except Failed as e:
    print(f"interop: FAILED: {e}", flush=True)
    sys.exit(1)
except asyncio.TimeoutError:
    print("interop: FAILED: the whole exchange took over 60 s", flush=True)
    sys.exit(1)
except (OSError, websockets.WebSocketException) as e:
    print(f"interop: FAILED: {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
print("interop: all passed", flush=True)
