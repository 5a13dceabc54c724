/*
 * test_ex01.c - Criterion tests for exercise 1 (sequential vs concurrent
 * fetch).  Run them with `make ex01`; one behaviour per test.
 *
 * Every test runs the fixture server (harness/common/fixture_server.h) on the
 * same event_base as the code under test, and asserts on the server's own
 * counters (requests in flight, start and end times) as well as on wall
 * time.  Time bounds come only from the delays the tests inject.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ex01.h"
#include "fixture_server.h"
#include "sandbox.h"
#include "testutil.h"

#define MAX_URLS 256
#define HINT "  (TODO(ex01) in ex01.c; docs/en/ex01_comparison.md)"

typedef int (*fetch_fn)(struct event_base *, struct evdns_base *,
                        const char *const[], size_t, unsigned,
                        struct ex01_result[]);

static struct event_base *base;
static struct fx_server *srv;
static char *urls[MAX_URLS];
static size_t nurls;
static struct ex01_result results[MAX_URLS];

static void setup(void)
{
    char err[256] = "";

    /* No process creation from here on (see sandbox.h). */
    wb_sandbox_enter_or_die();

    /* A precise clock, so that the time bounds below stay exact. */
    base = fx_event_base_new();
    cr_assert_not_null(base, "fx_event_base_new failed");
    srv = fx_server_new(base, NULL, 0, err, sizeof(err));
    cr_assert_not_null(srv, "cannot start the fixture server: %s", err);
}

/* Frees everything the test made; safe to call twice. */
static void teardown(void)
{
    ex01_results_free(results, MAX_URLS);
    for (size_t i = 0; i < nurls; i++)
        free(urls[i]);
    nurls = 0;
    fx_server_free(srv);
    srv = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

/* Ends a test: frees everything, then fails if anything leaked. */
static void finish(void)
{
    teardown();
    WB_ASSERT_NO_LEAKS();
}

/* Adds the URL of `path` (printf format) on the fixture server. */
static const char *add_path(const char *fmt, ...)
{
    char path[512], url[600];
    va_list ap;

    cr_assert_lt(nurls, MAX_URLS, "test bug: too many URLs");
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    cr_assert_eq(fx_server_url(srv, path, url, sizeof(url)), 0, "test bug: URL");
    urls[nurls] = strdup(url);
    cr_assert_not_null(urls[nurls]);
    return urls[nurls++];
}

/* Adds a URL as it is (for invalid or unreachable ones). */
static const char *add_raw(const char *url)
{
    cr_assert_lt(nurls, MAX_URLS, "test bug: too many URLs");
    urls[nurls] = strdup(url);
    cr_assert_not_null(urls[nurls]);
    return urls[nurls++];
}

/* Runs `fn` over the URLs added so far; returns the wall time in ms. */
static double run(fetch_fn fn, const char *name, unsigned timeout_ms)
{
    double t0 = ex01_now_ms();
    int rc = fn(base, NULL, (const char *const *)urls, nurls, timeout_ms, results);
    double elapsed = ex01_now_ms() - t0;

    cr_assert_eq(rc, 0, "%s returned %d for %zu valid URLs; expected 0 once every "
                 "URL has an outcome" HINT, name, rc, nurls);
    return elapsed;
}

static void expect_ok(size_t i, int status, const char *body)
{
    const struct ex01_result *r = &results[i];

    cr_assert_eq(r->url, urls[i], "results[%zu].url should be urls[%zu] (\"%s\"), got "
                 "\"%s\": results[i] belongs to urls[i], whatever order they finish in",
                 i, i, urls[i], r->url ? r->url : "(null)");
    cr_assert_eq(r->outcome, EX01_OK, "results[%zu] (%s): outcome should be EX01_OK, got %s" HINT,
                 i, urls[i], ex01_outcome_name(r->outcome));
    cr_assert_eq(r->http_status, status, "results[%zu] (%s): http_status should be %d, got %d",
                 i, urls[i], status, r->http_status);
    if (body != NULL) {
        cr_assert_not_null(r->body, "results[%zu] (%s): body is NULL; expected \"%s\"",
                           i, urls[i], body);
        cr_assert_eq(r->body_len, strlen(body), "results[%zu] (%s): body_len should be %zu, got %zu",
                     i, urls[i], strlen(body), r->body_len);
        cr_assert_str_eq(r->body, body, "results[%zu] (%s): body should be \"%s\", got \"%s\"",
                         i, urls[i], body, r->body);
    }
}

static void expect_outcome(size_t i, enum ex01_outcome want, const char *why)
{
    cr_assert_eq(results[i].url, urls[i], "results[%zu].url should be urls[%zu]", i, i);
    cr_assert_eq(results[i].outcome, want, "results[%zu] (%s, %s): outcome should be %s, got %s" HINT,
                 i, urls[i], why, ex01_outcome_name(want), ex01_outcome_name(results[i].outcome));
    cr_assert_null(results[i].body, "results[%zu] (%s): body should be NULL when the fetch failed",
                   i, urls[i]);
}

TestSuite(ex01_args, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(ex01_sequential, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex01_concurrent, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex01_timeout, .init = setup, .fini = teardown, .timeout = 20);

/* ---- arguments ---------------------------------------------------------- */

static void check_invalid_arguments(fetch_fn fn, const char *name)
{
    const char *one[] = { "http://127.0.0.1:1/" };
    const char *with_null[] = { "http://127.0.0.1:1/", NULL };
    struct ex01_result r[2] = { { .url = "untouched" }, { .url = "untouched" } };

    cr_assert_eq(fn(base, NULL, NULL, 0, 100, NULL), 0,
                 "%s with n == 0 should return 0 at once" HINT, name);
    cr_assert_eq(fn(NULL, NULL, one, 1, 100, r), -1, "%s(base = NULL) should return -1", name);
    cr_assert_eq(fn(base, NULL, NULL, 1, 100, r), -1, "%s(urls = NULL, n = 1) should return -1", name);
    cr_assert_eq(fn(base, NULL, one, 1, 100, NULL), -1, "%s(results = NULL, n = 1) should return -1", name);
    cr_assert_eq(fn(base, NULL, with_null, 2, 100, r), -1, "%s with urls[1] == NULL should return -1", name);
    cr_assert_eq(fn(base, NULL, one, 1, EX01_MAX_TIMEOUT_MS + 1, r), -1,
                 "%s with timeout_ms > EX01_MAX_TIMEOUT_MS should return -1", name);
    cr_assert_str_eq(r[0].url, "untouched", "%s wrote into results although it returned -1", name);
    cr_assert_str_eq(r[1].url, "untouched", "%s wrote into results although it returned -1", name);
    cr_assert_eq(fx_server_log_len(srv), 0, "%s sent requests although its arguments were invalid", name);
}

Test(ex01_args, sequential_refuses_invalid_arguments)
{
    check_invalid_arguments(ex01_fetch_sequential, "ex01_fetch_sequential");
    finish();
}

Test(ex01_args, concurrent_refuses_invalid_arguments)
{
    check_invalid_arguments(ex01_fetch_concurrent, "ex01_fetch_concurrent");
    finish();
}

/* ---- sequential --------------------------------------------------------- */

/* Delays whose completion order differs from the URLs' order. */
static const int order_delays[] = { 150, 50, 100, 0 };
#define NORDER (sizeof(order_delays) / sizeof(order_delays[0]))

static void check_order(fetch_fn fn, const char *name)
{
    char body[64];

    for (size_t i = 0; i < NORDER; i++)
        add_path("/delay?ms=%d&id=%zu", order_delays[i], i);
    run(fn, name, 2000);
    for (size_t i = 0; i < NORDER; i++) {
        snprintf(body, sizeof(body), "/delay?ms=%d&id=%zu", order_delays[i], i);
        expect_ok(i, 200, body);
    }
}

Test(ex01_sequential, results_follow_url_order)
{
    check_order(ex01_fetch_sequential, "ex01_fetch_sequential");
    finish();
}

Test(ex01_sequential, one_request_at_a_time)
{
    const int delay = 80, n = 5;

    for (int i = 0; i < n; i++)
        add_path("/delay?ms=%d&id=%d", delay, i);
    double total = run(ex01_fetch_sequential, "ex01_fetch_sequential", 2000);

    cr_assert_eq(fx_server_log_len(srv), (size_t)n, "the server saw %zu requests; expected %d",
                 fx_server_log_len(srv), n);
    cr_assert_eq(fx_server_max_in_flight(srv), 1,
                 "the server saw %u requests in flight at once; a sequential fetch has 1: "
                 "start urls[i + 1] only after urls[i] has its outcome" HINT,
                 fx_server_max_in_flight(srv));
    for (int i = 1; i < n; i++) {
        const struct fx_log_entry *prev = fx_server_log_at(srv, (size_t)i - 1);
        const struct fx_log_entry *cur = fx_server_log_at(srv, (size_t)i);
        cr_assert_geq(cur->start_ms, prev->end_ms,
                      "request %d started %.1f ms before request %d ended", i,
                      prev->end_ms - cur->start_ms, i - 1);
    }
    cr_assert_geq(total, (double)(n * delay),
                  "%d requests of %d ms one after another took %.1f ms; expected at least %d ms",
                  n, delay, total, n * delay);
    finish();
}

/* URLs that fail in every way, between URLs that work. */
static void add_mixed_urls(char refused[64])
{
    snprintf(refused, 64, "http://127.0.0.1:%d/delay", fx_unused_port());
    add_path("/delay?ms=10&id=0");       /* 0: ok */
    add_raw(refused);                     /* 1: connection refused */
    add_path("/delay?ms=10&id=2");       /* 2: ok */
    add_raw("not a url");                 /* 3: invalid */
    add_raw("ftp://127.0.0.1/file");      /* 4: not http */
    add_path("/status?code=404");        /* 5: 404 is a response */
    add_path("/never");                  /* 6: times out */
    add_path("/delay?ms=10&id=7");       /* 7: ok */
}

static void check_mixed(void)
{
    expect_ok(0, 200, "/delay?ms=10&id=0");
    expect_outcome(1, EX01_ERR_CONNECTION, "nothing listens on that port");
    expect_ok(2, 200, "/delay?ms=10&id=2");
    expect_outcome(3, EX01_ERR_URL, "not a URL");
    expect_outcome(4, EX01_ERR_URL, "not http://");
    expect_ok(5, 404, "status 404");
    expect_outcome(6, EX01_ERR_TIMEOUT, "the server never answers");
    expect_ok(7, 200, "/delay?ms=10&id=7");
}

Test(ex01_sequential, failures_are_isolated)
{
    char refused[64];

    add_mixed_urls(refused);
    run(ex01_fetch_sequential, "ex01_fetch_sequential", 300);
    check_mixed();
    finish();
}

Test(ex01_sequential, elapsed_time_of_each_url)
{
    static const int delays[] = { 100, 300, 200 };

    for (size_t i = 0; i < 3; i++)
        add_path("/delay?ms=%d", delays[i]);
    run(ex01_fetch_sequential, "ex01_fetch_sequential", 2000);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(results[i].outcome, EX01_OK, "results[%zu]: outcome %s", i,
                     ex01_outcome_name(results[i].outcome));
        cr_assert(results[i].elapsed_ms >= delays[i] && results[i].elapsed_ms < 2.0 * delays[i],
                  "results[%zu].elapsed_ms is %.1f for a %d ms delay; expected from %d to %d: "
                  "measure from this URL's own start (not the call's) to its outcome with ex01_now_ms()",
                  i, results[i].elapsed_ms, delays[i], delays[i], 2 * delays[i]);
    }
    finish();
}

/* ---- concurrent --------------------------------------------------------- */

Test(ex01_concurrent, results_follow_url_order)
{
    check_order(ex01_fetch_concurrent, "ex01_fetch_concurrent");
    /* The server saw them finish in another order: */
    cr_assert_lt(fx_server_log_at(srv, 3)->end_ms, fx_server_log_at(srv, 0)->end_ms,
                 "the 0 ms request should have finished before the 150 ms one: were the "
                 "requests really concurrent?");
    finish();
}

Test(ex01_concurrent, all_requests_in_flight_at_once)
{
    const int delay = 200, n = 10;

    for (int i = 0; i < n; i++)
        add_path("/delay?ms=%d&id=%d", delay, i);
    double total = run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 2000);

    cr_assert_eq(fx_server_max_in_flight(srv), (unsigned)n,
                 "the server saw at most %u requests in flight at once; expected all %d: "
                 "start every request before running the loop" HINT,
                 fx_server_max_in_flight(srv), n);
    cr_assert_lt(total, 2.0 * delay,
                 "%d concurrent requests of %d ms took %.1f ms; expected under %d ms "
                 "(about as long as one request)", n, delay, total, 2 * delay);
    cr_assert_geq(total, (double)delay, "finished in %.1f ms, before the %d ms delay: "
                  "did the function wait for the responses?", total, delay);
    for (int i = 0; i < n; i++)
        expect_ok((size_t)i, 200, NULL);
    finish();
}

Test(ex01_concurrent, failures_are_isolated)
{
    char refused[64];

    add_mixed_urls(refused);
    double total = run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 300);
    check_mixed();
    cr_assert_lt(total, 2.0 * 300, "with a 300 ms timeout the whole call took %.1f ms; "
                 "expected under 600 ms", total);
    finish();
}

Test(ex01_concurrent, large_body_is_intact)
{
    const size_t n = 1024 * 1024;

    add_path("/bytes?n=%zu", n);
    add_path("/bytes?n=%zu&chunked=1", n);
    run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 5000);
    for (size_t k = 0; k < 2; k++) {
        const struct ex01_result *r = &results[k];
        const char *kind = k == 0 ? "plain" : "chunked";
        cr_assert_eq(r->outcome, EX01_OK, "%s 1 MiB body: outcome %s, expected EX01_OK",
                     kind, ex01_outcome_name(r->outcome));
        cr_assert_eq(r->body_len, n, "%s 1 MiB body: body_len is %zu, expected %zu",
                     kind, r->body_len, n);
        cr_assert_not_null(r->body);
        for (size_t i = 0; i < n; i++)
            if (r->body[i] != (char)('a' + i % 26))
                cr_assert_fail("%s 1 MiB body: byte %zu is '%c', expected '%c'", kind, i,
                               r->body[i], 'a' + (int)(i % 26));
        cr_assert_eq(r->body[n], '\0', "%s body: body[body_len] should be '\\0'", kind);
    }
    finish();
}

Test(ex01_concurrent, http_status_is_reported)
{
    add_path("/status?code=201");
    add_path("/status?code=404");
    add_path("/status?code=503");
    run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 2000);
    expect_ok(0, 201, "status 201");
    expect_ok(1, 404, "status 404");
    expect_ok(2, 503, "status 503");
    finish();
}

Test(ex01_concurrent, two_hundred_urls_at_once, .timeout = 30)
{
    const int delay = 200, n = 200;

    for (int i = 0; i < n; i++)
        add_path("/delay?ms=%d&id=%d", delay, i);
    double total = run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 5000);
    for (int i = 0; i < n; i++) {
        char body[64];
        snprintf(body, sizeof(body), "/delay?ms=%d&id=%d", delay, i);
        expect_ok((size_t)i, 200, body);
    }
    cr_assert_eq(fx_server_max_in_flight(srv), (unsigned)n,
                 "at most %u of %d requests were in flight at once; expected all of them",
                 fx_server_max_in_flight(srv), n);
    cr_assert_lt(total, 2.0 * delay, "%d concurrent requests of %d ms took %.1f ms; expected "
                 "under %d ms", n, delay, total, 2 * delay);
    finish();
}

/* ---- timeouts ----------------------------------------------------------- */

Test(ex01_timeout, never_answering_server_times_out)
{
    add_path("/never");
    add_path("/delay?ms=50");
    double total = run(ex01_fetch_concurrent, "ex01_fetch_concurrent", 300);
    expect_outcome(0, EX01_ERR_TIMEOUT, "the server never answers");
    expect_ok(1, 200, "/delay?ms=50");
    cr_assert(results[0].elapsed_ms >= 300 && results[0].elapsed_ms < 600,
              "the timed-out request took %.1f ms with timeout_ms = 300; expected from 300 to 600 "
              "ms: pass the timeout to evhttp_connection_set_timeout_tv()",
              results[0].elapsed_ms);
    cr_assert_lt(total, 600.0, "the call took %.1f ms; expected under 600", total);
    finish();
}
