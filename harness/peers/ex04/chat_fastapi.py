#!/usr/bin/python3
"""chat_fastapi.py - exercise 4's chat as the course writes it: FastAPI
(Debian's python3-fastapi 0.92) on uvicorn (0.17.6, its default loop, one
worker, the websockets protocol backend), the same JSON protocol as
skeletons/ex04_websocket/chat.h:

  GET /ws?name=NAME   join; {"type":"users"} to the newcomer, {"type":"join"}
                      to the others, {"type":"leave"} when a user goes;
  {"type":"message","text":...} is broadcast to everyone, the sender
                      included, as {"type":"message","from":...,"text":...}.

The broadcast is the course's (and FastAPI's documentation's) ConnectionManager:
`await connection.send_text()` to each user in turn -- over a copy of the list,
so that a user leaving during the loop does not break it (the bug the
course's sample has).  Prints "listening on PORT" once bound.

    /usr/bin/python3 chat_fastapi.py [PORT]      (0, the default: a free port)
"""
import json
import socket
import sys

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

MAX_MESSAGE = 2 << 20               # as ws_config's max_message
MAX_TEXT = 1 << 20                  # CHAT_MAX_TEXT
PAGE = ('<!doctype html><meta charset="utf-8"><title>chat</title><pre id="log"></pre>'
        '<script>const ws = new WebSocket(`ws://${location.host}/ws?name=` +'
        ' encodeURIComponent(prompt("name") || "")); ws.onmessage = (e) =>'
        ' { document.getElementById("log").textContent += e.data + "\\n"; };</script>\n')

app = FastAPI()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def name_valid(name):
    return (name is not None and 1 <= len(name) <= 32
            and all(c.isascii() and (c.isalnum() or c in "_-") for c in name))


class ConnectionManager:
    def __init__(self):
        self.active = {}            # name -> WebSocket, in join order

    async def broadcast(self, text, except_name=None):
        for name, ws in list(self.active.items()):
            if name == except_name:
                continue
            try:
                await ws.send_text(text)
            except Exception:       # gone: its own handler removes it
                pass


manager = ConnectionManager()


@app.get("/")
async def page():
    return HTMLResponse(PAGE)


@app.websocket("/ws")
async def chat(websocket: WebSocket, name: str = None):
    await websocket.accept()
    reason = None
    if name is None:
        reason = "missing name: connect to /ws?name=NAME"
    elif not name_valid(name):
        reason = "invalid name: 1 to 32 characters among A-Z a-z 0-9 _ -"
    elif name in manager.active:
        reason = f"name taken: {name}"
    if reason is not None:
        await websocket.send_text(dumps({"type": "error", "reason": reason}))
        await websocket.close(code=1008, reason=reason)
        return
    manager.active[name] = websocket
    try:
        await websocket.send_text(dumps({"type": "users", "users": list(manager.active)}))
        await manager.broadcast(dumps({"type": "join", "user": name}), except_name=name)
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            raw = event.get("text")
            if raw is None:
                await websocket.send_text(dumps(
                    {"type": "error", "reason": "binary frames are not supported: send JSON text"}))
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
                await websocket.send_text(dumps({"type": "error", "reason": reason}))
                continue
            await manager.broadcast(dumps({"type": "message", "from": name, "text": msg["text"]}))
    except WebSocketDisconnect:
        pass
    finally:
        if manager.active.get(name) is websocket:
            del manager.active[name]
            await manager.broadcast(dumps({"type": "leave", "user": name}))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)               # uvicorn's default backlog
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", ws_max_size=MAX_MESSAGE)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
