#!/usr/bin/python3
"""fetch.py - exercise 1 in Python, the course's original: fetch URLs one after
another (await in a for loop), then all at once (asyncio.gather), with aiohttp.
The Python side of exercise 1's benchmark (harness/peers/ex01/run.sh); its C
twin is fetch_c.c, on the reference's ex01_fetch_sequential/_concurrent.

    /usr/bin/python3 fetch.py --port P --n N --ms MS [--limit L] concurrent|sequential

Fetches http://127.0.0.1:P/delay?ms=MS&id=i for i = 0..N-1 and prints one line
of JSON: {"wall_ms", "cpu_ms", "peak_rss_kb", "ok", "n"} (same meanings as
fetch_c.c: the fetch alone is timed, not the interpreter's start).

--limit is aiohttp's connector limit: how many connections one ClientSession
opens at once.  aiohttp's default is 100, so a gather of 1000 URLs on a
default session runs 100 at a time; run.sh measures it both ways (0 = no
limit, like the C reference, which opens one connection per URL).
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def fetch(session, url):
    async with session.get(url) as resp:
        body = await resp.read()
        return resp.status, body


async def fetch_sequential(session, urls):
    results = []
    for url in urls:
        results.append(await fetch(session, url))
    return results


async def fetch_concurrent(session, urls):
    return await asyncio.gather(*(fetch(session, url) for url in urls))


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


async def main(args):
    urls = [f"http://127.0.0.1:{args.port}/delay?ms={args.ms}&id={i}" for i in range(args.n)]
    # The C side's timeout: 5 s for connecting and for each wait for bytes.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5)
    connector = aiohttp.TCPConnector(limit=args.limit)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        run = fetch_concurrent if args.mode == "concurrent" else fetch_sequential
        c0, t0 = time.process_time(), time.perf_counter()
        results = await run(session, urls)
        wall = (time.perf_counter() - t0) * 1000.0
        cpu = (time.process_time() - c0) * 1000.0
    ok = sum(1 for status, _ in results if status == 200)
    print(json.dumps({"wall_ms": round(wall, 3), "cpu_ms": round(cpu, 3),
                      "peak_rss_kb": peak_rss_kb(), "ok": ok, "n": args.n}))
    return 0 if ok == args.n else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--ms", type=int, required=True)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("mode", choices=["concurrent", "sequential"])
    sys.exit(asyncio.run(main(p.parse_args())))
