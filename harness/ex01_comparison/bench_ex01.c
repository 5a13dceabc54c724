/*
 * bench_ex01.c - the grader's benchmark for exercise 1: the CPU cost of
 * your fetch code, timed against the reference's in the same run.
 *
 *   bench-ex01 [--repeat R]
 *
 * One measurement = a concurrent fetch of 400 URLs, then a sequential fetch
 * of 100, all answered at once (no injected delay) by the harness's server on
 * the same loop, so the time is the work of the loop, the server and your
 * code.  The median of R measurements (default 5) is printed as one line of
 * JSON: {"metric": "fetch_ms", "unit": "ms", "value": 123.4}.
 * Exit status 0, or 1 when a fetch fails (the grader then gives no timing
 * points).
 */
#include "ex01.h"
#include "fixture_server.h"
#include "sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define N_CONCURRENT 400
#define N_SEQUENTIAL 100

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs one measurement; returns its time in ms, or -1 on a failed fetch. */
static double measure(struct event_base *base, const char *const urls[],
                      struct ex01_result *results)
{
    double t0 = ex01_now_ms();
    int ok = ex01_fetch_concurrent(base, NULL, urls, N_CONCURRENT, 5000, results) == 0;

    for (size_t i = 0; ok && i < N_CONCURRENT; i++)
        ok = results[i].outcome == EX01_OK && results[i].http_status == 200;
    ex01_results_free(results, N_CONCURRENT);
    ok = ok && ex01_fetch_sequential(base, NULL, urls, N_SEQUENTIAL, 5000, results) == 0;
    for (size_t i = 0; ok && i < N_SEQUENTIAL; i++)
        ok = results[i].outcome == EX01_OK && results[i].http_status == 200;
    ex01_results_free(results, N_SEQUENTIAL);
    return ok ? ex01_now_ms() - t0 : -1;
}

int main(int argc, char **argv)
{
    long repeat = 5;
    int rc = 1;
    char err[256], url[128], path[64];
    struct event_base *base = NULL;
    struct fx_server *srv = NULL;
    static char *urls[N_CONCURRENT];
    static struct ex01_result results[N_CONCURRENT];
    double times[64];

    if (argc == 3 && strcmp(argv[1], "--repeat") == 0)
        repeat = strtol(argv[2], NULL, 10);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: bench-ex01 [--repeat R]\n");
        return 2;
    }
    if (repeat < 1 || repeat > 64) {
        fprintf(stderr, "bench-ex01: --repeat takes 1..64\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    srv = base ? fx_server_new(base, NULL, 0, err, sizeof(err)) : NULL;
    if (srv == NULL) {
        fprintf(stderr, "bench-ex01: cannot start the server: %s\n", base ? err : "no event_base");
        goto out;
    }
    for (size_t i = 0; i < N_CONCURRENT; i++) {
        snprintf(path, sizeof(path), "/delay?ms=0&id=%zu", i);
        fx_server_url(srv, path, url, sizeof(url));
        if ((urls[i] = strdup(url)) == NULL)
            goto out;
    }
    wb_sandbox_enter_or_die();
    for (long r = 0; r < repeat; r++) {
        times[r] = measure(base, (const char *const *)urls, results);
        if (times[r] < 0) {
            fprintf(stderr, "bench-ex01: a fetch failed: the functional tests must pass first\n");
            goto out;
        }
    }
    qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
    printf("{\"metric\": \"fetch_ms\", \"unit\": \"ms\", \"value\": %.3f}\n", times[repeat / 2]);
    rc = 0;
out:
    for (size_t i = 0; i < N_CONCURRENT; i++)
        free(urls[i]);
    fx_server_free(srv);
    if (base != NULL)
        event_base_free(base);
    return rc;
}
