/*
 * ex03_server.c - given code for exercise 3: starting and stopping the
 * server, routing, the read-only routes, /sync, and the lifetimes of the
 * pending requests and deliveries (see ex03.h and ex03_internal.h).  Not a
 * TODO file: your part is in ex03.c.
 */
#include "ex03_internal.h"
#include "ex03_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#define HARD_BODY_LIMIT (4u * EX03_MAX_MAX_BODY)

/* ---- pending requests and deliveries ------------------------------------ */

struct ex03_pending *ex03_pending_new(struct ex03_server *s, struct evhttp_request *req,
                                      long ms)
{
    struct ex03_pending *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->server = s;
    p->req = req;
    p->ms = ms;
    p->start_ms = ex03_now_ms();
    atomic_init(&p->stop, 0);
    atomic_init(&p->burning, 0);
    TAILQ_INSERT_TAIL(&s->pending, p, link);
    return p;
}

void ex03_pending_free(struct ex03_pending *p)
{
    if (p == NULL)
        return;
    if (!p->thread_started && atomic_load(&p->burning)) {
        /* Freeing it would leave the worker writing to freed memory, a
         * crash later or never: stop here, and say why. */
        fprintf(stderr, "ex03-server: a /cpu job is being freed while its worker thread "
                "is still inside ex03_cpu_burn(), and its thread_started is 0: set "
                "p->thread_started = 1 once pthread_create() has succeeded, so that "
                "ex03_pending_free() stops and joins the worker first; aborting\n");
        abort();
    }
    if (p->thread_started) {
        atomic_store(&p->stop, 1);
        pthread_join(p->thread, NULL);
        p->thread_started = 0;
    }
    if (p->ev != NULL)
        event_free(p->ev);            /* also removes it if it is active */
    TAILQ_REMOVE(&p->server->pending, p, link);
    free(p);
}

/* A 64-bit mix (splitmix64's finalizer): cheap, and the compiler cannot
 * skip it because the digest is printed. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void ex03_cpu_burn(struct ex03_pending *p)
{
    double t0 = ex03_now_ms(), now = t0;
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    unsigned long long rounds = 0;

    /* The clock is read every 64 rounds (about 0.1 ms), the stop flag every
     * 16384 (about 25 ms: a stopping server waits that long at most).
     * `burning` lets ex03_pending_free() see a job freed under its running
     * worker (thread_started never set) every time, not only when the
     * worker's writes to freed memory happen to be seen. */
    atomic_store(&p->burning, 1);
    do {
        for (int i = 0; i < 512; i++)          /* 4 KiB of 64-bit words */
            h = mix64(h + (uint64_t)i);
        rounds++;
        if ((rounds & 63) == 0) {
            p->rounds = rounds;
            now = ex03_now_ms();
            if ((rounds & 16383) == 0 && atomic_load(&p->stop))
                break;
        }
    } while (now - t0 < (double)p->ms);
    p->rounds = rounds;
    p->worked_ms = ex03_now_ms() - t0;
    snprintf(p->digest, sizeof(p->digest), "%016llx", (unsigned long long)h);
    atomic_store(&p->burning, 0);
}

struct ex03_delivery *ex03_delivery_new(struct ex03_server *s, int64_t outbox_id,
                                        const char *key, const char *payload)
{
    struct ex03_delivery *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->key = strdup(key);
    d->payload = strdup(payload);
    if (d->key == NULL || d->payload == NULL) {
        free(d->key);
        free(d->payload);
        free(d);
        return NULL;
    }
    d->server = s;
    d->outbox_id = outbox_id;
    d->slot = -1;
    d->state = EX03_DLV_NEW;
    TAILQ_INSERT_TAIL(&s->deliveries, d, link);
    return d;
}

void ex03_delivery_free(struct ex03_delivery *d)
{
    if (d == NULL)
        return;
    if (d->state == EX03_DLV_READY)
        TAILQ_REMOVE(&d->server->ready, d, ready_link);
    TAILQ_REMOVE(&d->server->deliveries, d, link);
    if (d->retry_timer != NULL)
        event_free(d->retry_timer);
    free(d->key);
    free(d->payload);
    free(d);
}

/* ---- the given routes --------------------------------------------------- */

static int list_one(const struct ex03_user *u, void *arg)
{
    json_t *user = ex03_user_json(u);
    return user == NULL || json_array_append_new(arg, user) != 0;
}

static void handle_list_users(struct ex03_server *s, struct evhttp_request *req)
{
    long limit;
    json_t *list;

    if (ex03_query_long(req, "limit", 1, 100, 20, &limit) != 0) {
        ex03_reply_error(req, 400, "bad_query", "limit must be 1..100", NULL);
        return;
    }
    list = json_array();
    if (list == NULL || ex03_db_list_users(s->db, limit, list_one, list) != EX03_DB_OK) {
        json_decref(list);
        ex03_reply_error(req, 500, "internal", "cannot read the users", NULL);
        return;
    }
    ex03_reply_json(req, 200, list);
}

static void handle_get_user(struct ex03_server *s, struct evhttp_request *req, int64_t id)
{
    struct ex03_user u;

    switch (ex03_db_get_user(s->db, id, &u)) {
    case EX03_DB_OK:
        ex03_reply_json(req, 200, ex03_user_json(&u));
        return;
    case EX03_DB_NOT_FOUND:
        ex03_reply_error(req, 404, "not_found", "no user with this id", NULL);
        return;
    default:
        ex03_reply_error(req, 500, "internal", "cannot read the user", NULL);
    }
}

static void handle_health(struct ex03_server *s, struct evhttp_request *req)
{
    ex03_reply_json(req, 200, json_pack("{s:s, s:I}", "status", "ok", "pending_notifications",
                                        (json_int_t)ex03_server_pending(s)));
}

/* The anti-pattern, on purpose: nanosleep() blocks the loop thread, so no
 * other client is served meanwhile (FastAPI's `def` endpoint calling
 * time.sleep(), without the thread pool FastAPI would give it). */
static void handle_sync(struct ex03_server *s, struct evhttp_request *req)
{
    long ms;
    struct timespec ts;

    (void)s;
    if (ex03_query_long(req, "ms", 0, EX03_MAX_WAIT_MS, 0, &ms) != 0) {
        ex03_reply_error(req, 400, "bad_query", "ms must be 0..10000", NULL);
        return;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    ex03_reply_json(req, 200, json_pack("{s:I}", "waited_ms", (json_int_t)ms));
}

/* ---- routing ------------------------------------------------------------ */

static void method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    ex03_reply_error(req, 405, "method_not_allowed", "method not allowed on this path", NULL);
}

/* "/users/<digits>" with a positive id that fits: 1 and *id; else 0. */
static int parse_user_path(const char *path, int64_t *id)
{
    const char *p = path + strlen("/users/");
    long long v = 0;

    if (strncmp(path, "/users/", 7) != 0 || *p == '\0' || strlen(p) > 18)
        return 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        return 0;
    *id = (int64_t)v;
    return 1;
}

static void route(struct ex03_server *s, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    int64_t id;

    if (path == NULL || path[0] == '\0') {
        ex03_reply_error(req, 404, "not_found", "no such route", NULL);
    } else if (strcmp(path, "/users") == 0) {
        if (cmd == EVHTTP_REQ_POST)
            ex03_handle_create_user(s, req);
        else if (get)
            handle_list_users(s, req);
        else
            method_not_allowed(req, "GET, POST");
    } else if (parse_user_path(path, &id)) {
        if (get)
            handle_get_user(s, req, id);
        else
            method_not_allowed(req, "GET");
    } else if (strcmp(path, "/health") == 0 || strcmp(path, "/sync") == 0 ||
               strcmp(path, "/async") == 0 || strcmp(path, "/cpu") == 0) {
        if (!get)
            method_not_allowed(req, "GET");
        else if (path[1] == 'h')
            handle_health(s, req);
        else if (path[1] == 's')
            handle_sync(s, req);
        else if (path[1] == 'a')
            ex03_handle_async(s, req);
        else
            ex03_handle_cpu(s, req);
    } else {
        ex03_reply_error(req, 404, "not_found", "no such route", NULL);
    }
}

static void send_at_turn_end(struct ex03_server *s, struct evhttp_connection *evcon);

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct ex03_server *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    route(s, req);
    /* Answered now (not later, from a timer or a worker): send it at the
     * turn's end. */
    if (evcon != NULL &&
        evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon))) > 0)
        send_at_turn_end(s, evcon);
}

/* ---- group commit ------------------------------------------------------- */

/*
 * The end of a loop turn.  ex03_db opens one transaction at the turn's first
 * write and calls turn_hook(), which activates s->turn_end: an event with no
 * fd, run after the callbacks already active (every request the loop read in
 * this turn) and before the loop next waits for its sockets.  Its COMMIT
 * makes the turn's users durable at once, then the turn's replies and
 * notifications are written to their sockets: no 201 and no notification
 * leaves before its rows are committed.
 *
 * It writes them itself (send_now()) rather than leave them to libevent,
 * which would ask epoll to watch each socket for writing, wait for the next
 * turn, write, and stop watching: two epoll_ctl() and a loop turn more per
 * message, about a tenth of the CPU per POST /users.  Anything that does not
 * go at once (a full socket buffer, an error) is left to libevent as usual.
 */
static void turn_hook(void *arg)
{
    struct ex03_server *s = arg;

    event_active(s->turn_end, 0, 0);
}

/* evhttp is closing a client connection that is in s->answered. */
static void answered_closed(struct evhttp_connection *evcon, void *arg)
{
    struct ex03_server *s = arg;

    for (unsigned i = 0; i < s->nanswered; i++)
        if (s->answered[i] == evcon)
            s->answered[i] = NULL;
}

/* Remembers a client connection whose answer waits in its output buffer. */
static void send_at_turn_end(struct ex03_server *s, struct evhttp_connection *evcon)
{
    for (unsigned i = 0; i < s->nanswered; i++)
        if (s->answered[i] == evcon)
            return;
    if (s->nanswered == s->answered_cap) {
        unsigned cap = s->answered_cap ? 2 * s->answered_cap : 64;
        struct evhttp_connection **a = realloc(s->answered, cap * sizeof(*a));
        if (a == NULL)
            return;                   /* libevent sends it, a turn later */
        s->answered = a;
        s->answered_cap = cap;
    }
    evhttp_connection_set_closecb(evcon, answered_closed, s);
    s->answered[s->nanswered++] = evcon;
    event_active(s->turn_end, 0, 0);
}

/* Writes what evcon's output buffer holds; once all of it is written, tells
 * evhttp as libevent would (the write callback: "sent", then the next
 * request or response is read). */
static void send_now(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int n;

    if (fd < 0 || evbuffer_get_length(out) == 0)
        return;                       /* none, not connected, or nothing */
    evbuffer_unfreeze(out, 1);        /* a socket bufferevent keeps its output
                                         buffer's start frozen between writes */
    n = evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    if (n > 0 && evbuffer_get_length(out) == 0)
        bufferevent_trigger(bev, EV_WRITE, 0);
}

static void turn_end_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ex03_server *s = arg;

    (void)fd;
    (void)what;
    if (ex03_db_end_turn(s->db) != EX03_DB_OK) {
        /* The replies and notifications of the turn are written but not sent:
         * stop before the loop sends them, so that nobody is told about users
         * that were not saved.  A restart resumes what was committed. */
        fprintf(stderr, "ex03-server: cannot commit the loop turn's transaction: %s; "
                "stopping at once\n", ex03_db_errmsg(s->db));
        _exit(1);
    }
    /* The notifications first: the receiver then answers while the clients
     * read their replies, and its answers are in by the next turn (sent
     * after the replies, they came a turn late, and the deliveries fell
     * behind the requests).  Nothing sent here runs a handler at once:
     * evhttp reads what follows on a connection in a later callback. */
    for (unsigned i = 0; i < s->nconns; i++)
        send_now(s->conns[i]);
    /* Then the replies (those answered in this turn; any answered from
     * here go after the next commit). */
    unsigned n = s->nanswered;
    for (unsigned i = 0; i < n; i++) {
        struct evhttp_connection *evcon = s->answered[i];
        s->answered[i] = NULL;
        if (evcon != NULL) {
            evhttp_connection_set_closecb(evcon, NULL, NULL);
            send_now(evcon);
        }
    }
    if (s->nanswered > n)
        memmove(s->answered, s->answered + n, (s->nanswered - n) * sizeof(*s->answered));
    s->nanswered -= n;
}

/* ---- lifecycle ---------------------------------------------------------- */

static char *dup_printf(const char *fmt, const char *a, int n)
{
    char buf[1024];
    int len = snprintf(buf, sizeof(buf), fmt, a, n);
    return len < 0 || (size_t)len >= sizeof(buf) ? NULL : strdup(buf);
}

/* Splits notify_url into host, port, target and Host header. */
static int parse_notify_url(struct ex03_server *s, const char *url, char *err, size_t errlen)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *path, *query;
    int port, rc = -1;

    if (scheme == NULL || strcasecmp(scheme, "http") != 0 || host == NULL || host[0] == '\0') {
        snprintf(err, errlen, "notify_url \"%s\" is not an http://host[:port]/path URL", url);
        goto out;
    }
    port = evhttp_uri_get_port(uri);
    s->notify_port = port < 0 ? 80 : port;
    path = evhttp_uri_get_path(uri);
    query = evhttp_uri_get_query(uri);
    s->notify_host = strdup(host);
    s->notify_hosthdr = dup_printf("%s:%d", host, s->notify_port);
    if (query != NULL) {
        char buf[1024];
        int n = snprintf(buf, sizeof(buf), "%s?%s", path && path[0] ? path : "/", query);
        s->notify_target = n < 0 || (size_t)n >= sizeof(buf) ? NULL : strdup(buf);
    } else {
        s->notify_target = strdup(path && path[0] ? path : "/");
    }
    if (s->notify_host == NULL || s->notify_hosthdr == NULL || s->notify_target == NULL) {
        snprintf(err, errlen, "notify_url too long, or out of memory");
        goto out;
    }
    rc = 0;
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return rc;
}

struct ex03_server *ex03_server_new(struct event_base *base, struct evhttp *http,
                                    const struct ex03_config *cfg,
                                    char *err, size_t errlen)
{
    struct ex03_server *s = NULL;
    char dummy[1];

    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (base == NULL || http == NULL || cfg == NULL || cfg->db_path == NULL ||
        cfg->notify_url == NULL) {
        snprintf(err, errlen, "ex03_server_new: base, http, cfg, db_path and notify_url are required");
        return NULL;
    }
    if (cfg->max_body > EX03_MAX_MAX_BODY || cfg->max_deliveries > EX03_MAX_DELIVERIES) {
        snprintf(err, errlen, "ex03_server_new: max_body is at most %u and max_deliveries at most %u",
                 EX03_MAX_MAX_BODY, EX03_MAX_DELIVERIES);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    TAILQ_INIT(&s->deliveries);
    TAILQ_INIT(&s->ready);
    TAILQ_INIT(&s->pending);
    s->max_body = cfg->max_body ? cfg->max_body : EX03_DEFAULT_MAX_BODY;
    s->retry_base_ms = cfg->retry_base_ms ? cfg->retry_base_ms : EX03_DEFAULT_RETRY_BASE_MS;
    s->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : EX03_DEFAULT_RETRY_MAX_MS;
    if (s->retry_max_ms < s->retry_base_ms)
        s->retry_max_ms = s->retry_base_ms;
    s->notify_timeout_ms = cfg->notify_timeout_ms ? cfg->notify_timeout_ms
                                                  : EX03_DEFAULT_NOTIFY_TIMEOUT_MS;
    s->nconns = cfg->max_deliveries ? cfg->max_deliveries : EX03_DEFAULT_MAX_DELIVERIES;
    if (parse_notify_url(s, cfg->notify_url, err, errlen) != 0)
        goto err;
    if (ex03_db_open(cfg->db_path, &s->db, err, errlen) != EX03_DB_OK)
        goto err;
    s->turn_end = event_new(base, -1, 0, turn_end_cb, s);
    if (s->turn_end == NULL) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    ex03_db_set_turn_hook(s->db, turn_hook, s);
    s->conns = calloc(s->nconns, sizeof(*s->conns));
    s->conn_busy = calloc(s->nconns, 1);
    if (s->conns == NULL || s->conn_busy == NULL) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    for (unsigned i = 0; i < s->nconns; i++) {
        struct timeval tv = { (time_t)(s->notify_timeout_ms / 1000),
                              (suseconds_t)(s->notify_timeout_ms % 1000) * 1000 };
        s->conns[i] = evhttp_connection_base_new(base, NULL, s->notify_host,
                                                 (unsigned short)s->notify_port);
        if (s->conns[i] == NULL) {
            snprintf(err, errlen, "evhttp_connection_base_new failed");
            goto err;
        }
        evhttp_connection_set_timeout_tv(s->conns[i], &tv);
        evhttp_connection_set_retries(s->conns[i], 0);   /* the outbox retries */
    }
    /* A hard limit far above max_body: bodies between the two get our JSON
     * 413; evhttp closes the connection on bodies above it (its own 413). */
    evhttp_set_max_body_size(http, HARD_BODY_LIMIT);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                               EVHTTP_REQ_OPTIONS);
    s->http = http;
    evhttp_set_gencb(http, request_cb, s);
    if (ex03_outbox_resume(s) != 0) {
        snprintf(err, errlen, "cannot resume the outbox: %s", ex03_db_errmsg(s->db));
        goto err;
    }
    return s;
err:
    ex03_server_free(s);
    return NULL;
}

void ex03_server_free(struct ex03_server *s)
{
    struct ex03_pending *p;
    struct ex03_delivery *d;

    if (s == NULL)
        return;
    if (s->http != NULL)
        evhttp_set_gencb(s->http, NULL, NULL);
    /* Stop the workers first, then answer their requests (an answer to a
     * client that has gone away just frees the request). */
    TAILQ_FOREACH(p, &s->pending, link)
        atomic_store(&p->stop, 1);
    while ((p = TAILQ_FIRST(&s->pending)) != NULL) {
        struct evhttp_request *req = p->req;
        ex03_pending_free(p);
        ex03_reply_error(req, 503, "unavailable", "the server is stopping", NULL);
    }
    /* Freeing a connection cancels its request without calling back, so
     * the deliveries can go after. */
    for (unsigned i = 0; s->conns != NULL && i < s->nconns; i++)
        if (s->conns[i] != NULL)
            evhttp_connection_free(s->conns[i]);
    while ((d = TAILQ_FIRST(&s->deliveries)) != NULL) {
        if (d->state == EX03_DLV_SENDING)
            d->state = EX03_DLV_NEW;
        ex03_delivery_free(d);
    }
    ex03_db_close(s->db);                 /* commits the last turn */
    for (unsigned i = 0; i < s->nanswered; i++)
        if (s->answered[i] != NULL)
            evhttp_connection_set_closecb(s->answered[i], NULL, NULL);
    free(s->answered);
    if (s->turn_end != NULL)
        event_free(s->turn_end);
    free(s->conns);
    free(s->conn_busy);
    free(s->notify_host);
    free(s->notify_target);
    free(s->notify_hosthdr);
    free(s);
}

long ex03_server_pending(const struct ex03_server *s)
{
    return s ? ex03_db_outbox_count_pending(s->db) : -1;
}
