/*
 * ex03.c - Exercise 3, reference solution: POST /users with an outbox, the
 * outbox's delivery with retries, /async on a timer and /cpu on a worker
 * thread.  The contract is in ex03.h; the server's insides in
 * ex03_internal.h.
 *
 * The order of POST /users is the lesson: validate, then one transaction
 * writes the user and its outbox row, then the reply is sent, and only then
 * does the delivery start.  The delivery is an event-driven state machine
 * (READY -> SENDING -> delivered, or -> WAITING -> READY ...) on a few
 * kept-alive connections to the receiver.
 */
#include "ex03_internal.h"
#include "ex03_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

/* ======================================================================== */
/* 1. POST /users                                                           */
/* ======================================================================== */

/* Given: the notification's body for user u, as JSON text (free() it), or
 * NULL when out of memory. */
static char *notification_payload(const struct ex03_user *u, const char *key)
{
    json_t *body = json_pack("{s:s, s:s, s:o}", "event", EX03_EVENT_USER_CREATED,
                             "idempotency_key", key, "user", ex03_user_json(u));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    return text;
}

/* Checks the parsed body.  Returns 0 with *name and *email pointing into
 * body, or -1 with the field at fault in *field and a message in *why. */
static int validate_user(json_t *body, const char **name, const char **email,
                         const char **field, const char **why)
{
    static const char *const keys[2] = { "name", "email" };
    const char *values[2];

    if (!json_is_object(body)) {
        *field = "body";
        *why = "must be a JSON object";
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, keys[i]);
        *field = keys[i];
        if (v == NULL) {
            *why = "is required";
            return -1;
        }
        if (!json_is_string(v)) {
            *why = "must be a string";
            return -1;
        }
        values[i] = json_string_value(v);
        *why = i == 0 ? ex03_check_name(values[i]) : ex03_check_email(values[i]);
        if (*why != NULL)
            return -1;
    }
    *name = values[0];
    *email = values[1];
    return 0;
}

static void outbox_queue(struct ex03_server *s, int64_t outbox_id, const char *key,
                         const char *payload);
static void outbox_pump(struct ex03_server *s);

void ex03_handle_create_user(struct ex03_server *s, struct evhttp_request *req)
{
    json_t *body = NULL;
    char why[200], msg[200], key[64], location[64];
    const char *name = NULL, *email = NULL, *field = NULL, *problem = NULL;
    struct ex03_user user;
    char *payload = NULL;
    int64_t outbox_id = 0;
    int rc;

    switch (ex03_read_json(req, s->max_body, &body, why, sizeof(why))) {
    case EX03_BODY_OK:
        break;
    case EX03_BODY_TOO_LARGE:
        ex03_reply_error(req, 413, "payload_too_large", why, NULL);
        return;
    case EX03_BODY_MALFORMED:
        ex03_reply_error(req, 400, "malformed_json", why, NULL);
        return;
    default:
        ex03_reply_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    if (validate_user(body, &name, &email, &field, &problem) != 0) {
        snprintf(msg, sizeof(msg), "%s %s", field, problem);
        ex03_reply_error(req, 422, "validation_error", msg, field);
        goto out;
    }

    /* The user and its notification: both rows or neither. */
    if (ex03_db_begin(s->db) != EX03_DB_OK) {
        ex03_reply_error(req, 500, "internal", "cannot start a transaction", NULL);
        goto out;
    }
    rc = ex03_db_insert_user(s->db, name, email, &user);
    if (rc != EX03_DB_OK) {
        ex03_db_rollback(s->db);
        if (rc == EX03_DB_CONFLICT)
            ex03_reply_error(req, 409, "conflict", "a user with this email exists", NULL);
        else
            ex03_reply_error(req, 500, "internal", "cannot insert the user", NULL);
        goto out;
    }
    snprintf(key, sizeof(key), EX03_KEY_PREFIX "%lld", (long long)user.id);
    payload = notification_payload(&user, key);
    if (payload == NULL ||
        ex03_db_insert_outbox(s->db, user.id, EX03_EVENT_USER_CREATED, key, payload,
                              &outbox_id) != EX03_DB_OK ||
        ex03_db_commit(s->db) != EX03_DB_OK) {
        ex03_db_rollback(s->db);
        ex03_reply_error(req, 500, "internal", "cannot save the user", NULL);
        goto out;
    }

    /* Reply first ... */
    snprintf(location, sizeof(location), "/users/%lld", (long long)user.id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    ex03_reply_json(req, 201, ex03_user_json(&user));

    /* ... then the background work.  If it cannot even be queued (out of
     * memory), the row stays pending: the next start delivers it. */
    outbox_queue(s, outbox_id, key, payload);
    outbox_pump(s);
out:
    free(payload);
    json_decref(body);
}

/* ======================================================================== */
/* 2. The outbox's delivery                                                 */
/* ======================================================================== */

/* The wait before the next attempt, once `attempts` attempts have failed:
 * retry_base_ms, twice that, four times ..., never more than retry_max_ms. */
static unsigned backoff_ms(const struct ex03_server *s, unsigned attempts)
{
    unsigned long long ms = s->retry_base_ms;

    for (unsigned i = 1; i < attempts && ms < s->retry_max_ms; i++)
        ms *= 2;
    return ms > s->retry_max_ms ? s->retry_max_ms : (unsigned)ms;
}

static void delivery_send(struct ex03_delivery *d, unsigned slot);

/* Puts d at the end of the ready queue. */
static void delivery_ready(struct ex03_delivery *d)
{
    d->state = EX03_DLV_READY;
    TAILQ_INSERT_TAIL(&d->server->ready, d, ready_link);
}

/* Starts ready deliveries on free connections, oldest first. */
static void outbox_pump(struct ex03_server *s)
{
    for (unsigned i = 0; i < s->nconns && !TAILQ_EMPTY(&s->ready); i++) {
        if (s->conn_busy[i])
            continue;
        struct ex03_delivery *d = TAILQ_FIRST(&s->ready);
        TAILQ_REMOVE(&s->ready, d, ready_link);
        delivery_send(d, i);
    }
}

/* An attempt failed: count it, record why, and wait before the next one. */
static void delivery_failed(struct ex03_delivery *d, const char *why)
{
    struct ex03_server *s = d->server;
    unsigned ms;
    struct timeval tv;

    d->attempts++;
    ex03_db_outbox_failed(s->db, d->outbox_id, why);
    ms = backoff_ms(s, d->attempts);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    d->state = EX03_DLV_WAITING;
    if (evtimer_add(d->retry_timer, &tv) != 0)
        delivery_ready(d);            /* cannot wait: try again at once */
}

/* The backoff is over: back in the queue. */
static void delivery_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ex03_delivery *d = arg;

    (void)fd;
    (void)what;
    delivery_ready(d);
    outbox_pump(d->server);
}

/* evhttp calls this once per attempt: with the response, or with NULL (or a
 * response code of 0) when the receiver was down, reset or too slow. */
static void delivery_done_cb(struct evhttp_request *req, void *arg)
{
    struct ex03_delivery *d = arg;
    struct ex03_server *s = d->server;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char why[64];

    s->conn_busy[d->slot] = 0;
    d->slot = -1;
    if (code >= 200 && code < 300) {
        d->attempts++;
        ex03_db_outbox_delivered(s->db, d->outbox_id);
        d->state = EX03_DLV_NEW;      /* no longer in flight: may be freed */
        ex03_delivery_free(d);
    } else {
        if (code == 0)
            snprintf(why, sizeof(why), "no answer (refused, reset or timed out)");
        else
            snprintf(why, sizeof(why), "HTTP %d", code);
        delivery_failed(d, why);
    }
    outbox_pump(s);
}

/* Sends one attempt of d on connection `slot`. */
static void delivery_send(struct ex03_delivery *d, unsigned slot)
{
    struct ex03_server *s = d->server;
    struct evhttp_request *req = evhttp_request_new(delivery_done_cb, d);
    struct evkeyvalq *h;
    unsigned attempts = d->attempts;

    if (req == NULL) {
        delivery_failed(d, "out of memory");
        return;
    }
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", s->notify_hosthdr);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Idempotency-Key", d->key);
    evbuffer_add(evhttp_request_get_output_buffer(req), d->payload, strlen(d->payload));
    d->state = EX03_DLV_SENDING;
    d->slot = (int)slot;
    s->conn_busy[slot] = 1;
    /* On failure evhttp may already have called delivery_done_cb (then d is
     * WAITING, or a newer attempt is on its way): only handle it if not. */
    if (evhttp_make_request(s->conns[slot], req, EVHTTP_REQ_POST, s->notify_target) != 0 &&
        d->state == EX03_DLV_SENDING && d->attempts == attempts) {
        s->conn_busy[slot] = 0;
        d->slot = -1;
        delivery_failed(d, "cannot send the request");
    }
}

/* Makes a delivery for an outbox row and queues it (without starting it:
 * call outbox_pump()).  On failure the row stays pending in the database. */
static void outbox_queue(struct ex03_server *s, int64_t outbox_id, const char *key,
                         const char *payload)
{
    struct ex03_delivery *d = ex03_delivery_new(s, outbox_id, key, payload);

    if (d == NULL)
        return;
    d->retry_timer = evtimer_new(s->base, delivery_retry_cb, d);
    if (d->retry_timer == NULL) {
        ex03_delivery_free(d);
        return;
    }
    delivery_ready(d);
}

static int resume_one(int64_t outbox_id, const char *key, const char *payload, void *arg)
{
    outbox_queue(arg, outbox_id, key, payload);
    return 0;
}

int ex03_outbox_resume(struct ex03_server *s)
{
    if (ex03_db_outbox_pending(s->db, resume_one, s) != EX03_DB_OK)
        return -1;
    outbox_pump(s);           /* after the SELECT is over */
    return 0;
}

/* ======================================================================== */
/* 3. GET /async?ms=N: wait on a timer                                      */
/* ======================================================================== */

static void async_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ex03_pending *p = arg;

    (void)fd;
    (void)what;
    ex03_reply_json(p->req, 200, json_pack("{s:I}", "waited_ms", (json_int_t)p->ms));
    ex03_pending_free(p);
}

void ex03_handle_async(struct ex03_server *s, struct evhttp_request *req)
{
    struct ex03_pending *p;
    struct timeval tv;
    long ms;

    if (ex03_query_long(req, "ms", 0, EX03_MAX_WAIT_MS, 0, &ms) != 0) {
        ex03_reply_error(req, 400, "bad_query", "ms must be 0..10000", NULL);
        return;
    }
    p = ex03_pending_new(s, req, ms);
    if (p == NULL) {
        ex03_reply_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    p->ev = evtimer_new(s->base, async_timer_cb, p);
    if (p->ev == NULL || evtimer_add(p->ev, &tv) != 0) {
        ex03_pending_free(p);
        ex03_reply_error(req, 500, "internal", "cannot arm a timer", NULL);
    }
}

/* ======================================================================== */
/* 4. GET /cpu?ms=N: compute on a worker thread, reply from the loop        */
/* ======================================================================== */

/* Worker thread: the computation, then the hand-off.  event_active() is the
 * one libevent call that is safe from another thread (the base was made
 * after evthread_use_pthreads()): it wakes the loop, which runs
 * cpu_done_cb on the loop thread. */
static void *cpu_worker(void *arg)
{
    struct ex03_pending *p = arg;

    ex03_cpu_burn(p);
    event_active(p->ev, 0, 0);
    return NULL;
}

/* Loop thread: the worker is done; reply. */
static void cpu_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ex03_pending *p = arg;

    (void)fd;
    (void)what;
    pthread_join(p->thread, NULL);    /* returns at once: the worker has ended */
    p->thread_started = 0;
    ex03_reply_json(p->req, 200, json_pack("{s:f, s:I, s:s}", "worked_ms", p->worked_ms,
                                           "rounds", (json_int_t)p->rounds,
                                           "digest", p->digest));
    ex03_pending_free(p);
}

void ex03_handle_cpu(struct ex03_server *s, struct evhttp_request *req)
{
    struct ex03_pending *p;
    long ms;

    if (ex03_query_long(req, "ms", 0, EX03_MAX_WAIT_MS, 0, &ms) != 0) {
        ex03_reply_error(req, 400, "bad_query", "ms must be 0..10000", NULL);
        return;
    }
    p = ex03_pending_new(s, req, ms);
    if (p == NULL) {
        ex03_reply_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    p->ev = event_new(s->base, -1, 0, cpu_done_cb, p);
    if (p->ev == NULL || pthread_create(&p->thread, NULL, cpu_worker, p) != 0) {
        ex03_pending_free(p);
        ex03_reply_error(req, 503, "unavailable", "cannot start a worker thread", NULL);
        return;
    }
    p->thread_started = 1;
}
