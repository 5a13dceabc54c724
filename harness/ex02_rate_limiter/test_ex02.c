/*
 * test_ex02.c - Criterion tests for exercise 2 (the rate limiter).  Run them
 * with `make ex02`; one behaviour per test.
 *
 * Limiter tests submit probe jobs that record when they start and hold their
 * slot for an injected time (or finish inside their start callback); the
 * fetch tests count requests in flight on the fixture server.  Time bounds
 * come only from the injected delays and rates.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "ex02.h"
#include "fixture_server.h"
#include "sandbox.h"
#include "testutil.h"

#define MAX_JOBS 10000
#define MAX_URLS 64
#define HINT "  (TODO(ex02) in ex02.c; docs/en/ex02_rate_limiter.md)"

/* ---- fixture ------------------------------------------------------------ */

/* One probe job. */
struct tjob {
    size_t id;
    int hold_ms;          /* < 0: done inside start; else done after hold_ms */
    int chain;            /* when done, submit job id + 1 (if any) */
    struct event *timer;
};

static struct event_base *base;
static struct fx_server *srv;
static struct ex02_limiter *lim;
static struct tjob *jobs;
static size_t njobs;
/* What the probe jobs saw. */
static unsigned running, max_running;
static size_t started, finished;
static size_t *start_order;       /* job ids in the order they started */
static double *start_ms;          /* by job id */
static unsigned *cancelled;       /* by job id */
static char *urls[MAX_URLS];
static size_t nurls;
static struct ex02_fetch_result results[MAX_URLS];

static void setup(void)
{
    char err[256] = "";

    wb_sandbox_enter_or_die();
    base = fx_event_base_new();
    cr_assert_not_null(base, "fx_event_base_new failed");
    srv = fx_server_new(base, NULL, 0, err, sizeof(err));
    cr_assert_not_null(srv, "cannot start the fixture server: %s", err);
    jobs = calloc(MAX_JOBS, sizeof(*jobs));
    start_order = calloc(MAX_JOBS, sizeof(*start_order));
    start_ms = calloc(MAX_JOBS, sizeof(*start_ms));
    cancelled = calloc(MAX_JOBS, sizeof(*cancelled));
    cr_assert(jobs && start_order && start_ms && cancelled, "out of memory");
}

/* Frees everything the test made; safe to call twice. */
static void teardown(void)
{
    if (lim != NULL && ex02_limiter_in_flight(lim) == 0)
        ex02_limiter_free(lim);   /* else a running job still needs it: leak rather than crash */
    lim = NULL;
    for (size_t i = 0; jobs != NULL && i < njobs; i++)
        if (jobs[i].timer != NULL)
            event_free(jobs[i].timer);
    free(jobs);
    free(start_order);
    free(start_ms);
    free(cancelled);
    jobs = NULL;
    start_order = NULL;
    start_ms = NULL;
    cancelled = NULL;
    njobs = 0;
    for (size_t i = 0; i < nurls; i++)
        free(urls[i]);
    nurls = 0;
    fx_server_free(srv);
    srv = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

static void finish(void)
{
    teardown();
    WB_ASSERT_NO_LEAKS();
}

static void new_limiter(unsigned max, double rate, unsigned burst)
{
    char err[256] = "";
    struct ex02_limits l = { .max_in_flight = max, .rate = rate, .burst = burst };

    lim = ex02_limiter_new(base, &l, err, sizeof(err));
    cr_assert_not_null(lim, "ex02_limiter_new(max %u, rate %g, burst %u) returned NULL (%s)" HINT,
                       max, rate, burst, err);
}

static void job_start(struct ex02_limiter *l, void *arg);

static void submit_job(size_t id)
{
    cr_assert_eq(ex02_limiter_submit(lim, job_start, NULL, &jobs[id]), 0,
                 "ex02_limiter_submit returned -1 for a valid job" HINT);
}

static void job_end(struct tjob *j)
{
    running--;
    finished++;
    ex02_limiter_done(lim);
    if (j->chain && j->id + 1 < njobs)
        submit_job(j->id + 1);
}

static void job_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_end(arg);
}

static void job_start(struct ex02_limiter *l, void *arg)
{
    struct tjob *j = arg;

    cr_assert_eq(l, lim, "the start callback got another limiter than the one it was submitted to");
    if (started < MAX_JOBS)
        start_order[started] = j->id;
    started++;
    start_ms[j->id] = fx_now_ms();
    if (++running > max_running)
        max_running = running;
    if (j->hold_ms < 0) {
        job_end(j);
        return;
    }
    struct timeval tv = { j->hold_ms / 1000, (j->hold_ms % 1000) * 1000 };
    if (j->timer == NULL)
        j->timer = evtimer_new(base, job_timer_cb, j);
    cr_assert_not_null(j->timer);
    evtimer_add(j->timer, &tv);
}

static void count_cancel(void *arg)
{
    cancelled[((struct tjob *)arg)->id]++;
}

/* Prepares n jobs; hold(i) gives job i's hold time. */
static void make_jobs(size_t n, int (*hold)(size_t i))
{
    cr_assert_leq(n, MAX_JOBS);
    njobs = n;
    for (size_t i = 0; i < n; i++)
        jobs[i] = (struct tjob){ .id = i, .hold_ms = hold(i) };
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until *count reaches n or max_ms pass. */
static void run_until(const size_t *count, size_t n, int max_ms)
{
    int expired = 0;
    struct timeval tv = { max_ms / 1000, (max_ms % 1000) * 1000 };
    struct event *deadline = evtimer_new(base, deadline_cb, &expired);

    cr_assert_not_null(deadline);
    evtimer_add(deadline, &tv);
    while (*count < n && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
}

/* Runs the loop until `finished` reaches n or max_ms pass; returns the time. */
static double run_jobs(size_t n, int max_ms)
{
    double t0 = fx_now_ms();

    run_until(&finished, n, max_ms);
    cr_assert_eq(finished, n, "after %d ms only %zu of %zu jobs had finished (%zu started, %u in "
                 "flight, %zu queued): queued jobs must start when a slot and a token are free"
                 HINT, max_ms, finished, n, started, ex02_limiter_in_flight(lim),
                 ex02_limiter_queued(lim));
    return fx_now_ms() - t0;
}

static int hold_none(size_t i) { (void)i; return -1; }
static int hold_20(size_t i) { (void)i; return 20; }
static int hold_100(size_t i) { (void)i; return 100; }
static int hold_varied(size_t i) { return (int)(i * 7 % 13) + 1; }

/* Adds the URL of `path` on the fixture server. */
static void add_url(const char *path)
{
    char url[600];

    cr_assert_lt(nurls, MAX_URLS);
    cr_assert_eq(fx_server_url(srv, path, url, sizeof(url)), 0);
    urls[nurls++] = strdup(url);
}

static double fetch(unsigned max, double rate, unsigned burst, unsigned timeout_ms)
{
    struct ex02_limits l = { .max_in_flight = max, .rate = rate, .burst = burst };
    double t0 = fx_now_ms();
    int rc = ex02_fetch_with_limit(base, (const char *const *)urls, nurls, &l, timeout_ms, results);

    cr_assert_eq(rc, 0, "ex02_fetch_with_limit returned %d for %zu valid URLs; expected 0 once "
                 "every URL has an outcome" HINT, rc, nurls);
    return fx_now_ms() - t0;
}

TestSuite(ex02_params, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(ex02_limits, .init = setup, .fini = teardown, .timeout = 10);
TestSuite(ex02_pacing, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(ex02_cancel, .init = setup, .fini = teardown, .timeout = 10);

/* ---- parameters --------------------------------------------------------- */

Test(ex02_params, refuses_invalid_limits)
{
    static const struct { struct ex02_limits l; const char *what; } bad[] = {
        { { 0, 0, 0 }, "max_in_flight = 0" },
        { { 1, -1, 1 }, "rate = -1" },
        { { 1, 5, 0 }, "rate = 5 with burst = 0" },
        { { 1, 1e9, 1 }, "rate = 1e9" },
    };
    char err[256];
    struct ex02_limits ok = { 2, 0, 0 };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        struct ex02_limiter *l = ex02_limiter_new(base, &bad[i].l, err, sizeof(err));
        ex02_limiter_free(l);
        cr_assert_null(l, "ex02_limiter_new accepted %s; it must return NULL" HINT, bad[i].what);
        cr_assert_neq(err[0], '\0', "ex02_limiter_new refused %s but left err empty: say why",
                      bad[i].what);
    }
    struct ex02_limits nan_rate = { 1, 0, 1 };
    nan_rate.rate = strtod("nan", NULL);
    struct ex02_limiter *l = ex02_limiter_new(base, &nan_rate, NULL, 0);
    ex02_limiter_free(l);
    cr_assert_null(l, "ex02_limiter_new accepted rate = NaN (and must accept err == NULL)");
    cr_assert_null(ex02_limiter_new(NULL, &ok, NULL, 0), "ex02_limiter_new accepted base = NULL");
    cr_assert_null(ex02_limiter_new(base, NULL, NULL, 0), "ex02_limiter_new accepted limits = NULL");
    lim = ex02_limiter_new(base, &ok, err, sizeof(err));
    cr_assert_not_null(lim, "ex02_limiter_new refused valid limits (max 2, no pacing)");
    finish();
}

Test(ex02_params, fetch_refuses_invalid_arguments)
{
    const char *one[] = { "http://127.0.0.1:1/" };
    struct ex02_limits ok = { 2, 0, 0 }, bad = { 0, 0, 0 };
    struct ex02_fetch_result r[1] = { { .url = "untouched" } };

    cr_assert_eq(ex02_fetch_with_limit(base, NULL, 0, &ok, 0, NULL), 0,
                 "ex02_fetch_with_limit with n == 0 should return 0" HINT);
    cr_assert_eq(ex02_fetch_with_limit(NULL, one, 1, &ok, 0, r), -1, "base = NULL should give -1");
    cr_assert_eq(ex02_fetch_with_limit(base, one, 1, &bad, 0, r), -1,
                 "max_in_flight = 0 should give -1");
    cr_assert_eq(ex02_fetch_with_limit(base, one, 1, NULL, 0, r), -1, "limits = NULL should give -1");
    cr_assert_eq(ex02_fetch_with_limit(base, one, 1, &ok, EX02_MAX_TIMEOUT_MS + 1, r), -1,
                 "timeout_ms > EX02_MAX_TIMEOUT_MS should give -1");
    const char *with_null[] = { "http://127.0.0.1:1/", NULL };
    struct ex02_fetch_result r2[2] = { { .url = "untouched" }, { .url = "untouched" } };
    cr_assert_eq(ex02_fetch_with_limit(base, with_null, 2, &ok, 0, r2), -1,
                 "urls[1] == NULL should give -1");
    cr_assert_str_eq(r[0].url, "untouched", "results were written although the call returned -1: "
                     "check the arguments, and the limits with limits_check(), before writing "
                     "anything" HINT);
    cr_assert_str_eq(r2[0].url, "untouched", "results were written although urls[1] is NULL");
    finish();
}

/* ---- limits ------------------------------------------------------------- */

Test(ex02_limits, never_exceeds_max_in_flight)
{
    new_limiter(4, 0, 0);
    make_jobs(40, hold_20);
    for (size_t i = 0; i < 40; i++)
        submit_job(i);
    cr_assert_eq(started, 0, "%zu jobs started inside ex02_limiter_submit(); jobs start later, "
                 "from the loop" HINT, started);
    run_jobs(40, 3000);
    cr_assert_leq(max_running, 4, "%u jobs ran at once with max_in_flight = 4" HINT, max_running);
    cr_assert_eq(max_running, 4, "at most %u jobs ran at once with 40 queued and max_in_flight = 4: "
                 "the limiter should use every free slot" HINT, max_running);
    finish();
}

Test(ex02_limits, fetch_keeps_server_under_max)
{
    char path[64];

    /* Mixed durations: a slot freed twice, or not at all, shows. */
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof(path), "/delay?ms=%d", i % 3 == 0 ? 90 : 15);
        add_url(path);
    }
    fetch(5, 0, 0, 2000);
    cr_assert_eq(fx_server_max_in_flight(srv), 5,
                 "the server saw at most %u requests at once for 30 URLs with max_in_flight = 5; "
                 "expected exactly 5 (each fetch takes one slot and frees it once)" HINT,
                 fx_server_max_in_flight(srv));
    for (size_t i = 0; i < nurls; i++) {
        cr_assert_eq(results[i].outcome, EX02_OK, "results[%zu]: %s", i,
                     ex02_outcome_name(results[i].outcome));
        double took = results[i].end_ms - results[i].start_ms, want = i % 3 == 0 ? 90 : 15;
        cr_assert(took >= want - 1 && took < 2 * want + 20, "results[%zu]: start_ms to end_ms is "
                  "%.1f ms for a %.0f ms request: set start_ms when the job starts and end_ms "
                  "when it ends", i, took, want);
    }
    finish();
}

Test(ex02_limits, jobs_start_in_submission_order)
{
    new_limiter(3, 0, 0);
    make_jobs(30, hold_varied);
    for (size_t i = 0; i < 30; i++)
        submit_job(i);
    run_jobs(30, 3000);
    for (size_t i = 0; i < 30; i++)
        cr_assert_eq(start_order[i], i, "the job that started in position %zu was job %zu; jobs "
                     "start in submission order (a FIFO queue)" HINT, i, start_order[i]);
    finish();
}

Test(ex02_limits, failing_jobs_free_their_slots)
{
    char refused[64];

    snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/", fx_unused_port());
    for (int i = 0; i < 3; i++)
        urls[nurls++] = strdup(refused);
    urls[nurls++] = strdup("not a url");
    urls[nurls++] = strdup("ftp://127.0.0.1/");
    add_url("/delay?ms=10");
    fetch(2, 0, 0, 1000);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(results[i].outcome, EX02_ERR_CONNECTION, "results[%zu] (refused): %s", i,
                     ex02_outcome_name(results[i].outcome));
    cr_assert_eq(results[3].outcome, EX02_ERR_URL, "results[3] (not a URL): %s; when "
                 "ex02_http_get() returns -1, record *why and free the slot at once" HINT,
                 ex02_outcome_name(results[3].outcome));
    cr_assert_eq(results[4].outcome, EX02_ERR_URL, "results[4] (ftp://): %s",
                 ex02_outcome_name(results[4].outcome));
    cr_assert_eq(results[5].outcome, EX02_OK, "results[5]: %s", ex02_outcome_name(results[5].outcome));
    finish();
}

Test(ex02_limits, timed_out_jobs_free_their_slots)
{
    for (int i = 0; i < 3; i++)
        add_url("/never");
    add_url("/delay?ms=10");
    double total = fetch(1, 0, 0, 100);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(results[i].outcome, EX02_ERR_TIMEOUT, "results[%zu] (never answers): %s",
                     i, ex02_outcome_name(results[i].outcome));
    cr_assert_eq(results[3].outcome, EX02_OK, "results[3] ran after three timed-out jobs: %s",
                 ex02_outcome_name(results[3].outcome));
    cr_assert_lt(total, 600.0, "one at a time, three 100 ms timeouts and a 10 ms request took "
                 "%.0f ms; expected under 600", total);
    finish();
}

Test(ex02_limits, submit_from_completion_works)
{
    new_limiter(1, 0, 0);
    make_jobs(20, hold_none);
    for (size_t i = 0; i < 20; i++)
        jobs[i].chain = 1;
    jobs[0].hold_ms = 5;
    submit_job(0);
    run_jobs(20, 3000);
    cr_assert_eq(started, 20, "%zu of 20 chained jobs started: submitting from inside a job's "
                 "callbacks must work" HINT, started);
    finish();
}

Test(ex02_limits, ten_thousand_jobs_complete)
{
    new_limiter(8, 0, 0);
    make_jobs(MAX_JOBS, hold_none);
    for (size_t i = 0; i < MAX_JOBS; i++)
        submit_job(i);
    cr_assert_eq(ex02_limiter_queued(lim), MAX_JOBS, "ex02_limiter_queued() is %zu after %d "
                 "submits", ex02_limiter_queued(lim), MAX_JOBS);
    run_jobs(MAX_JOBS, 10000);
    for (size_t i = 0; i < MAX_JOBS; i++)
        cr_assert_eq(start_order[i], i, "job %zu started in position %zu; jobs start in "
                     "submission order" HINT, start_order[i], i);
    cr_assert_eq(ex02_limiter_queued(lim), 0);
    cr_assert_eq(ex02_limiter_in_flight(lim), 0, "ex02_limiter_in_flight() is %u after every job "
                 "called done", ex02_limiter_in_flight(lim));
    finish();
}

Test(ex02_limits, twenty_jobs_of_100ms_five_at_a_time)
{
    for (int i = 0; i < 20; i++)
        add_url("/delay?ms=100");
    double total = fetch(5, 0, 0, 2000);
    cr_assert(total >= 400 && total < 500, "20 requests of 100 ms, 5 at a time, took %.0f ms; "
              "the ideal is 400 ms (4 waves) and the bound 500 ms: start the next job as soon "
              "as a slot frees" HINT, total);
    cr_assert_eq(fx_server_max_in_flight(srv), 5, "the server saw at most %u at once; expected 5",
                 fx_server_max_in_flight(srv));
    finish();
}

/* ---- pacing ------------------------------------------------------------- */

Test(ex02_pacing, starts_are_spaced_by_rate)
{
    const double rate = 20, period = 1000 / rate;

    new_limiter(100, rate, 1);
    make_jobs(8, hold_none);
    for (size_t i = 0; i < 8; i++)
        submit_job(i);
    run_jobs(8, 3000);
    for (size_t i = 1; i < 8; i++)
        cr_assert_geq(start_ms[i] - start_ms[0], i * period - 2,
                      "job %zu started %.1f ms after job 0; with rate %g/s and burst 1 it may not "
                      "start before %.0f ms (a token every %.0f ms)" HINT,
                      i, start_ms[i] - start_ms[0], rate, i * period, period);
    cr_assert_lt(start_ms[7] - start_ms[0], 2 * 7 * period,
                 "8 starts at %g/s took %.0f ms; expected about %.0f (under %.0f)", rate,
                 start_ms[7] - start_ms[0], 7 * period, 2 * 7 * period);
    finish();
}

Test(ex02_pacing, burst_starts_at_once)
{
    new_limiter(100, 10, 4);
    make_jobs(6, hold_none);
    for (size_t i = 0; i < 6; i++)
        submit_job(i);
    run_jobs(6, 3000);
    for (size_t i = 1; i < 4; i++)
        cr_assert_lt(start_ms[i] - start_ms[0], 50.0, "job %zu started %.1f ms after job 0; with "
                     "burst 4 the first 4 start at once (the bucket starts full)" HINT,
                     i, start_ms[i] - start_ms[0]);
    cr_assert_geq(start_ms[4] - start_ms[0], 98.0, "job 4 started %.1f ms after job 0; after a "
                  "burst of 4 at 10/s it waits for a token (100 ms)" HINT, start_ms[4] - start_ms[0]);
    cr_assert_geq(start_ms[5] - start_ms[0], 198.0, "job 5 started %.1f ms after job 0; expected "
                  "at least 200", start_ms[5] - start_ms[0]);
    finish();
}

Test(ex02_pacing, rate_zero_means_no_pacing)
{
    new_limiter(50, 0, 0);
    make_jobs(50, hold_100);
    for (size_t i = 0; i < 50; i++)
        submit_job(i);
    run_jobs(50, 2000);
    cr_assert_eq(max_running, 50, "with rate 0 (no pacing) and max 50, only %u of 50 jobs of "
                 "100 ms ran at once" HINT, max_running);
    finish();
}

Test(ex02_pacing, does_not_busy_wait)
{
    struct timespec c0, c1;

    new_limiter(10, 5, 1);
    make_jobs(6, hold_none);
    for (size_t i = 0; i < 6; i++)
        submit_job(i);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    double wall = run_jobs(6, 3000);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
    cr_assert_geq(wall, 950.0, "6 starts at 5/s took %.0f ms; expected about 1000", wall);
    cr_assert_lt(cpu, 0.1 * wall, "the process used %.0f ms of CPU during %.0f ms of paced waiting; "
                 "a limiter waits on a timer set for the next token, it does not poll" HINT,
                 cpu, wall);
    finish();
}

/* ---- cancellation ------------------------------------------------------- */

Test(ex02_cancel, free_cancels_queued_jobs_once_each)
{
    new_limiter(1, 0, 0);
    make_jobs(5, hold_100);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(ex02_limiter_submit(lim, job_start, count_cancel, &jobs[i]), 0,
                     "ex02_limiter_submit returned -1 for a valid job" HINT);
    run_until(&started, 1, 1000);
    cr_assert_eq(started, 1, "with max_in_flight 1, %zu jobs started", started);
    cr_assert_eq(start_order[0], 0, "job %zu started first; jobs start in submission order" HINT,
                 start_order[0]);
    evtimer_del(jobs[0].timer);          /* job 0 finishes now, by hand */
    running--;
    ex02_limiter_done(lim);
    ex02_limiter_free(lim);              /* jobs 1..4 are still queued */
    lim = NULL;
    cr_assert_eq(cancelled[0], 0, "job 0 had started; it must not be cancelled");
    for (size_t i = 1; i < 5; i++)
        cr_assert_eq(cancelled[i], 1, "queued job %zu was cancelled %u times; expected once, "
                     "by ex02_limiter_free()" HINT, i, cancelled[i]);
    cr_assert_eq(started, 1, "a queued job started after ex02_limiter_free()");
    finish();
}

/* ---- where jobs start --------------------------------------------------- */

Test(ex02_limits, jobs_start_from_the_loop_only)
{
    new_limiter(1, 0, 0);
    make_jobs(3, hold_100);
    for (size_t i = 0; i < 3; i++)
        submit_job(i);
    run_until(&started, 1, 1000);
    cr_assert_eq(started, 1, "with max_in_flight 1, %zu jobs started", started);
    evtimer_del(jobs[0].timer);          /* job 0 finishes now, outside the loop */
    running--;
    finished++;
    ex02_limiter_done(lim);
    cr_assert_eq(started, 1, "job 1 started inside ex02_limiter_done(); waiting jobs start "
                 "later, from the loop, so that a job that finishes inside its own start "
                 "callback cannot recurse" HINT);
    run_until(&started, 2, 1000);
    cr_assert_eq(started, 2, "job 1 did not start after job 0's slot was freed" HINT);
    run_jobs(3, 2000);
    finish();
}

Test(ex02_pacing, bucket_never_holds_more_than_burst)
{
    int slept = 0;
    struct timeval tv = { 0, 400 * 1000 };
    struct event *pause = evtimer_new(base, deadline_cb, &slept);

    new_limiter(100, 10, 2);
    cr_assert_not_null(pause);
    evtimer_add(pause, &tv);             /* 400 ms idle: 4 tokens' worth at 10/s */
    while (!slept)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(pause);
    make_jobs(4, hold_none);
    for (size_t i = 0; i < 4; i++)
        submit_job(i);
    run_jobs(4, 3000);
    cr_assert_lt(start_ms[1] - start_ms[0], 50.0, "after a pause, burst 2 lets 2 jobs start at "
                 "once; job 1 started %.1f ms after job 0", start_ms[1] - start_ms[0]);
    cr_assert_geq(start_ms[2] - start_ms[0], 98.0, "job 2 started %.1f ms after job 0; after an "
                  "idle time the bucket holds at most burst (2) tokens, so job 2 waits for a new "
                  "one (100 ms at 10/s): cap the tokens at burst" HINT, start_ms[2] - start_ms[0]);
    finish();
}
