/*
 * test_client.c - the harness's HTTP client (see test_client.h).
 */
#include "test_client.h"
#include "fixture_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct tc_call {
    struct tc_client *client;
    struct tc_response *out;
};

struct tc_client {
    struct event_base *base;
    char host[64];
    char hosthdr[80];
    int port;
    unsigned timeout_ms;
    struct evhttp_connection **conns;
    struct tc_call **calls;
    size_t n, cap;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void tc_response_clear(struct tc_response *r)
{
    if (r == NULL)
        return;
    free(r->body);
    free(r->content_type);
    free(r->location);
    free(r->allow);
    memset(r, 0, sizeof(*r));
}

struct tc_client *tc_client_new(struct event_base *base, const char *host, int port,
                                unsigned timeout_ms)
{
    struct tc_client *c;

    if (base == NULL || host == NULL || strlen(host) >= 64 || port <= 0 || port > 65535)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base = base;
    snprintf(c->host, sizeof(c->host), "%s", host);
    snprintf(c->hosthdr, sizeof(c->hosthdr), "%s:%d", host, port);
    c->port = port;
    c->timeout_ms = timeout_ms ? timeout_ms : 5000;
    return c;
}

void tc_client_free(struct tc_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        evhttp_connection_free(c->conns[i]);   /* cancels a pending request */
        free(c->calls[i]);
    }
    free(c->conns);
    free(c->calls);
    free(c);
}

static void done_cb(struct evhttp_request *req, void *arg)
{
    struct tc_call *call = arg;
    struct tc_response *r = call->out;

    r->end_ms = fx_now_ms();
    r->done = 1;
    if (req == NULL || evhttp_request_get_response_code(req) == 0)
        return;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    size_t n = evbuffer_get_length(in);
    r->status = evhttp_request_get_response_code(req);
    r->body = malloc(n + 1);
    if (r->body != NULL) {
        evbuffer_remove(in, r->body, n);
        r->body[n] = '\0';
        r->body_len = n;
    }
    r->content_type = dup_or_null(evhttp_find_header(h, "Content-Type"));
    r->location = dup_or_null(evhttp_find_header(h, "Location"));
    r->allow = dup_or_null(evhttp_find_header(h, "Allow"));
}

static int method_of(const char *m, enum evhttp_cmd_type *out)
{
    static const struct { const char *name; enum evhttp_cmd_type cmd; } t[] = {
        { "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST }, { "PUT", EVHTTP_REQ_PUT },
        { "DELETE", EVHTTP_REQ_DELETE }, { "PATCH", EVHTTP_REQ_PATCH },
        { "HEAD", EVHTTP_REQ_HEAD },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(m, t[i].name) == 0) {
            *out = t[i].cmd;
            return 0;
        }
    return -1;
}

int tc_start(struct tc_client *c, const char *method, const char *path, const char *body,
             size_t len, struct tc_response *out)
{
    enum evhttp_cmd_type cmd;
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req = NULL;
    struct tc_call *call = NULL;

    memset(out, 0, sizeof(*out));
    out->start_ms = fx_now_ms();
    if (method_of(method, &cmd) != 0)
        goto fail;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct evhttp_connection **conns = realloc(c->conns, cap * sizeof(*conns));
        if (conns == NULL)
            goto fail;
        c->conns = conns;
        struct tc_call **calls = realloc(c->calls, cap * sizeof(*calls));
        if (calls == NULL)
            goto fail;
        c->calls = calls;
        c->cap = cap;
    }
    call = calloc(1, sizeof(*call));
    conn = evhttp_connection_base_new(c->base, NULL, c->host, (unsigned short)c->port);
    if (call == NULL || conn == NULL)
        goto fail;
    call->client = c;
    call->out = out;
    struct timeval tv = { (time_t)(c->timeout_ms / 1000),
                          (suseconds_t)(c->timeout_ms % 1000) * 1000 };
    evhttp_connection_set_timeout_tv(conn, &tv);
    req = evhttp_request_new(done_cb, call);
    if (req == NULL)
        goto fail;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", c->hosthdr);
    if (body != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    c->conns[c->n] = conn;
    c->calls[c->n] = call;
    c->n++;
    if (evhttp_make_request(conn, req, cmd, path) != 0) {
        out->done = 1;
        out->end_ms = fx_now_ms();
        return -1;
    }
    return 0;
fail:
    if (conn != NULL)
        evhttp_connection_free(conn);
    free(call);
    out->done = 1;
    out->end_ms = fx_now_ms();
    return -1;
}

struct wait_all {
    struct tc_response *const *r;
    size_t n;
};

static int all_done(void *arg)
{
    struct wait_all *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (!w->r[i]->done)
            return 0;
    return 1;
}

int tc_wait(struct event_base *base, struct tc_response *const r[], size_t n,
            double timeout_ms)
{
    struct wait_all w = { r, n };
    return tc_run_until(base, all_done, &w, timeout_ms);
}

int tc_call(struct tc_client *c, const char *method, const char *path, const char *body,
            struct tc_response *out, double timeout_ms)
{
    struct tc_response *one[1] = { out };

    if (tc_start(c, method, path, body, body ? strlen(body) : 0, out) == 0)
        tc_wait(c->base, one, 1, timeout_ms);
    return out->status;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

int tc_run_until(struct event_base *base, int (*cond)(void *), void *arg, double timeout_ms)
{
    int expired = 0;
    struct timeval tv = { (time_t)(timeout_ms / 1000),
                          (suseconds_t)((long)timeout_ms % 1000) * 1000 };
    struct event *deadline = evtimer_new(base, deadline_cb, &expired);
    int ok;

    if (deadline == NULL || evtimer_add(deadline, &tv) != 0) {
        if (deadline != NULL)
            event_free(deadline);
        return cond != NULL && cond(arg);
    }
    while (!(ok = cond != NULL && cond(arg)) && !expired)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    if (!ok && cond != NULL)
        ok = cond(arg);
    event_free(deadline);
    return ok;
}
