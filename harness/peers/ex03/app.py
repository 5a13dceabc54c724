"""app.py - exercise 3's FastAPI original, the peer of build/bin/ex03-server
in the benchmark (harness/peers/ex03/run.sh).

    /usr/bin/python3 harness/peers/ex03/app.py [--addr A] [--port P] \
        [--db FILE] [--notify-url URL]

The course's example (module 2, section 5) written out the way its own table
says: the SQLite query is synchronous, so the endpoint is a plain `def`
("Query DB sync -> def, FastAPI gere": FastAPI runs it on its thread pool);
the notification is an external HTTP request, so it is `async` and runs on
the event loop after the response (`BackgroundTasks`).  The course names
httpx; Debian's python3-fastapi does not pull it in, so the client is
aiohttp (python3-aiohttp, installed for exercise 1), one ClientSession for
the application as aiohttp's documentation recommends.

Same contract as ours (skeletons/ex03_background/ex03.h) for POST /users:
201 with {"id", "name", "email", "created_at"} and "Location: /users/<id>",
409 on a duplicate email (case-insensitive), 422 from pydantic; then
POST <notify-url> with "Idempotency-Key: user-created-<id>" and the body
{"event": "user.created", "idempotency_key": ..., "user": {...}}.
What FastAPI does not give (the lesson of exercise 3): no outbox, no retry;
a notification that fails is logged and lost, and so are the ones still
queued when the process stops.

Settings: SQLite from the standard library, WAL and synchronous=NORMAL (as
ours), one connection shared by the pool's threads under a lock (sqlite3
objects must not be used by two threads at once; the lock also spares the
threads SQLite's busy-wait sleeps).  uvicorn as `uvicorn.run` starts it:
its default loop (asyncio here: Debian's uvicorn has no uvloop) and HTTP
parser (h11), one process; the access log is off (ours logs nothing per
request either).
"""
import argparse
import logging
import sqlite3
import threading
from datetime import datetime, timezone

import aiohttp
import uvicorn
from fastapi import BackgroundTasks, FastAPI, HTTPException, Response
from pydantic import BaseModel, constr

DB_PATH = "ex03.db"
NOTIFY_URL = "http://127.0.0.1:9090/notify"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  created_at TEXT NOT NULL);
"""

log = logging.getLogger("ex03-peer")
app = FastAPI()
db_lock = threading.Lock()
db: sqlite3.Connection
http: aiohttp.ClientSession


class UserIn(BaseModel):
    name: constr(strip_whitespace=False, min_length=1, max_length=100)
    email: constr(min_length=3, max_length=254, regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@app.on_event("startup")
async def startup():
    global db, http
    db = sqlite3.connect(DB_PATH, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    http = aiohttp.ClientSession()


@app.on_event("shutdown")
async def shutdown():
    await http.close()
    db.close()


def save_user(data: UserIn) -> dict:
    created_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    created_at = created_at.replace("+00:00", "Z")
    with db_lock:
        try:
            with db:                                  # one transaction
                cur = db.execute("INSERT INTO users(name, email, created_at) VALUES (?, ?, ?)",
                                 (data.name, data.email, created_at))
        except sqlite3.IntegrityError:
            raise HTTPException(status_code=409, detail="a user with this email exists")
    return {"id": cur.lastrowid, "name": data.name, "email": data.email,
            "created_at": created_at}


async def notify(user: dict):
    key = f"user-created-{user['id']}"
    body = {"event": "user.created", "idempotency_key": key, "user": user}
    try:
        async with http.post(NOTIFY_URL, json=body, headers={"Idempotency-Key": key}) as r:
            if r.status // 100 != 2:
                log.warning("notification %s: HTTP %d", key, r.status)
    except Exception as e:                            # no retry: it is lost
        log.warning("notification %s: %r", key, e)


@app.post("/users", status_code=201)
def create_user(data: UserIn, background_tasks: BackgroundTasks, response: Response):
    user = save_user(data)
    response.headers["Location"] = f"/users/{user['id']}"
    background_tasks.add_task(notify, user)           # after the response
    return user


def main():
    global DB_PATH, NOTIFY_URL
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--db", default=DB_PATH)
    p.add_argument("--notify-url", default=NOTIFY_URL)
    a = p.parse_args()
    DB_PATH, NOTIFY_URL = a.db, a.notify_url
    uvicorn.run(app, host=a.addr, port=a.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
