/*
 * ex03.c - Exercise 3: POST /users with an outbox, the outbox's delivery
 * with retries, /async on a timer and /cpu on a worker thread.
 *
 * YOUR FILE.  Fill in every TODO(ex03); the contract is in ex03.h, the
 * server's insides (the structs you use here) in ex03_internal.h, the
 * helpers in ex03_db.h and ex03_http.h, and the guide in
 * docs/en/ex03_background.md (docs/fr/ in French).  Check your work with
 * `make ex03` (the tests) and `make grade` (your score).
 *
 * The order of POST /users is the lesson: validate, then one transaction
 * writes the user and its outbox row, then the reply is sent, and only then
 * does the delivery start (FastAPI: `background_tasks.add_task(...)`, which
 * runs after the response).  The delivery is an event-driven state machine
 * on a few kept-alive connections to the receiver:
 *
 *   outbox_queue -> READY --outbox_pump--> SENDING --2xx--> delivered, freed
 *                     ^                       |
 *                     |                  failure (refused, timeout, non-2xx)
 *                     |                       v
 *                     +--delivery_retry_cb-- WAITING (backoff timer)
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
    /* TODO(ex03): validate the body, field by field, in the order body, name, email.
     * Hint: not json_is_object(body): field "body", "must be a JSON object".  For
     *   "name" then "email": v = json_object_get(body, key); v == NULL: "is required";
     *   !json_is_string(v): "must be a string"; then *why = ex03_check_name() /
     *   ex03_check_email() of json_string_value(v), an error when not NULL.  On an
     *   error set *field = the key and return -1; else set *name, *email, return 0. */
    (void)body;
    (void)name;
    (void)email;
    *field = "body";
    *why = "is not checked yet (TODO(ex03) in validate_user)";
    return -1;
}

static void outbox_queue(struct ex03_server *s, int64_t outbox_id, const char *key,
                         const char *payload);
static void outbox_pump(struct ex03_server *s);

void ex03_handle_create_user(struct ex03_server *s, struct evhttp_request *req)
{
    /* TODO(ex03): read the body and answer the errors that come before the database.
     * Hint: switch (ex03_read_json(req, s->max_body, &body, why, sizeof(why))):
     *   EX03_BODY_TOO_LARGE -> ex03_reply_error(req, 413, "payload_too_large", why, NULL);
     *   EX03_BODY_MALFORMED -> 400 "malformed_json"; EX03_BODY_NOMEM -> 500 "internal".
     *   Then validate_user(); on -1 reply 422 "validation_error" with a message such as
     *   "email must look like ..." and the field (the 4th argument). */

    /* TODO(ex03): write the user and its outbox row in ONE transaction.
     * Hint: ex03_db_begin(s->db); rc = ex03_db_insert_user(s->db, name, email, &user);
     *   EX03_DB_CONFLICT -> ex03_db_rollback() and 409 "conflict".  Then the key
     *   (EX03_KEY_PREFIX "%lld", user.id), payload = notification_payload(&user, key),
     *   ex03_db_insert_outbox(s->db, user.id, EX03_EVENT_USER_CREATED, key, payload,
     *   &outbox_id), ex03_db_commit(s->db).  Any failure: rollback, 500.  Free the
     *   payload and json_decref(body) on every path. */

    /* TODO(ex03): reply first, then start the background work.
     * Hint: evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
     *   "/users/<id>"); ex03_reply_json(req, 201, ex03_user_json(&user)); and only then
     *   outbox_queue(s, outbox_id, key, payload); outbox_pump(s);  Never wait for the
     *   delivery before replying: the receiver may be slow, or down. */
    (void)validate_user;
    (void)notification_payload;
    (void)outbox_queue;
    (void)outbox_pump;
    (void)s;
    ex03_reply_error(req, 501, "not_implemented", "TODO(ex03): POST /users", NULL);
}

/* ======================================================================== */
/* 2. The outbox's delivery                                                 */
/* ======================================================================== */

/* The wait before the next attempt, once `attempts` attempts have failed:
 * retry_base_ms, twice that, four times ..., never more than retry_max_ms. */
static unsigned backoff_ms(const struct ex03_server *s, unsigned attempts)
{
    /* TODO(ex03): capped exponential backoff.
     * Hint: ms = s->retry_base_ms, doubled (attempts - 1) times, but stop doubling
     *   once it reaches s->retry_max_ms (no overflow), and return at most
     *   s->retry_max_ms.  attempts 1, 2, 3, 4 with base 40 and cap 120: 40, 80, 120, 120. */
    (void)attempts;
    return s->retry_base_ms;
}

static void delivery_send(struct ex03_delivery *d, unsigned slot);

/* Given: puts d at the end of the ready queue. */
static void delivery_ready(struct ex03_delivery *d)
{
    d->state = EX03_DLV_READY;
    TAILQ_INSERT_TAIL(&d->server->ready, d, ready_link);
}

/* Starts ready deliveries on free connections, oldest first. */
static void outbox_pump(struct ex03_server *s)
{
    /* TODO(ex03): give each free connection the oldest ready delivery.
     * Hint: for i in 0 .. s->nconns - 1, while s->ready is not empty: skip
     *   s->conn_busy[i]; d = TAILQ_FIRST(&s->ready); TAILQ_REMOVE(&s->ready, d,
     *   ready_link); delivery_send(d, i). */
    (void)s;
    (void)delivery_send;
    (void)delivery_ready;
}

/* An attempt failed: count it, record why, and wait before the next one. */
static void delivery_failed(struct ex03_delivery *d, const char *why)
{
    /* TODO(ex03): count the attempt, record it, arm the retry timer.
     * Hint: d->attempts++; ex03_db_outbox_failed(s->db, d->outbox_id, why);
     *   d->state = EX03_DLV_WAITING; evtimer_add(d->retry_timer, &tv) with tv =
     *   backoff_ms(s, d->attempts) ms.  If evtimer_add fails, delivery_ready(d). */
    (void)d;
    (void)why;
    (void)backoff_ms;
}

/* The backoff is over: back in the queue. */
static void delivery_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    /* TODO(ex03): the timer fired: the delivery is ready again.
     * Hint: delivery_ready(d); outbox_pump(d->server); */
    (void)fd;
    (void)what;
    (void)arg;
}

/* evhttp calls this once per attempt: with the response, or with NULL (or a
 * response code of 0) when the receiver was down, reset or too slow. */
static void delivery_done_cb(struct evhttp_request *req, void *arg)
{
    /* TODO(ex03): the attempt ended: free its connection slot, then decide.
     * Hint: code = req ? evhttp_request_get_response_code(req) : 0;
     *   s->conn_busy[d->slot] = 0; d->slot = -1;
     *   2xx: d->attempts++; ex03_db_outbox_delivered(s->db, d->outbox_id);
     *        d->state = EX03_DLV_NEW; ex03_delivery_free(d);
     *   else (0 = refused/reset/timeout, 4xx, 5xx): delivery_failed(d, "HTTP 503"...).
     *   Either way finish with outbox_pump(s): the slot is free for the next one.
     *   Do not free req: evhttp owns it. */
    (void)req;
    (void)arg;
    (void)delivery_failed;
}

/* Sends one attempt of d on connection `slot`. */
static void delivery_send(struct ex03_delivery *d, unsigned slot)
{
    /* TODO(ex03): POST the payload to the receiver on s->conns[slot].
     * Hint: req = evhttp_request_new(delivery_done_cb, d) (NULL: delivery_failed);
     *   headers (evhttp_request_get_output_headers): "Host" s->notify_hosthdr,
     *   "Content-Type" "application/json", "Idempotency-Key" d->key; the body:
     *   evbuffer_add(evhttp_request_get_output_buffer(req), d->payload, strlen).
     *   Mark it BEFORE sending: d->state = EX03_DLV_SENDING; d->slot = slot;
     *   s->conn_busy[slot] = 1; then evhttp_make_request(s->conns[slot], req,
     *   EVHTTP_REQ_POST, s->notify_target).  If that returns -1 and d is still
     *   SENDING with the same d->attempts as before (evhttp may already have called
     *   delivery_done_cb), free the slot and delivery_failed(d, ...). */
    (void)d;
    (void)slot;
    (void)delivery_done_cb;
}

/* Makes a delivery for an outbox row and queues it (without starting it:
 * call outbox_pump()).  On failure the row stays pending in the database. */
static void outbox_queue(struct ex03_server *s, int64_t outbox_id, const char *key,
                         const char *payload)
{
    /* TODO(ex03): make the delivery and its retry timer, and queue it.
     * Hint: d = ex03_delivery_new(s, outbox_id, key, payload) (NULL: return);
     *   d->retry_timer = evtimer_new(s->base, delivery_retry_cb, d) (NULL:
     *   ex03_delivery_free(d) and return); delivery_ready(d). */
    (void)s;
    (void)outbox_id;
    (void)key;
    (void)payload;
    (void)delivery_retry_cb;
}

int ex03_outbox_resume(struct ex03_server *s)
{
    /* TODO(ex03): queue every pending outbox row, then start them.
     * Hint: ex03_db_outbox_pending(s->db, each, s) calls each(outbox_id, key, payload,
     *   arg) per pending row: write a small static callback that calls outbox_queue()
     *   and returns 0.  Not EX03_DB_OK: return -1.  Then outbox_pump(s) (after the
     *   SELECT is over) and return 0. */
    (void)s;
    return 0;
}

/* ======================================================================== */
/* 3. GET /async?ms=N: wait on a timer                                      */
/* ======================================================================== */

static void async_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    /* TODO(ex03): the wait is over: answer, then free.
     * Hint: p = arg; ex03_reply_json(p->req, 200, json_pack("{s:I}", "waited_ms",
     *   (json_int_t)p->ms)); ex03_pending_free(p); */
    (void)fd;
    (void)what;
    (void)arg;
}

void ex03_handle_async(struct ex03_server *s, struct evhttp_request *req)
{
    /* TODO(ex03): wait ms milliseconds on a timer, without blocking the loop.
     * Hint: ex03_query_long(req, "ms", 0, EX03_MAX_WAIT_MS, 0, &ms) != 0: 400
     *   "bad_query".  p = ex03_pending_new(s, req, ms) (NULL: 500);
     *   p->ev = evtimer_new(s->base, async_timer_cb, p); evtimer_add(p->ev, &tv).
     *   If either fails: ex03_pending_free(p), then 500.  Compare handle_sync() in
     *   ex03_server.c: same answer, but nanosleep() blocks every other client. */
    (void)s;
    (void)async_timer_cb;
    ex03_reply_error(req, 501, "not_implemented", "TODO(ex03): GET /async", NULL);
}

/* ======================================================================== */
/* 4. GET /cpu?ms=N: compute on a worker thread, reply from the loop        */
/* ======================================================================== */

/* Worker thread: the computation, then the hand-off. */
static void *cpu_worker(void *arg)
{
    /* TODO(ex03): compute, then wake the loop thread.
     * Hint: ex03_cpu_burn(p); event_active(p->ev, 0, 0);  event_active() is the one
     *   libevent call you may make from this thread (the base has locks); never
     *   touch p->req or evhttp here. */
    (void)arg;
    return NULL;
}

/* Loop thread: the worker is done; reply. */
static void cpu_done_cb(evutil_socket_t fd, short what, void *arg)
{
    /* TODO(ex03): join the worker, answer with its results, free.
     * Hint: pthread_join(p->thread, NULL); p->thread_started = 0;
     *   ex03_reply_json(p->req, 200, json_pack("{s:f, s:I, s:s}", "worked_ms",
     *   p->worked_ms, "rounds", (json_int_t)p->rounds, "digest", p->digest));
     *   ex03_pending_free(p); */
    (void)fd;
    (void)what;
    (void)arg;
}

void ex03_handle_cpu(struct ex03_server *s, struct evhttp_request *req)
{
    /* TODO(ex03): start the computation on a worker thread and return at once.
     * Hint: parse ms as in /async; p = ex03_pending_new(s, req, ms);
     *   p->ev = event_new(s->base, -1, 0, cpu_done_cb, p) (an event with no fd and
     *   no timeout: only event_active() runs it); pthread_create(&p->thread, NULL,
     *   cpu_worker, p); on success p->thread_started = 1.  On a failure:
     *   ex03_pending_free(p), then 503 "unavailable". */
    (void)s;
    (void)cpu_worker;
    (void)cpu_done_cb;
    ex03_reply_error(req, 501, "not_implemented", "TODO(ex03): GET /cpu", NULL);
}
