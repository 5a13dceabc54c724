#!/usr/bin/python3
"""chat_websockets.py - exercise 4's chat on python3-websockets (10.4, asyncio
API), the same JSON protocol as skeletons/ex04_websocket/chat.h:

  GET /ws?name=NAME   join; {"type":"users"} to the newcomer, {"type":"join"}
                      to the others, {"type":"leave"} when a user goes;
  {"type":"message","text":...} is broadcast to everyone, the sender
                      included, as {"type":"message","from":...,"text":...}.

Written the way the websockets documentation does it: one handler coroutine
per connection, websockets.broadcast() to send one message to every user.
Prints "listening on PORT" once bound.

    /usr/bin/python3 chat_websockets.py [PORT]      (0, the default: a free port)
"""
import asyncio
import http
import json
import re
import signal
import sys
import urllib.parse

import websockets

MAX_MESSAGE = 2 << 20               # as ws_config's max_message
MAX_TEXT = 1 << 20                  # CHAT_MAX_TEXT
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
PAGE = (b'<!doctype html><meta charset="utf-8"><title>chat</title><pre id="log"></pre>'
        b'<script>const ws = new WebSocket(`ws://${location.host}/ws?name=` +'
        b' encodeURIComponent(prompt("name") || "")); ws.onmessage = (e) =>'
        b' { document.getElementById("log").textContent += e.data + "\\n"; };</script>\n')

users = {}                          # name -> connection, in join order


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def process_request(path, headers):
    """Plain HTTP: the page at /, 404 elsewhere; /ws goes on to the handshake."""
    if urllib.parse.urlsplit(path).path == "/ws":
        return None
    if path == "/":
        return http.HTTPStatus.OK, [("Content-Type", "text/html; charset=utf-8")], PAGE
    return http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"not found\n"


async def refuse(ws, reason):
    await ws.send(dumps({"type": "error", "reason": reason}))
    await ws.close(1008, reason)


async def handler(ws):
    names = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.path).query).get("name")
    name = names[0] if names else None
    if name is None:
        return await refuse(ws, "missing name: connect to /ws?name=NAME")
    if not NAME_RE.fullmatch(name):
        return await refuse(ws, "invalid name: 1 to 32 characters among A-Z a-z 0-9 _ -")
    if name in users:
        return await refuse(ws, f"name taken: {name}")
    users[name] = ws
    try:
        await ws.send(dumps({"type": "users", "users": list(users)}))
        websockets.broadcast([u for n, u in users.items() if n != name],
                             dumps({"type": "join", "user": name}))
        async for raw in ws:
            if not isinstance(raw, str):
                await ws.send(dumps({"type": "error",
                                     "reason": "binary frames are not supported: send JSON text"}))
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = None
            reason = None
            if not isinstance(msg, dict):
                reason = "not a JSON object"
            elif msg.get("type") != "message":
                reason = 'unknown type: expected {"type":"message","text":...}'
            elif not isinstance(msg.get("text"), str):
                reason = '"text" must be a string'
            elif len(msg["text"].encode()) > MAX_TEXT:
                reason = "text too long"
            if reason is not None:
                await ws.send(dumps({"type": "error", "reason": reason}))
                continue
            websockets.broadcast(users.values(),
                                 dumps({"type": "message", "from": name, "text": msg["text"]}))
    except websockets.ConnectionClosed:
        pass
    finally:
        del users[name]
        websockets.broadcast(users.values(), dumps({"type": "leave", "user": name}))


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(handler, "127.0.0.1", port, process_request=process_request,
                                max_size=MAX_MESSAGE) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
