/*
 * subject_ex02.c - build/bin/subject-ex02: exercise 2's subject.  Given
 * code, linked with your ex02.c and ex02_http.c; the judge (the tests, the
 * timing) starts it and sends it jobs (see harness/common/subject_io.h).
 * You do not run it by hand: run `make ex02`, or build/bin/ex02.
 *
 * Jobs, one JSON line each, and what they answer:
 *
 *   {"id": 1, "op": "new", "max": 1, "rate": 5, "burst": 0,
 *    and, to test argument checks: "rate_nan": true, "null_base": true,
 *    "null_limits": true, "null_err": true}
 *     calls ex02_limiter_new() (then frees what it made) and answers
 *     {"id": 1, "created": false, "err": "burst must be ..."}.
 *
 *   {"id": 2, "op": "run", "max": 4, "rate": 0, "burst": 0,
 *    "jobs": ["<token>", ...], "hold": [20, -1, ...], "max_ms": 3000,
 *    and optionally "chain": true, "cancel": true, "pause_ms": 400,
 *    "url": "http://127.0.0.1:P/delay", "by_hand": {"job": 0, "free": true},
 *    "after_ms": 200, "misuse": true}
 *     a scenario on a limiter of its own.  Job i (its token jobs[i]) holds
 *     its slot for hold[i] ms after it starts (-1: it calls done inside its
 *     start callback): on a timer, or, with "url", by a GET of
 *     url?ms=HOLD&id=TOKEN to the judge's server, done when the response
 *     arrives.  The jobs are submitted in order after pause_ms of idle loop
 *     ("chain": only job 0; each job submits the next when it is done).
 *     "cancel" gives them a cancel callback, but the last job, whose cancel
 *     is NULL.  "by_hand": once job k has started, the driver ends it
 *     itself, outside the loop: it calls ex02_limiter_done() and, with
 *     "free", at once ex02_limiter_free() (a job ended by hand holds its
 *     slot on a timer, not by HTTP).  "misuse": before the submits, the
 *     calls a caller may get wrong, which the limiter must refuse or ignore:
 *     ex02_limiter_submit() with a NULL lim, then with a NULL start, then
 *     ex02_limiter_done() with a NULL lim, then with no job in flight.
 *     It runs the loop until every job is done or cancelled (or the
 *     limiter freed), or max_ms pass, then after_ms more (nothing may
 *     start then).  As things happen it writes
 *     events (lines without an id), in the order they happen:
 *       {"ev": "misuse_call", "call": "ex02_limiter_submit(NULL, ...)"}
 *                                      about to make that call ("misuse")
 *       {"ev": "misuse", "submit_null_lim": -1, "submit_null_start": -1,
 *        "queued": 0, "in_flight": 0}  the calls returned: what the submits
 *                                      returned, and the counts after all four
 *       {"ev": "submitted", "n": 40, "queued": 40, "in_flight": 0}
 *                                      the first submits returned (the
 *                                      counts are ex02_limiter_queued()
 *                                      and _in_flight() then)
 *       {"ev": "submit_failed", "job": T}   ex02_limiter_submit() gave -1
 *       {"ev": "start", "job": T, "same_lim": true, "t": 1234.5}
 *                                      start callback (t: ex02_now_ms())
 *       {"ev": "done", "job": T}       about to call ex02_limiter_done()
 *       {"ev": "cancel", "job": T}     cancel callback
 *       {"ev": "http_failed", "job": T, "outcome": "EX02_ERR_..."}
 *       {"ev": "done_by_hand", "job": T}, {"ev": "done_returned"},
 *       {"ev": "free"}, {"ev": "freed"}    around the calls made by hand
 *     and at the end answers {"id": 2, "rc": 0, "timed_out": false,
 *     "queued": 0, "in_flight": 0} (rc -1 with "error" when the limiter
 *     could not be made or a submit failed).
 *
 *   {"id": 3, "op": "fetch", "urls": [...], "max": 5, "rate": 0,
 *    "burst": 0, "timeout_ms": 2000, and, to test argument checks:
 *    "null_base", "null_urls", "null_results", "null_limits": true,
 *    "null_url_at": k, "n": count passed}
 *     calls ex02_fetch_with_limit() and answers
 *     {"id": 3, "rc": 0, "untouched": true, "results": [{"same_url": true,
 *      "outcome": "EX02_OK", "status": 200, "body_len": 12,
 *      "start_ms": ..., "end_ms": ...}, ...]}
 *     where "untouched" says that every results[i] still held what the
 *     driver put there before the call.
 *
 *   {"id": 4, "op": "bench", "n": 200000, "max": 64, "seed": "<16 hex>"}
 *     the timing job: n jobs through a limiter with max_in_flight max and
 *     no pacing, each done inside its start callback.  Job i's token comes
 *     from the seed (bench_token() below); the answer carries a hash chain
 *     of the tokens in the order the jobs started:
 *     {"id": 4, "rc": 0, "started": 200000, "chain": "<16 hex>"}.
 *
 * The loop also holds an event of the driver's own, pending all along: the
 * base belongs to the caller, and other events live on it (ex02.h).
 *
 * Anything this program writes is a claim that the judge checks against
 * what it observed itself (its server, its clock, the order of the lines).
 */
#include "ex02.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "subject_io.h"

#define MAX_JOBS 20000
#define MAX_URLS 4096
#define TOKEN_LEN 32
#define BENCH_MAX_MS 10000

/* ---- helpers ------------------------------------------------------------ */

static int job_flag(const json_t *job, const char *key)
{
    return json_is_true(json_object_get(job, key));
}

static double job_num(const json_t *job, const char *key, double dflt)
{
    const json_t *v = json_object_get(job, key);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

static struct ex02_limits job_limits(const json_t *job)
{
    struct ex02_limits l = {
        .max_in_flight = (unsigned)job_num(job, "max", 0),
        .rate = job_num(job, "rate", 0),
        .burst = (unsigned)job_num(job, "burst", 0),
    };

    if (job_flag(job, "rate_nan"))
        l.rate = nan("");
    return l;
}

static void event_tok(const char *ev, const char *token)
{
    sio_event(json_pack("{ss ss}", "ev", ev, "job", token));
}

static void event_plain(const char *ev)
{
    sio_event(json_pack("{ss}", "ev", ev));
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* An armed one-shot timer that sets *flag after ms; NULL on no memory. */
static struct event *flag_after(struct event_base *base, double ms, int *flag)
{
    struct event *ev = evtimer_new(base, deadline_cb, flag);
    long us = (long)(ms * 1000.0);
    struct timeval tv = { us / 1000000, us % 1000000 };

    *flag = 0;
    if (ev != NULL)
        evtimer_add(ev, &tv);
    return ev;
}

/* ---- new ---------------------------------------------------------------- */

static json_t *do_new(struct event_base *base, const json_t *job)
{
    struct ex02_limits l = job_limits(job);
    char err[256] = "";
    int null_err = job_flag(job, "null_err");
    struct ex02_limiter *lim =
        ex02_limiter_new(job_flag(job, "null_base") ? NULL : base,
                         job_flag(job, "null_limits") ? NULL : &l, null_err ? NULL : err,
                         null_err ? 0 : sizeof(err));
    json_t *answer = json_pack("{sb ss}", "created", lim != NULL, "err", err);

    ex02_limiter_free(lim);
    return answer;
}

/* ---- run: a scenario ---------------------------------------------------- */

struct run;

/* One job of a scenario: the arg of its callbacks. */
struct sjob {
    struct run *run;
    size_t index;
    char token[TOKEN_LEN + 1];
    int hold_ms;               /* < 0: done inside start */
    int started, ended;        /* ended: done or cancelled */
    struct event *timer;       /* the hold, when on a timer */
};

struct run {
    struct event_base *base;
    struct ex02_limiter *lim;
    struct ex02_http_client *client;   /* holds by HTTP, when url is set */
    const char *url;
    struct sjob *jobs;
    size_t n, started, ended;
    int chain, cancel, submit_failed;
};

static void job_start(struct ex02_limiter *lim, void *arg);

static void job_cancel(void *arg)
{
    struct sjob *j = arg;

    event_tok("cancel", j->token);
    j->ended = 1;
    j->run->ended++;
}

static int submit(struct run *r, size_t i)
{
    /* With "cancel", the last job has none (NULL): a limiter must check. */
    int with_cancel = r->cancel && i + 1 < r->n;

    if (ex02_limiter_submit(r->lim, job_start, with_cancel ? job_cancel : NULL, &r->jobs[i]) == 0)
        return 0;
    event_tok("submit_failed", r->jobs[i].token);
    r->submit_failed = 1;
    return -1;
}

/* The job gives its slot back (and, in a chain, submits the next one). */
static void job_end(struct sjob *j)
{
    struct run *r = j->run;

    event_tok("done", j->token);
    j->ended = 1;
    r->ended++;
    ex02_limiter_done(r->lim);
    if (r->chain && j->index + 1 < r->n)
        submit(r, j->index + 1);
}

static void hold_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_end(arg);
}

static void hold_http_cb(const struct ex02_http_response *resp, void *arg)
{
    struct sjob *j = arg;

    if (resp->outcome != EX02_OK)
        sio_event(json_pack("{ss ss ss}", "ev", "http_failed", "job", j->token, "outcome",
                            ex02_outcome_name(resp->outcome)));
    job_end(j);
}

static void job_start(struct ex02_limiter *lim, void *arg)
{
    struct sjob *j = arg;
    struct run *r = j->run;

    sio_event(json_pack("{ss ss sb sf}", "ev", "start", "job", j->token, "same_lim", lim == r->lim,
                        "t", ex02_now_ms()));
    j->started = 1;
    r->started++;
    if (j->hold_ms < 0) {
        job_end(j);
    } else if (r->client != NULL) {
        char url[512];
        enum ex02_outcome why = EX02_ERR_INTERNAL;
        snprintf(url, sizeof(url), "%s?ms=%d&id=%s", r->url, j->hold_ms, j->token);
        if (ex02_http_get(r->client, url, 0, hold_http_cb, j, &why) != 0) {
            sio_event(json_pack("{ss ss ss}", "ev", "http_failed", "job", j->token, "outcome",
                                ex02_outcome_name(why)));
            job_end(j);
        }
    } else {
        struct timeval tv = { j->hold_ms / 1000, (j->hold_ms % 1000) * 1000 };
        if (j->timer == NULL)
            j->timer = evtimer_new(r->base, hold_timer_cb, j);
        if (j->timer != NULL)
            evtimer_add(j->timer, &tv);
    }
}

/* Runs the loop until cond(r) holds or *expired. */
static void run_loop(struct run *r, int (*cond)(const struct run *, const void *),
                     const void *arg, const int *expired)
{
    while (!cond(r, arg) && !*expired)
        if (event_base_loop(r->base, EVLOOP_ONCE) != 0)
            break;
}

static int all_ended(const struct run *r, const void *arg)
{
    (void)arg;
    return r->ended >= r->n || r->submit_failed;
}

static int job_started(const struct run *r, const void *arg)
{
    return r->jobs[*(const size_t *)arg].started || r->submit_failed;
}

/* Job k has started: end it here, outside the loop, as a test would. */
static void end_by_hand(struct run *r, size_t k, int and_free)
{
    struct sjob *j = &r->jobs[k];

    if (j->timer != NULL)
        evtimer_del(j->timer);
    event_tok("done_by_hand", j->token);
    j->ended = 1;
    r->ended++;
    ex02_limiter_done(r->lim);
    event_plain("done_returned");
    if (and_free) {
        event_plain("free");
        ex02_limiter_free(r->lim);   /* the queued jobs are cancelled */
        r->lim = NULL;
        event_plain("freed");
        r->ended = r->n;             /* nothing more can happen */
    }
}

static void misuse_call(const char *call)
{
    sio_event(json_pack("{ss ss}", "ev", "misuse_call", "call", call));
}

/* The calls a caller may get wrong, made on a limiter that has no job yet:
 * each must be refused (-1, nothing queued) or ignored.  A job that was
 * queued all the same, with a NULL start, crashes the loop later. */
static void misuse(struct run *r)
{
    int null_lim, null_start;

    misuse_call("ex02_limiter_submit(NULL, start, cancel, arg)");
    null_lim = ex02_limiter_submit(NULL, job_start, job_cancel, &r->jobs[0]);
    misuse_call("ex02_limiter_submit(lim, NULL, cancel, arg)");
    null_start = ex02_limiter_submit(r->lim, NULL, job_cancel, &r->jobs[0]);
    misuse_call("ex02_limiter_done(NULL)");
    ex02_limiter_done(NULL);
    misuse_call("ex02_limiter_done(lim) with no job in flight");
    ex02_limiter_done(r->lim);
    sio_event(json_pack("{ss si si sI sI}", "ev", "misuse", "submit_null_lim", null_lim,
                        "submit_null_start", null_start,
                        "queued", (json_int_t)ex02_limiter_queued(r->lim),
                        "in_flight", (json_int_t)ex02_limiter_in_flight(r->lim)));
}

static json_t *do_run(struct event_base *base, const json_t *job)
{
    const json_t *tokens = json_object_get(job, "jobs"), *holds = json_object_get(job, "hold");
    const json_t *by_hand = json_object_get(job, "by_hand");
    struct ex02_limits l = job_limits(job);
    struct run r = { .base = base, .n = json_array_size(tokens), .chain = job_flag(job, "chain"),
                     .cancel = job_flag(job, "cancel"),
                     .url = json_string_value(json_object_get(job, "url")) };
    struct event *deadline = NULL;
    char err[256] = "";
    int expired = 0, timed_out = 0;
    json_t *answer = NULL;

    if (r.n == 0 || r.n > MAX_JOBS || json_array_size(holds) != r.n ||
        (r.jobs = calloc(r.n, sizeof(*r.jobs))) == NULL)
        return json_pack("{si ss}", "rc", -1, "error", "bad job");
    for (size_t i = 0; i < r.n; i++) {
        const char *t = json_string_value(json_array_get(tokens, i));
        r.jobs[i] = (struct sjob){ .run = &r, .index = i,
                                   .hold_ms = (int)json_integer_value(json_array_get(holds, i)) };
        snprintf(r.jobs[i].token, sizeof(r.jobs[i].token), "%s", t ? t : "");
    }
    if (r.url != NULL && (r.client = ex02_http_client_new(base)) == NULL) {
        answer = json_pack("{si ss}", "rc", -1, "error", "out of memory");
        goto out;
    }
    r.lim = ex02_limiter_new(base, &l, err, sizeof(err));
    if (r.lim == NULL) {
        answer = json_pack("{si ss ss}", "rc", -1, "error", "new_failed", "err", err);
        goto out;
    }
    if (job_num(job, "pause_ms", 0) > 0) {
        int slept = 0;
        struct event *pause = flag_after(base, job_num(job, "pause_ms", 0), &slept);
        while (pause != NULL && !slept)
            event_base_loop(base, EVLOOP_ONCE);
        if (pause != NULL)
            event_free(pause);
    }
    if (job_flag(job, "misuse"))
        misuse(&r);
    for (size_t i = 0; i < (r.chain ? 1 : r.n); i++)
        if (submit(&r, i) != 0)
            break;
    sio_event(json_pack("{ss sI sI si}", "ev", "submitted", "n", (json_int_t)(r.chain ? 1 : r.n),
                        "queued", (json_int_t)ex02_limiter_queued(r.lim), "in_flight",
                        (int)ex02_limiter_in_flight(r.lim)));
    deadline = flag_after(base, job_num(job, "max_ms", 3000), &expired);
    if (deadline == NULL) {
        answer = json_pack("{si ss}", "rc", -1, "error", "out of memory");
        goto out;
    }
    if (json_is_object(by_hand)) {
        size_t k = (size_t)json_integer_value(json_object_get(by_hand, "job"));
        if (k < r.n) {
            run_loop(&r, job_started, &k, &expired);
            if (r.jobs[k].started && !r.jobs[k].ended && !r.submit_failed)
                end_by_hand(&r, k, job_flag(by_hand, "free"));
        }
    }
    run_loop(&r, all_ended, NULL, &expired);
    timed_out = !all_ended(&r, NULL);
    if (!timed_out && job_num(job, "after_ms", 0) > 0) {
        /* A while more: nothing may start any more. */
        int over = 0;
        struct event *after = flag_after(base, job_num(job, "after_ms", 0), &over);
        while (after != NULL && !over)
            event_base_loop(base, EVLOOP_ONCE);
        if (after != NULL)
            event_free(after);
    }
    answer = json_pack("{si sb sI si}", "rc", r.submit_failed ? -1 : 0, "timed_out", timed_out,
                       "queued", (json_int_t)(r.lim ? ex02_limiter_queued(r.lim) : 0),
                       "in_flight", r.lim ? (int)ex02_limiter_in_flight(r.lim) : 0);
    if (r.submit_failed)
        json_object_set_new(answer, "error", json_string("submit_failed"));
out:
    /* Stop the jobs still holding a slot before the limiter goes: their
     * timers, and the requests in flight (freeing the client drops them). */
    for (size_t i = 0; i < r.n; i++)
        if (r.jobs[i].timer != NULL)
            event_free(r.jobs[i].timer);
    ex02_http_client_free(r.client);
    ex02_limiter_free(r.lim);
    if (deadline != NULL)
        event_free(deadline);
    free(r.jobs);
    return answer;
}

/* ---- fetch -------------------------------------------------------------- */

static const char untouched[] = "untouched";

static json_t *result_json(const struct ex02_fetch_result *r, const char *url)
{
    return json_pack("{sb sb ss si sI sf sf}", "same_url", r->url == url, "untouched",
                     r->url == untouched, "outcome", ex02_outcome_name(r->outcome), "status",
                     r->http_status, "body_len", (json_int_t)r->body_len, "start_ms", r->start_ms,
                     "end_ms", r->end_ms);
}

static json_t *do_fetch(struct event_base *base, const json_t *job)
{
    const json_t *jurls = json_object_get(job, "urls");
    size_t n = json_array_size(jurls), count;
    static const char *urls[MAX_URLS];
    static struct ex02_fetch_result results[MAX_URLS];
    struct ex02_limits l = job_limits(job);
    json_t *list;
    int rc, all_untouched = 1;
    json_int_t null_at = json_is_integer(json_object_get(job, "null_url_at"))
                             ? json_integer_value(json_object_get(job, "null_url_at"))
                             : -1;

    if (n > MAX_URLS)
        return json_pack("{ss}", "error", "bad job");
    for (size_t i = 0; i < n; i++) {
        urls[i] = json_string_value(json_array_get(jurls, i));
        results[i] = (struct ex02_fetch_result){ .url = untouched };
    }
    if (null_at >= 0 && (size_t)null_at < n)
        urls[null_at] = NULL;
    count = json_is_integer(json_object_get(job, "n"))
                ? (size_t)json_integer_value(json_object_get(job, "n"))
                : n;
    if (count > n)
        count = n;
    rc = ex02_fetch_with_limit(job_flag(job, "null_base") ? NULL : base,
                               job_flag(job, "null_urls") ? NULL : urls, count,
                               job_flag(job, "null_limits") ? NULL : &l,
                               (unsigned)job_num(job, "timeout_ms", 0),
                               job_flag(job, "null_results") ? NULL : results);
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (results[i].url != untouched)
            all_untouched = 0;
        json_array_append_new(list, result_json(&results[i], urls[i]));
    }
    return json_pack("{si sb so}", "rc", rc, "untouched", all_untouched, "results", list);
}

/* ---- bench -------------------------------------------------------------- */

/* Job i's token: splitmix64 of the seed and i (the judge computes the same). */
static uint64_t bench_token(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct bench {
    uint64_t chain;
    size_t started;
};
static struct bench bench;

static void bench_start(struct ex02_limiter *lim, void *arg)
{
    /* The chain follows the order of the starts: FIFO or not, it shows. */
    bench.chain = (bench.chain ^ *(const uint64_t *)arg) * 0x100000001b3ULL;
    bench.started++;
    ex02_limiter_done(lim);
}

static json_t *do_bench(struct event_base *base, const json_t *job)
{
    size_t n = (size_t)job_num(job, "n", 0);
    const char *seed_hex = json_string_value(json_object_get(job, "seed"));
    struct ex02_limits l = { .max_in_flight = (unsigned)job_num(job, "max", 64) };
    uint64_t seed, *tokens = NULL;
    struct ex02_limiter *lim = NULL;
    struct event *deadline = NULL;
    char hex[17];
    int rc = -1, expired = 0;

    if (seed_hex == NULL || sscanf(seed_hex, "%16" SCNx64, &seed) != 1 || n == 0 ||
        (tokens = malloc(n * sizeof(*tokens))) == NULL)
        return json_pack("{si ss}", "rc", -1, "error", "bad job");
    for (size_t i = 0; i < n; i++)
        tokens[i] = bench_token(seed, i);
    bench = (struct bench){ .chain = seed };
    lim = ex02_limiter_new(base, &l, NULL, 0);
    if (lim == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (ex02_limiter_submit(lim, bench_start, NULL, &tokens[i]) != 0)
            goto out;
    /* A limiter that stalls stops at the deadline (the judge's wait is 20 s). */
    deadline = flag_after(base, BENCH_MAX_MS, &expired);
    while (deadline != NULL && bench.started < n && !expired)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    rc = bench.started == n ? 0 : -1;
out:
    if (deadline != NULL)
        event_free(deadline);
    ex02_limiter_free(lim);
    free(tokens);
    snprintf(hex, sizeof(hex), "%016" PRIx64, bench.chain);
    return json_pack("{si sI ss}", "rc", rc, "started", (json_int_t)bench.started, "chain", hex);
}

/* ---- main --------------------------------------------------------------- */

/* Never called: see main(). */
static void never_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    abort();
}

int main(void)
{
    struct event_config *cfg;
    struct event_base *base;
    struct event *caller_event;
    struct timeval day = { 86400, 0 };
    json_t *job;

    sio_init("subject-ex02");
    /* A precise clock, as in the tests of earlier versions: timers fire
     * neither early nor late by a kernel tick. */
    cfg = event_config_new();
    if (cfg == NULL)
        return 1;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base == NULL)
        return 1;
    /* The caller's own event on the loop, pending all along, as the
     * test server was when the tests ran in one process: a function that
     * runs the loop until it has no events left (event_base_dispatch())
     * never returns. */
    caller_event = evtimer_new(base, never_cb, NULL);
    if (caller_event == NULL || evtimer_add(caller_event, &day) != 0)
        return 1;
    while ((job = sio_read_job()) != NULL) {
        const char *op = json_string_value(json_object_get(job, "op"));
        json_t *answer;
        int rc;

        if (op != NULL && strcmp(op, "new") == 0)
            answer = do_new(base, job);
        else if (op != NULL && strcmp(op, "run") == 0)
            answer = do_run(base, job);
        else if (op != NULL && strcmp(op, "fetch") == 0)
            answer = do_fetch(base, job);
        else if (op != NULL && strcmp(op, "bench") == 0)
            answer = do_bench(base, job);
        else
            answer = json_pack("{ss}", "error", "unknown op");
        rc = sio_answer(job, answer);
        json_decref(job);
        if (rc < 0)
            break;
    }
    event_free(caller_event);
    event_base_free(base);
    libevent_global_shutdown();
    return 0;
}
