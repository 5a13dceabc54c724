/*
 * test_ex03.c - Criterion tests for exercise 3 (an HTTP endpoint with an
 * outbox, background delivery, a timer route and a worker-thread route).
 * Run them with `make ex03`; one behaviour per test.
 *
 * Every test runs, on one event_base of its own: your server (ex03.h) on
 * 127.0.0.1, a notification receiver (harness/common/notify_sink.h) and a
 * client (harness/common/test_client.h), each request on a connection of its
 * own.  The database is a file in a fresh temporary folder, read back here
 * with SQLite itself.  Time bounds come only from injected delays (the
 * receiver's answer delay, the ms= of /sync, /async and /cpu, the retry
 * backoff the test configures).
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <sqlite3.h>

#include "ex03.h"
#include "fixture_server.h"
#include "notify_sink.h"
#include "sandbox.h"
#include "test_client.h"
#include "testutil.h"

#define DOC "docs/en/ex03_background.md"
#define HINT_POST "  (TODO(ex03) in ex03_handle_create_user(), ex03.c; " DOC "#post-users)"
#define HINT_VALID "  (TODO(ex03) validate_user() in ex03.c; " DOC "#validation)"
#define HINT_ERRORS "  (TODO(ex03) in ex03_handle_create_user(); " DOC "#errors-change-nothing)"
#define HINT_ORDER "  (TODO(ex03) in ex03_handle_create_user(): reply, then queue; " DOC \
    "#reply-first-then-notify)"
#define HINT_OUTBOX "  (TODO(ex03) the transaction in ex03_handle_create_user(); " DOC "#the-outbox)"
#define HINT_DELIVERY "  (TODO(ex03) delivery_send() / delivery_done_cb() in ex03.c; " DOC \
    "#delivery-and-retries)"
#define HINT_BACKOFF "  (TODO(ex03) backoff_ms() / delivery_failed() in ex03.c; " DOC "#backoff)"
#define HINT_RESUME "  (TODO(ex03) ex03_outbox_resume() in ex03.c; " DOC "#restart)"
#define HINT_ASYNC "  (TODO(ex03) ex03_handle_async() in ex03.c; " DOC "#async-a-timer)"
#define HINT_CPU "  (TODO(ex03) ex03_handle_cpu() / cpu_worker() in ex03.c; " DOC \
    "#cpu-a-worker-thread)"

static struct event_base *base;
static struct evhttp *http;
static struct ex03_server *srv;
static struct ns_sink *sink;
static struct tc_client *client;
static char dir[64];
static char db_path[128];
static char notify_url[128];
static int port;

/* ---- set-up ------------------------------------------------------------- */

static void make_base(void)
{
    /* Before the base: /cpu hands results back with event_active() from a
     * worker thread, which needs a base with locks. */
    cr_assert_eq(evthread_use_pthreads(), 0, "evthread_use_pthreads failed");
    /* A precise clock, so that timers never fire early and the bounds
     * below stay exact. */
    base = fx_event_base_new();
    cr_assert_not_null(base, "fx_event_base_new failed");
}

/* An evhttp on 127.0.0.1, port 0, with a deep backlog (evhttp's own is 128:
 * too few for 200 clients connecting at once). */
static void make_http(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    struct evconnlistener *l;
    struct evhttp_bound_socket *bound;

    http = evhttp_new(base);
    cr_assert_not_null(http);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                LEV_OPT_CLOSE_ON_EXEC, 1024, (struct sockaddr *)&sin, sizeof(sin));
    cr_assert_not_null(l, "cannot listen on 127.0.0.1");
    bound = evhttp_bind_listener(http, l);
    cr_assert_not_null(bound);
    cr_assert_eq(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    client = tc_client_new(base, "127.0.0.1", port, 5000);
    cr_assert_not_null(client);
}

static void setup(void)
{
    char err[256] = "";

    /* No process creation from here on (see sandbox.h). */
    wb_sandbox_enter_or_die();
    make_base();
    make_http();
    snprintf(dir, sizeof(dir), "/tmp/ex03-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
    snprintf(db_path, sizeof(db_path), "%s/users.db", dir);
    sink = ns_sink_new(base, 1, err, sizeof(err));
    cr_assert_not_null(sink, "cannot start the notification receiver: %s", err);
    cr_assert_eq(ns_sink_url(sink, "/notify", notify_url, sizeof(notify_url)), 0);
}

/* Retry timings the tests choose (0: the defaults). */
struct opts {
    size_t max_body;
    unsigned retry_base_ms, retry_max_ms;
};

static void start_server_with(struct opts o)
{
    char err[256] = "";
    struct ex03_config cfg = {
        .db_path = db_path, .notify_url = notify_url, .max_body = o.max_body,
        .retry_base_ms = o.retry_base_ms ? o.retry_base_ms : 50,
        .retry_max_ms = o.retry_max_ms ? o.retry_max_ms : 200,
        .notify_timeout_ms = 2000,
    };
    srv = ex03_server_new(base, http, &cfg, err, sizeof(err));
    cr_assert_not_null(srv, "ex03_server_new failed: %s", err);
}

static void start_server(void)
{
    start_server_with((struct opts){ 0 });
}

static void remove_db_files(void)
{
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    char path[200];

    if (dir[0] == '\0')
        return;
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    dir[0] = '\0';
}

/* Frees everything the test made; safe to call twice. */
static void teardown(void)
{
    ex03_server_free(srv);
    srv = NULL;
    tc_client_free(client);
    client = NULL;
    ns_sink_free(sink);
    sink = NULL;
    if (http != NULL)
        evhttp_free(http);
    http = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
    remove_db_files();
}

/* Ends a test: frees everything, then fails if anything leaked. */
static void finish(void)
{
    teardown();
    WB_ASSERT_NO_LEAKS();
}

TestSuite(ex03_create, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex03_errors, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex03_delivery, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(ex03_loop, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ------------------------------------------------------------ */

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

static long long users_in_db(void)
{
    return db_count("SELECT count(*) FROM users");
}

static long long outbox_rows(void)
{
    return db_count("SELECT count(*) FROM outbox");
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

/* POSTs a user and expects 201; returns its id. */
static long long post_user(const char *name, const char *email, struct tc_response *r)
{
    char body[512];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body), "{\"name\": \"%s\", \"email\": \"%s\"}", name, email);
    tc_call(client, "POST", "/users", body, r, 3000);
    cr_assert_eq(r->status, 201, "POST /users %s: expected 201, got %d (body: %s)" HINT_POST,
                 body, r->status, r->body ? r->body : "none");
    j = parse_body(r, "POST /users");
    cr_assert(json_is_integer(json_object_get(j, "id")),
              "the 201 body should have an integer \"id\"; got %s" HINT_POST, r->body);
    id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

struct count_at_least {
    struct ns_sink *sink;
    size_t n;
    int accepted;     /* count 2xx answers rather than arrivals */
};

static int sink_has(void *arg)
{
    struct count_at_least *c = arg;
    return (c->accepted ? ns_sink_accepted(c->sink) : ns_sink_count(c->sink)) >= c->n;
}

/* Runs the loop until the receiver has accepted n notifications, or
 * timeout_ms.  Returns 1 if it has. */
static int wait_accepted(size_t n, double timeout_ms)
{
    struct count_at_least c = { sink, n, 1 };
    return tc_run_until(base, sink_has, &c, timeout_ms);
}

/* Expects an error reply: status, JSON {"status", "error", "message"}, and
 * "field" == field when field is not NULL. */
static void expect_error(const struct tc_response *r, int status, const char *field,
                         const char *what, const char *hint)
{
    json_t *j;

    cr_assert_eq(r->status, status, "%s: expected %d, got %d (body: %s)%s", what, status,
                 r->status, r->body ? r->body : "none", hint);
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

/* ---- POST /users -------------------------------------------------------- */

Test(ex03_create, reply_does_not_wait_for_the_notification)
{
    const double delay = 500;
    struct tc_response r;

    ns_sink_set_delay_ms(sink, (unsigned)delay);
    start_server();
    post_user("Ada Lovelace", "ada@example.org", &r);
    double latency = r.end_ms - r.start_ms;
    size_t answered_at_reply = ns_sink_answered(sink);

    cr_assert_lt(latency, delay / 2,
                 "POST /users took %.1f ms while the receiver takes %.0f ms to answer; "
                 "expected under %.0f ms: reply first, and deliver the notification after "
                 "the reply, without waiting for it" HINT_ORDER, latency, delay, delay / 2);
    cr_assert_eq(answered_at_reply, 0,
                 "the receiver had already answered the notification when the reply "
                 "arrived: the handler waited for the delivery" HINT_ORDER);
    cr_assert(wait_accepted(1, 3000), "the notification never reached the receiver (it "
              "takes %.0f ms; waited 3 s)" HINT_DELIVERY, delay);
    cr_assert_geq(ns_sink_at(sink, 0)->answered_ms, r.end_ms + delay / 2,
                  "the receiver answered before the reply had arrived: it should still be "
                  "busy (%.0f ms) when the reply arrives" HINT_ORDER, delay);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, reply_is_201_with_the_user_and_location)
{
    struct tc_response r;
    char location[64];
    json_t *j;

    start_server();
    long long id = post_user("Grace Hopper", "grace@example.org", &r);
    cr_assert(r.content_type && strstr(r.content_type, "application/json"),
              "the 201 should be JSON (Content-Type application/json); got \"%s\"" HINT_POST,
              r.content_type ? r.content_type : "none");
    j = parse_body(&r, "POST /users");
    cr_assert_gt(id, 0, "the new user's id should be positive; got %lld", id);
    cr_assert_str_eq(jstr(json_object_get(j, "name")), "Grace Hopper",
                     "the 201 body's name should be \"Grace Hopper\"; body %s" HINT_POST, r.body);
    cr_assert_str_eq(jstr(json_object_get(j, "email")), "grace@example.org",
                     "the 201 body's email should be \"grace@example.org\"; body %s" HINT_POST,
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
    char path[64];

    start_server();
    long long id = post_user("Katherine Johnson", "katherine@example.org", &r);
    snprintf(path, sizeof(path), "/users/%lld", id);
    tc_call(client, "GET", path, NULL, &g, 3000);
    cr_assert_eq(g.status, 200, "GET %s after creating it: expected 200, got %d", path, g.status);
    cr_assert_str_eq(g.body, r.body, "GET %s should return the user exactly as the 201 did:\n"
                     "  201: %s\n  GET: %s" HINT_POST, path, r.body, g.body);
    tc_call(client, "GET", "/users?limit=10", NULL, &l, 3000);
    cr_assert_eq(l.status, 200, "GET /users: expected 200, got %d", l.status);
    json_t *list = parse_body(&l, "GET /users");
    cr_assert(json_is_array(list) && json_array_size(list) == 1,
              "GET /users should list the one user created; got %s", l.body);
    json_decref(list);
    snprintf(path, sizeof(path), "/users/%lld", id + 1000);
    tc_call(client, "GET", path, NULL, &missing, 3000);
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
    char key[64];

    start_server();
    long long id = post_user("Alan Turing", "alan@example.org", &r);
    cr_assert(wait_accepted(1, 3000), "no notification reached the receiver within 3 s of "
              "the reply" HINT_DELIVERY);
    tc_run_until(base, NULL, NULL, 200);
    cr_assert_eq(ns_sink_count(sink), 1, "the receiver got %zu requests for one user; "
                 "expected 1" HINT_DELIVERY, ns_sink_count(sink));
    const struct ns_record *n = ns_sink_at(sink, 0);
    snprintf(key, sizeof(key), "user-created-%lld", id);
    cr_assert_str_eq(n->method, "POST", "the notification should be a POST; got %s", n->method);
    cr_assert(n->idempotency_key && strcmp(n->idempotency_key, key) == 0,
              "the notification should carry \"Idempotency-Key: %s\"; got \"%s\"" HINT_DELIVERY,
              key, n->idempotency_key ? n->idempotency_key : "none");
    cr_assert(n->content_type && strstr(n->content_type, "application/json"),
              "the notification should be sent as application/json; got \"%s\"" HINT_DELIVERY,
              n->content_type ? n->content_type : "none");
    json_error_t jerr;
    json_t *got = json_loads(n->body, 0, &jerr);
    json_t *user = json_loads(r.body, 0, &jerr);
    cr_assert_not_null(got, "the notification's body is not JSON: %s", n->body);
    cr_assert_str_eq(jstr(json_object_get(got, "event")), "user.created",
                     "the notification's \"event\" should be \"user.created\"; body %s", n->body);
    cr_assert_str_eq(jstr(json_object_get(got, "idempotency_key")), key,
                     "the notification's \"idempotency_key\" should be \"%s\"; body %s", key,
                     n->body);
    cr_assert(json_equal(json_object_get(got, "user"), user),
              "the notification's \"user\" should be the user of the 201:\n  201: %s\n"
              "  notification: %s" HINT_POST, r.body, n->body);
    json_decref(got);
    json_decref(user);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, user_row_is_in_the_database_file)
{
    struct tc_response r;

    start_server();
    long long id = post_user("Hedy Lamarr", "hedy@example.org", &r);
    char *name = db_text("SELECT name FROM users WHERE id = ?1", id);
    char *email = db_text("SELECT email FROM users WHERE id = ?1", id);
    char *created = db_text("SELECT created_at FROM users WHERE id = ?1", id);
    json_t *j = parse_body(&r, "POST /users");

    cr_assert_not_null(name, "the database file has no user with id %lld after the 201"
                       HINT_POST, id);
    cr_assert_str_eq(name, "Hedy Lamarr", "users.name in the database: \"%s\"", name);
    cr_assert_str_eq(email, "hedy@example.org", "users.email in the database: \"%s\"", email);
    cr_assert_str_eq(created, jstr(json_object_get(j, "created_at")),
                     "users.created_at (%s) should be the created_at of the 201 (%s)",
                     created, r.body);
    cr_assert_eq(users_in_db(), 1, "the users table has %lld rows; expected 1", users_in_db());
    cr_assert(wait_accepted(1, 3000), "the notification was never delivered" HINT_DELIVERY);
    tc_run_until(base, NULL, NULL, 100);
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
    char key[64];

    ns_sink_stop(sink);                 /* down: nothing can be delivered */
    start_server();
    long long id = post_user("Margaret Hamilton", "margaret@example.org", &r);
    /* Right at the reply, before the loop has run again: */
    snprintf(key, sizeof(key), "user-created-%lld", id);
    char *got_key = db_text("SELECT idempotency_key FROM outbox WHERE user_id = ?1", id);
    char *payload = db_text("SELECT payload FROM outbox WHERE user_id = ?1", id);
    cr_assert_not_null(got_key, "when the 201 arrived, the outbox had no row for user %lld: "
                       "insert it in the same transaction as the user, before replying"
                       HINT_OUTBOX, id);
    cr_assert_str_eq(got_key, key, "outbox.idempotency_key should be \"%s\"; got \"%s\""
                     HINT_OUTBOX, key, got_key);
    cr_assert(payload && strstr(payload, "user.created"),
              "outbox.payload should be the notification's body; got %s" HINT_OUTBOX,
              payload ? payload : "NULL");
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(db_count("SELECT count(*) FROM outbox WHERE delivered_at IS NULL"), 1,
                 "with the receiver down, the outbox row should stay pending (delivered_at "
                 "NULL)" HINT_DELIVERY);
    cr_assert_eq(ex03_server_pending(srv), 1, "ex03_server_pending() should be 1");
    free(got_key);
    free(payload);
    tc_response_clear(&r);
    finish();
}

Test(ex03_create, sql_looking_text_is_stored_as_text)
{
    static const char name[] = "Robert'); DROP TABLE users;--";
    struct tc_response r;

    start_server();
    long long id = post_user(name, "bobby+tables@example.org", &r);
    char *stored = db_text("SELECT name FROM users WHERE id = ?1", id);
    cr_assert_not_null(stored, "the users table lost the row (or the table) of %s", name);
    cr_assert_str_eq(stored, name, "the name should be stored as it was sent; got \"%s\": bind "
                     "parameters, never paste text into SQL", stored);
    cr_assert_eq(users_in_db(), 1, "the users table should still exist with 1 row");
    free(stored);
    tc_response_clear(&r);
    finish();
}

/* ---- bad input ---------------------------------------------------------- */

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
        tc_wait(base, one, 1, 3000);
        expect_error(&r, 400, NULL, what, HINT_ERRORS);
        tc_response_clear(&r);
    }
    expect_nothing_changed(0, 0, 0, "after malformed JSON", HINT_ERRORS);
    finish();
}

Test(ex03_errors, missing_or_invalid_field_is_422_naming_it)
{
    char long_name[160];
    char long_body[256];
    static const struct { const char *body, *field; } cases[] = {
        { "{}", "name" },
        { "{\"email\": \"ada@example.org\"}", "name" },
        { "{\"name\": \"Ada\"}", "email" },
        { "{\"name\": 42, \"email\": \"ada@example.org\"}", "name" },
        { "{\"name\": null, \"email\": \"ada@example.org\"}", "name" },
        { "{\"name\": \"   \", \"email\": \"ada@example.org\"}", "name" },
        { "{\"name\": \"Ada\", \"email\": \"not-an-email\"}", "email" },
        { "{\"name\": \"Ada\", \"email\": [\"ada@example.org\"]}", "email" },
        { "{\"name\": \"Ada\", \"email\": \"ada@nodot\"}", "email" },
        { "[\"Ada\", \"ada@example.org\"]", "body" },
    };
    struct tc_response r;

    start_server();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[200];
        snprintf(what, sizeof(what), "POST /users with %s", cases[i].body);
        tc_call(client, "POST", "/users", cases[i].body, &r, 3000);
        expect_error(&r, 422, cases[i].field, what, HINT_VALID);
        tc_response_clear(&r);
    }
    memset(long_name, 'x', 101);
    long_name[101] = '\0';
    snprintf(long_body, sizeof(long_body), "{\"name\": \"%s\", \"email\": \"x@example.org\"}",
             long_name);
    tc_call(client, "POST", "/users", long_body, &r, 3000);
    expect_error(&r, 422, "name", "POST /users with a name of 101 characters", HINT_VALID);
    tc_response_clear(&r);
    expect_nothing_changed(0, 0, 0, "after invalid fields", HINT_ERRORS);
    finish();
}

Test(ex03_errors, duplicate_email_is_409)
{
    struct tc_response first, again;

    start_server();
    post_user("Ada Lovelace", "ada@example.org", &first);
    cr_assert(wait_accepted(1, 3000), "the first user's notification never arrived" HINT_DELIVERY);
    tc_call(client, "POST", "/users", "{\"name\": \"Ada 2\", \"email\": \"ADA@Example.org\"}",
            &again, 3000);
    expect_error(&again, 409, NULL, "POST /users with an email that exists (in another case)",
                 HINT_ERRORS);
    expect_nothing_changed(1, 1, 1, "after a duplicate email", HINT_ERRORS);
    tc_response_clear(&first);
    tc_response_clear(&again);
    finish();
}

/* A valid body of exactly `len` bytes (padded with spaces inside). */
static char *body_of_length(size_t len, const char *email)
{
    char head[128];
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
    char *big = body_of_length(limit + 1, "big@example.org");
    char *fits = body_of_length(limit, "fits@example.org");

    start_server_with((struct opts){ .max_body = limit });
    tc_call(client, "POST", "/users", big, &over, 3000);
    expect_error(&over, 413, NULL, "POST /users with a body of max_body + 1 bytes (valid JSON)",
                 HINT_ERRORS);
    expect_nothing_changed(0, 0, 0, "after a body over the limit", HINT_ERRORS);
    tc_call(client, "POST", "/users", fits, &at, 3000);
    cr_assert_eq(at.status, 201, "a valid body of exactly max_body bytes should be accepted "
                 "(201); got %d: pass s->max_body to ex03_read_json()" HINT_ERRORS, at.status);
    free(big);
    free(fits);
    tc_response_clear(&over);
    tc_response_clear(&at);
    finish();
}

/* One user made on purpose and notified, so that "nothing changed" below is
 * measured against a server that works. */
static long long seed_one_user(void)
{
    struct tc_response r;
    long long id = post_user("Seed User", "seed@example.org", &r);

    tc_response_clear(&r);
    cr_assert(wait_accepted(1, 3000), "the seed user's notification never arrived" HINT_DELIVERY);
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

    start_server();
    seed_one_user();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        tc_call(client, cases[i].method, cases[i].path,
                "{\"name\": \"Eve\", \"email\": \"eve@example.org\"}", &r, 3000);
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

    start_server();
    seed_one_user();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        tc_call(client, cases[i].method, cases[i].path,
                "{\"name\": \"Eve\", \"email\": \"eve@example.org\"}", &r, 3000);
        expect_error(&r, 404, NULL, what, HINT_ERRORS);
        tc_response_clear(&r);
    }
    expect_nothing_changed(1, 1, 1, "after unknown paths", HINT_ERRORS);
    finish();
}

/* ---- delivery ----------------------------------------------------------- */

Test(ex03_delivery, receiver_down_then_up_gets_it_once)
{
    struct tc_response r;
    char key[64], err[256] = "";

    ns_sink_stop(sink);
    start_server_with((struct opts){ .retry_base_ms = 50, .retry_max_ms = 200 });
    long long id = post_user("Barbara Liskov", "barbara@example.org", &r);
    snprintf(key, sizeof(key), "user-created-%lld", id);
    tc_run_until(base, NULL, NULL, 400);
    long long attempts = db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id);
    cr_assert_geq(attempts, 2, "with the receiver down for 400 ms and a backoff starting at "
                  "50 ms, there should have been at least 2 failed attempts (outbox.attempts); "
                  "got %lld: a refused connection is a failed attempt, to retry" HINT_DELIVERY,
                  attempts);
    cr_assert_eq(ex03_server_pending(srv), 1, "the notification should still be pending while "
                 "the receiver is down; ex03_server_pending() = %ld" HINT_DELIVERY,
                 ex03_server_pending(srv));

    cr_assert_eq(ns_sink_start(sink, err, sizeof(err)), 0, "cannot restart the receiver: %s", err);
    cr_assert(wait_accepted(1, 2000), "the receiver came back up, but the notification did not "
              "arrive within 2 s: keep retrying while it is down (do not drop it)" HINT_DELIVERY);
    tc_run_until(base, NULL, NULL, 400);
    cr_assert_eq(ns_sink_count_key(sink, key), 1, "the receiver got %s %zu times; expected "
                 "once: stop retrying after a 2xx" HINT_DELIVERY, key,
                 ns_sink_count_key(sink, key));
    cr_assert_eq(users_in_db(), 1, "the retries wrote users rows: %lld, expected 1", users_in_db());
    cr_assert_eq(ex03_server_pending(srv), 0, "delivered, the outbox row should no longer be "
                 "pending" HINT_DELIVERY);
    tc_response_clear(&r);
    finish();
}

Test(ex03_delivery, retries_5xx_with_capped_exponential_backoff)
{
    const unsigned base_ms = 40, max_ms = 120, failures = 5;
    const double expect_gap[5] = { 40, 80, 120, 120, 120 };
    struct tc_response r;

    ns_sink_fail_next(sink, failures, 503);
    start_server_with((struct opts){ .retry_base_ms = base_ms, .retry_max_ms = max_ms });
    long long id = post_user("Frances Allen", "frances@example.org", &r);
    cr_assert(wait_accepted(1, 4000), "after %u answers 503 the receiver accepts, but the "
              "notification never got through (%zu attempts seen): a 5xx is a failed attempt, "
              "to retry" HINT_DELIVERY, failures, ns_sink_count(sink));
    tc_run_until(base, NULL, NULL, 300);
    cr_assert_eq(ns_sink_count(sink), failures + 1, "expected %u attempts (%u answered 503, then "
                 "one 200); the receiver saw %zu" HINT_DELIVERY, failures + 1, failures,
                 ns_sink_count(sink));
    for (size_t i = 1; i < ns_sink_count(sink); i++) {
        const struct ns_record *a = ns_sink_at(sink, i - 1), *b = ns_sink_at(sink, i);
        double gap = b->arrived_ms - a->arrived_ms;
        cr_assert_str_eq(b->idempotency_key ? b->idempotency_key : "", a->idempotency_key ? a->idempotency_key : "-",
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
    long long attempts = db_count("SELECT attempts FROM outbox WHERE user_id = %lld", id);
    cr_assert_eq(attempts, failures + 1, "outbox.attempts should count every attempt (%u); got "
                 "%lld (ex03_db_outbox_failed() / ex03_db_outbox_delivered())" HINT_DELIVERY,
                 failures + 1, attempts);
    tc_response_clear(&r);
    finish();
}

Test(ex03_delivery, pending_notifications_survive_a_restart)
{
    struct tc_response r[3];
    long long ids[3];
    char err[256] = "", key[64];
    static const char *const emails[3] = { "a@example.org", "b@example.org", "c@example.org" };

    ns_sink_stop(sink);
    start_server();
    for (int i = 0; i < 3; i++)
        ids[i] = post_user("Restart", emails[i], &r[i]);
    tc_run_until(base, NULL, NULL, 200);
    ex03_server_free(srv);              /* the first server stops ... */
    srv = NULL;
    cr_assert_eq(db_count("SELECT count(*) FROM outbox WHERE delivered_at IS NULL"), 3,
                 "with the receiver down, the 3 notifications should be pending in the outbox "
                 "when the server stops" HINT_DELIVERY);
    cr_assert_eq(ns_sink_start(sink, err, sizeof(err)), 0, "cannot start the receiver: %s", err);
    start_server();                     /* ... a new one starts on the same file */
    cr_assert(wait_accepted(3, 3000), "a server started on a database with 3 pending "
              "notifications delivered %zu of them within 3 s" HINT_RESUME,
              ns_sink_accepted(sink));
    tc_run_until(base, NULL, NULL, 300);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "user-created-%lld", ids[i]);
        cr_assert_eq(ns_sink_count_key(sink, key), 1, "after the restart, %s arrived %zu times; "
                     "expected once" HINT_RESUME, key, ns_sink_count_key(sink, key));
        tc_response_clear(&r[i]);
    }
    cr_assert_eq(ex03_server_pending(srv), 0, "all delivered: nothing should be pending");
    finish();
}

Test(ex03_delivery, two_hundred_concurrent_posts_get_distinct_ids)
{
    enum { N = 200 };
    static struct tc_response r[N];
    static struct tc_response *all[N];
    char body[128];

    start_server();
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"name\": \"User %d\", \"email\": \"user%d@example.org\"}",
                 i, i);
        all[i] = &r[i];
        tc_start(client, "POST", "/users", body, strlen(body), &r[i]);
    }
    cr_assert(tc_wait(base, all, N, 10000), "%d concurrent POST /users did not all get an "
              "answer within 10 s", N);
    long long *ids = calloc(N, sizeof(*ids));
    cr_assert_not_null(ids);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(r[i].status, 201, "concurrent POST %d: expected 201, got %d (%s)" HINT_POST,
                     i, r[i].status, r[i].body ? r[i].body : "no body");
        json_t *j = parse_body(&r[i], "POST /users");
        ids[i] = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
        for (int k = 0; k < i; k++)
            cr_assert_neq(ids[k], ids[i], "POST %d and POST %d got the same id %lld", k, i, ids[i]);
    }
    cr_assert_eq(users_in_db(), N, "the users table has %lld rows; expected %d", users_in_db(), N);
    cr_assert(wait_accepted(N, 10000), "%zu of %d notifications delivered within 10 s"
              HINT_DELIVERY, ns_sink_accepted(sink), N);
    tc_run_until(base, NULL, NULL, 200);
    cr_assert_eq(ns_sink_count(sink), N, "the receiver got %zu notifications for %d users",
                 ns_sink_count(sink), N);
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof(key), "user-created-%lld", ids[i]);
        cr_assert_eq(ns_sink_count_key(sink, key), 1, "%s arrived %zu times", key,
                     ns_sink_count_key(sink, key));
        tc_response_clear(&r[i]);
    }
    free(ids);
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
    cr_assert(tc_wait(base, all, n, 5000), "%zu concurrent GET %s did not finish in 5 s", n, path);
    return fx_now_ms() - t0;
}

Test(ex03_loop, async_waits_overlap_and_sync_waits_do_not)
{
    const int n = 5, ms = 200;
    struct tc_response r[5];

    start_server();
    double t_sync = concurrent_gets("/sync?ms=200", r, n);
    for (int i = 0; i < n; i++)
        tc_response_clear(&r[i]);
    double t_async = concurrent_gets("/async?ms=200", r, n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(r[i].status, 200, "GET /async?ms=200: expected 200, got %d (%s)" HINT_ASYNC,
                     r[i].status, r[i].body ? r[i].body : "no body");
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

Test(ex03_loop, async_answers_promptly_while_cpu_runs)
{
    const double cpu_ms = 400, wait_ms = 50;
    struct tc_response cpu, quick;
    struct tc_response *both[2] = { &cpu, &quick };

    start_server();
    /* Both in flight together: whichever the server reads first, a loop
     * blocked by the computation delays the other one by about 400 ms. */
    tc_start(client, "GET", "/cpu?ms=400", NULL, 0, &cpu);
    tc_start(client, "GET", "/async?ms=50", NULL, 0, &quick);
    cr_assert(tc_wait(base, both, 2, 5000), "/cpu?ms=400 and /async?ms=50 did not both answer "
              "within 5 s" HINT_CPU);
    cr_assert_eq(quick.status, 200, "GET /async?ms=50: expected 200, got %d" HINT_ASYNC,
                 quick.status);
    cr_assert_eq(cpu.status, 200, "GET /cpu?ms=400: expected 200, got %d (%s)" HINT_CPU,
                 cpu.status, cpu.body ? cpu.body : "no body");
    double q = quick.end_ms - quick.start_ms;
    cr_assert_lt(q, 2 * wait_ms, "while /cpu?ms=400 was computing, /async?ms=50 took %.1f ms; "
                 "expected under %.0f ms: run the computation on a worker thread so the loop "
                 "stays free" HINT_CPU, q, 2 * wait_ms);
    cr_assert_gt(cpu.end_ms, quick.end_ms, "/cpu?ms=400 answered before /async?ms=50: the "
                 "computation should run beside the loop, not before it" HINT_CPU);
    json_t *j = parse_body(&cpu, "GET /cpu");
    cr_assert(json_number_value(json_object_get(j, "worked_ms")) >= cpu_ms &&
              json_integer_value(json_object_get(j, "rounds")) > 0 &&
              json_is_string(json_object_get(j, "digest")) &&
              strlen(json_string_value(json_object_get(j, "digest"))) == 16,
              "GET /cpu?ms=400 should answer {\"worked_ms\" >= 400, \"rounds\" > 0, \"digest\": "
              "16 hex digits} from ex03_cpu_burn()'s results; got %s" HINT_CPU, cpu.body);
    json_decref(j);
    tc_response_clear(&cpu);
    tc_response_clear(&quick);
    finish();
}

Test(ex03_loop, stopping_answers_waiting_requests)
{
    struct tc_response slow, busy;
    struct tc_response *both[2] = { &slow, &busy };

    start_server();
    tc_start(client, "GET", "/async?ms=5000", NULL, 0, &slow);
    tc_start(client, "GET", "/cpu?ms=5000", NULL, 0, &busy);
    tc_run_until(base, NULL, NULL, 150);
    cr_assert(!slow.done && !busy.done, "150 ms after they started, /async?ms=5000 and "
              "/cpu?ms=5000 should both still be waiting; they had an outcome (status /async "
              "%d, /cpu %d; 0 = no answer in time: was the loop blocked?)" HINT_CPU, slow.status,
              busy.status);
    double t0 = fx_now_ms();
    ex03_server_free(srv);
    srv = NULL;
    double stop_ms = fx_now_ms() - t0;
    cr_assert(tc_wait(base, both, 2, 2000), "after ex03_server_free() the waiting requests got "
              "no answer");
    cr_assert_eq(slow.status, 503, "a waiting /async should get 503 when the server stops; got "
                 "%d: make it with ex03_pending_new() so the server knows it" HINT_ASYNC,
                 slow.status);
    cr_assert_eq(busy.status, 503, "a running /cpu should get 503 when the server stops; got "
                 "%d: make it with ex03_pending_new() and set thread_started" HINT_CPU,
                 busy.status);
    cr_assert_lt(stop_ms, 1000.0, "ex03_server_free() took %.1f ms with a /cpu?ms=5000 running: "
                 "the worker should stop early (ex03_cpu_burn() checks p->stop)" HINT_CPU, stop_ms);
    tc_response_clear(&slow);
    tc_response_clear(&busy);
    finish();
}
