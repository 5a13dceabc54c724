/*
 * ex01.c - Exercise 1: sequential and concurrent fetch on one libevent loop.
 *
 * YOUR FILE.  Fill in every TODO(ex01); the contract is in ex01.h and the
 * guide in docs/en/ex01_comparison.md (docs/fr/ in French).  Check your work
 * with `make ex01` (the tests) and `make grade` (your score).
 *
 * The plan: one `struct fetch` per URL carries what its callbacks need.  A
 * fetch ends in fetch_finish(), which records the outcome and counts it in
 * batch->done.  The two drivers run the loop until that count reaches what
 * they wait for:
 *   sequential: start URL i, run until done == i + 1, then URL i + 1 ...
 *               (Python: `for url in urls: await fetch(url)`)
 *   concurrent: start every URL, then run until done == n
 *               (Python: `await asyncio.gather(...)`)
 */
#include "ex01.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct batch;

/* One URL being fetched. */
struct fetch {
    struct batch *batch;
    size_t index;                     /* results[index] is ours */
    double start_ms;
    int failed;                       /* the error callback ran */
    enum evhttp_request_error error;  /* what it said */
};

/* One call of ex01_fetch_sequential() or ex01_fetch_concurrent(). */
struct batch {
    struct event_base *base;
    struct evdns_base *dns;
    const char *const *urls;
    struct ex01_result *results;
    unsigned timeout_ms;
    size_t done;                      /* fetches that have an outcome */
    struct fetch *fetches;            /* n entries */
    struct evhttp_connection **conns; /* n entries, NULL until used */
    size_t n;
};

/* Given: records the outcome of fetch f and counts it as done. */
static void fetch_finish(struct fetch *f, enum ex01_outcome outcome)
{
    struct ex01_result *r = &f->batch->results[f->index];

    r->outcome = outcome;
    r->elapsed_ms = ex01_now_ms() - f->start_ms;
    f->batch->done++;
}

/* evhttp calls this before request_done_cb when a request fails. */
static void request_error_cb(enum evhttp_request_error error, void *arg)
{
    /* TODO(ex01): remember that the fetch failed, and why.
     * Hint: struct fetch *f = arg; f->failed = 1; f->error = error; */
    (void)error;
    (void)arg;
}

/* evhttp calls this once per request: with the response, or with NULL (or a
 * response code of 0) when the request failed. */
static void request_done_cb(struct evhttp_request *req, void *arg)
{
    /* TODO(ex01): record the outcome of the fetch `arg`, then fetch_finish().
     * Hint: failed (req == NULL, f->failed, or a response code of 0):
     *   EX01_ERR_TIMEOUT when f->failed && f->error == EVREQ_HTTP_TIMEOUT,
     *   else EX01_ERR_CONNECTION (check f->failed first: EVREQ_HTTP_TIMEOUT
     *   is 0, the value f->error starts with, and a refused connection never
     *   calls the error callback).  Otherwise copy the body out of
     *   evhttp_request_get_input_buffer(req) into a malloc'd buffer of
     *   len + 1 bytes (evbuffer_get_length, evbuffer_remove, then '\0'), set
     *   body, body_len and http_status (evhttp_request_get_response_code),
     *   and finish with EX01_OK.  Do not free req: evhttp owns it. */
    (void)req;
    (void)arg;
    (void)fetch_finish;
}

/* Starts the request for urls[i].  When it cannot start, the fetch ends here
 * with its outcome (fetch_finish). */
static void fetch_start(struct batch *b, size_t i)
{
    struct fetch *f = &b->fetches[i];

    *f = (struct fetch){ .batch = b, .index = i, .start_ms = ex01_now_ms() };
    b->results[i] = (struct ex01_result){ .url = b->urls[i] };

    /* TODO(ex01): parse and check the URL.
     * Hint: evhttp_uri_parse(); the scheme must be "http" (strcasecmp) and
     *   the host non-empty, else fetch_finish(f, EX01_ERR_URL).  The port is
     *   evhttp_uri_get_port() (-1 means 80); the request target is the path
     *   ("/" when empty) plus "?" and the query when there is one.  Free the
     *   parsed URI with evhttp_uri_free() on every path. */

    /* TODO(ex01): start the request.
     * Hint: b->conns[i] = evhttp_connection_base_new(b->base, b->dns, host, port);
     *   evhttp_connection_set_timeout_tv() with b->timeout_ms;
     *   req = evhttp_request_new(request_done_cb, f);
     *   evhttp_request_set_error_cb(req, request_error_cb);
     *   add a "Host" header (evhttp_request_get_output_headers);
     *   evhttp_make_request(conn, req, EVHTTP_REQ_GET, target).
     *   If a call fails, fetch_finish(f, EX01_ERR_INTERNAL).  The
     *   connections are freed by batch_end(), after the loop: never inside
     *   their own callbacks. */
    (void)request_done_cb;
    (void)request_error_cb;
}

/* Runs the loop until `target` fetches have an outcome.  Returns 0, or -1 if
 * the loop fails or has nothing left to wait for. */
static int run_until(struct batch *b, size_t target)
{
    /* TODO(ex01): run the loop one round at a time until b->done >= target.
     * Hint: event_base_loop(b->base, EVLOOP_ONCE) waits for events and runs
     *   their callbacks once; it returns 1 when no event is pending at all
     *   (then nothing can ever finish: return -1) and -1 on error.  The loop
     *   also runs every other event on the base, such as a test server. */
    (void)b;
    (void)target;
    return -1;
}

/* Checks the arguments (ex01.h says which are invalid) and prepares b.
 * Returns 0, or -1 without touching results. */
static int batch_init(struct batch *b, struct event_base *base, struct evdns_base *dns,
                      const char *const urls[], size_t n, unsigned timeout_ms,
                      struct ex01_result results[])
{
    /* TODO(ex01): return -1 for the invalid arguments listed in ex01.h
     * (base NULL, urls or results NULL while n > 0, a NULL URL, a timeout
     * over EX01_MAX_TIMEOUT_MS) before anything else happens. */

    *b = (struct batch){
        .base = base, .dns = dns, .urls = urls, .results = results, .n = n,
        .timeout_ms = timeout_ms ? timeout_ms : EX01_DEFAULT_TIMEOUT_MS,
    };
    if (n == 0)
        return 0;
    b->fetches = calloc(n, sizeof(*b->fetches));
    b->conns = calloc(n, sizeof(*b->conns));
    if (b->fetches == NULL || b->conns == NULL) {
        free(b->fetches);
        free(b->conns);
        return -1;
    }
    memset(results, 0, n * sizeof(*results));
    for (size_t i = 0; i < n; i++)
        results[i].url = urls[i];
    return 0;
}

/* Given: frees the connections once the loop is no longer inside their
 * callbacks (freeing one cancels its request if still pending). */
static void batch_end(struct batch *b)
{
    if (b->n == 0)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->conns[i] != NULL)
            evhttp_connection_free(b->conns[i]);
        if (b->results[i].outcome == EX01_NOT_RUN)
            b->results[i].outcome = EX01_ERR_INTERNAL;
    }
    free(b->conns);
    free(b->fetches);
}

int ex01_fetch_sequential(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[])
{
    struct batch b;

    if (batch_init(&b, base, dns, urls, n, timeout_ms, results) != 0)
        return -1;
    /* TODO(ex01): fetch the URLs one after another.
     * Hint: for each i, fetch_start(&b, i), then run_until(&b, i + 1);
     *   stop early only if run_until() fails.  Then batch_end(&b) and
     *   return 0. */
    (void)fetch_start;
    (void)run_until;
    batch_end(&b);
    return -1;
}

int ex01_fetch_concurrent(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[])
{
    struct batch b;

    if (batch_init(&b, base, dns, urls, n, timeout_ms, results) != 0)
        return -1;
    /* TODO(ex01): start every fetch, then wait for all of them.
     * Hint: fetch_start(&b, i) for every i, then run_until(&b, n).  Then
     *   batch_end(&b) and return 0. */
    batch_end(&b);
    return -1;
}
