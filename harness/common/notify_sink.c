/*
 * notify_sink.c - the notification receiver of the tests (see
 * notify_sink.h).  An evhttp server on a listener of our own (a deep
 * backlog, and a port we can listen on again after going down).  A delayed
 * answer is a `struct answer` with a timer, kept in a list so that going
 * down can cancel it.
 */
#include "notify_sink.h"
#include "fixture_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#define NS_BACKLOG 1024

struct answer {
    TAILQ_ENTRY(answer) link;
    struct ns_sink *sink;
    struct evhttp_request *req;
    struct event *timer;
    size_t index;             /* its record */
};
TAILQ_HEAD(answer_list, answer);

struct ns_sink {
    struct event_base *base;
    struct evhttp *http;      /* NULL while down */
    int port;
    unsigned delay_ms;
    unsigned fail_left;
    int fail_status;
    struct ns_record *rec;
    size_t len, cap;
    size_t answered, accepted;
    struct answer_list answers;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

static void answer_now(struct ns_sink *s, struct evhttp_request *req, size_t index)
{
    struct ns_record *r = &s->rec[index];
    struct evbuffer *b = evbuffer_new();

    if (b != NULL)
        evbuffer_add_printf(b, "status %d\n", r->status);
    evhttp_send_reply(req, r->status, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
    r->answered_ms = fx_now_ms();
    s->answered++;
    if (r->status >= 200 && r->status < 300)
        s->accepted++;
}

static void answer_free(struct answer *a)
{
    TAILQ_REMOVE(&a->sink->answers, a, link);
    if (a->timer != NULL)
        event_free(a->timer);
    free(a);
}

static void answer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct answer *a = arg;

    (void)fd;
    (void)what;
    answer_now(a->sink, a->req, a->index);
    answer_free(a);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct ns_sink *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    size_t n = evbuffer_get_length(in);
    struct ns_record *r;

    if (s->len == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct ns_record *grown = realloc(s->rec, cap * sizeof(*grown));
        if (grown == NULL) {
            evhttp_send_error(req, 500, "sink out of memory");
            return;
        }
        s->rec = grown;
        s->cap = cap;
    }
    r = &s->rec[s->len];
    memset(r, 0, sizeof(*r));
    r->arrived_ms = fx_now_ms();
    r->method = strdup(method_name(evhttp_request_get_command(req)));
    r->uri = dup_or_null(evhttp_request_get_uri(req));
    r->idempotency_key = dup_or_null(evhttp_find_header(h, "Idempotency-Key"));
    r->content_type = dup_or_null(evhttp_find_header(h, "Content-Type"));
    r->body = malloc(n + 1);
    if (r->body != NULL) {
        evbuffer_remove(in, r->body, n);
        r->body[n] = '\0';
        r->body_len = n;
    }
    r->status = 200;
    if (s->fail_left > 0) {
        s->fail_left--;
        r->status = s->fail_status;
    }
    s->len++;

    if (s->delay_ms > 0) {
        struct answer *a = calloc(1, sizeof(*a));
        struct timeval tv = { s->delay_ms / 1000, (s->delay_ms % 1000) * 1000 };
        if (a != NULL) {
            a->sink = s;
            a->req = req;
            a->index = s->len - 1;
            TAILQ_INSERT_TAIL(&s->answers, a, link);
            a->timer = evtimer_new(s->base, answer_timer_cb, a);
            if (a->timer != NULL && evtimer_add(a->timer, &tv) == 0)
                return;
            answer_free(a);
        }
    }
    answer_now(s, req, s->len - 1);
}

struct ns_sink *ns_sink_new(struct event_base *base, int listening, char *err, size_t errlen)
{
    struct ns_sink *s;

    if (base == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "ns_sink_new: no event_base");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    TAILQ_INIT(&s->answers);
    if (!listening) {
        s->port = fx_unused_port();
        if (s->port <= 0) {
            if (err != NULL)
                snprintf(err, errlen, "cannot reserve a port");
            free(s);
            return NULL;
        }
        return s;
    }
    if (ns_sink_start(s, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

int ns_sink_start(struct ns_sink *s, char *err, size_t errlen)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    struct evconnlistener *l;
    struct evhttp_bound_socket *bound;
    char dummy[1];

    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (s->http != NULL)
        return 0;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)s->port);
    s->http = evhttp_new(s->base);
    if (s->http == NULL) {
        snprintf(err, errlen, "evhttp_new failed");
        return -1;
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                               EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, request_cb, s);
    l = evconnlistener_new_bind(s->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
                                LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, NS_BACKLOG,
                                (struct sockaddr *)&sin, sizeof(sin));
    if (l == NULL) {
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", s->port, strerror(errno));
        goto fail;
    }
    bound = evhttp_bind_listener(s->http, l);
    if (bound == NULL) {
        evconnlistener_free(l);
        snprintf(err, errlen, "evhttp_bind_listener failed");
        goto fail;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) != 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        goto fail;
    }
    s->port = ntohs(sin.sin_port);
    return 0;
fail:
    evhttp_free(s->http);
    s->http = NULL;
    return -1;
}

void ns_sink_stop(struct ns_sink *s)
{
    struct answer *a;

    if (s == NULL)
        return;
    while ((a = TAILQ_FIRST(&s->answers)) != NULL) {
        /* A request whose client has gone away is ours to free; the
         * others go with their connection in evhttp_free(). */
        if (evhttp_request_get_connection(a->req) == NULL)
            evhttp_request_free(a->req);
        answer_free(a);
    }
    if (s->http != NULL)
        evhttp_free(s->http);
    s->http = NULL;
}

static void records_free(struct ns_sink *s)
{
    for (size_t i = 0; i < s->len; i++) {
        free(s->rec[i].method);
        free(s->rec[i].uri);
        free(s->rec[i].body);
        free(s->rec[i].idempotency_key);
        free(s->rec[i].content_type);
    }
    s->len = 0;
    s->answered = s->accepted = 0;
}

int ns_sink_clear(struct ns_sink *s)
{
    if (!TAILQ_EMPTY(&s->answers))
        return -1;
    records_free(s);
    return 0;
}

void ns_sink_free(struct ns_sink *s)
{
    if (s == NULL)
        return;
    ns_sink_stop(s);
    records_free(s);
    free(s->rec);
    free(s);
}

int ns_sink_port(const struct ns_sink *s)
{
    return s->port;
}

int ns_sink_url(const struct ns_sink *s, const char *path, char *buf, size_t len)
{
    int n;

    if (path == NULL || path[0] != '/')
        return -1;
    n = snprintf(buf, len, "http://127.0.0.1:%d%s", s->port, path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

void ns_sink_set_delay_ms(struct ns_sink *s, unsigned ms)
{
    s->delay_ms = ms;
}

void ns_sink_fail_next(struct ns_sink *s, unsigned n, int status)
{
    s->fail_left = n;
    s->fail_status = status;
}

size_t ns_sink_count(const struct ns_sink *s)
{
    return s->len;
}

size_t ns_sink_answered(const struct ns_sink *s)
{
    return s->answered;
}

size_t ns_sink_accepted(const struct ns_sink *s)
{
    return s->accepted;
}

const struct ns_record *ns_sink_at(const struct ns_sink *s, size_t i)
{
    return i < s->len ? &s->rec[i] : NULL;
}

size_t ns_sink_count_key(const struct ns_sink *s, const char *key)
{
    size_t n = 0;

    for (size_t i = 0; i < s->len; i++)
        if (s->rec[i].idempotency_key != NULL && key != NULL &&
            strcmp(s->rec[i].idempotency_key, key) == 0)
            n++;
    return n;
}
