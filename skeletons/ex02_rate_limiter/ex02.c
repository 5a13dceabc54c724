/*
 * ex02.c - Exercise 2: a limiter (a counter, a FIFO queue and a timer) and
 * fetch_with_limit() on top of it.
 *
 * YOUR FILE.  Fill in every TODO(ex02); the contract is in ex02.h and the
 * guide in docs/en/ex02_rate_limiter.md (docs/fr/ in French).  Check your
 * work with `make ex02` (the tests) and `make grade` (your score).
 *
 * Jobs never start inside submit() or done(): those only schedule a
 * dispatch, which runs from the loop and starts as many queued jobs as the
 * slots and tokens allow.  So a job that calls done() from its own start
 * callback cannot recurse, and 10 000 such jobs run in a loop, not a stack.
 * The wake-up timer is armed only when something can change: a submit, a
 * done, or the moment the next token arrives.  Nothing polls.
 */
#include "ex02.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* A queued job. */
struct job {
    struct job *next;
    ex02_start_fn start;
    ex02_cancel_fn cancel;
    void *arg;
};

struct ex02_limiter {
    struct event_base *base;
    struct ex02_limits limits;
    struct job *head, *tail;  /* FIFO: submit appends, dispatch pops */
    size_t queued;
    unsigned in_flight;
    double tokens;            /* the bucket; unused when rate == 0 */
    double refilled_ms;       /* when tokens was last brought up to date */
    struct event *wake;       /* runs dispatch(): soon, or at the next token */
    int dispatching;          /* dispatch() is on the stack */
};

/* Brings the bucket up to date: rate tokens per second, at most burst. */
static void refill(struct ex02_limiter *lim)
{
    /* TODO(ex02): bring the token bucket up to date.
     * Hint: when rate > 0: tokens += (now - refilled_ms) * rate / 1000, capped
     *   at burst.  Always set refilled_ms = now (now = ex02_now_ms()). */
    (void)lim;
}

/* Arms the wake-up timer to run dispatch() after ms milliseconds. */
static void wake_after(struct ex02_limiter *lim, double ms)
{
    struct timeval tv = { 0, 0 };

    if (ms > 0) {
        long us = (long)(ms * 1000.0) + 1;   /* round up: never wake early */
        tv.tv_sec = us / 1000000;
        tv.tv_usec = us % 1000000;
    }
    evtimer_add(lim->wake, &tv);
}

/* Starts queued jobs while a slot and a token are free; then, if jobs wait
 * for a token only, arms the timer for the moment the next one arrives. */
static void dispatch(struct ex02_limiter *lim)
{
    /* TODO(ex02): start queued jobs while a slot and a token are free.
     * Hint: dispatching = 1; refill(); while the queue is not empty, in_flight
     *   < max_in_flight and (no pacing or tokens >= 1): pop the head job
     *   (copy it, free the node), queued--, in_flight++, tokens -= 1 when
     *   paced, call j.start(lim, j.arg) (it may call submit or done), then
     *   refill() again.  After the loop: dispatching = 0; if jobs wait only
     *   for a token, wake_after() the time the next token needs:
     *   (1 - tokens) * 1000 / rate ms.  Never arm a timer when nothing can
     *   start: that would be polling. */
    (void)lim;
    (void)refill;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatch(arg);
}

/* Something changed: let the loop run dispatch() (unless it is running). */
static void poke(struct ex02_limiter *lim)
{
    if (!lim->dispatching)
        wake_after(lim, 0);
}

static int limits_check(const struct ex02_limits *l, char *err, size_t errlen)
{
    if (l == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "limits is NULL");
        return -1;
    }
    /* TODO(ex02): refuse the other invalid limits (see ex02_limiter_new()).
     * Hint: max_in_flight == 0, a rate that is not finite (isfinite()),
     *   negative or above 1e6, and rate > 0 with burst == 0 each return -1
     *   with a sentence in err, as above (err may be NULL). */
    return 0;
}

struct ex02_limiter *ex02_limiter_new(struct event_base *base,
                                      const struct ex02_limits *limits,
                                      char *err, size_t errlen)
{
    struct ex02_limiter *lim = NULL;

    if (base == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "base is NULL");
        return NULL;
    }
    if (limits_check(limits, err, errlen) != 0)
        return NULL;
    lim = calloc(1, sizeof(*lim));
    if (lim == NULL || (lim->wake = evtimer_new(base, wake_cb, lim)) == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory");
        free(lim);
        return NULL;
    }
    lim->base = base;
    lim->limits = *limits;
    lim->tokens = limits->burst;
    lim->refilled_ms = ex02_now_ms();
    return lim;
}

int ex02_limiter_submit(struct ex02_limiter *lim, ex02_start_fn start,
                        ex02_cancel_fn cancel, void *arg)
{
    /* TODO(ex02): append a job to the queue, then poke() the limiter.
     * Hint: calloc a struct job; lim->tail->next = j (or head = j when the
     *   queue is empty); tail = j; queued++.  Never call start here: jobs
     *   start from the loop.  -1 for a NULL lim or start, or no memory. */
    (void)lim;
    (void)start;
    (void)cancel;
    (void)arg;
    (void)poke;
    return -1;
}

void ex02_limiter_done(struct ex02_limiter *lim)
{
    /* TODO(ex02): a job finished: free its slot, and poke() if jobs wait.
     * Hint: ignore a NULL lim or in_flight == 0. */
    (void)lim;
}

unsigned ex02_limiter_in_flight(const struct ex02_limiter *lim)
{
    return lim ? lim->in_flight : 0;
}

size_t ex02_limiter_queued(const struct ex02_limiter *lim)
{
    return lim ? lim->queued : 0;
}

void ex02_limiter_free(struct ex02_limiter *lim)
{
    if (lim == NULL)
        return;
    /* TODO(ex02): cancel every queued job, in order, before freeing.
     * Hint: pop each job; call j->cancel(j->arg) when cancel is not NULL;
     *   free the node.  The jobs never start. */
    event_free(lim->wake);
    free(lim);
}

/* ---- fetch_with_limit --------------------------------------------------- */

struct batch;

/* One URL: the job's argument. */
struct fetch {
    struct batch *batch;
    size_t index;
};

struct batch {
    struct ex02_limiter *lim;
    struct ex02_http_client *client;
    const char *const *urls;
    struct ex02_fetch_result *results;
    unsigned timeout_ms;
    size_t done;
};

static void fetch_finish(struct fetch *f, enum ex02_outcome outcome, int status, size_t len)
{
    struct ex02_fetch_result *r = &f->batch->results[f->index];

    r->outcome = outcome;
    r->http_status = status;
    r->body_len = len;
    r->end_ms = ex02_now_ms();
    f->batch->done++;
    ex02_limiter_done(f->batch->lim);
}

static void fetch_done_cb(const struct ex02_http_response *resp, void *arg)
{
    fetch_finish(arg, resp->outcome, resp->http_status, resp->body_len);
}

/* The job: the limiter says this URL may go now. */
static void fetch_start(struct ex02_limiter *lim, void *arg)
{
    /* TODO(ex02): the limiter lets this URL go: start its request.
     * Hint: record start_ms, then ex02_http_get(b->client, url, b->timeout_ms,
     *   fetch_done_cb, f, &why).  When it returns -1 it will never call
     *   back: end the fetch here with fetch_finish(f, why, 0, 0), which
     *   frees the slot (forget it and the limiter stalls). */
    (void)lim;
    (void)arg;
    (void)fetch_done_cb;
}

int ex02_fetch_with_limit(struct event_base *base, const char *const urls[],
                          size_t n, const struct ex02_limits *limits,
                          unsigned timeout_ms, struct ex02_fetch_result results[])
{
    struct batch b = { .urls = urls, .results = results, .timeout_ms = timeout_ms };
    struct fetch *fetches = NULL;
    int rc = -1;

    if (base == NULL || (n > 0 && (urls == NULL || results == NULL)) ||
        timeout_ms > EX02_MAX_TIMEOUT_MS || limits_check(limits, NULL, 0) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (urls[i] == NULL)
            return -1;
    if (n == 0)
        return 0;
    fetches = calloc(n, sizeof(*fetches));
    b.lim = fetches ? ex02_limiter_new(base, limits, NULL, 0) : NULL;
    b.client = ex02_http_client_new(base);
    if (b.lim == NULL || b.client == NULL)
        goto out;
    memset(results, 0, n * sizeof(*results));
    /* TODO(ex02): submit one job per URL, in order, then run the loop until
     * every URL has an outcome.
     * Hint: results[i].url = urls[i]; fetches[i] = (struct fetch){ &b, i };
     *   ex02_limiter_submit(b.lim, fetch_start, NULL, &fetches[i]) (goto out
     *   on failure).  Then, as in exercise 1:
     *   while (b.done < n) if (event_base_loop(base, EVLOOP_ONCE) != 0) goto out;
     *   and rc = 0. */
    (void)fetch_start;
    goto out;
out:
    ex02_limiter_free(b.lim);   /* cancels what is still queued */
    ex02_http_client_free(b.client);
    free(fetches);
    return rc;
}
