/*
 * ex01.c - Exercise 1, reference solution: sequential and concurrent fetch
 * on one libevent loop.  The contract is in ex01.h.
 *
 * One `struct fetch` per URL carries what its callbacks need.  A fetch ends
 * in fetch_finish(), which records the outcome and counts it in
 * batch->done; the drivers run the loop until that count reaches their
 * target, so the loop never needs to be stopped from inside a callback.
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

static void fetch_finish(struct fetch *f, enum ex01_outcome outcome)
{
    struct ex01_result *r = &f->batch->results[f->index];

    r->outcome = outcome;
    r->elapsed_ms = ex01_now_ms() - f->start_ms;
    f->batch->done++;
}

/* Runs before request_done_cb when the request failed. */
static void request_error_cb(enum evhttp_request_error error, void *arg)
{
    struct fetch *f = arg;

    f->failed = 1;
    f->error = error;
}

/* evhttp calls this once per request: with the response, or with NULL (or
 * a response code of 0) when the request failed. */
static void request_done_cb(struct evhttp_request *req, void *arg)
{
    struct fetch *f = arg;
    struct ex01_result *r = &f->batch->results[f->index];

    if (req == NULL || f->failed || evhttp_request_get_response_code(req) == 0) {
        fetch_finish(f, f->failed && f->error == EVREQ_HTTP_TIMEOUT
                            ? EX01_ERR_TIMEOUT : EX01_ERR_CONNECTION);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = malloc(len + 1);
    if (body == NULL) {
        fetch_finish(f, EX01_ERR_INTERNAL);
        return;
    }
    evbuffer_remove(in, body, len);
    body[len] = '\0';
    r->body = body;
    r->body_len = len;
    r->http_status = evhttp_request_get_response_code(req);
    fetch_finish(f, EX01_OK);
}

/* Starts the request for urls[i].  When it cannot start, the fetch ends
 * here with its outcome. */
static void fetch_start(struct batch *b, size_t i)
{
    struct fetch *f = &b->fetches[i];
    struct evhttp_uri *uri = NULL;
    struct evhttp_request *req = NULL;
    char target[4096], host_header[300];
    const char *scheme, *host, *path, *query;
    int port, n;

    *f = (struct fetch){ .batch = b, .index = i, .start_ms = ex01_now_ms() };
    b->results[i] = (struct ex01_result){ .url = b->urls[i] };

    uri = evhttp_uri_parse(b->urls[i]);
    scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    host = uri ? evhttp_uri_get_host(uri) : NULL;
    if (scheme == NULL || strcasecmp(scheme, "http") != 0 || host == NULL || host[0] == '\0') {
        fetch_finish(f, EX01_ERR_URL);
        goto out;
    }
    port = evhttp_uri_get_port(uri);
    port = port < 0 ? 80 : port;
    path = evhttp_uri_get_path(uri);
    query = evhttp_uri_get_query(uri);
    n = snprintf(target, sizeof(target), "%s%s%s", path && path[0] ? path : "/",
                 query ? "?" : "", query ? query : "");
    if (n < 0 || (size_t)n >= sizeof(target) || port > 65535) {
        fetch_finish(f, EX01_ERR_URL);
        goto out;
    }
    snprintf(host_header, sizeof(host_header), "%s:%d", host, port);

    b->conns[i] = evhttp_connection_base_new(b->base, b->dns, host, (unsigned short)port);
    req = evhttp_request_new(request_done_cb, f);
    if (b->conns[i] == NULL || req == NULL) {
        if (req != NULL)
            evhttp_request_free(req);
        fetch_finish(f, EX01_ERR_INTERNAL);
        goto out;
    }
    struct timeval tv = { b->timeout_ms / 1000, (b->timeout_ms % 1000) * 1000 };
    evhttp_connection_set_timeout_tv(b->conns[i], &tv);
    evhttp_request_set_error_cb(req, request_error_cb);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host_header);
    /* One request per connection: both sides close it as soon as the
     * response is in, rather than all at once in batch_end(). */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    /* On failure evhttp_make_request() frees req without calling back. */
    if (evhttp_make_request(b->conns[i], req, EVHTTP_REQ_GET, target) != 0)
        fetch_finish(f, EX01_ERR_INTERNAL);
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
}

/* Runs the loop until `target` fetches have an outcome.  -1 if the loop
 * fails or has nothing left to wait for (which would be a bug). */
static int run_until(struct batch *b, size_t target)
{
    while (b->done < target)
        if (event_base_loop(b->base, EVLOOP_ONCE) != 0)
            return -1;
    return 0;
}

static int batch_init(struct batch *b, struct event_base *base, struct evdns_base *dns,
                      const char *const urls[], size_t n, unsigned timeout_ms,
                      struct ex01_result results[])
{
    if (base == NULL || (n > 0 && (urls == NULL || results == NULL)) ||
        timeout_ms > EX01_MAX_TIMEOUT_MS)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (urls[i] == NULL)
            return -1;
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

/* Frees the connections once the loop is no longer inside their
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
    for (size_t i = 0; i < n; i++) {
        fetch_start(&b, i);
        if (run_until(&b, i + 1) != 0)
            break;
    }
    batch_end(&b);
    return 0;
}

int ex01_fetch_concurrent(struct event_base *base, struct evdns_base *dns,
                          const char *const urls[], size_t n,
                          unsigned timeout_ms, struct ex01_result results[])
{
    struct batch b;

    if (batch_init(&b, base, dns, urls, n, timeout_ms, results) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        fetch_start(&b, i);
    run_until(&b, n);
    batch_end(&b);
    return 0;
}
