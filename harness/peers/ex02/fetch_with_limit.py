#!/usr/bin/python3
"""fetch_with_limit.py - exercise 2 in Python, the course's original: the
fetch_with_limit() of section 4 (an asyncio.Semaphore around each fetch), with
the spacing between starts that exercise 2 asks for, as a token bucket with the
same rules as the C limiter (skeletons/ex02_rate_limiter/ex02.h): jobs start in
submission order, at most max_in_flight at once, and each start takes a token;
the bucket holds at most `burst` tokens and refills at `rate` per second.
The Python side of exercise 2's benchmark (harness/peers/ex02/run.sh); its C
twin is fetch_limit_c.c, on the reference's ex02_fetch_with_limit().

    /usr/bin/python3 fetch_with_limit.py --port P --n N --ms MS --max K --rate R --burst B
    /usr/bin/python3 fetch_with_limit.py --ideal --n N --ms MS --max K --rate R --burst B

The first form fetches http://127.0.0.1:P/delay?ms=MS&id=i, i = 0..N-1, and
prints one line of JSON: {"wall_ms", "cpu_ms", "peak_rss_kb", "max_in_flight",
"ok", "n"} (the fetch alone is timed, not the interpreter's start).  The second
prints the ideal wall time in ms: when the last job would end if every job
started the instant the rules allow and took exactly MS ms.
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp


class TokenBucket:
    """`rate` tokens per second, at most `burst`; starts full.  acquire() takes
    one, waiting (in FIFO order, thanks to the lock) until one is there."""

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self):
        if self.rate == 0:
            return
        async with self.lock:
            self._refill()
            while self.tokens < 1.0 - 1e-9:
                await asyncio.sleep((1.0 - self.tokens) / self.rate)
                self._refill()
            self.tokens -= 1.0


async def fetch_with_limit(session, urls, max_concurrent=5, rate=0.0, burst=1):
    semaphore = asyncio.Semaphore(max_concurrent)
    bucket = TokenBucket(rate, burst)
    times = []

    async def fetch_one(url):
        async with semaphore:      # at most max_concurrent at once
            await bucket.acquire()  # and no faster than the bucket allows
            start = time.monotonic()
            async with session.get(url) as resp:
                await resp.read()
                times.append((start, time.monotonic()))
                return resp.status

    statuses = await asyncio.gather(*[fetch_one(url) for url in urls])
    return statuses, times


def max_in_flight(times):
    """The most intervals (start, end) open at one instant."""
    events = sorted([(s, 1) for s, _ in times] + [(e, -1) for _, e in times],
                    key=lambda x: (x[0], x[1]))
    best = cur = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def ideal_ms(n, ms, k, rate, burst):
    """The last end if job i starts as soon as a slot (job i - k has ended: all
    jobs take ms) and a token are free, and never before job i - 1."""
    starts = []
    tokens, last = float(burst), 0.0
    for i in range(n):
        t = max(starts[-1] if starts else 0.0, starts[i - k] + ms if i >= k else 0.0)
        if rate > 0:
            have = min(burst, tokens + (t - last) * rate / 1000.0)
            if have < 1.0 - 1e-9:
                t += (1.0 - have) * 1000.0 / rate
                have = 1.0
            tokens, last = have - 1.0, t
        starts.append(t)
    return max(s + ms for s in starts) if starts else 0.0


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


async def main(args):
    urls = [f"http://127.0.0.1:{args.port}/delay?ms={args.ms}&id={i}" for i in range(args.n)]
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        c0, t0 = time.process_time(), time.perf_counter()
        statuses, times = await fetch_with_limit(session, urls, args.max, args.rate, args.burst)
        wall = (time.perf_counter() - t0) * 1000.0
        cpu = (time.process_time() - c0) * 1000.0
    ok = sum(1 for s in statuses if s == 200)
    print(json.dumps({"wall_ms": round(wall, 3), "cpu_ms": round(cpu, 3),
                      "peak_rss_kb": peak_rss_kb(), "max_in_flight": max_in_flight(times),
                      "ok": ok, "n": args.n}))
    return 0 if ok == args.n else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--ms", type=int, required=True)
    p.add_argument("--max", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--burst", type=int, required=True)
    p.add_argument("--ideal", action="store_true")
    a = p.parse_args()
    if a.ideal:
        print(f"{ideal_ms(a.n, a.ms, a.max, a.rate, a.burst):.3f}")
        sys.exit(0)
    if a.port is None:
        p.error("--port is required")
    sys.exit(asyncio.run(main(a)))
