/*
 * ex03.h - Exercise 3: an HTTP endpoint that writes to a database, notifies
 * in the background and returns at once.
 *
 * This header is the contract between the server and everything else: the
 * tests, the benchmark, the grader and the program build/bin/ex03-server.
 * Do not edit it.  Your file is ex03.c; read docs/en/ex03_background.md
 * (or docs/fr/) first.
 *
 * The server is the C counterpart of the course's FastAPI example:
 *
 *     @app.post("/users", status_code=201)
 *     async def create_user(data: UserIn, background_tasks: BackgroundTasks):
 *         user = await save_user(data)                 # SQLite, one transaction
 *         background_tasks.add_task(notify, user)      # after the reply
 *         return user
 *
 * with one addition FastAPI does not give you: the notification is written
 * to an *outbox* table in the same transaction as the user, and delivered
 * from there, with retries, until the receiver accepts it.  A crash or a
 * restart loses nothing.
 *
 * Routes (every body is JSON, every error body is
 * {"status": S, "error": "code", "message": "...", "field": "..."}, where
 * "field" is present for 422 only):
 *
 *   POST /users        {"name": N, "email": E} -> 201 with the user
 *                      {"id", "name", "email", "created_at"} and a header
 *                      "Location: /users/<id>"; then, after the reply, the
 *                      notification (see below).  Errors: 400 malformed
 *                      JSON, 422 a missing or invalid field (naming it),
 *                      409 the email exists already (emails compare without
 *                      case), 413 a body over max_body.  An error writes
 *                      nothing and notifies nobody.
 *   GET  /users/<id>   200 with the user, 404 when there is none.
 *   GET  /users?limit=L  200 with an array of at most L users (1..100,
 *                      default 20), by increasing id.
 *   GET  /health       200 {"status": "ok", "pending_notifications": P}.
 *   GET  /sync?ms=N    sleeps N ms (0..10000) *blocking the loop*: the
 *                      course's anti-pattern, kept so that you can measure it.
 *   GET  /async?ms=N   waits N ms (0..10000) on a timer, then 200
 *                      {"waited_ms": N}; the loop serves others meanwhile.
 *   GET  /cpu?ms=N     keeps a worker thread busy computing for N ms
 *                      (0..10000), then replies from the loop thread with
 *                      200 {"worked_ms": W, "rounds": R, "digest": "hex"};
 *                      the loop serves others meanwhile.
 *   any other method on these paths: 405 with an "Allow" header;
 *   any other path: 404.
 *
 * The notification: POST <notify_url> with the headers
 * "Content-Type: application/json" and "Idempotency-Key: user-created-<id>",
 * and the body
 *   {"event": "user.created", "idempotency_key": "user-created-<id>",
 *    "user": {"id", "name", "email", "created_at"}}.
 * A 2xx answer marks it delivered.  Anything else (refused, timed out, 5xx,
 * 4xx) is retried after a backoff of retry_base_ms, then twice that, and so
 * on, capped at retry_max_ms, for as long as the server runs.  Notifications
 * still pending when a server starts on the same database are delivered
 * then.  A receiver may see one twice (a reply lost on the way back): the
 * idempotency key lets it drop the duplicate.
 *
 * Threads: everything runs on the caller's loop thread, except the /cpu
 * computations, which run on worker threads.  For those, the program must
 * call evthread_use_pthreads() before it creates the event_base.
 */
#ifndef EX03_H
#define EX03_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct ex03_server;

/* Defaults, used for the fields of struct ex03_config left at 0. */
#define EX03_DEFAULT_MAX_BODY 16384u          /* bytes */
#define EX03_DEFAULT_RETRY_BASE_MS 200u
#define EX03_DEFAULT_RETRY_MAX_MS 30000u
#define EX03_DEFAULT_NOTIFY_TIMEOUT_MS 5000u
#define EX03_DEFAULT_MAX_DELIVERIES 64u   /* at least the usual client concurrency:
                                             each loop turn finishes at most one
                                             delivery per connection */
/* Limits of the fields. */
#define EX03_MAX_MAX_BODY (1024u * 1024u)
#define EX03_MAX_DELIVERIES 256u
#define EX03_MAX_WAIT_MS 10000L              /* ms of /sync, /async, /cpu */

/* Limits of a user's fields (checked by POST /users). */
#define EX03_NAME_MAX_CHARS 100               /* UTF-8 characters */
#define EX03_EMAIL_MAX_BYTES 254

struct ex03_config {
    const char *db_path;          /* SQLite file, created when absent; required */
    const char *notify_url;       /* "http://host:port/path"; required */
    size_t max_body;              /* largest POST body accepted (413 above);
                                     0: EX03_DEFAULT_MAX_BODY; at most
                                     EX03_MAX_MAX_BODY */
    unsigned retry_base_ms;       /* first backoff; 0: the default */
    unsigned retry_max_ms;        /* the cap of the backoff; 0: the default;
                                     raised to retry_base_ms if below it */
    unsigned notify_timeout_ms;   /* one delivery attempt; 0: the default */
    unsigned max_deliveries;      /* connections to the receiver, so the most
                                     notifications in flight at once;
                                     0: the default; at most EX03_MAX_DELIVERIES */
};

/*
 * Starts the server: opens (or creates) the database, installs the routes
 * on `http` (its generic callback and its allowed methods), and schedules
 * the delivery of the notifications the outbox still holds.  Nothing runs
 * until the caller runs `base`.
 *
 * base, http  owned by the caller, who frees them after ex03_server_free();
 *             `http` must serve on `base`.  The server does not bind any
 *             socket: the caller binds `http` (evhttp_bind_socket...).
 * cfg         read during the call only (strings are copied).
 * err         when not NULL, receives a one-line reason on failure.
 *
 * Returns the server, or NULL (invalid configuration, the database cannot
 * be opened, out of memory).
 */
struct ex03_server *ex03_server_new(struct event_base *base, struct evhttp *http,
                                    const struct ex03_config *cfg,
                                    char *err, size_t errlen);

/*
 * Stops the server: every request still waiting for its answer (/async,
 * /cpu) gets a 503, running /cpu computations are told to stop and their
 * threads joined, deliveries in flight are abandoned (they stay pending in
 * the outbox, for the next server on this database), the routes are removed
 * from `http`, and the database is closed.  NULL is a no-op.  Call it from
 * the loop thread, not from inside one of the server's callbacks; free
 * `http` after it, and run the loop afterwards only if you want the 503s
 * to reach their clients.
 */
void ex03_server_free(struct ex03_server *s);

/* Notifications pending in the outbox (not yet delivered), or -1 on a
 * database error. */
long ex03_server_pending(const struct ex03_server *s);

#endif /* EX03_H */
