/*
 * ex02_http.c - given code for exercise 2 (see ex02_http.h).  Not a TODO file.
 */
#include "ex02_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

/* One request and its connection, kept in the client's list until freed. */
struct get_ctx {
    struct get_ctx *next;
    struct evhttp_connection *conn;
    ex02_http_cb cb;
    void *arg;
    int failed;
    enum evhttp_request_error error;
    int finished;        /* the callback has returned: conn may be freed */
};

struct ex02_http_client {
    struct event_base *base;
    struct get_ctx *requests;
};

static void request_error_cb(enum evhttp_request_error error, void *arg)
{
    struct get_ctx *c = arg;

    c->failed = 1;
    c->error = error;
}

static void request_done_cb(struct evhttp_request *req, void *arg)
{
    struct get_ctx *c = arg;
    struct ex02_http_response resp = { .outcome = EX02_OK };

    if (req == NULL || c->failed || evhttp_request_get_response_code(req) == 0) {
        resp.outcome = c->failed && c->error == EVREQ_HTTP_TIMEOUT ? EX02_ERR_TIMEOUT
                                                                  : EX02_ERR_CONNECTION;
    } else {
        resp.http_status = evhttp_request_get_response_code(req);
        resp.body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    }
    c->cb(&resp, c->arg);
    c->finished = 1;     /* freed later, by sweep(): not from inside its own callback */
}

/* Frees the connections whose requests are over (or all of them). */
static void sweep(struct ex02_http_client *client, int all)
{
    struct get_ctx **p = &client->requests;

    while (*p != NULL) {
        struct get_ctx *c = *p;
        if (all || c->finished) {
            *p = c->next;
            evhttp_connection_free(c->conn);
            free(c);
        } else {
            p = &c->next;
        }
    }
}

struct ex02_http_client *ex02_http_client_new(struct event_base *base)
{
    struct ex02_http_client *client = base ? calloc(1, sizeof(*client)) : NULL;

    if (client != NULL)
        client->base = base;
    return client;
}

void ex02_http_client_free(struct ex02_http_client *client)
{
    if (client == NULL)
        return;
    sweep(client, 1);
    free(client);
}

/* Splits url into host, port and request target; -1 if it is not http://. */
static int split_url(const char *url, char *host, size_t hostlen, int *port,
                     char *target, size_t targetlen)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    int rc = -1;

    if (uri != NULL) {
        const char *scheme = evhttp_uri_get_scheme(uri);
        const char *h = evhttp_uri_get_host(uri);
        const char *path = evhttp_uri_get_path(uri);
        const char *query = evhttp_uri_get_query(uri);
        int n;

        *port = evhttp_uri_get_port(uri) < 0 ? 80 : evhttp_uri_get_port(uri);
        n = snprintf(target, targetlen, "%s%s%s", path && path[0] ? path : "/",
                     query ? "?" : "", query ? query : "");
        if (scheme != NULL && strcasecmp(scheme, "http") == 0 && h != NULL && h[0] != '\0' &&
            strlen(h) < hostlen && *port <= 65535 && n >= 0 && (size_t)n < targetlen) {
            snprintf(host, hostlen, "%s", h);
            rc = 0;
        }
        evhttp_uri_free(uri);
    }
    return rc;
}

int ex02_http_get(struct ex02_http_client *client, const char *url, unsigned timeout_ms,
                  ex02_http_cb cb, void *arg, enum ex02_outcome *why)
{
    char host[256], target[4096], host_header[300];
    int port = 80;
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req = NULL;
    struct get_ctx *c = NULL;
    enum ex02_outcome dummy;

    if (why == NULL)
        why = &dummy;
    *why = EX02_ERR_INTERNAL;
    if (client == NULL || cb == NULL || timeout_ms > EX02_MAX_TIMEOUT_MS)
        return -1;
    if (url == NULL || split_url(url, host, sizeof(host), &port, target, sizeof(target)) != 0) {
        *why = EX02_ERR_URL;
        return -1;
    }
    if (timeout_ms == 0)
        timeout_ms = EX02_DEFAULT_TIMEOUT_MS;
    snprintf(host_header, sizeof(host_header), "%s:%d", host, port);
    sweep(client, 0);
    c = calloc(1, sizeof(*c));
    conn = evhttp_connection_base_new(client->base, NULL, host, (unsigned short)port);
    req = c && conn ? evhttp_request_new(request_done_cb, c) : NULL;
    if (req == NULL)
        goto err;
    c->cb = cb;
    c->arg = arg;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_request_set_error_cb(req, request_error_cb);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host_header);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, target) != 0) {
        req = NULL;   /* freed by evhttp_make_request */
        goto err;
    }
    c->conn = conn;
    c->next = client->requests;
    client->requests = c;
    return 0;

err:
    if (req != NULL)
        evhttp_request_free(req);
    if (conn != NULL)
        evhttp_connection_free(conn);
    free(c);
    return -1;
}

const char *ex02_outcome_name(enum ex02_outcome outcome)
{
    switch (outcome) {
    case EX02_NOT_RUN:        return "EX02_NOT_RUN";
    case EX02_OK:             return "EX02_OK";
    case EX02_ERR_URL:        return "EX02_ERR_URL";
    case EX02_ERR_CONNECTION: return "EX02_ERR_CONNECTION";
    case EX02_ERR_TIMEOUT:    return "EX02_ERR_TIMEOUT";
    case EX02_ERR_INTERNAL:   return "EX02_ERR_INTERNAL";
    }
    return "unknown";
}

double ex02_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
