/*
 * fixture_server.c - the harness's HTTP test server (see fixture_server.h).
 *
 * Each request that is not answered at once gets a `struct pending`, kept in
 * a list so that fx_server_free() can cancel it, and watched through the
 * connection's close callback so that a client that gives up (a timeout on
 * its side) is counted out of the in-flight number.
 */
#include "fixture_server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#define FX_MAX_DELAY_MS 60000L
#define FX_MAX_BYTES (64L * 1024 * 1024)
#define FX_CHUNK_SIZE (64 * 1024)
/* Connections that wait for their request (TCP_DEFER_ACCEPT, below) count
 * against it too; the kernel caps it at net.core.somaxconn. */
#define FX_BACKLOG 4096

struct pending {
    TAILQ_ENTRY(pending) link;
    struct fx_server *server;
    struct evhttp_request *req;
    struct event *timer;        /* NULL for /never */
    struct event *eof_watch;    /* notices a client that gives up */
    size_t log_index;
    unsigned log_generation;
    int status;
    long nbytes;                /* body of /bytes, or -1 */
    int chunked;
    struct evbuffer *body;      /* prepared body, or NULL for /bytes */
};
TAILQ_HEAD(pending_list, pending);

struct fx_server {
    struct event_base *base;
    struct evhttp *http;
    char addr[64];
    int port;
    unsigned in_flight;
    unsigned max_in_flight;
    struct fx_log_entry *log;
    size_t log_len, log_cap;
    unsigned log_generation;    /* bumped by reset: stale indexes are ignored */
    struct pending_list pending;
    FILE *trace;
};

double fx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct event_base *fx_event_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;

    if (cfg != NULL) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    return base;
}

/* ---- log ---------------------------------------------------------------- */

static int log_append(struct fx_server *s, const char *uri, size_t *index)
{
    if (s->log_len == s->log_cap) {
        size_t cap = s->log_cap ? s->log_cap * 2 : 64;
        struct fx_log_entry *grown = realloc(s->log, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        s->log = grown;
        s->log_cap = cap;
    }
    char *copy = strdup(uri);
    if (copy == NULL)
        return -1;
    s->log[s->log_len] = (struct fx_log_entry){
        .uri = copy, .start_ms = fx_now_ms(), .outcome = FX_PENDING,
    };
    *index = s->log_len++;
    return 0;
}

static void log_end(struct fx_server *s, size_t index, unsigned generation,
                    int status, enum fx_outcome outcome)
{
    if (s->in_flight > 0)
        s->in_flight--;
    if (generation != s->log_generation || index >= s->log_len)
        return;
    struct fx_log_entry *e = &s->log[index];
    e->end_ms = fx_now_ms();
    e->status = status;
    e->outcome = outcome;
    if (s->trace != NULL)
        fprintf(s->trace, "%10.1f ms %10.1f ms  %3d  %s%s\n",
                e->start_ms - s->log[0].start_ms, e->end_ms - s->log[0].start_ms,
                status, e->uri, outcome == FX_ABANDONED ? "  (abandoned)" : "");
}

static void log_clear(struct fx_server *s)
{
    for (size_t i = 0; i < s->log_len; i++)
        free((char *)s->log[i].uri);
    s->log_len = 0;
    s->log_generation++;
}

/* ---- replies ------------------------------------------------------------ */

/* Sends n bytes where byte i is 'a' + i % 26, in pieces of FX_CHUNK_SIZE,
 * as one body or as HTTP chunks. */
static void send_bytes(struct evhttp_request *req, long n, int chunked)
{
    static char pattern[FX_CHUNK_SIZE + 26];
    struct evbuffer *buf = evbuffer_new();

    if (buf == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (pattern[0] == '\0')
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (char)('a' + i % 26);
    if (chunked)
        evhttp_send_reply_start(req, 200, NULL);
    for (long off = 0; off < n; ) {
        long len = n - off < FX_CHUNK_SIZE ? n - off : FX_CHUNK_SIZE;
        evbuffer_add(buf, pattern + off % 26, (size_t)len);
        if (chunked)
            evhttp_send_reply_chunk(req, buf);   /* drains buf */
        off += len;
    }
    if (chunked)
        evhttp_send_reply_end(req);
    else
        evhttp_send_reply(req, 200, NULL, buf);
    evbuffer_free(buf);
}

static void pending_free(struct pending *p)
{
    TAILQ_REMOVE(&p->server->pending, p, link);
    if (p->timer != NULL)
        event_free(p->timer);
    if (p->eof_watch != NULL)
        event_free(p->eof_watch);
    if (p->body != NULL)
        evbuffer_free(p->body);
    free(p);
}

static void pending_reply(struct pending *p)
{
    struct fx_server *s = p->server;
    evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
    if (p->nbytes >= 0)
        send_bytes(p->req, p->nbytes, p->chunked);
    else
        evhttp_send_reply(p->req, p->status, NULL, p->body);
    log_end(s, p->log_index, p->log_generation, p->status, FX_ANSWERED);
    pending_free(p);
}

static void delay_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_reply(arg);
}

/* The connection is being freed before we answered: libevent frees the
 * request right after this callback, so forget it here. */
static void conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
    struct pending *p = arg;
    (void)evcon;
    log_end(p->server, p->log_index, p->log_generation, 0, FX_ABANDONED);
    pending_free(p);
}

/* evhttp 2.1 does not read a connection while its reply is pending, so it
 * would notice a client that gave up only when the reply is written.  This
 * one-shot read event notices it at once: on end of file (or a reset) the
 * connection is freed, which runs conn_close_cb().  Pipelined bytes are left
 * for evhttp, and the watch stops. */
static void eof_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pending *p = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    (void)what;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        evhttp_connection_free(evhttp_request_get_connection(p->req));
}

static void watch_for_eof(struct fx_server *s, struct pending *p)
{
    struct bufferevent *bev =
        evhttp_connection_get_bufferevent(evhttp_request_get_connection(p->req));
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;

    if (fd >= 0 && (p->eof_watch = event_new(s->base, fd, EV_READ, eof_watch_cb, p)) != NULL)
        event_add(p->eof_watch, NULL);
}

/* ---- routing ------------------------------------------------------------ */

/* Parses a decimal parameter in [lo, hi]; absent gives `dflt`.  -1 on error. */
static int param_long(const struct evkeyvalq *q, const char *key, long lo,
                      long hi, long dflt, long *out)
{
    const char *v = evhttp_find_header(q, key);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static void bad_request(struct fx_server *s, struct evhttp_request *req,
                        size_t index, const char *why)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL)
        evbuffer_add_printf(b, "%s\n", why);
    evhttp_send_reply(req, 400, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
    log_end(s, index, s->log_generation, 400, FX_ANSWERED);
}

/* Fills p (status, body) from the route; returns NULL or a reason for 400. */
static const char *route(struct pending *p, const char *path,
                         const struct evkeyvalq *q, const char *uri, int *never)
{
    long n = 0;
    *never = 0;
    p->nbytes = -1;
    p->status = 200;
    if (strcmp(path, "/delay") == 0) {
        evbuffer_add(p->body, uri, strlen(uri));
    } else if (strcmp(path, "/never") == 0) {
        *never = 1;
    } else if (strcmp(path, "/bytes") == 0) {
        long chunked = 0;
        if (param_long(q, "n", 0, FX_MAX_BYTES, -1, &n) != 0 || n < 0)
            return "/bytes needs n=0..67108864";
        if (param_long(q, "chunked", 0, 1, 0, &chunked) != 0)
            return "chunked must be 0 or 1";
        p->nbytes = n;
        p->chunked = (int)chunked;
    } else if (strcmp(path, "/status") == 0) {
        if (param_long(q, "code", 100, 599, -1, &n) != 0 || n < 0)
            return "/status needs code=100..599";
        p->status = (int)n;
        evbuffer_add_printf(p->body, "status %ld", n);
    } else {
        p->status = 404;
        evbuffer_add_printf(p->body, "no such route");
    }
    return NULL;
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct fx_server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
    const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
    const char *query = parsed ? evhttp_uri_get_query(parsed) : NULL;
    struct evkeyvalq q;
    struct pending *p = NULL;
    size_t index = 0;
    long delay = 0;
    int never = 0;
    const char *why = NULL;

    TAILQ_INIT(&q);
    if (log_append(s, uri ? uri : "", &index) != 0) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (++s->in_flight > s->max_in_flight)
        s->max_in_flight = s->in_flight;

    if (path == NULL || (query != NULL && evhttp_parse_query_str(query, &q) != 0)) {
        why = "malformed URI or query";
        goto bad;
    }
    if (param_long(&q, "ms", 0, FX_MAX_DELAY_MS, 0, &delay) != 0) {
        why = "ms must be 0..60000";
        goto bad;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->body = evbuffer_new()) == NULL) {
        why = "out of memory";
        goto bad;
    }
    p->server = s;
    p->req = req;
    p->log_index = index;
    p->log_generation = s->log_generation;
    TAILQ_INSERT_TAIL(&s->pending, p, link);
    why = route(p, path, &q, uri, &never);
    if (why != NULL) {
        pending_free(p);
        p = NULL;
        goto bad;
    }
    evhttp_clear_headers(&q);

    if (!never && delay == 0) {
        pending_reply(p);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), conn_close_cb, p);
    watch_for_eof(s, p);
    if (!never) {
        struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };
        p->timer = evtimer_new(s->base, delay_timer_cb, p);
        if (p->timer == NULL || evtimer_add(p->timer, &tv) != 0) {
            /* Cannot wait: answer now rather than never. */
            pending_reply(p);
        }
    }
    return;

bad:
    evhttp_clear_headers(&q);
    if (p != NULL) {
        if (p->body != NULL)
            evbuffer_free(p->body);
        free(p);
    }
    bad_request(s, req, index, why);
}

/* ---- lifecycle ---------------------------------------------------------- */

struct fx_server *fx_server_new(struct event_base *base, const char *addr,
                                int port, char *err, size_t errlen)
{
    struct fx_server *s = NULL;
    struct evhttp_bound_socket *bound = NULL;
    struct evconnlistener *listener = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char dummy[1];

    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (base == NULL || port < 0 || port > 65535) {
        snprintf(err, errlen, "fx_server_new: invalid argument");
        return NULL;
    }
    if (addr == NULL)
        addr = "127.0.0.1";
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    s->base = base;
    TAILQ_INIT(&s->pending);
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        snprintf(err, errlen, "evhttp_new failed");
        goto err;
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                               EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(s->http, request_cb, s);
    /* Our own listener, for a backlog deep enough that hundreds of clients
     * connecting at once are not dropped (evhttp's default is 128). */
    memset(&ss, 0, sizeof(ss));
    sslen = sizeof(ss);
    if (evutil_inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sslen = sizeof(struct sockaddr_in);
    } else if (evutil_inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sslen = sizeof(struct sockaddr_in6);
    } else {
        snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", addr);
        goto err;
    }
    listener = evconnlistener_new_bind(base, NULL, NULL,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
                                       LEV_OPT_REUSEABLE, FX_BACKLOG,
                                       (struct sockaddr *)&ss, (int)sslen);
    if (listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", addr, port, strerror(errno));
        goto err;
    }
    /* TCP_DEFER_ACCEPT: the kernel hands us a connection only once its
     * first bytes (the request) have arrived, so a client's connect() no
     * longer creates the accepted socket and wakes us up, and we accept and
     * read in one go.  With 1000 clients connecting at once (exercise 1's
     * benchmark), their connect() calls take about a third less time.  An
     * HTTP server has nothing to do before the request anyway; best effort:
     * without it the server works the same. */
    int defer_s = 1;
    (void)setsockopt(evconnlistener_get_fd(listener), IPPROTO_TCP, TCP_DEFER_ACCEPT,
                     &defer_s, sizeof(defer_s));
    bound = evhttp_bind_listener(s->http, listener);
    if (bound == NULL) {
        evconnlistener_free(listener);
        snprintf(err, errlen, "evhttp_bind_listener failed");
        goto err;
    }
    sslen = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        goto err;
    }
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return s;

err:
    fx_server_free(s);
    return NULL;
}

void fx_server_free(struct fx_server *s)
{
    struct pending *p;

    if (s == NULL)
        return;
    while ((p = TAILQ_FIRST(&s->pending)) != NULL) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
        log_end(s, p->log_index, p->log_generation, 0, FX_ABANDONED);
        pending_free(p);
    }
    if (s->http != NULL)
        evhttp_free(s->http);   /* closes connections, frees their requests */
    log_clear(s);
    free(s->log);
    free(s);
}

int fx_server_port(const struct fx_server *s)
{
    return s->port;
}

int fx_server_url(const struct fx_server *s, const char *path, char *buf, size_t len)
{
    if (path == NULL || path[0] != '/')
        return -1;
    int n = snprintf(buf, len, "http://%s:%d%s", s->addr, s->port, path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

unsigned fx_server_in_flight(const struct fx_server *s)
{
    return s->in_flight;
}

unsigned fx_server_max_in_flight(const struct fx_server *s)
{
    return s->max_in_flight;
}

size_t fx_server_log_len(const struct fx_server *s)
{
    return s->log_len;
}

const struct fx_log_entry *fx_server_log_at(const struct fx_server *s, size_t i)
{
    return i < s->log_len ? &s->log[i] : NULL;
}

void fx_server_reset(struct fx_server *s)
{
    log_clear(s);
    s->max_in_flight = s->in_flight;
}

void fx_server_set_trace(struct fx_server *s, void *trace_file)
{
    s->trace = trace_file;
}

int fx_unused_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}
