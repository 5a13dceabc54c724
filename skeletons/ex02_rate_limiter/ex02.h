/*
 * ex02.h - Exercise 2: a rate limiter on the event loop.
 *
 * This header is the contract between your code (ex02.c) and everything else:
 * the tests, the grader and the ex02 program.  Do not edit it.
 *
 * The course limits concurrency with a semaphore:
 *
 *     semaphore = asyncio.Semaphore(max_concurrent)
 *     async def fetch_one(url):
 *         async with semaphore:
 *             return await http_client.get(url)
 *
 * An asyncio.Semaphore is a counter, a FIFO queue of waiters and, to space
 * requests out, a timer.  Here you build those three on libevent: a limiter
 * that starts submitted jobs in submission order, never more than
 * max_in_flight at once, and no faster than a token bucket allows.
 * Read docs/en/ex02_rate_limiter.md (or docs/fr/) first.
 */
#ifndef EX02_H
#define EX02_H

#include <stddef.h>

#include "ex02_http.h"

struct event_base;
struct ex02_limiter;

/* The rules a limiter enforces. */
struct ex02_limits {
    unsigned max_in_flight; /* jobs running at once; at least 1 */
    double rate;            /* job starts per second on average (the token
                               bucket's refill rate); 0 means no pacing */
    unsigned burst;         /* the bucket's size: how many jobs may start at
                               once after a pause; at least 1 when rate > 0,
                               ignored when rate == 0 */
};

/*
 * A job's start callback.  The limiter calls it, from the event loop, when
 * the job may run.  The job then owns one slot until it calls
 * ex02_limiter_done(lim) exactly once: from inside start (a job that finished
 * at once, or failed to start) or later, from another callback.
 */
typedef void (*ex02_start_fn)(struct ex02_limiter *lim, void *arg);

/* A job's cancel callback: the job will never start (the limiter was freed
 * while it was still queued).  It must not call into the limiter. */
typedef void (*ex02_cancel_fn)(void *arg);

/*
 * Creates a limiter bound to `base`.  The bucket starts full (`burst` tokens).
 * Returns NULL, with a reason in err (when err is not NULL), when base or
 * limits is NULL, max_in_flight is 0, rate is negative, not finite or above
 * 1e6, or rate > 0 with burst == 0.  Free it with ex02_limiter_free().
 */
struct ex02_limiter *ex02_limiter_new(struct event_base *base,
                                      const struct ex02_limits *limits,
                                      char *err, size_t errlen);

/*
 * Queues a job.  It starts later, from the event loop (never inside this
 * call), after every job submitted before it, when a slot and a token are
 * free.  `cancel` may be NULL; `arg` is passed to both callbacks and stays the
 * caller's.  May be called from inside a job's callbacks.
 * Returns 0, or -1 (nothing queued) when lim or start is NULL or memory ran
 * out.
 */
int ex02_limiter_submit(struct ex02_limiter *lim, ex02_start_fn start,
                        ex02_cancel_fn cancel, void *arg);

/*
 * A started job has finished: its slot is free, and waiting jobs may start
 * (from the loop, not inside this call).  Call it once per started job.
 * Ignored (nothing changes) when lim is NULL or no job is in flight.
 */
void ex02_limiter_done(struct ex02_limiter *lim);

/* Jobs started and not yet done. */
unsigned ex02_limiter_in_flight(const struct ex02_limiter *lim);

/* Jobs submitted and not yet started. */
size_t ex02_limiter_queued(const struct ex02_limiter *lim);

/*
 * Frees the limiter.  Every job still queued is cancelled: its cancel
 * callback (if any) is called exactly once, in submission order, and it
 * never starts.  Jobs already running cannot be stopped by the limiter: they
 * must not call ex02_limiter_done() after this, so free it when
 * ex02_limiter_in_flight() is 0 or once your jobs are stopped.  NULL is a
 * no-op.  Must not be called from inside a job's callbacks.
 */
void ex02_limiter_free(struct ex02_limiter *lim);

/* ---- fetch_with_limit --------------------------------------------------- */

/* The fetch of urls[i] is results[i]. */
struct ex02_fetch_result {
    const char *url;              /* urls[i] itself (borrowed) */
    enum ex02_outcome outcome;    /* EX02_NOT_RUN until it ends */
    int http_status;              /* 0 unless outcome == EX02_OK */
    size_t body_len;              /* bytes in the body, when EX02_OK */
    double start_ms;              /* when the limiter started it, and when */
    double end_ms;                /* it ended (ex02_now_ms() clock) */
};

/*
 * The course's fetch_with_limit(): fetches urls[0..n-1] through a limiter
 * with `limits`, one job per URL submitted in order, each job one
 * ex02_http_get().  Runs the loop until every URL has an outcome (a failed
 * URL is recorded in its own result and frees its slot), frees the limiter,
 * and returns 0.  Returns -1 with nothing written when base is NULL, urls or
 * results is NULL while n > 0, a URL is NULL, the limits are invalid (see
 * ex02_limiter_new()), or timeout_ms > EX02_MAX_TIMEOUT_MS.  timeout_ms 0
 * means EX02_DEFAULT_TIMEOUT_MS.  n == 0 returns 0 at once.
 */
int ex02_fetch_with_limit(struct event_base *base, const char *const urls[],
                          size_t n, const struct ex02_limits *limits,
                          unsigned timeout_ms, struct ex02_fetch_result results[]);

#endif /* EX02_H */
