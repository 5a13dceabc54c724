/*
 * test_ex03.c - the judge of exercise 3 (an HTTP endpoint with an outbox,
 * background delivery, a timer route and a worker-thread route).  Run it
 * with `make ex03`; one behaviour per test.
 *
 * Your server runs in a separate process, the subject: build/bin/ex03-server
 * (ex03_main.c, the given code and your ex03.c), started by each test on a
 * port of its own, with its database file users.db in a fresh scratch
 * folder.  On its own event_base the test plays the server's peers: a
 * notification receiver (harness/common/notify_sink.h) and HTTP clients
 * (harness/common/test_client.h), each request on a connection of its own.
 * It reads the database file with SQLite itself, read-only, and stops the
 * server with SIGTERM, which must end it cleanly (exit status 0; in a
 * memory-checked run, no leak and no memory error).
 *
 * Names and emails carry tokens drawn for this run, so only a server that
 * really stores and sends what it received can pass.  Time bounds come only
 * from injected delays (the receiver's answer delay, the ms= of /sync,
 * /async and /cpu, the retry backoff the test configures), measured on the
 * test's own clock.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "ex03.h"
#include "fixture_server.h"
#include "judge.h"
#include "notify_sink.h"
#include "test_client.h"

#define DOC "docs/en/ex03_background.md"
#define HINT_POST "  (TODO(ex03) in ex03_handle_create_user(), ex03.c; " DOC "#post-users)"
#define HINT_VALID "  (TODO(ex03) validate_user() in ex03.c; " DOC "#validation)"
#define HINT_ERRORS "  (TODO(ex03) in ex03_handle_create_user(); " DOC "#errors-change-nothing)"
#define HINT_ORDER "  (TODO(ex03) in ex03_handle_create_user(): reply, then queue; " DOC \
    "#reply-first-then-notify)"
#define HINT_OUTBOX "  (TODO(ex03) the transaction in ex03_handle_create_user(); " DOC \
    "#the-outbox)"
#define HINT_DELIVERY "  (TODO(ex03) delivery_send() / delivery_done_cb() in ex03.c; " DOC \
    "#delivery-and-retries)"
#define HINT_BACKOFF "  (TODO(ex03) backoff_ms() / delivery_failed() in ex03.c; " DOC "#backoff)"
#define HINT_RESUME "  (TODO(ex03) ex03_outbox_resume() in ex03.c; " DOC "#restart)"
#define HINT_ASYNC "  (TODO(ex03) ex03_handle_async() in ex03.c; " DOC "#async-a-timer)"
#define HINT_CPU "  (TODO(ex03) ex03_handle_cpu() / cpu_worker() in ex03.c; " DOC \
    "#cpu-a-worker-thread)"
#define HINT_STOP "  (on SIGTERM ex03-server frees the server and exits 0: make your pending " \
    "requests with ex03_pending_new() and your deliveries with ex03_delivery_new(), and free " \
    "what you allocate; " DOC "#stopping)"

/* How long the server may take to listen, and to stop after SIGTERM. */
#define LISTEN_MS 5000.0
#define STOP_GRACE_MS 3000.0
/* The bound of one request of the tests (the server answers in ms). */
#define REPLY_MS 3000.0
/* A notification the server should send at once (its first attempt, to a
 * receiver that answers at once) arrives within this: sent within a few
 * milliseconds in practice, a hundred times that under load.  Longer waits
 * would only slow down the feedback of a delivery still a TODO, which fails
 * a dozen tests at this bound. */
#define NOTIFY_MS 1500.0
/* A wait of the test, longer when the server runs under a debugger or
 * valgrind (WB_SUBJECT_WRAPPER); the time bounds asserted are not. */
#define SCALED(ms) ((ms) * subj_time_scale())

static struct event_base *base;
static struct subj *server;       /* the ex03-server running now */
static struct ns_sink *sink;
static struct tc_client *client;
static char notify_url[160];
static char notify_target[96];    /* its path and query, drawn per test */
static char db_path[PATH_MAX];    /* users.db in the server's scratch folder */
static int port;

/* ---- set-up ------------------------------------------------------------- */

static void setup(void)
{
    char err[256] = "";

    /* A precise clock, so that timers never fire early and the bounds
     * below stay exact. */
    base = fx_event_base_new();
    cr_assert_not_null(base, "fx_event_base_new failed");
    sink = ns_sink_new(base, 1, err, sizeof(err));
    cr_assert_not_null(sink, "cannot start the notification receiver: %s", err);
    /* A path of this run: a server that posts anywhere else is seen. */
    snprintf(notify_target, sizeof(notify_target), "/hooks/%.8s?from=ex03", judge_token());
    cr_assert_eq(ns_sink_url(sink, notify_target, notify_url, sizeof(notify_url)), 0);
}

/* Retry timings the tests choose (0: the tests' defaults). */
struct opts {
    size_t max_body;
    unsigned retry_base_ms, retry_max_ms;
    unsigned notify_timeout_ms;   /* 0: 2000 */
    unsigned max_deliveries;      /* 0: the server's default */
    const char *scratch;      /* a stopped server's folder: a restart */
    int reference;            /* 1: the reference's server, for a comparison */
};

/* Starts ex03-server on a free port, with the receiver's URL, and waits
 * until it listens. */
static void start_server_with(struct opts o)
{
    char sport[16], base_ms[16], max_ms[16], timeout_ms[16], conns[16], body[24];
    const char *args[24];
    size_t n = 0;
    struct subj_spec spec = { .program = "ex03-server", .stop_signal = SIGTERM };
    int rc;

    port = fx_unused_port();
    cr_assert_gt(port, 0, "cannot find a free port");
    snprintf(sport, sizeof(sport), "%d", port);
    snprintf(base_ms, sizeof(base_ms), "%u", o.retry_base_ms ? o.retry_base_ms : 50);
    snprintf(max_ms, sizeof(max_ms), "%u", o.retry_max_ms ? o.retry_max_ms : 200);
    args[n++] = "--port";
    args[n++] = sport;
    args[n++] = "--db";
    args[n++] = "users.db";
    args[n++] = "--notify-url";
    args[n++] = notify_url;
    args[n++] = "--retry-base-ms";
    args[n++] = base_ms;
    args[n++] = "--retry-max-ms";
    args[n++] = max_ms;
    snprintf(timeout_ms, sizeof(timeout_ms), "%u",
             o.notify_timeout_ms ? o.notify_timeout_ms : 2000);
    args[n++] = "--notify-timeout-ms";
    args[n++] = timeout_ms;
    if (o.max_deliveries > 0) {
        snprintf(conns, sizeof(conns), "%u", o.max_deliveries);
        args[n++] = "--max-deliveries";
        args[n++] = conns;
    }
    if (o.max_body > 0) {
        snprintf(body, sizeof(body), "%zu", o.max_body);
        args[n++] = "--max-body";
        args[n++] = body;
    }
    args[n] = NULL;
    spec.args = args;
    spec.bind_port = port;
    spec.scratch = o.scratch;
    spec.reference = o.reference;
    server = judge_start_spec(base, &spec);
    rc = subj_wait_listening(server, port, LISTEN_MS);
    cr_assert_eq(rc, 1, "ex03-server did not start: %s%s%s", subj_error(server),
                 judge_output(server), judge_rerun());
    snprintf(db_path, sizeof(db_path), "%s/users.db", subj_scratch(server));
    tc_client_free(client);
    client = tc_client_new(base, "127.0.0.1", port, (unsigned)SCALED(5000));
    cr_assert_not_null(client);
}

static void start_server(void)
{
    start_server_with((struct opts){ 0 });
}

/* Stops the server with SIGTERM; fails unless it exits 0.  Idempotent. */
static void stop_server(void)
{
    if (server != NULL)
        judge_stop(server, STOP_GRACE_MS, "ex03-server", HINT_STOP);
}

/* Frees everything the test made; safe to call twice. */
static void teardown(void)
{
    tc_client_free(client);
    client = NULL;
    judge_cleanup();
    server = NULL;
    ns_sink_free(sink);
    sink = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

/* Ends a test: the server must stop cleanly. */
static void finish(void)
{
    stop_server();
}

TestSuite(ex03_create, .init = setup, .fini = teardown, .timeout = 15);
TestSuite(ex03_errors, .init = setup, .fini = teardown, .timeout = 15);
TestSuite(ex03_delivery, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex03_loop, .init = setup, .fini = teardown, .timeout = 15);

/* ---- helpers ------------------------------------------------------------ */

/* When the server has ended: how, and its output (for messages); else "". */
static const char *server_gone(void)
{
    static char buf[4096];
    const struct subj_exit *e;
    char how[200];

    if (server == NULL || !subj_wait_exit(server, 0) || (e = subj_exit_status(server)) == NULL)
        return "";
    subj_exit_describe(e, how, sizeof(how));
    snprintf(buf, sizeof(buf), "\n  the server is gone: it %s%s", how, judge_output(server));
    return buf;
}

/* One value from the database file, read with a connection of our own. */
static long long db_count(const char *sql, ...)
{
    char q[512];
    va_list ap;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    va_start(ap, sql);
    vsnprintf(q, sizeof(q), sql, ap);
    va_end(ap);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* One text value (malloc'd, NULL when there is no row). */
static char *db_text(const char *sql, long long id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;

    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(st, 1, id) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0) != NULL)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Runs one statement on the database file, read-write, while no server
 * runs on it: the test's own changes to a server's file.  0, or -1. */
static int db_exec(const char *sql)
{
    sqlite3 *db = NULL;
    int rc = -1;

    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        rc = 0;
    sqlite3_close(db);
    return rc;
}

static long long users_in_db(void)
{
    return db_count("SELECT count(*) FROM users");
}

static long long outbox_rows(void)
{
    return db_count("SELECT count(*) FROM outbox");
}

static long long pending_in_db(void)
{
    return db_count("SELECT count(*) FROM outbox WHERE delivered_at IS NULL");
}

/* Runs the loop until the outbox has no pending row, or timeout_ms.
 * Returns 1 if it has none. */
static int wait_none_pending(double timeout_ms)
{
    double t0 = fx_now_ms();

    while (pending_in_db() != 0) {
        if (fx_now_ms() - t0 > SCALED(timeout_ms))
            return 0;
        tc_run_until(base, NULL, NULL, 10);
    }
    return 1;
}

/* The string value of j, or "" when it is not a string. */
static const char *jstr(const json_t *j)
{
    return json_is_string(j) ? json_string_value(j) : "";
}

static json_t *parse_body(const struct tc_response *r, const char *what)
{
    json_error_t jerr;
    json_t *j = r->body ? json_loads(r->body, 0, &jerr) : NULL;

    cr_assert_not_null(j, "%s: the body should be JSON; got \"%s\"", what,
                       r->body ? r->body : "(none)");
    return j;
}

/* A user of this run: a name and an email that carry a token drawn now. */
struct person {
    char name[160];
    char email[160];
};

static void person(struct person *p, const char *name)
{
    const char *token = judge_token();
    char slug[32];
    size_t k = 0;

    for (const char *c = name; *c != '\0' && k + 1 < sizeof(slug); c++)
        if (isalpha((unsigned char)*c))
            slug[k++] = (char)tolower((unsigned char)*c);
    slug[k] = '\0';
    snprintf(p->name, sizeof(p->name), "%s %.6s", name, token);
    snprintf(p->email, sizeof(p->email), "%s.%s@example.org", k ? slug : "user", token);
}

/* {"name": name, "email": email} as JSON text, in buf. */
static const char *user_body(const char *name, const char *email, char *buf, size_t len)
{
    json_t *j = json_pack("{ss ss}", "name", name, "email", email);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    cr_assert_not_null(text, "test bug: cannot build a body");
    cr_assert_lt(strlen(text), len, "test bug: body too long");
    snprintf(buf, len, "%s", text);
    free(text);
    json_decref(j);
    return buf;
}

/* Calls method path with body, at most REPLY_MS; fails when no reply came
 * (the connection was refused or reset, or the server did not answer). */
static void call(const char *method, const char *path, const char *body, struct tc_response *r,
                 const char *hint)
{
    tc_call(client, method, path, body, r, SCALED(REPLY_MS));
    cr_assert(r->done && r->status != 0, "%s %s: no reply within %.0f ms: the server must "
              "answer every request (evhttp_send_reply(), or ex03_reply_json() / "
              "ex03_reply_error()), once, before or after its handler returns%s%s%s", method,
              path, REPLY_MS, hint, server_gone(), judge_rerun());
}

/* POSTs the user p and expects 201 with p's name and email; returns its
 * id. */
static long long post_user(const struct person *p, struct tc_response *r)
{
    char body[512];
    json_t *j;
    long long id;

    user_body(p->name, p->email, body, sizeof(body));
    call("POST", "/users", body, r, HINT_POST);
    cr_assert_eq(r->status, 201, "POST /users %s: expected 201, got %d (body: %s)" HINT_POST
                 "%s", body, r->status, r->body ? r->body : "none", judge_rerun());
    j = parse_body(r, "POST /users");
    cr_assert(json_is_integer(json_object_get(j, "id")),
              "the 201 body should have an integer \"id\"; got %s" HINT_POST, r->body);
    id = json_integer_value(json_object_get(j, "id"));
    cr_assert_str_eq(jstr(json_object_get(j, "name")), p->name,
                     "the 201 body's name should be \"%s\", the name sent; body %s" HINT_POST,
                     p->name, r->body);
    cr_assert_str_eq(jstr(json_object_get(j, "email")), p->email,
                     "the 201 body's email should be \"%s\", the email sent; body %s" HINT_POST,
                     p->email, r->body);
    json_decref(j);
    return id;
}

struct count_at_least {
    struct ns_sink *sink;
    size_t n;
};

static int sink_has(void *arg)
{
    struct count_at_least *c = arg;
    return ns_sink_accepted(c->sink) >= c->n;
}

/* Runs the loop until the receiver has accepted n notifications, or
 * timeout_ms.  Returns 1 if it has. */
static int wait_accepted(size_t n, double timeout_ms)
{
    struct count_at_least c = { sink, n };
    return tc_run_until(base, sink_has, &c, SCALED(timeout_ms));
}

/* Like wait_accepted(), but gives up early when no notification at all
 * arrives for stall_ms (the deliveries have stopped). */
static int wait_accepted_progress(size_t n, double timeout_ms, double stall_ms)
{
    double t0 = fx_now_ms(), last = t0;
    size_t seen = ns_sink_count(sink);

    while (fx_now_ms() - t0 < SCALED(timeout_ms)) {
        if (wait_accepted(n, 100))
            return 1;
        if (ns_sink_count(sink) != seen) {
            seen = ns_sink_count(sink);
            last = fx_now_ms();
        } else if (fx_now_ms() - last > SCALED(stall_ms)) {
            return 0;
        }
    }
    return wait_accepted(n, 0);
}

static int sink_has_count(void *arg)
{
    struct count_at_least *c = arg;
    return ns_sink_count(c->sink) >= c->n;
}

/* Runs the loop until the receiver has received n requests (whatever their
 * answer), or timeout_ms.  Returns 1 if it has. */
static int wait_count(size_t n, double timeout_ms)
{
    struct count_at_least c = { sink, n };
    return tc_run_until(base, sink_has_count, &c, SCALED(timeout_ms));
}

/* The user id in a notification's Idempotency-Key, 0 when it has none. */
static long long key_id(const struct ns_record *n)
{
    const char *key = n->idempotency_key ? n->idempotency_key : "";
    return strncmp(key, "user-created-", 13) == 0 ? strtoll(key + 13, NULL, 10) : 0;
}

/* Expects an error reply: status, JSON {"status", "error", "message"}, and
 * "field" == field when field is not NULL. */
static void expect_error(const struct tc_response *r, int status, const char *field,
                         const char *what, const char *hint)
{
    json_t *j;

    cr_assert_eq(r->status, status, "%s: expected %d, got %d (body: %s)%s%s", what, status,
                 r->status, r->body ? r->body : "none", hint, r->status ? "" : server_gone());
    cr_assert(r->content_type && strstr(r->content_type, "application/json"),
              "%s: an error body is JSON (Content-Type application/json); got \"%s\": use "
              "ex03_reply_error()%s", what, r->content_type ? r->content_type : "none", hint);
    j = parse_body(r, what);
    cr_assert(json_is_integer(json_object_get(j, "status")) &&
              json_integer_value(json_object_get(j, "status")) == status &&
              json_is_string(json_object_get(j, "error")) &&
              json_is_string(json_object_get(j, "message")),
              "%s: the error body should be {\"status\": %d, \"error\": ..., \"message\": ...}; "
              "got %s: use ex03_reply_error()%s", what, status, r->body, hint);
    if (field != NULL) {
        const char *f = json_string_value(json_object_get(j, "field"));
        cr_assert(f && strcmp(f, field) == 0,
                  "%s: the 422 body should name the field: \"field\": \"%s\"; got %s%s",
                  what, field, r->body, hint);
    }
    json_decref(j);
}

/* After bad input: no user, no outbox row, and (after a short wait on the
 * loop) no notification beyond `notified` (those of the users made on
 * purpose earlier in the test). */
static void expect_nothing_changed(long long users, long long outbox, size_t notified,
                                   const char *what, const char *hint)
{
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(users_in_db(), users, "%s: the users table has %lld rows; expected %lld: bad "
                 "input must write nothing%s", what, users_in_db(), users, hint);
    cr_assert_eq(outbox_rows(), outbox, "%s: the outbox has %lld rows; expected %lld: bad "
                 "input must not queue a notification%s", what, outbox_rows(), outbox, hint);
    cr_assert_eq(ns_sink_count(sink), notified, "%s: the receiver got %zu notifications; "
                 "expected %zu: bad input must notify nobody%s", what, ns_sink_count(sink),
                 notified, hint);
}

/* The notification n carries the user of the 201 `reply` (the user the test
 * sent), under the key of its id. */
static void expect_notification_of(const struct ns_record *n, const char *reply, long long id)
{
    char key[64];
    json_error_t jerr;
    json_t *got, *user;

    snprintf(key, sizeof(key), "user-created-%lld", id);
    cr_assert_str_eq(n->method, "POST", "the notification should be a POST; got %s", n->method);
    cr_assert(n->uri && strcmp(n->uri, notify_target) == 0,
              "the notification should be posted to the path and query of notify_url, \"%s\"; "
              "it went to \"%s\": pass s->notify_target to evhttp_make_request()" HINT_DELIVERY,
              notify_target, n->uri ? n->uri : "none");
    cr_assert(n->idempotency_key && strcmp(n->idempotency_key, key) == 0,
              "the notification should carry \"Idempotency-Key: %s\"; got \"%s\"" HINT_DELIVERY,
              key, n->idempotency_key ? n->idempotency_key : "none");
    cr_assert(n->content_type && strstr(n->content_type, "application/json"),
              "the notification should be sent as application/json; got \"%s\"" HINT_DELIVERY,
              n->content_type ? n->content_type : "none");
    got = json_loads(n->body, 0, &jerr);
    user = json_loads(reply, 0, &jerr);
    cr_assert_not_null(got, "the notification's body is not JSON: %s", n->body);
    cr_assert_str_eq(jstr(json_object_get(got, "event")), "user.created",
                     "the notification's \"event\" should be \"user.created\"; body %s", n->body);
    cr_assert_str_eq(jstr(json_object_get(got, "idempotency_key")), key,
                     "the notification's \"idempotency_key\" should be \"%s\"; body %s", key,
                     n->body);
    cr_assert(json_equal(json_object_get(got, "user"), user),
              "the notification's \"user\" should be the user of the 201:\n  201: %s\n"
              "  notification: %s" HINT_POST, reply, n->body);
    json_decref(got);
    json_decref(user);
}

/* ---- POST /users -------------------------------------------------------- */

Test(ex03_create, reply_does_not_wait_for_the_notification)
{
    const double delay = 500;
    struct tc_response r;
    struct person p;

    person(&p, "Ada Lovelace");
    ns_sink_set_delay_ms(sink, (unsigned)delay);
    start_server();
    post_user(&p, &r);
    double latency = r.end_ms - r.start_ms;
    size_t answered_at_reply = ns_sink_answered(sink);

    cr_assert_lt(latency, delay / 2,
                 "POST /users took %.1f ms while the receiver takes %.0f ms to answer; "
                 "expected under %.0f ms: reply first, and deliver the notification after "
                 "the reply, without waiting for it" HINT_ORDER, latency, delay, delay / 2);
    cr_assert_eq(answered_at_reply, 0,
                 "the receiver had already answered the notification when the reply "
                 "arrived: the handler waited for the delivery" HINT_ORDER);
    cr_assert(wait_accepted(1, delay + NOTIFY_MS), "the notification never reached the "
              "receiver (it takes %.0f ms; waited %.1f s)" HINT_DELIVERY, delay,
              (delay + NOTIFY_MS) / 1000);
    cr_assert_geq(ns_sink_at(sink, 0)->answered_ms, r.end_ms + delay / 2,
                  "the receiver answered before the reply had arrived: it should still be "
                  "busy (%.0f ms) when the reply arrives" HINT_ORDER, delay);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, reply_is_201_with_the_user_and_location)
{
    struct tc_response r;
    struct person p;
    char location[64];
    json_t *j;

    person(&p, "Grace Hopper");
    start_server();
    long long id = post_user(&p, &r);
    cr_assert(r.content_type && strstr(r.content_type, "application/json"),
              "the 201 should be JSON (Content-Type application/json); got \"%s\"" HINT_POST,
              r.content_type ? r.content_type : "none");
    j = parse_body(&r, "POST /users");
    cr_assert_gt(id, 0, "the new user's id should be positive; got %lld", id);
    cr_assert_str_eq(jstr(json_object_get(j, "name")), p.name,
                     "the 201 body's name should be \"%s\"; body %s" HINT_POST, p.name, r.body);
    cr_assert_str_eq(jstr(json_object_get(j, "email")), p.email,
                     "the 201 body's email should be \"%s\"; body %s" HINT_POST, p.email,
                     r.body);
    cr_assert(json_is_string(json_object_get(j, "created_at")) &&
              strlen(json_string_value(json_object_get(j, "created_at"))) >= 20,
              "the 201 body should have \"created_at\" (\"YYYY-MM-DDTHH:MM:SS.sssZ\"); "
              "body %s: use ex03_user_json()" HINT_POST, r.body);
    snprintf(location, sizeof(location), "/users/%lld", id);
    cr_assert(r.location && strcmp(r.location, location) == 0,
              "the 201 should have the header \"Location: %s\"; got \"%s\"" HINT_POST,
              location, r.location ? r.location : "none");
    json_decref(j);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, created_user_can_be_read_back)
{
    struct tc_response r, g, l, missing;
    struct person p;
    char path[64];
    json_error_t jerr;

    person(&p, "Katherine Johnson");
    start_server();
    long long id = post_user(&p, &r);
    snprintf(path, sizeof(path), "/users/%lld", id);
    call("GET", path, NULL, &g, "");
    cr_assert_eq(g.status, 200, "GET %s after creating it: expected 200, got %d", path, g.status);
    cr_assert_str_eq(g.body, r.body, "GET %s should return the user exactly as the 201 did:\n"
                     "  201: %s\n  GET: %s" HINT_POST, path, r.body, g.body);
    call("GET", "/users?limit=10", NULL, &l, "");
    cr_assert_eq(l.status, 200, "GET /users: expected 200, got %d", l.status);
    json_t *list = parse_body(&l, "GET /users");
    json_t *user = json_loads(r.body, 0, &jerr);
    cr_assert(json_is_array(list) && json_array_size(list) == 1 &&
              json_equal(json_array_get(list, 0), user),
              "GET /users should list the one user created; got %s", l.body);
    json_decref(user);
    json_decref(list);
    snprintf(path, sizeof(path), "/users/%lld", id + 1000);
    call("GET", path, NULL, &missing, "");
    expect_error(&missing, 404, NULL, "GET of a user that does not exist", "");
    tc_response_clear(&r);
    tc_response_clear(&g);
    tc_response_clear(&l);
    tc_response_clear(&missing);
    finish();
}

Test(ex03_create, notification_carries_the_user_and_its_key)
{
    struct tc_response r;
    struct person p;

    person(&p, "Alan Turing");
    start_server();
    long long id = post_user(&p, &r);
    cr_assert(wait_accepted(1, NOTIFY_MS), "no notification reached the receiver within "
              "%.1f s of the reply" HINT_DELIVERY, NOTIFY_MS / 1000);
    tc_run_until(base, NULL, NULL, 200);
    cr_assert_eq(ns_sink_count(sink), 1, "the receiver got %zu requests for one user; "
                 "expected 1" HINT_DELIVERY, ns_sink_count(sink));
    expect_notification_of(ns_sink_at(sink, 0), r.body, id);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, user_row_is_in_the_database_file)
{
    struct tc_response r;
    struct person p;

    person(&p, "Hedy Lamarr");
    start_server();
    long long id = post_user(&p, &r);
    char *name = db_text("SELECT name FROM users WHERE id = ?1", id);
    char *email = db_text("SELECT email FROM users WHERE id = ?1", id);
    char *created = db_text("SELECT created_at FROM users WHERE id = ?1", id);
    json_t *j = parse_body(&r, "POST /users");

    cr_assert_not_null(name, "the database file has no user with id %lld after the 201"
                       HINT_POST, id);
    cr_assert_str_eq(name, p.name, "users.name in the database: \"%s\"; expected \"%s\"", name,
                     p.name);
    cr_assert_str_eq(email, p.email, "users.email in the database: \"%s\"; expected \"%s\"",
                     email, p.email);
    cr_assert_str_eq(created, jstr(json_object_get(j, "created_at")),
                     "users.created_at (%s) should be the created_at of the 201 (%s)",
                     created, r.body);
    cr_assert_eq(users_in_db(), 1, "the users table has %lld rows; expected 1", users_in_db());
    cr_assert(wait_accepted(1, NOTIFY_MS), "the notification was never delivered" HINT_DELIVERY);
    tc_run_until(base, NULL, NULL, 100);
    /* What stays in the file once the server has stopped. */
    stop_server();
    cr_assert_eq(users_in_db(), 1, "after the server stopped, the users table has %lld rows; "
                 "expected 1", users_in_db());
    cr_assert_eq(db_count("SELECT count(*) FROM outbox WHERE user_id = %lld AND delivered_at "
                          "IS NOT NULL", id), 1,
                 "once the receiver answered 200, the outbox row should be marked delivered "
                 "(ex03_db_outbox_delivered())" HINT_DELIVERY);
    free(name);
    free(email);
    free(created);
    json_decref(j);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, outbox_row_is_written_with_the_user)
{
    struct tc_response r;
    struct person p;
    char key[64];
    json_error_t jerr;

    person(&p, "Margaret Hamilton");
    ns_sink_stop(sink);                 /* down: nothing can be delivered */
    start_server();
    long long id = post_user(&p, &r);
    /* Right at the reply: */
    snprintf(key, sizeof(key), "user-created-%lld", id);
    char *got_key = db_text("SELECT idempotency_key FROM outbox WHERE user_id = ?1", id);
    char *payload = db_text("SELECT payload FROM outbox WHERE user_id = ?1", id);
    cr_assert_not_null(got_key, "when the 201 arrived, the outbox had no row for user %lld: "
                       "insert it in the same transaction as the user, before replying"
                       HINT_OUTBOX, id);
    cr_assert_str_eq(got_key, key, "outbox.idempotency_key should be \"%s\"; got \"%s\""
                     HINT_OUTBOX, key, got_key);
    json_t *body = payload ? json_loads(payload, 0, &jerr) : NULL;
    json_t *user = json_loads(r.body, 0, &jerr);
    cr_assert(payload && strstr(payload, "user.created") &&
              json_equal(json_object_get(body, "user"), user),
              "outbox.payload should be the notification's body, with the user of the 201 "
              "(%s); got %s" HINT_OUTBOX, r.body, payload ? payload : "NULL");
    json_decref(body);
    json_decref(user);
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(pending_in_db(), 1,
                 "with the receiver down, the outbox row should stay pending (delivered_at "
                 "NULL)" HINT_DELIVERY);
    /* And it is still there, pending, once the server has stopped. */
    stop_server();
    cr_assert_eq(pending_in_db(), 1, "after the server stopped, %lld outbox rows are pending; "
                 "expected 1" HINT_OUTBOX, pending_in_db());
    free(got_key);
    free(payload);
    tc_response_clear(&r);
    finish();
}

/*
 * Both rows or neither.  After a first user, the test plants, in the
 * stopped server's file, an outbox row that already holds the key of the
 * next user (a delivered one, so that nothing is resumed): the next POST
 * /users then cannot write its outbox row (the key is UNIQUE), and a
 * transaction that holds both inserts leaves no user either.
 */
Test(ex03_create, user_and_outbox_row_commit_together)
{
    struct tc_response first, r;
    struct person p, q;
    char body[512], sql[512], scratch[PATH_MAX];

    person(&p, "Ada Byron");
    person(&q, "Ada King");
    start_server();
    long long id = post_user(&p, &first);
    cr_assert(wait_accepted(1, NOTIFY_MS), "the first user's notification never arrived"
              HINT_DELIVERY);
    cr_assert(wait_none_pending(3000), "the receiver accepted the first user's notification, "
              "but its outbox row is still pending after 3 s (ex03_db_outbox_delivered())"
              HINT_DELIVERY);
    stop_server();
    snprintf(scratch, sizeof(scratch), "%s", subj_scratch(server));
    snprintf(sql, sizeof(sql), "INSERT INTO outbox (user_id, event, idempotency_key, payload, "
             "attempts, created_at, delivered_at) VALUES (0, 'user.created', "
             "'user-created-%lld', '{}', 1, '2000-01-01T00:00:00.000Z', "
             "'2000-01-01T00:00:00.000Z')", id + 1);
    cr_assert_eq(db_exec(sql), 0, "test bug: cannot plant an outbox row in %s", db_path);
    start_server_with((struct opts){ .scratch = scratch });
    call("POST", "/users", user_body(q.name, q.email, body, sizeof(body)), &r, HINT_OUTBOX);
    cr_assert(r.status >= 500 && r.status < 600,
              "the outbox row of user %lld could not be written (the test had taken its key "
              "user-created-%lld), yet POST /users answered %d (%s); expected a 5xx: when "
              "ex03_db_insert_outbox() fails, ex03_db_rollback() and answer 500" HINT_OUTBOX,
              id + 1, id + 1, r.status, r.body ? r.body : "no body");
    cr_assert_eq(users_in_db(), 1, "the outbox row could not be written, yet the users table "
                 "has %lld rows, expected 1 (the first user): insert the user and its outbox "
                 "row in ONE transaction (ex03_db_begin(), both inserts, ex03_db_commit()), and "
                 "roll it back when either fails: both rows or neither" HINT_OUTBOX,
                 users_in_db());
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(outbox_rows(), 2, "the outbox should hold the first user's row and the one "
                 "the test planted; it has %lld rows" HINT_OUTBOX, outbox_rows());
    cr_assert_eq(ns_sink_count(sink), 1, "the receiver got %zu notifications; expected 1, the "
                 "first user's: nobody is told about a user that was not saved" HINT_OUTBOX,
                 ns_sink_count(sink));
    tc_response_clear(&first);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, sql_looking_text_is_stored_as_text)
{
    struct tc_response r;
    struct person p;

    person(&p, "x");
    snprintf(p.name, sizeof(p.name), "Robert'); DROP TABLE users;-- %.6s", judge_token());
    snprintf(p.email, sizeof(p.email), "bobby+tables.%s@example.org", judge_token());
    start_server();
    long long id = post_user(&p, &r);
    char *stored = db_text("SELECT name FROM users WHERE id = ?1", id);
    cr_assert_not_null(stored, "the users table lost the row (or the table) of %s", p.name);
    cr_assert_str_eq(stored, p.name, "the name should be stored as it was sent; got \"%s\": "
                     "bind parameters, never paste text into SQL", stored);
    cr_assert_eq(users_in_db(), 1, "the users table should still exist with 1 row");
    free(stored);
    tc_response_clear(&r);
    finish();
}

/* ---- bad input ---------------------------------------------------------- */

/* A valid user is not refused like the bad input before it: the checks
 * were not passed by a server that refuses everything. */
static void expect_valid_not(int status, const char *after)
{
    struct tc_response r;
    struct person p;
    char body[512];

    person(&p, "Valid User");
    call("POST", "/users", user_body(p.name, p.email, body, sizeof(body)), &r, HINT_ERRORS);
    cr_assert_neq(r.status, status, "%s, a valid POST /users %s got %d too: only bad input "
                  "gets %d" HINT_ERRORS, after, body, r.status, status);
    tc_response_clear(&r);
}

Test(ex03_errors, malformed_json_is_400)
{
    static const char *const bodies[] = {
        "{\"name\": \"Ada\", \"email\": ", "not json at all", "", "{\"name\": \"Ada\",}",
    };
    struct tc_response r;

    start_server();
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "POST /users with the body '%s'", bodies[i]);
        tc_start(client, "POST", "/users", bodies[i], strlen(bodies[i]), &r);
        struct tc_response *one[1] = { &r };
        tc_wait(base, one, 1, SCALED(REPLY_MS));
        expect_error(&r, 400, NULL, what, HINT_ERRORS);
        tc_response_clear(&r);
    }
    expect_nothing_changed(0, 0, 0, "after malformed JSON", HINT_ERRORS);
    expect_valid_not(400, "after malformed JSON");
    finish();
}

/* The 422's message says what is wrong, in the words of the guide's table:
 * it contains `says`. */
static void expect_message(const struct tc_response *r, const char *says, const char *what)
{
    json_t *j = parse_body(r, what);
    const char *m = jstr(json_object_get(j, "message"));

    cr_assert(strstr(m, says) != NULL, "%s: the 422's message should say \"%s\" (the guide's "
              "validation table); got \"%s\"" HINT_VALID, what, says, m);
    json_decref(j);
}

/* An email of exactly len bytes: "<token>.xxx...@example.org". */
static void email_of_length(char *out, size_t len)
{
    static const char domain[] = "@example.org";
    size_t head = len - (sizeof(domain) - 1);
    int n = snprintf(out, head + 1, "%s.", judge_token());

    cr_assert(n > 0 && (size_t)n < head, "test bug: email too short");
    memset(out + n, 'x', head - (size_t)n);
    memcpy(out + head, domain, sizeof(domain));
}

Test(ex03_errors, missing_or_invalid_field_is_422_naming_it)
{
    char long_name[160], long_email[EX03_EMAIL_MAX_BYTES + 2], body[1024], email[96];
    char name_at_limit[EX03_NAME_MAX_CHARS * 2 + 1], email_at_limit[EX03_EMAIL_MAX_BYTES + 1];
    /* %s: an email of this run, where the case has one.  `says`: the
     * message of the guide's table (the helper's, for a value it refuses). */
    static const struct { const char *body, *field, *says; } cases[] = {
        { "{}", "name", "is required" },
        { "{\"email\": \"%s\"}", "name", "is required" },
        { "{\"name\": \"Ada\"}", "email", "is required" },
        { "{\"name\": 42, \"email\": \"%s\"}", "name", "must be a string" },
        { "{\"name\": null, \"email\": \"%s\"}", "name", "must be a string" },
        { "{\"name\": \"   \", \"email\": \"%s\"}", "name", "must not be empty" },
        { "{\"name\": \"Ada\\u0007\", \"email\": \"%s\"}", "name", "control characters" },
        { "{\"name\": \"Ada\", \"email\": \"not-an-email\"}", "email", "must look like" },
        { "{\"name\": \"Ada\", \"email\": [\"%s\"]}", "email", "must be a string" },
        { "{\"name\": \"Ada\", \"email\": \"ada@nodot\"}", "email", "must look like" },
        { "{\"name\": \"Ada\", \"email\": \"ada lovelace@example.org\"}", "email", "spaces" },
        { "[\"Ada\", \"%s\"]", "body", "must be a JSON object" },
    };
    struct tc_response r;

    snprintf(email, sizeof(email), "ada.%s@example.org", judge_token());
    start_server();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[1100];
        /* Each format has at most one %s. */
        snprintf(body, sizeof(body), cases[i].body, email);
        snprintf(what, sizeof(what), "POST /users with %s", body);
        call("POST", "/users", body, &r, HINT_VALID);
        expect_error(&r, 422, cases[i].field, what, HINT_VALID);
        expect_message(&r, cases[i].says, what);
        tc_response_clear(&r);
    }
    /* The stated limits: EX03_NAME_MAX_CHARS characters, EX03_EMAIL_MAX_BYTES
     * bytes. */
    memset(long_name, 'x', EX03_NAME_MAX_CHARS + 1);
    long_name[EX03_NAME_MAX_CHARS + 1] = '\0';
    call("POST", "/users", user_body(long_name, email, body, sizeof(body)), &r, HINT_VALID);
    expect_error(&r, 422, "name", "POST /users with a name of 101 characters", HINT_VALID);
    expect_message(&r, "at most", "POST /users with a name of 101 characters");
    tc_response_clear(&r);
    email_of_length(long_email, EX03_EMAIL_MAX_BYTES + 1);
    call("POST", "/users", user_body("Ada", long_email, body, sizeof(body)), &r, HINT_VALID);
    expect_error(&r, 422, "email", "POST /users with an email of 255 bytes", HINT_VALID);
    expect_message(&r, "at most", "POST /users with an email of 255 bytes");
    tc_response_clear(&r);
    expect_nothing_changed(0, 0, 0, "after invalid fields", HINT_ERRORS);
    expect_valid_not(422, "after invalid fields");
    /* Extra keys are ignored (like pydantic's default). */
    snprintf(body, sizeof(body), "{\"name\": \"Ada Extra\", \"email\": \"extra.%s\", "
             "\"role\": \"admin\", \"age\": 36}", email);
    call("POST", "/users", body, &r, HINT_VALID);
    cr_assert_eq(r.status, 201, "POST /users with %s: expected 201, got %d (%s): keys other "
                 "than name and email are ignored, not refused" HINT_VALID, body, r.status,
                 r.body ? r.body : "no body");
    tc_response_clear(&r);
    /* At the limits, accepted: 100 characters of two bytes each (the limit
     * counts characters, not bytes), and an email of 254 bytes. */
    for (int i = 0; i < EX03_NAME_MAX_CHARS; i++)
        memcpy(name_at_limit + 2 * i, "\xc3\xa9", 2);           /* U+00E9 */
    name_at_limit[2 * EX03_NAME_MAX_CHARS] = '\0';
    email_of_length(email_at_limit, EX03_EMAIL_MAX_BYTES);
    user_body(name_at_limit, email_at_limit, body, sizeof(body));
    call("POST", "/users", body, &r, HINT_VALID);
    cr_assert_eq(r.status, 201, "a name of exactly %d characters (%d bytes of UTF-8) and an "
                 "email of exactly %d bytes are valid: expected 201, got %d (%s): validate "
                 "with ex03_check_name() and ex03_check_email()" HINT_VALID,
                 EX03_NAME_MAX_CHARS, 2 * EX03_NAME_MAX_CHARS, EX03_EMAIL_MAX_BYTES, r.status,
                 r.body ? r.body : "no body");
    tc_response_clear(&r);
    finish();
}

Test(ex03_errors, duplicate_email_is_409)
{
    struct tc_response first, again;
    struct person p, dup;
    char body[512];

    person(&p, "Ada Lovelace");
    start_server();
    post_user(&p, &first);
    cr_assert(wait_accepted(1, NOTIFY_MS), "the first user's notification never arrived"
              HINT_DELIVERY);
    /* The same email in another case. */
    snprintf(dup.name, sizeof(dup.name), "Ada 2 %.6s", judge_token());
    snprintf(dup.email, sizeof(dup.email), "%s", p.email);
    for (char *c = dup.email; *c != '\0'; c++)
        *c = (char)toupper((unsigned char)*c);
    call("POST", "/users", user_body(dup.name, dup.email, body, sizeof(body)), &again,
         HINT_ERRORS);
    expect_error(&again, 409, NULL, "POST /users with an email that exists (in another case)",
                 HINT_ERRORS);
    expect_nothing_changed(1, 1, 1, "after a duplicate email", HINT_ERRORS);
    /* The conflict ended its transaction: the server still saves users. */
    person(&dup, "Ada Three");
    tc_response_clear(&again);
    call("POST", "/users", user_body(dup.name, dup.email, body, sizeof(body)), &again,
         HINT_ERRORS);
    cr_assert_eq(again.status, 201, "after the 409, a new user got %d (%s); expected 201: a "
                 "conflict inside the transaction must end it with ex03_db_rollback(), or "
                 "every later ex03_db_begin() fails" HINT_ERRORS, again.status,
                 again.body ? again.body : "no body");
    tc_response_clear(&first);
    tc_response_clear(&again);
    finish();
}

/* A valid body of exactly `len` bytes (padded with spaces inside). */
static char *body_of_length(size_t len, const char *email)
{
    char head[160];
    int n = snprintf(head, sizeof(head), "{\"name\": \"Ada\", \"email\": \"%s\"", email);
    char *b = malloc(len + 1);

    cr_assert(b != NULL && (size_t)n + 1 < len);
    memcpy(b, head, (size_t)n);
    memset(b + n, ' ', len - (size_t)n - 1);
    b[len - 1] = '}';
    b[len] = '\0';
    return b;
}

Test(ex03_errors, body_over_the_limit_is_413)
{
    const size_t limit = 1024;
    struct tc_response over, at;
    struct person big, fits;

    person(&big, "Big");
    person(&fits, "Fits");
    char *big_body = body_of_length(limit + 1, big.email);
    char *fits_body = body_of_length(limit, fits.email);

    start_server_with((struct opts){ .max_body = limit });
    call("POST", "/users", big_body, &over, HINT_ERRORS);
    expect_error(&over, 413, NULL, "POST /users with a body of max_body + 1 bytes (valid JSON)",
                 HINT_ERRORS);
    expect_nothing_changed(0, 0, 0, "after a body over the limit", HINT_ERRORS);
    call("POST", "/users", fits_body, &at, HINT_ERRORS);
    cr_assert_eq(at.status, 201, "a valid body of exactly max_body bytes should be accepted "
                 "(201); got %d: pass s->max_body to ex03_read_json()" HINT_ERRORS, at.status);
    cr_assert(at.body && strstr(at.body, fits.email), "the 201 of the body at the limit should "
              "carry its email %s; got %s" HINT_POST, fits.email, at.body);
    free(big_body);
    free(fits_body);
    tc_response_clear(&over);
    tc_response_clear(&at);
    finish();
}

/* One user made on purpose and notified, so that "nothing changed" below is
 * measured against a server that works. */
static long long seed_one_user(void)
{
    struct tc_response r;
    struct person p;

    person(&p, "Seed User");
    long long id = post_user(&p, &r);
    tc_response_clear(&r);
    cr_assert(wait_accepted(1, NOTIFY_MS), "the seed user's notification never arrived"
              HINT_DELIVERY);
    return id;
}

Test(ex03_errors, wrong_method_is_405)
{
    static const struct { const char *method, *path, *allow; } cases[] = {
        { "DELETE", "/users", "GET, POST" }, { "PUT", "/users", "GET, POST" },
        { "PATCH", "/users/1", "GET" }, { "POST", "/users/1", "GET" },
        { "DELETE", "/users/1", "GET" }, { "POST", "/health", "GET" },
        { "POST", "/async?ms=1", "GET" },
    };
    struct tc_response r;
    struct person eve;
    char body[512];

    person(&eve, "Eve");
    user_body(eve.name, eve.email, body, sizeof(body));
    start_server();
    seed_one_user();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        call(cases[i].method, cases[i].path, body, &r, HINT_ERRORS);
        expect_error(&r, 405, NULL, what, HINT_ERRORS);
        cr_assert(r.allow && strcmp(r.allow, cases[i].allow) == 0,
                  "%s: a 405 should say what is allowed: \"Allow: %s\"; got \"%s\"", what,
                  cases[i].allow, r.allow ? r.allow : "none");
        tc_response_clear(&r);
    }
    expect_nothing_changed(1, 1, 1, "after wrong methods", HINT_ERRORS);
    finish();
}

Test(ex03_errors, unknown_path_is_404)
{
    static const struct { const char *method, *path; } cases[] = {
        { "GET", "/nope" }, { "POST", "/user" }, { "POST", "/users/" },
        { "GET", "/users/abc" }, { "GET", "/users/0" }, { "POST", "/Users" },
    };
    struct tc_response r;
    struct person eve;
    char body[512];

    person(&eve, "Eve");
    user_body(eve.name, eve.email, body, sizeof(body));
    start_server();
    seed_one_user();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        call(cases[i].method, cases[i].path, body, &r, HINT_ERRORS);
        expect_error(&r, 404, NULL, what, HINT_ERRORS);
        tc_response_clear(&r);
    }
    expect_nothing_changed(1, 1, 1, "after unknown paths", HINT_ERRORS);
    finish();
}

/*
 * The ms= of /async and /cpu is 0..EX03_MAX_WAIT_MS: anything else is a 400
 * at once (an unbounded ms would hold a request, or a thread, for as long as
 * a client asks).  Both ends are accepted.
 */
Test(ex03_errors, wait_out_of_range_is_400)
{
    static const char *const bad[] = {
        "/async?ms=10001", "/async?ms=-1", "/async?ms=soon", "/async?ms=86400000",
        "/cpu?ms=10001", "/cpu?ms=-1", "/cpu?ms=2s", "/cpu?ms=86400000",
    };
    struct tc_response r, zero, longest[2];
    struct tc_response *both[2] = { &longest[0], &longest[1] };

    start_server();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char what[160];
        struct tc_response *one[1] = { &r };
        int async = strncmp(bad[i], "/async", 6) == 0;

        snprintf(what, sizeof(what), "GET %s (ms is 0..%ld)", bad[i], EX03_MAX_WAIT_MS);
        tc_start(client, "GET", bad[i], NULL, 0, &r);
        cr_assert(tc_wait(base, one, 1, SCALED(1000)), "GET %s had no answer after 1 s: ms is "
                  "0..%ld (EX03_MAX_WAIT_MS); answer 400 at once outside that range "
                  "(ex03_query_long(req, \"ms\", 0, EX03_MAX_WAIT_MS, 0, &ms))%s%s", bad[i],
                  EX03_MAX_WAIT_MS, async ? HINT_ASYNC : HINT_CPU, server_gone());
        expect_error(&r, 400, NULL, what, async ? HINT_ASYNC : HINT_CPU);
        tc_response_clear(&r);
    }
    /* The ends of the range: 0 answers at once, 10000 waits. */
    call("GET", "/async?ms=0", NULL, &zero, HINT_ASYNC);
    cr_assert_eq(zero.status, 200, "GET /async?ms=0: expected 200, got %d (%s): 0 is in the "
                 "range" HINT_ASYNC, zero.status, zero.body ? zero.body : "no body");
    tc_start(client, "GET", "/async?ms=10000", NULL, 0, &longest[0]);
    tc_start(client, "GET", "/cpu?ms=10000", NULL, 0, &longest[1]);
    tc_wait(base, both, 2, 300);
    cr_assert(!longest[0].done && !longest[1].done, "GET /async?ms=10000 and /cpu?ms=10000 "
              "should both be waiting after 300 ms (10000 is the largest ms allowed); they "
              "were answered with %d and %d" HINT_ASYNC, longest[0].status, longest[1].status);
    finish();
    tc_wait(base, both, 2, SCALED(1000));   /* their 503, read before the frame goes */
    tc_response_clear(&zero);
    tc_response_clear(&longest[0]);
    tc_response_clear(&longest[1]);
}

/* ---- delivery ----------------------------------------------------------- */

Test(ex03_delivery, receiver_down_then_up_gets_it_once)
{
    struct tc_response r;
    struct person p;
    char key[64], err[256] = "";

    person(&p, "Barbara Liskov");
    ns_sink_stop(sink);
    start_server_with((struct opts){ .retry_base_ms = 50, .retry_max_ms = 200 });
    long long id = post_user(&p, &r);
    snprintf(key, sizeof(key), "user-created-%lld", id);
    tc_run_until(base, NULL, NULL, 400);
    long long attempts = db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id);
    cr_assert_geq(attempts, 2, "with the receiver down for 400 ms and a backoff starting at "
                  "50 ms, there should have been at least 2 failed attempts (outbox.attempts); "
                  "got %lld: a refused connection is a failed attempt, to retry" HINT_DELIVERY,
                  attempts);
    cr_assert_eq(pending_in_db(), 1, "the notification should still be pending while the "
                 "receiver is down; the outbox has %lld pending rows" HINT_DELIVERY,
                 pending_in_db());

    cr_assert_eq(ns_sink_start(sink, err, sizeof(err)), 0, "cannot restart the receiver: %s", err);
    cr_assert(wait_accepted(1, 2000), "the receiver came back up, but the notification did not "
              "arrive within 2 s: keep retrying while it is down (do not drop it)" HINT_DELIVERY);
    tc_run_until(base, NULL, NULL, 400);
    cr_assert_eq(ns_sink_count_key(sink, key), 1, "the receiver got %s %zu times; expected "
                 "once: stop retrying after a 2xx" HINT_DELIVERY, key,
                 ns_sink_count_key(sink, key));
    expect_notification_of(ns_sink_at(sink, 0), r.body, id);
    cr_assert_eq(users_in_db(), 1, "the retries wrote users rows: %lld, expected 1", users_in_db());
    cr_assert_eq(pending_in_db(), 0, "delivered, the outbox row should no longer be "
                 "pending" HINT_DELIVERY);
    tc_response_clear(&r);
    finish();
}

Test(ex03_delivery, retries_5xx_with_capped_exponential_backoff)
{
    const unsigned base_ms = 40, max_ms = 120, failures = 5;
    const double expect_gap[5] = { 40, 80, 120, 120, 120 };
    struct tc_response r;
    struct person p;

    person(&p, "Frances Allen");
    ns_sink_fail_next(sink, failures, 503);
    start_server_with((struct opts){ .retry_base_ms = base_ms, .retry_max_ms = max_ms });
    long long id = post_user(&p, &r);
    cr_assert(wait_accepted_progress(1, 4000, NOTIFY_MS), "after %u answers 503 the receiver "
              "accepts, but the notification never got through (%zu attempts seen): a 5xx is a "
              "failed attempt, to retry" HINT_DELIVERY, failures, ns_sink_count(sink));
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(ns_sink_count(sink), failures + 1, "expected %u attempts (%u answered 503, then "
                 "one 200); the receiver saw %zu" HINT_DELIVERY, failures + 1, failures,
                 ns_sink_count(sink));
    expect_notification_of(ns_sink_at(sink, 0), r.body, id);
    for (size_t i = 1; i < ns_sink_count(sink); i++) {
        const struct ns_record *a = ns_sink_at(sink, i - 1), *b = ns_sink_at(sink, i);
        double gap = b->arrived_ms - a->arrived_ms;
        cr_assert_str_eq(b->idempotency_key ? b->idempotency_key : "",
                         a->idempotency_key ? a->idempotency_key : "-",
                         "every attempt should carry the same Idempotency-Key");
        cr_assert_str_eq(b->body, a->body, "every attempt should send the same body");
        cr_assert_geq(gap, expect_gap[i - 1],
                      "attempt %zu came %.1f ms after attempt %zu; with retry_base_ms = %u and "
                      "retry_max_ms = %u the wait before it is %.0f ms (base, x2, x4, ..., "
                      "capped)" HINT_BACKOFF, i + 1, gap, i, base_ms, max_ms, expect_gap[i - 1]);
        cr_assert_lt(gap, expect_gap[i - 1] + max_ms,
                     "attempt %zu came %.1f ms after attempt %zu; expected about %.0f ms: the "
                     "backoff is capped at retry_max_ms = %u" HINT_BACKOFF, i + 1, gap, i,
                     expect_gap[i - 1], max_ms);
    }
    stop_server();
    long long attempts = db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id);
    cr_assert_eq(attempts, failures + 1, "outbox.attempts should count every attempt (%u); got "
                 "%lld (ex03_db_outbox_failed() / ex03_db_outbox_delivered())" HINT_DELIVERY,
                 failures + 1, attempts);
    tc_response_clear(&r);
    finish();
}

/* Every outcome that is not a 2xx is a failed attempt, to retry: here an
 * attempt that times out (the receiver is slower than notify_timeout_ms)
 * and a 404 (a misconfigured receiver); and every 2xx delivers, 202 as well
 * as 200. */
Test(ex03_delivery, timeouts_and_4xx_are_retried_any_2xx_delivers)
{
    struct tc_response r;
    struct person p;

    person(&p, "Ida Rhodes");
    ns_sink_set_delay_ms(sink, 400);        /* attempt 1: slower than the timeout */
    ns_sink_fail_next(sink, 2, 404);        /* attempts 1 and 2: 404 */
    start_server_with((struct opts){ .retry_base_ms = 100, .retry_max_ms = 200,
                                     .notify_timeout_ms = 150 });
    long long id = post_user(&p, &r);
    cr_assert(wait_count(1, NOTIFY_MS), "no notification reached the receiver within %.1f s "
              "of the reply" HINT_DELIVERY, NOTIFY_MS / 1000);
    ns_sink_set_delay_ms(sink, 0);
    cr_assert(wait_count(2, 2000), "the first attempt timed out (the receiver takes 400 ms, "
              "notify_timeout_ms is 150), and no second attempt came within 2 s: a timeout "
              "(delivery_done_cb with req NULL or a response code 0) is a failed attempt, to "
              "retry" HINT_DELIVERY);
    ns_sink_fail_next(sink, 1, 202);        /* attempt 3: 202 Accepted */
    cr_assert(wait_count(3, 2000), "attempt 2 was answered 404, and no third attempt came "
              "within 2 s: a 4xx is a failed attempt too (a misconfigured receiver: drop "
              "nothing); only a 2xx delivers" HINT_DELIVERY);
    /* Longer than any backoff here: an attempt after the 202 would come. */
    tc_run_until(base, NULL, NULL, 500);
    cr_assert_eq(ns_sink_count(sink), 3, "attempt 3 was answered 202 Accepted, a 2xx: the "
                 "notification is delivered; the receiver saw %zu attempts, expected 3: "
                 "every status 200..299 is a success" HINT_DELIVERY, ns_sink_count(sink));
    for (size_t i = 0; i < 3; i++)
        expect_notification_of(ns_sink_at(sink, i), r.body, id);
    stop_server();
    cr_assert_eq(db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id), 3,
                 "outbox.attempts should count the 3 attempts; got %lld (ex03_db_outbox_failed()"
                 " / ex03_db_outbox_delivered())" HINT_DELIVERY,
                 db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id));
    cr_assert_eq(pending_in_db(), 0, "after the 202, the outbox row should be marked delivered "
                 "(ex03_db_outbox_delivered()); %lld rows are pending" HINT_DELIVERY,
                 pending_in_db());
    tc_response_clear(&r);
    finish();
}

/*
 * Retries go on for as long as the server runs, and the wait stays at the
 * cap: 40 answers 503 in a row (past the 32 doublings after which an
 * unsigned wait that is doubled each time wraps to 0), then a 200.
 */
Test(ex03_delivery, backoff_stays_capped_after_many_failures)
{
    const unsigned base_ms = 2, max_ms = 8, failures = 40;
    struct tc_response r;
    struct person p;

    person(&p, "Evelyn Boyd");
    ns_sink_fail_next(sink, failures, 503);
    start_server_with((struct opts){ .retry_base_ms = base_ms, .retry_max_ms = max_ms });
    long long id = post_user(&p, &r);
    cr_assert(wait_accepted_progress(1, 10000, 1000), "after %zu attempts answered 503, no new "
              "attempt came for 1 s, while the wait is at most retry_max_ms = %u ms: keep "
              "retrying, with no limit on the attempts, for as long as the server runs (the "
              "receiver accepts after %u failures)" HINT_BACKOFF, ns_sink_count(sink), max_ms,
              failures);
    tc_run_until(base, NULL, NULL, 100);
    cr_assert_eq(ns_sink_count(sink), failures + 1, "expected %u attempts (%u answered 503, "
                 "then one 200); the receiver saw %zu" HINT_DELIVERY, failures + 1, failures,
                 ns_sink_count(sink));
    expect_notification_of(ns_sink_at(sink, failures), r.body, id);
    for (size_t i = 1; i < ns_sink_count(sink); i++) {
        double wait = base_ms, gap;

        for (size_t k = 1; k < i && wait < max_ms; k++)
            wait *= 2;
        wait = wait > max_ms ? max_ms : wait;
        gap = ns_sink_at(sink, i)->arrived_ms - ns_sink_at(sink, i - 1)->arrived_ms;
        cr_assert_geq(gap, wait, "attempt %zu came %.1f ms after attempt %zu; after %zu failed "
                      "attempts the wait is %.0f ms (retry_base_ms = %u, doubled, capped at "
                      "retry_max_ms = %u): once the wait reaches the cap, stop doubling (an "
                      "unsigned doubled 32 times wraps to 0)" HINT_BACKOFF, i + 1, gap, i, i,
                      wait, base_ms, max_ms);
    }
    stop_server();
    cr_assert_eq(db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id),
                 failures + 1, "outbox.attempts should count every attempt (%u); got %lld"
                 HINT_DELIVERY, failures + 1,
                 db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id));
    tc_response_clear(&r);
    finish();
}

/*
 * Sends n POST /users at once (person i named "<prefix> i"), waits up to
 * timeout_ms for every answer, expects each to be a 201 and stores its
 * user's id in ids[i].  all must hold n pointers (r[i] is answer i); the
 * caller clears r.
 */
static void post_users_at_once(struct person *p, struct tc_response *r,
                               struct tc_response **all, long long *ids, int n,
                               const char *prefix, double timeout_ms)
{
    char body[512];

    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s %d", prefix, i);
        person(&p[i], name);
        user_body(p[i].name, p[i].email, body, sizeof(body));
        all[i] = &r[i];
        tc_start(client, "POST", "/users", body, strlen(body), &r[i]);
    }
    cr_assert(tc_wait(base, all, (size_t)n, SCALED(timeout_ms)), "%d concurrent POST /users "
              "did not all get an answer within %.0f s%s", n, timeout_ms / 1000, server_gone());
    for (int i = 0; i < n; i++) {
        cr_assert_eq(r[i].status, 201, "concurrent POST %d: expected 201, got %d (%s)" HINT_POST
                     "%s", i, r[i].status, r[i].body ? r[i].body : "no body",
                     r[i].status ? "" : server_gone());
        json_t *j = parse_body(&r[i], "POST /users");
        ids[i] = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
}

/*
 * max_deliveries is the most notifications in flight at once, and the
 * ready ones go out oldest first.  With 4 connections and a receiver that
 * takes 300 ms, 10 notifications go in rounds: 4, 4, 2.  The test counts,
 * on its own clock, how many requests the receiver held at once.
 */
Test(ex03_delivery, max_deliveries_in_flight_oldest_first)
{
    enum { N = 10, CONNS = 4 };
    const double delay = 300;
    struct tc_response r[N];
    struct tc_response *all[N];
    struct person p[N];
    long long ids[N];
    size_t most = 0;

    ns_sink_set_delay_ms(sink, (unsigned)delay);
    start_server_with((struct opts){ .max_deliveries = CONNS });
    post_users_at_once(p, r, all, ids, N, "Round", 5000);
    cr_assert(wait_accepted_progress(N, 6000, 1500), "%zu of %d notifications delivered within "
              "6 s, with max_deliveries = %d and a receiver that takes %.0f ms: when an "
              "attempt ends its connection is free, start the next ready one there "
              "(outbox_pump() at the end of delivery_done_cb())" HINT_DELIVERY,
              ns_sink_accepted(sink), N, CONNS, delay);
    tc_run_until(base, NULL, NULL, 200);
    cr_assert_eq(ns_sink_count(sink), N, "the receiver got %zu notifications for %d users",
                 ns_sink_count(sink), N);
    for (size_t k = 0; k < N; k++) {
        const struct ns_record *a = ns_sink_at(sink, k);
        size_t held = 0;
        int i = 0;

        while (i < N && ids[i] != key_id(a))
            i++;
        cr_assert_lt(i, N, "a notification with the key \"%s\", of no user created here"
                     HINT_DELIVERY, a->idempotency_key ? a->idempotency_key : "none");
        expect_notification_of(a, r[i].body, ids[i]);
        for (size_t m = 0; m < N; m++) {
            const struct ns_record *b = ns_sink_at(sink, m);
            if (b->arrived_ms <= a->arrived_ms && a->arrived_ms < b->answered_ms)
                held++;
            /* b is a newer user's: it may not go out a round before a. */
            cr_assert(key_id(b) < key_id(a) || b->arrived_ms >= a->arrived_ms - delay / 2,
                      "user %lld's notification went out %.0f ms before user %lld's, an older "
                      "one: the ready queue is served oldest first (delivery_ready() appends "
                      "at the tail, outbox_pump() takes TAILQ_FIRST)" HINT_DELIVERY,
                      key_id(b), a->arrived_ms - b->arrived_ms, key_id(a));
        }
        most = held > most ? held : most;
    }
    cr_assert_leq(most, CONNS, "%zu notifications were in flight at once with max_deliveries "
                  "= %d: one request at most on each of the server's connections (s->conns, "
                  "s->conn_busy)" HINT_DELIVERY, most, CONNS);
    cr_assert_geq(most, CONNS, "with %d notifications ready and max_deliveries = %d, at most "
                  "%zu were in flight at once: outbox_pump() starts a ready delivery on every "
                  "free connection" HINT_DELIVERY, N, CONNS, most);
    for (int i = 0; i < N; i++)
        tc_response_clear(&r[i]);
    finish();
}

/* ---- waiting costs nothing ---------------------------------------------- */

/* What the server spent while it waited: the wall time of the wait on the
 * test's clock, and the server's CPU time and voluntary context switches
 * (the times it went to sleep, so woke up) over that time, read from /proc
 * by the test. */
struct idle {
    double wall, cpu;
    long wakeups;
};

static void idle_begin(struct subj_usage *u, double *t0)
{
    cr_assert_eq(subj_usage(server, u), 0, "cannot read the server's CPU time: %s",
                 subj_error(server));
    *t0 = fx_now_ms();
}

static void idle_end(const struct subj_usage *u0, double t0, struct idle *out)
{
    struct subj_usage u1;

    cr_assert_eq(subj_usage(server, &u1), 0, "cannot read the server's CPU time: %s",
                 subj_error(server));
    out->wall = fx_now_ms() - t0;
    out->cpu = u1.cpu_ms - u0->cpu_ms;
    out->wakeups = u1.voluntary_switches - u0->voluntary_switches;
}

/* The server now running (retry_base_ms BACKOFF_MS, retry_max_ms twice
 * that) holds a notification in its first backoff (one answer 503): the
 * test measures from the handling of the 503 to the retry's arrival. */
#define BACKOFF_MS 1000u

static void backoff_wait(struct idle *w)
{
    struct tc_response r;
    struct person p;
    struct subj_usage u0;
    size_t first = ns_sink_count(sink);
    double t0, gap;

    person(&p, "Patient User");
    ns_sink_fail_next(sink, 1, 503);
    post_user(&p, &r);
    tc_response_clear(&r);
    cr_assert(wait_count(first + 1, NOTIFY_MS), "no notification reached the receiver within "
              "%.1f s" HINT_DELIVERY, NOTIFY_MS / 1000);
    tc_run_until(base, NULL, NULL, 100);   /* the server has handled the 503 */
    idle_begin(&u0, &t0);
    cr_assert(wait_count(first + 2, 3000), "after a 503, with retry_base_ms = %u, no retry "
              "came within 3 s" HINT_BACKOFF "%s", BACKOFF_MS, server_gone());
    idle_end(&u0, t0, w);
    gap = ns_sink_at(sink, first + 1)->arrived_ms - ns_sink_at(sink, first)->arrived_ms;
    /* The first wait is retry_base_ms: at least that (a timer never fires
     * early), and far less than twice that. */
    cr_assert(gap >= BACKOFF_MS && gap < 1.5 * BACKOFF_MS, "the retry came %.1f ms after the "
              "first attempt failed; after the first failed attempt the wait is retry_base_ms "
              "= %u ms, not less, and not twice that (retry_base_ms x 2^(n-1) after the n-th "
              "failure; retry_max_ms is %u here)" HINT_BACKOFF, gap, BACKOFF_MS,
              2 * BACKOFF_MS);
}

/*
 * A delivery in its backoff is a timer armed for the moment of the retry:
 * the server sleeps until then.  One that wakes every millisecond to see
 * whether the time has come (polling) keeps a core busy for nothing.  The
 * reference, in the same conditions, gives the scale.
 */
Test(ex03_delivery, backoff_sleeps_until_the_retry)
{
    const struct opts o = { .retry_base_ms = BACKOFF_MS, .retry_max_ms = 2 * BACKOFF_MS };
    struct opts ref = o;
    struct idle sub, refw;

    start_server_with(o);
    backoff_wait(&sub);
    stop_server();
    ref.reference = 1;
    start_server_with(ref);
    backoff_wait(&refw);
    finish();
    cr_assert_lt(sub.cpu, 0.1 * sub.wall, "your server used %.0f ms of CPU during %.0f ms of a "
                 "retry's backoff (the reference: %.0f ms): a backoff is one timer, armed for "
                 "the moment of the retry (evtimer_add(d->retry_timer, backoff)); do not poll"
                 HINT_BACKOFF, sub.cpu, sub.wall, refw.cpu);
    cr_assert_leq(sub.wakeups, 2 * refw.wakeups + 50, "your server went to sleep and woke up "
                  "%ld times during %.0f ms of a retry's backoff, the reference %ld times: "
                  "arm the retry timer once for the whole backoff (%u ms here), and the loop "
                  "sleeps until then; a timer re-armed every millisecond to check the time "
                  "wakes about 1000 times a second for nothing" HINT_BACKOFF, sub.wakeups,
                  sub.wall, refw.wakeups, BACKOFF_MS);
}

Test(ex03_delivery, pending_notifications_survive_a_restart)
{
    struct tc_response r[3];
    struct person p[3];
    long long ids[3];
    char err[256] = "", key[64], scratch[PATH_MAX];

    ns_sink_stop(sink);
    start_server();
    for (int i = 0; i < 3; i++) {
        person(&p[i], "Restart");
        ids[i] = post_user(&p[i], &r[i]);
    }
    tc_run_until(base, NULL, NULL, 200);
    stop_server();                      /* the first server stops ... */
    cr_assert_eq(pending_in_db(), 3,
                 "with the receiver down, the 3 notifications should be pending in the outbox "
                 "when the server stops" HINT_DELIVERY);
    cr_assert_eq(ns_sink_start(sink, err, sizeof(err)), 0, "cannot start the receiver: %s", err);
    snprintf(scratch, sizeof(scratch), "%s", subj_scratch(server));
    /* ... a new one starts on the same file */
    start_server_with((struct opts){ .scratch = scratch });
    cr_assert(wait_accepted_progress(3, 3000, NOTIFY_MS), "a server started on a database "
              "with 3 pending notifications delivered %zu of them (waited up to 3 s, and gives up "
              "after %.1f s without a new one)" HINT_RESUME, NOTIFY_MS / 1000,
              ns_sink_accepted(sink));
    tc_run_until(base, NULL, NULL, 300);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "user-created-%lld", ids[i]);
        cr_assert_eq(ns_sink_count_key(sink, key), 1, "after the restart, %s arrived %zu times; "
                     "expected once" HINT_RESUME, key, ns_sink_count_key(sink, key));
        for (size_t k = 0; k < ns_sink_count(sink); k++)
            if (strcmp(ns_sink_at(sink, k)->idempotency_key ? ns_sink_at(sink, k)->idempotency_key
                                                            : "", key) == 0)
                expect_notification_of(ns_sink_at(sink, k), r[i].body, ids[i]);
        tc_response_clear(&r[i]);
    }
    stop_server();
    cr_assert_eq(pending_in_db(), 0, "all delivered: nothing should be pending; the outbox has "
                 "%lld pending rows" HINT_RESUME, pending_in_db());
    finish();
}

Test(ex03_delivery, two_hundred_concurrent_posts_get_distinct_ids)
{
    enum { N = 200 };
    static struct tc_response r[N];
    static struct tc_response *all[N];
    static struct person p[N];
    static long long ids[N];

    start_server();
    post_users_at_once(p, r, all, ids, N, "User", 10000);
    for (int i = 0; i < N; i++) {
        json_t *j = parse_body(&r[i], "POST /users");
        cr_assert_str_eq(jstr(json_object_get(j, "email")), p[i].email,
                         "concurrent POST %d: the 201 should carry the email sent (%s); got %s"
                         HINT_POST, i, p[i].email, r[i].body);
        json_decref(j);
        for (int k = 0; k < i; k++)
            cr_assert_neq(ids[k], ids[i], "POST %d and POST %d got the same id %lld", k, i, ids[i]);
    }
    cr_assert_eq(users_in_db(), N, "the users table has %lld rows; expected %d", users_in_db(), N);
    cr_assert(wait_accepted_progress(N, 10000, 2000), "%zu of %d notifications delivered "
              "within 10 s" HINT_DELIVERY, ns_sink_accepted(sink), N);
    tc_run_until(base, NULL, NULL, 200);
    cr_assert_eq(ns_sink_count(sink), N, "the receiver got %zu notifications for %d users",
                 ns_sink_count(sink), N);
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof(key), "user-created-%lld", ids[i]);
        cr_assert_eq(ns_sink_count_key(sink, key), 1, "%s arrived %zu times", key,
                     ns_sink_count_key(sink, key));
    }
    /* Each notification carries the user of its key, as the 201 gave it. */
    for (size_t k = 0; k < ns_sink_count(sink); k++) {
        const struct ns_record *n = ns_sink_at(sink, k);
        const char *key = n->idempotency_key ? n->idempotency_key : "";
        long long id = strncmp(key, "user-created-", 13) == 0 ? strtoll(key + 13, NULL, 10) : 0;
        int i = 0;
        while (i < N && ids[i] != id)
            i++;
        cr_assert_lt(i, N, "a notification with the key \"%s\", of no user created here"
                     HINT_DELIVERY, key);
        expect_notification_of(n, r[i].body, ids[i]);
    }
    for (int i = 0; i < N; i++)
        tc_response_clear(&r[i]);
    finish();
}

/* ---- the loop: /sync, /async, /cpu -------------------------------------- */

/* Starts n concurrent GETs of path; returns the wall time until all done. */
static double concurrent_gets(const char *path, struct tc_response *r, size_t n)
{
    struct tc_response *all[8];
    double t0 = fx_now_ms();

    for (size_t i = 0; i < n; i++) {
        all[i] = &r[i];
        tc_start(client, "GET", path, NULL, 0, &r[i]);
    }
    cr_assert(tc_wait(base, all, n, SCALED(5000)), "%zu concurrent GET %s did not finish in "
              "5 s%s", n, path, server_gone());
    return fx_now_ms() - t0;
}

Test(ex03_loop, async_waits_overlap_and_sync_waits_do_not)
{
    const int n = 5, ms = 200;
    struct tc_response r[5];

    start_server();
    double t_sync = concurrent_gets("/sync?ms=200", r, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(r[i].status, 200, "GET /sync?ms=200: expected 200, got %d%s", r[i].status,
                     r[i].status ? "" : server_gone());
        tc_response_clear(&r[i]);
    }
    double t_async = concurrent_gets("/async?ms=200", r, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(r[i].status, 200, "GET /async?ms=200: expected 200, got %d (%s)" HINT_ASYNC
                     "%s", r[i].status, r[i].body ? r[i].body : "no body",
                     r[i].status ? "" : server_gone());
        json_t *j = parse_body(&r[i], "GET /async?ms=200");
        cr_assert_eq(json_integer_value(json_object_get(j, "waited_ms")), ms,
                     "GET /async?ms=200 should answer {\"waited_ms\": 200}; got %s" HINT_ASYNC,
                     r[i].body);
        json_decref(j);
        double latency = r[i].end_ms - r[i].start_ms;
        cr_assert_geq(latency, (double)ms, "GET /async?ms=200 answered after %.1f ms: it should "
                      "wait the 200 ms" HINT_ASYNC, latency);
        tc_response_clear(&r[i]);
    }
    cr_assert_geq(t_sync, (double)(n * ms), "%d concurrent /sync?ms=%d took %.1f ms; the "
                  "blocking sleep should make them take at least %d ms", n, ms, t_sync, n * ms);
    cr_assert_lt(t_async, 2.0 * ms, "%d concurrent /async?ms=%d took %.1f ms; on a timer they "
                 "wait together, so under %d ms (while /sync took %.1f ms)" HINT_ASYNC, n, ms,
                 t_async, 2 * ms, t_sync);
    finish();
}

/* One GET /async?ms=ASYNC_MS on the server now running: the test measures
 * from 100 ms after it started until its answer. */
#define ASYNC_MS 1000
#define ASYNC_PATH "/async?ms=1000"

static void async_wait(struct idle *w)
{
    struct tc_response r;
    struct tc_response *one[1] = { &r };
    struct subj_usage u0;
    double t0;

    tc_start(client, "GET", ASYNC_PATH, NULL, 0, &r);
    tc_run_until(base, NULL, NULL, 100);
    cr_assert(!r.done, "GET " ASYNC_PATH " had an outcome after 100 ms (status %d)" HINT_ASYNC
              "%s", r.status, r.status ? "" : server_gone());
    idle_begin(&u0, &t0);
    cr_assert(tc_wait(base, one, 1, SCALED(3000)), "GET " ASYNC_PATH " had no answer within "
              "3 s" HINT_ASYNC "%s", server_gone());
    idle_end(&u0, t0, w);
    cr_assert_eq(r.status, 200, "GET " ASYNC_PATH ": expected 200, got %d" HINT_ASYNC "%s",
                 r.status, r.status ? "" : server_gone());
    cr_assert_geq(r.end_ms - r.start_ms, (double)ASYNC_MS, "GET " ASYNC_PATH " answered "
                  "after %.1f ms: it should wait the %d ms" HINT_ASYNC, r.end_ms - r.start_ms,
                  ASYNC_MS);
    tc_response_clear(&r);
}

/* /async waits on one timer, armed for the whole wait: the server sleeps
 * meanwhile (compared with the reference, as for the backoff). */
Test(ex03_loop, async_sleeps_until_its_timer)
{
    struct idle sub, refw;

    start_server();
    async_wait(&sub);
    stop_server();
    start_server_with((struct opts){ .reference = 1 });
    async_wait(&refw);
    finish();
    cr_assert_lt(sub.cpu, 0.1 * sub.wall, "your server used %.0f ms of CPU while a "
                 ASYNC_PATH " waited %.0f ms (the reference: %.0f ms): wait on one timer "
                 "armed for the whole wait; do not poll" HINT_ASYNC, sub.cpu, sub.wall,
                 refw.cpu);
    cr_assert_leq(sub.wakeups, 2 * refw.wakeups + 50, "your server went to sleep and woke up "
                  "%ld times while a " ASYNC_PATH " waited %.0f ms, the reference %ld times: "
                  "arm one timer for the %d ms (evtimer_add(p->ev, &tv)), and the loop sleeps "
                  "until then; a timer re-armed every millisecond to check the time wakes "
                  "about 1000 times a second for nothing" HINT_ASYNC, sub.wakeups, sub.wall,
                  refw.wakeups, ASYNC_MS);
}

/* ex03_cpu_burn()'s hash (given code, ex03_server.c), recomputed here: the
 * digest of `rounds` rounds. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* CPU time of the calling thread, in ms. */
static double thread_cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Fills out with the digest of `rounds` rounds and *spent_ms with the CPU
 * time that took here; returns 0, or -1 once it has taken more than
 * budget_ms (more rounds than the request's time allows). */
static int cpu_digest(unsigned long long rounds, char out[17], double budget_ms,
                      double *spent_ms)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    double t0 = thread_cpu_ms();

    for (unsigned long long r = 0; r < rounds; r++) {
        for (int i = 0; i < 512; i++)
            h = mix64(h + (uint64_t)i);
        if ((r & 4095) == 0 && thread_cpu_ms() - t0 > budget_ms)
            return -1;
    }
    *spent_ms = thread_cpu_ms() - t0;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return 0;
}

/* The server's CPU time so far, in ms, every thread included, also those
 * that have ended (subj_usage() sums the threads that still run). */
static double server_cpu_ms(void)
{
    clockid_t clock;
    struct timespec ts;

    cr_assert_eq(clock_getcpuclockid(subj_pid(server), &clock), 0,
                 "cannot read the server's CPU time");
    cr_assert_eq(clock_gettime(clock, &ts), 0, "cannot read the server's CPU time");
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The answer of /cpu must come from the computation: the test recomputes
 * the digest of the rounds it reports, and times that on its own CPU
 * clock (so the bounds hold however busy the machine is).  The rounds of
 * 400 ms of wall time are at most 400 ms of CPU (one thread), so more than
 * CPU_RECOMPUTE_MS is a false claim; at least CPU_MIN_WORK_MS of them is
 * what a worker does in 400 ms even on a machine busy with dozens of other
 * processes; and the server must have used a good part of that CPU time
 * itself (the same code, on the same machine: within CPU_SPEED_MARGIN).
 */
#define CPU_RECOMPUTE_MS 2000.0
#define CPU_MIN_WORK_MS 10.0
#define CPU_SPEED_MARGIN 3.0

Test(ex03_loop, async_answers_promptly_while_cpu_runs)
{
    const double cpu_ms = 400, wait_ms = 100;
    struct tc_response cpu, quick;
    struct tc_response *both[2] = { &cpu, &quick };
    double cpu0, cpu1;
    char digest[17];

    start_server();
    cpu0 = server_cpu_ms();
    /* Both in flight together: whichever the server reads first, a loop
     * blocked by the computation delays the other one by about 400 ms. */
    tc_start(client, "GET", "/cpu?ms=400", NULL, 0, &cpu);
    tc_start(client, "GET", "/async?ms=100", NULL, 0, &quick);
    cr_assert(tc_wait(base, both, 2, SCALED(5000)), "/cpu?ms=400 and /async?ms=100 did not both "
              "answer within 5 s" HINT_CPU "%s", server_gone());
    cpu1 = server_cpu_ms();
    cr_assert_eq(quick.status, 200, "GET /async?ms=100: expected 200, got %d" HINT_ASYNC "%s",
                 quick.status, quick.status ? "" : server_gone());
    cr_assert_eq(cpu.status, 200, "GET /cpu?ms=400: expected 200, got %d (%s)" HINT_CPU "%s",
                 cpu.status, cpu.body ? cpu.body : "no body", cpu.status ? "" : server_gone());
    double q = quick.end_ms - quick.start_ms;
    cr_assert_lt(q, 2 * wait_ms, "while /cpu?ms=400 was computing, /async?ms=100 took %.1f ms; "
                 "expected under %.0f ms: run the computation on a worker thread so the loop "
                 "stays free" HINT_CPU, q, 2 * wait_ms);
    cr_assert_gt(cpu.end_ms, quick.end_ms, "/cpu?ms=400 answered before /async?ms=100: the "
                 "computation should run beside the loop, not before it" HINT_CPU);
    json_t *j = parse_body(&cpu, "GET /cpu");
    json_t *rounds = json_object_get(j, "rounds");
    cr_assert(json_number_value(json_object_get(j, "worked_ms")) >= cpu_ms &&
              json_is_integer(rounds) && json_integer_value(rounds) > 0 &&
              json_is_string(json_object_get(j, "digest")) &&
              strlen(json_string_value(json_object_get(j, "digest"))) == 16,
              "GET /cpu?ms=400 should answer {\"worked_ms\" >= 400, \"rounds\" > 0, \"digest\": "
              "16 hex digits} from ex03_cpu_burn()'s results; got %s" HINT_CPU, cpu.body);
    /* The answer must come from the computation itself. */
    unsigned long long claimed = (unsigned long long)json_integer_value(rounds);
    double work_ms = 0;
    cr_assert_eq(cpu_digest(claimed, digest, CPU_RECOMPUTE_MS, &work_ms), 0,
                 "GET /cpu?ms=400 claims %llu rounds, more than 400 ms can compute; answer "
                 "with ex03_cpu_burn()'s results" HINT_CPU, claimed);
    cr_assert_str_eq(jstr(json_object_get(j, "digest")), digest,
                     "GET /cpu?ms=400 answered the digest %s for %llu rounds, but ex03_cpu_burn() "
                     "gives %s after that many: answer with the results ex03_cpu_burn() left in "
                     "p" HINT_CPU, jstr(json_object_get(j, "digest")), claimed, digest);
    cr_assert_geq(work_ms, CPU_MIN_WORK_MS,
                  "GET /cpu?ms=400 reports %llu rounds, %.1f ms of computation: "
                  "ex03_cpu_burn() computes for the 400 ms asked" HINT_CPU, claimed, work_ms);
    cr_assert_geq(cpu1 - cpu0, work_ms / CPU_SPEED_MARGIN,
                  "the server used %.1f ms of CPU while /cpu?ms=400 ran, but the %llu rounds "
                  "it reports take %.1f ms to compute: the computation did not run; call "
                  "ex03_cpu_burn() on the worker thread" HINT_CPU, cpu1 - cpu0, claimed, work_ms);
    json_decref(j);
    tc_response_clear(&cpu);
    tc_response_clear(&quick);
    finish();
}

Test(ex03_loop, stopping_answers_waiting_requests)
{
    struct tc_response slow, busy;
    struct tc_response *both[2] = { &slow, &busy };
    struct subj_exit e;

    start_server();
    tc_start(client, "GET", "/async?ms=5000", NULL, 0, &slow);
    tc_start(client, "GET", "/cpu?ms=5000", NULL, 0, &busy);
    tc_run_until(base, NULL, NULL, 150);
    cr_assert(!slow.done && !busy.done, "150 ms after they started, /async?ms=5000 and "
              "/cpu?ms=5000 should both still be waiting; they had an outcome (status /async "
              "%d, /cpu %d; 0 = no answer in time: was the loop blocked?)" HINT_CPU "%s",
              slow.status, busy.status, server_gone());
    /* SIGTERM: the program frees the server (ex03_server_free()), which
     * answers what waits, and exits. */
    double t0 = fx_now_ms();
    subj_stop(server, STOP_GRACE_MS, &e);
    double stop_ms = fx_now_ms() - t0;
    cr_assert(!e.killed_by_judge, "the server did not stop within %.0f ms of SIGTERM with a "
              "/cpu?ms=5000 running: keep the loop free (the computation on a worker thread) "
              "so that it sees the signal, and let the worker stop early (ex03_cpu_burn() "
              "checks p->stop)" HINT_CPU "%s", STOP_GRACE_MS, judge_output(server));
    /* Before the answers: a server that crashed while stopping sent none. */
    judge_stop(server, STOP_GRACE_MS, "ex03-server, stopped with /cpu?ms=5000 running",
               " (a worker still running when ex03_server_free() frees its job writes to "
               "freed memory: set p->thread_started = 1 once pthread_create() has succeeded, "
               "so that ex03_pending_free() stops and joins it first)" HINT_CPU);
    cr_assert(tc_wait(base, both, 2, SCALED(1000)), "after SIGTERM (ex03_server_free()) the "
              "waiting requests got no answer");
    cr_assert_eq(slow.status, 503, "a waiting /async should get 503 when the server stops; got "
                 "%d: make it with ex03_pending_new() so the server knows it" HINT_ASYNC,
                 slow.status);
    cr_assert_eq(busy.status, 503, "a running /cpu should get 503 when the server stops; got "
                 "%d: make it with ex03_pending_new() and set thread_started" HINT_CPU,
                 busy.status);
    cr_assert_lt(stop_ms, 1000.0, "the server took %.1f ms to stop after SIGTERM "
                 "(ex03_server_free()) with a /cpu?ms=5000 running: the worker should stop "
                 "early (ex03_cpu_burn() checks p->stop)" HINT_CPU, stop_ms);
    tc_response_clear(&slow);
    tc_response_clear(&busy);
    finish();                           /* and it exited 0 */
}
