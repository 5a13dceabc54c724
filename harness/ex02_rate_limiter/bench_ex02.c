/*
 * bench_ex02.c - the grader's benchmark for exercise 2: the CPU cost of
 * admitting and releasing jobs in your limiter, timed against the
 * reference's in the same run.
 *
 *   bench-ex02 [--repeat R]
 *
 * One measurement = 200 000 jobs through a limiter with max_in_flight 64
 * and no pacing; each job finishes inside its start callback.  The median
 * of R measurements (default 5) is printed as one line of JSON:
 * {"metric": "jobs_ms", "unit": "ms", "value": 12.3}.  Exit status 0, or 1
 * when the jobs do not all run.
 */
#include "ex02.h"
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define N_JOBS 200000

static size_t finished;

static void job_start(struct ex02_limiter *lim, void *arg)
{
    (void)arg;
    finished++;
    ex02_limiter_done(lim);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One measurement in ms, or -1 when the jobs did not all run. */
static double measure(struct event_base *base)
{
    struct ex02_limits limits = { .max_in_flight = 64 };
    struct ex02_limiter *lim = ex02_limiter_new(base, &limits, NULL, 0);
    double t0 = ex02_now_ms();
    int ok = lim != NULL;

    finished = 0;
    for (size_t i = 0; ok && i < N_JOBS; i++)
        ok = ex02_limiter_submit(lim, job_start, NULL, NULL) == 0;
    for (int rounds = 0; ok && finished < N_JOBS && rounds < 10 * N_JOBS; rounds++)
        if (event_base_loop(base, EVLOOP_ONCE) != 0)
            break;
    ok = ok && finished == N_JOBS;
    double ms = ex02_now_ms() - t0;
    ex02_limiter_free(lim);
    return ok ? ms : -1;
}

int main(int argc, char **argv)
{
    long repeat = 5;
    double times[64];
    struct event_base *base = NULL;
    int rc = 1;

    if (argc == 3 && strcmp(argv[1], "--repeat") == 0)
        repeat = strtol(argv[2], NULL, 10);
    if ((argc != 1 && argc != 3) || repeat < 1 || repeat > 64) {
        fprintf(stderr, "usage: bench-ex02 [--repeat R]  (R from 1 to 64)\n");
        return 2;
    }
    base = event_base_new();
    if (base == NULL)
        return 1;
    wb_sandbox_enter_or_die();
    for (long r = 0; r < repeat; r++) {
        times[r] = measure(base);
        if (times[r] < 0) {
            fprintf(stderr, "bench-ex02: the jobs did not all run: the functional tests must pass first\n");
            goto out;
        }
    }
    qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
    printf("{\"metric\": \"jobs_ms\", \"unit\": \"ms\", \"value\": %.3f}\n", times[repeat / 2]);
    rc = 0;
out:
    event_base_free(base);
    return rc;
}
