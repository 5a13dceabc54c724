/*
 * ex02.c - Exercise 2, reference solution: a limiter (a counter, a FIFO
 * queue and a timer) and fetch_with_limit() on top of it.  The contract is
 * in ex02.h.
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
    double now = ex02_now_ms();

    if (lim->limits.rate > 0) {
        lim->tokens += (now - lim->refilled_ms) * lim->limits.rate / 1000.0;
        if (lim->tokens > lim->limits.burst)
            lim->tokens = lim->limits.burst;
    }
    lim->refilled_ms = now;
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
    const int paced = lim->limits.rate > 0;

    lim->dispatching = 1;
    refill(lim);
    while (lim->head != NULL && lim->in_flight < lim->limits.max_in_flight &&
           (!paced || lim->tokens >= 1.0 - 1e-9)) {
        struct job j = *lim->head;

        free(lim->head);
        lim->head = j.next;
        if (lim->head == NULL)
            lim->tail = NULL;
        lim->queued--;
        lim->in_flight++;
        if (paced)
            lim->tokens -= 1.0;
        j.start(lim, j.arg);   /* may call submit() or done() */
        refill(lim);
    }
    lim->dispatching = 0;
    if (lim->head != NULL && lim->in_flight < lim->limits.max_in_flight && paced)
        wake_after(lim, (1.0 - lim->tokens) * 1000.0 / lim->limits.rate);
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
    const char *why = NULL;

    if (l == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "limits is NULL");
        return -1;
    }
    if (l->max_in_flight == 0)
        why = "max_in_flight must be at least 1";
    else if (!isfinite(l->rate) || l->rate < 0 || l->rate > 1e6)
        why = "rate must be a number from 0 (no pacing) to 1e6 per second";
    else if (l->rate > 0 && l->burst == 0)
        why = "burst must be at least 1 when rate > 0";
    if (why != NULL && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return why == NULL ? 0 : -1;
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
    struct job *j;

    if (lim == NULL || start == NULL || (j = calloc(1, sizeof(*j))) == NULL)
        return -1;
    *j = (struct job){ .start = start, .cancel = cancel, .arg = arg };
    if (lim->tail != NULL)
        lim->tail->next = j;
    else
        lim->head = j;
    lim->tail = j;
    lim->queued++;
    poke(lim);
    return 0;
}

void ex02_limiter_done(struct ex02_limiter *lim)
{
    if (lim == NULL || lim->in_flight == 0)
        return;
    lim->in_flight--;
    if (lim->head != NULL)
        poke(lim);
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
    while (lim->head != NULL) {
        struct job *j = lim->head;

        lim->head = j->next;
        if (j->cancel != NULL)
            j->cancel(j->arg);
        free(j);
    }
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
    struct fetch *f = arg;
    struct batch *b = f->batch;
    enum ex02_outcome why;

    (void)lim;
    b->results[f->index].start_ms = ex02_now_ms();
    if (ex02_http_get(b->client, b->urls[f->index], b->timeout_ms, fetch_done_cb, f, &why) != 0)
        fetch_finish(f, why, 0, 0);   /* it will never call back: free the slot now */
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
    for (size_t i = 0; i < n; i++) {
        results[i].url = urls[i];
        fetches[i] = (struct fetch){ .batch = &b, .index = i };
        if (ex02_limiter_submit(b.lim, fetch_start, NULL, &fetches[i]) != 0)
            goto out;
    }
    /* Like run_until() in exercise 1: the loop also serves other events. */
    while (b.done < n)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            goto out;
    rc = 0;
out:
    ex02_limiter_free(b.lim);   /* cancels what is still queued */
    ex02_http_client_free(b.client);
    free(fetches);
    return rc;
}
