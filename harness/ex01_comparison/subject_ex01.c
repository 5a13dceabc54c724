/*
 * subject_ex01.c - build/bin/subject-ex01: exercise 1's subject.  Given
 * code, linked with your ex01.c; the judge (the tests, the timing) starts
 * it and sends it jobs (see harness/common/subject_io.h).  You do not run
 * it by hand: run `make ex01`, or build/bin/ex01.
 *
 * A job, one JSON line:
 *   {"id": 7, "op": "fetch", "mode": "sequential" | "concurrent",
 *    "urls": ["http://...", ...], "timeout_ms": 300,
 *    and, to test argument checks: "null_base": true, "null_urls": true,
 *    "null_results": true, "null_url_at": k, "n": count passed}
 * The answer:
 *   {"id": 7, "rc": 0, "untouched": true,
 *    "results": [{"same_url": true, "outcome": "EX01_OK", "status": 200,
 *                 "body_len": 12, "body": "<hex>", "body_nul": true,
 *                 "elapsed_ms": 151.2}, ...]}
 * where "untouched" says that every results[i] still held what the driver
 * put there before the call (it matters when rc is -1), and "same_url" that
 * results[i].url is the very pointer urls[i].
 *
 * The loop also holds an event of the driver's own, pending all along: the
 * base belongs to the caller, and other events live on it (ex01.h).
 */
#include "ex01.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "subject_io.h"

#define MAX_URLS 4096
static const char untouched[] = "untouched";

static json_t *result_json(const struct ex01_result *r, const char *url)
{
    json_t *o = json_pack("{sb sb ss si sI sf}", "same_url", r->url == url,
                          "untouched", r->url == untouched, "outcome",
                          ex01_outcome_name(r->outcome), "status", r->http_status,
                          "body_len", (json_int_t)r->body_len, "elapsed_ms", r->elapsed_ms);

    if (o != NULL && r->body != NULL) {
        json_object_set_new(o, "body", sio_hex(r->body, r->body_len));
        json_object_set_new(o, "body_nul", json_boolean(r->body[r->body_len] == '\0'));
    }
    return o;
}

static json_t *do_fetch(struct event_base *base, const json_t *job)
{
    const json_t *jurls = json_object_get(job, "urls");
    const char *mode = json_string_value(json_object_get(job, "mode"));
    size_t n = json_array_size(jurls), count;
    static const char *urls[MAX_URLS];
    static struct ex01_result results[MAX_URLS];
    json_t *answer, *list;
    int rc, all_untouched = 1;
    json_int_t null_at = json_is_integer(json_object_get(job, "null_url_at"))
                             ? json_integer_value(json_object_get(job, "null_url_at"))
                             : -1;

    if (mode == NULL || n > MAX_URLS)
        return json_pack("{ss}", "error", "bad job");
    for (size_t i = 0; i < n; i++) {
        urls[i] = json_string_value(json_array_get(jurls, i));
        results[i] = (struct ex01_result){ .url = untouched };
    }
    if (null_at >= 0 && (size_t)null_at < n)
        urls[null_at] = NULL;
    count = json_is_integer(json_object_get(job, "n"))
                ? (size_t)json_integer_value(json_object_get(job, "n"))
                : n;
    if (count > n)
        count = n;
    rc = (strcmp(mode, "sequential") == 0 ? ex01_fetch_sequential : ex01_fetch_concurrent)(
        json_is_true(json_object_get(job, "null_base")) ? NULL : base, NULL,
        json_is_true(json_object_get(job, "null_urls")) ? NULL : urls, count,
        (unsigned)json_integer_value(json_object_get(job, "timeout_ms")),
        json_is_true(json_object_get(job, "null_results")) ? NULL : results);
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (results[i].url != untouched)
            all_untouched = 0;
        json_array_append_new(list, result_json(&results[i], urls[i]));
    }
    for (size_t i = 0; i < n; i++)
        if (results[i].url == untouched)
            results[i].url = NULL;
    ex01_results_free(results, n);
    answer = json_pack("{si sb so}", "rc", rc, "untouched", all_untouched, "results", list);
    return answer;
}

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

    sio_init("subject-ex01");
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
    /* The caller's own event on the loop, pending all along (a program's
     * other work: a timer, a listener): a driver that runs the loop until
     * it has no events left (event_base_dispatch()) never returns. */
    caller_event = evtimer_new(base, never_cb, NULL);
    if (caller_event == NULL || evtimer_add(caller_event, &day) != 0)
        return 1;
    while ((job = sio_read_job()) != NULL) {
        const char *op = json_string_value(json_object_get(job, "op"));
        json_t *answer = op != NULL && strcmp(op, "fetch") == 0
                             ? do_fetch(base, job)
                             : json_pack("{ss}", "error", "unknown op");
        int rc = sio_answer(job, answer);
        json_decref(job);
        if (rc < 0)
            break;
    }
    event_free(caller_event);
    event_base_free(base);
    libevent_global_shutdown();
    return 0;
}
